//! Who is logged in, from which `nick!user@host`. Sessions live in memory only: a session never
//! outlives the connection it was started on (see `docs/commands.md`, "Logging in"), and every
//! start and end of one is an event on the user's stream, so nothing is lost on a restart.
//!
//! Epochs let a login that took a while to decide find out that its person left meanwhile: each
//! nick's epoch moves on whenever something ends its sessions, and one shared epoch (the empty
//! nick) moves on when the bot loses the server.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};
use domain::HostMask;
use uuid::Uuid;

use super::fold;
use crate::irc::input::Source;

/// A live login: valid only for this `nick!user@host` on this connection.
#[derive(Debug, Clone)]
pub struct Session {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub mask: HostMask,
    pub last_activity: DateTime<Utc>,
}

/// Where the nick's and the connection's epochs stood when a login began.
pub type Epoch = (u64, u64);

#[derive(Default)]
pub struct Sessions {
    /// Live sessions by casefolded nick.
    live: Mutex<HashMap<String, Session>>,
    /// See the module docs; `""` is the connection's epoch.
    epochs: Mutex<HashMap<String, u64>>,
    /// Nicks with a `.register`/`.login` being checked.
    token_checks: Mutex<HashSet<String>>,
}

impl Sessions {
    /// The session of whoever said something, if it is theirs: the same nick from another
    /// `user@host` is someone else.
    pub fn of(&self, who: &Source) -> Option<Session> {
        let live = self.live.lock().expect("sessions lock");
        let session = live.get(&fold(&who.nick))?;
        who.mask().filter(|mask| *mask == session.mask).map(|_| session.clone())
    }

    /// The account logged in under `nick`, from whatever host.
    pub fn user_of_nick(&self, nick: &str) -> Option<Uuid> {
        self.live.lock().expect("sessions lock").get(&fold(nick)).map(|s| s.user_id)
    }

    /// The (casefolded) nick an account is logged in under, if it is.
    pub fn nick_of_user(&self, user_id: Uuid) -> Option<String> {
        self.live.lock().expect("sessions lock").iter().find(|(_, s)| s.user_id == user_id).map(|(nick, _)| nick.clone())
    }

    pub fn start(&self, nick: &str, session: Session) {
        self.live.lock().expect("sessions lock").insert(fold(nick), session);
    }

    /// Something was said under `nick`: its session is not idle.
    pub fn touch(&self, nick: &str, now: DateTime<Utc>) {
        if let Some(session) = self.live.lock().expect("sessions lock").get_mut(&fold(nick)) {
            session.last_activity = now;
        }
    }

    /// Takes `nick`'s session away (logout); epochs stay.
    pub fn remove(&self, nick: &str) -> Option<Session> {
        self.live.lock().expect("sessions lock").remove(&fold(nick))
    }

    /// Takes the session with this id away, wherever it is; hands back the nick it was under.
    pub fn remove_by_id(&self, session_id: Uuid) -> Option<String> {
        let mut live = self.live.lock().expect("sessions lock");
        let nick = live.iter().find(|(_, s)| s.session_id == session_id).map(|(n, _)| n.clone())?;
        live.remove(&nick);
        Some(nick)
    }

    /// Something ended `nick`'s sessions (QUIT, NICK, last PART, kick): its epoch moves on and
    /// the session, if any, is handed back to be recorded as ended.
    pub fn end(&self, nick: &str) -> Option<Session> {
        *self.epochs.lock().expect("epochs lock").entry(fold(nick)).or_default() += 1;
        self.remove(nick)
    }

    /// The connection is gone: every session ends and every epoch moves on.
    pub fn end_all(&self) -> Vec<Session> {
        let ended = self.live.lock().expect("sessions lock").drain().map(|(_, s)| s).collect();
        let mut epochs = self.epochs.lock().expect("epochs lock");
        for epoch in epochs.values_mut() {
            *epoch += 1;
        }
        *epochs.entry(String::new()).or_default() += 1;
        ended
    }

    /// Sessions with nothing said for `idle`, taken away with their nicks.
    pub fn take_idle(&self, now: DateTime<Utc>, idle: TimeDelta) -> Vec<(String, Session)> {
        let mut live = self.live.lock().expect("sessions lock");
        let nicks: Vec<String> = live.iter().filter(|(_, s)| now - s.last_activity >= idle).map(|(n, _)| n.clone()).collect();
        nicks.into_iter().filter_map(|n| live.remove(&n).map(|s| (n, s))).collect()
    }

    /// Where `nick`'s epoch and the connection's stand now.
    pub fn epoch(&self, nick: &str) -> Epoch {
        let epochs = self.epochs.lock().expect("epochs lock");
        let of = |key: &str| epochs.get(key).copied().unwrap_or(0);
        (of(&fold(nick)), of(""))
    }

    /// Marks a token check for `nick` as running; `false` when one already is.
    pub fn begin_token_check(&self, nick: &str) -> bool {
        self.token_checks.lock().expect("token checks lock").insert(fold(nick))
    }

    pub fn end_token_check(&self, nick: &str) {
        self.token_checks.lock().expect("token checks lock").remove(&fold(nick));
    }
}
