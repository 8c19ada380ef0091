//! Users: registration (nick and phone reservations first), starting levels, nick changes,
//! level and privacy changes, SMS stop/start, and fresh nicks, phones and IRC identities.

use domain::events::{
    LevelChanged, NickChanged, NickReleased, NickReserved, PhoneBound, PhoneReserved, PrivacyChanged, SmsStarted, SmsStopReason,
    SmsStopped, UserRegistered,
};
use domain::{Actor, Event, Gateway, Level, Metadata, Nick, PhoneNumber, StreamName};
use rand::Rng;

use super::config::{PHONE_SHARE, TEXTING_SHARE, TRIES};
use super::simulation::{Sim, UserState};
use super::words::{ISPS, NAMES, NICK_SUFFIXES, capitalised, pick, pick_str};

impl Sim {
    /// `nick.reserved`, `user.registered`, maybe `phone.reserved` + `user.phone_bound`, then
    /// the user's starting level and privacy.
    pub(super) fn register_user(&mut self) {
        let user = self.users.len();
        let id = self.uuid();
        let nick = self.fresh_nick();
        // The superusers run things from IRC; a third of the others have a phone.
        let phone = (user >= 2 && self.chance(PHONE_SHARE)).then(|| self.fresh_phone());
        let texts = phone.is_some() && self.chance(TEXTING_SHARE);
        let via = if texts {
            Gateway::Sms
        } else if self.chance(0.15) {
            Gateway::Api
        } else {
            Gateway::Irc
        };
        let (ident, host) = self.irc_identity(&nick);
        self.users.push(UserState {
            id,
            stream: StreamName::user(id),
            nick: nick.clone(),
            level: Level::Guest,
            private: true, // `User::evolve` makes every new user private.
            phone: None,
            texts,
            sms_receiving: true,
            ident,
            host,
        });
        // Someone not known yet: the registration request is anonymous until the user exists.
        let meta = self.request(Actor::Anonymous, via);
        // The nick is reserved before the user is registered (the reservation is the uniqueness check).
        self.emit(StreamName::nick(&nick.casefold()), &meta, vec![NickReserved { nick: nick.clone(), user_id: id }.into()]);
        self.emit_user(user, &meta, UserRegistered { user_id: id, nick, gateway: via }.into());
        if let Some(phone) = phone {
            self.bind_phone(user, phone, &meta);
        }
        self.starting_level(user);
        if self.chance(0.3) {
            self.toggle_privacy(user);
        }
    }

    pub(super) fn bind_phone(&mut self, user: usize, phone: PhoneNumber, meta: &Metadata) {
        let user_id = self.users[user].id;
        self.emit(StreamName::phone(phone.as_str()), meta, vec![PhoneReserved { phone: phone.clone(), user_id }.into()]);
        self.emit_user(user, meta, PhoneBound { user_id, phone: phone.clone() }.into());
        self.users[user].phone = Some(phone);
        self.phone_users.push(user);
    }

    /// The first two users become superusers (by configuration, i.e. the system); the next few
    /// staff; the rest members, voices, operators or left guests, granted by staff.
    pub(super) fn starting_level(&mut self, user: usize) {
        let staff_count = (self.users_wanted / 250).clamp(1, 8);
        let to = if user < 2 {
            Level::Superuser
        } else if user < 2 + staff_count {
            Level::Staff
        } else {
            match self.rng.random_range(0..100) {
                0..45 => Level::Member,
                45..53 => Level::Voice,
                53..57 => Level::Operator,
                _ => return,
            }
        };
        let (meta, by) = if user < 2 {
            (self.request(Actor::System, Gateway::System), Actor::System)
        } else {
            let granter = self.pick_staff().expect("the superusers are registered first");
            (self.user_request(granter, Gateway::Irc), self.users[granter].actor())
        };
        let user_id = self.users[user].id;
        self.emit_user(user, &meta, LevelChanged { user_id, from: Level::Guest, to, by }.into());
        self.set_level(user, to);
    }

    /// `nick.reserved` (new), `user.nick_changed`, `nick.released` (old): reserve first so the
    /// new nick is never shared, release last, as the application orders them.
    pub(super) fn change_nick(&mut self) -> bool {
        let user = self.random_user();
        let new = self.fresh_nick();
        let old = std::mem::replace(&mut self.users[user].nick, new.clone());
        self.taken_nicks.remove(&old.casefold());
        let user_id = self.users[user].id;
        let gateway = self.users[user].home();
        let meta = self.user_request(user, gateway);
        self.emit(StreamName::nick(&new.casefold()), &meta, vec![NickReserved { nick: new.clone(), user_id }.into()]);
        self.emit_user(user, &meta, NickChanged { user_id, old: old.clone(), new }.into());
        self.emit(StreamName::nick(&old.casefold()), &meta, vec![NickReleased { nick: old, user_id }.into()]);
        true
    }

    pub(super) fn change_level_or_privacy(&mut self) -> bool {
        if self.chance(0.5) {
            self.change_level()
        } else {
            let user = self.random_user();
            self.toggle_privacy(user);
            true
        }
    }

    /// Staff move someone below staff between guest and operator (the staff and superusers set
    /// up in phase 1 stay, so there are always people to moderate and to decide ban requests).
    pub(super) fn change_level(&mut self) -> bool {
        let Some(caller) = self.pick_staff() else { return false };
        for _ in 0..TRIES {
            let target = self.random_user();
            let from = self.users[target].level;
            let to = [Level::Guest, Level::Member, Level::Member, Level::Voice, Level::Operator][self.rng.random_range(0..5)];
            if target == caller || from >= Level::Staff || to == from {
                continue;
            }
            let event = LevelChanged { user_id: self.users[target].id, from, to, by: self.users[caller].actor() };
            let meta = self.user_request(caller, Gateway::Irc);
            self.emit_user(target, &meta, event.into());
            self.set_level(target, to);
            return true;
        }
        false
    }

    /// Only the user themself changes their privacy.
    pub(super) fn toggle_privacy(&mut self, user: usize) {
        let private = !self.users[user].private;
        self.users[user].private = private;
        let gateway = self.users[user].home();
        let meta = self.user_request(user, gateway);
        self.emit_user(user, &meta, PrivacyChanged { user_id: self.users[user].id, private }.into());
    }

    /// `user.sms_stopped` (`#stop`, `STOP`, or Twilio's opt-out report) or `user.sms_started`.
    pub(super) fn stop_or_start_sms(&mut self) -> bool {
        let Some(user) = pick(&mut self.rng, &self.phone_users) else { return false };
        let user_id = self.users[user].id;
        let receiving = self.users[user].sms_receiving;
        self.users[user].sms_receiving = !receiving;
        let (meta, event): (Metadata, Event) = if receiving {
            let reason = [SmsStopReason::Command, SmsStopReason::Command, SmsStopReason::CarrierKeyword, SmsStopReason::OptedOut]
                [self.rng.random_range(0..4)];
            // An opt-out is reported by Twilio's webhook, not typed by the user.
            let meta = if reason == SmsStopReason::OptedOut {
                self.request(Actor::System, Gateway::System)
            } else {
                self.user_request(user, Gateway::Sms)
            };
            (meta, SmsStopped { user_id, reason, room_id: None }.into())
        } else {
            (self.user_request(user, Gateway::Sms), SmsStarted { user_id, room_id: None }.into())
        };
        self.emit_user(user, &meta, event);
        true
    }

    /// A nick like `alice`, `Bob42`, `carol_dev` or `dave-7`, unique case-insensitively.
    pub(super) fn fresh_nick(&mut self) -> Nick {
        loop {
            let name = pick_str(&mut self.rng, NAMES);
            let candidate = match self.rng.random_range(0..6) {
                0 => capitalised(name),
                1 | 2 => format!("{name}{}", self.rng.random_range(1..100)),
                3 => format!("{name}_{}", pick_str(&mut self.rng, NICK_SUFFIXES)),
                4 => format!("{}{}", capitalised(name), self.rng.random_range(1..10_000)),
                _ => format!("{name}-{}", self.rng.random_range(1..1000)),
            };
            if self.taken_nicks.insert(candidate.to_ascii_lowercase()) {
                return Nick::parse(&candidate).expect("generated nicks are valid");
            }
        }
    }

    /// A North American number (area codes 201–799, so never a room's `+1888…`), unique.
    pub(super) fn fresh_phone(&mut self) -> PhoneNumber {
        loop {
            let candidate = format!("+1{}{:07}", self.rng.random_range(201..800), self.rng.random_range(0..10_000_000));
            if self.taken_phones.insert(candidate.clone()) {
                return PhoneNumber::parse(&candidate).expect("generated phone numbers are valid");
            }
        }
    }

    /// The `~ident` and host of someone's IRC connection: a cloak, an address or an ISP host.
    pub(super) fn irc_identity(&mut self, nick: &Nick) -> (String, String) {
        let fold = nick.casefold();
        let ident = format!("~{}", &fold[..fold.len().min(9)]);
        let host = match self.rng.random_range(0..3) {
            0 => format!("user/{fold}"),
            1 => {
                let [a, b, c, d]: [u8; 4] = self.rng.random();
                format!("{}.{b}.{c}.{d}", a.max(1))
            }
            _ => format!("host-{}.{}.example.net", self.rng.random_range(1..100_000), pick_str(&mut self.rng, ISPS)),
        };
        (ident, host)
    }
}
