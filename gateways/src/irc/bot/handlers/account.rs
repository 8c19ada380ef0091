//! Account commands: `.register`, `.login`, `.logout`, `.status`, `.meet`, `.about`; and what
//! the bot does about a token said in a channel and about a session that ended.

use chrono::Utc;
use domain::aggregates::user::{LoginOutcome, login_outcome};
use domain::events::{MemberRef, SessionEndReason};
use domain::{AboutText, Actor, DisplayNick, Gateway, Joining, Level, Nick, RoomCommand, TokenHash, UserCommand};
use uuid::Uuid;

use super::{Answer, Asker, Failure, Handlers};
use crate::irc::bot::backend::Backend;
use crate::irc::bot::control::ControlJob;
use crate::irc::bot::replies;
use crate::irc::bot::sessions::Session;
use crate::irc::input::Source;

impl<B: Backend> Handlers<'_, B> {
    /// `.register <token>` (privately): links this nick and host to the token's account.
    pub async fn register(&self, asker: &Asker, token: &str) -> Answer {
        let hash = TokenHash::of_secret(token);
        let nick = Nick::parse(&asker.who.nick).map_err(|e| Failure::Say(replies::nick_not_an_account_nick(&e)))?;
        let mask = asker.who.mask().ok_or_else(|| Failure::Say(replies::HOST_UNSEEN.into()))?;
        let Some(user_id) = self.token_account(&hash, &nick).await? else {
            return Err(Failure::Say(replies::REGISTER_TOKEN_INVALID.into()));
        };
        let register = UserCommand::RegisterIrcIdentity { token: hash, nick, mask: mask.clone() };
        self.backend.execute_user(user_id, &register, Actor::User(user_id)).await?;
        self.state.reply(asker, &replies::registered(&asker.who.nick, &mask));
        Ok(())
    }

    /// `.login <token>` (privately): starts a session bound to this `nick!user@host`.
    pub async fn login(&self, asker: &Asker, token: &str) -> Answer {
        // A session ends when its person leaves the last channel shared with the bot; someone
        // the bot shares no channel with could never be seen leaving.
        if !self.state.presence.is_anywhere(&asker.who.nick) {
            return Err(Failure::Say(replies::JOIN_BEFORE_LOGIN.into()));
        }
        let epoch = self.state.sessions.epoch(&asker.who.nick);
        let hash = TokenHash::of_secret(token);
        let nick = Nick::parse(&asker.who.nick).map_err(|_| Failure::Say(replies::LOGIN_FROM_REGISTERED_NICK.into()))?;
        let mask = asker.who.mask().ok_or_else(|| Failure::Say(replies::HOST_UNSEEN.into()))?;
        let Some(user_id) = self.token_account(&hash, &nick).await? else {
            return Err(Failure::Say(replies::LOGIN_TOKEN_INVALID.into()));
        };
        let session_id = Uuid::now_v7();
        let login = UserCommand::LoginIrc { token: hash, nick: nick.clone(), mask: mask.clone(), session_id };
        let (events, user) = self.backend.execute_user(user_id, &login, Actor::User(user_id)).await?;
        match login_outcome(&events) {
            Some(LoginOutcome::LoggedIn { session_id }) => {
                let session = Session { user_id, session_id, mask, last_activity: Utc::now() };
                if self.state.sessions.epoch(&asker.who.nick) != epoch {
                    // They quit, changed nick or left (or we lost the server) while the login
                    // was being decided: the session ends at once instead of outliving them.
                    self.state.queue(ControlJob::EndSession(session, SessionEndReason::Disconnect));
                    return Ok(());
                }
                self.state.sessions.start(nick.as_str(), session.clone());
                self.identify_in_rooms(&asker.who, &session, user.level).await;
                if user.level >= Level::Member {
                    self.state.invite_to_closed_channels(&asker.who.nick);
                }
                self.state.reply(asker, &replies::logged_in(&nick, user.level));
                Ok(())
            }
            Some(LoginOutcome::Failed { reason, locked_until }) => Err(Failure::Say(replies::login_refused(reason, &nick, locked_until))),
            None => Err(Failure::Say(replies::LOGIN_REFUSED.into())),
        }
    }

    /// A guest who just logged in is, in every bound room whose channel they are on, the
    /// account's member from now on (its mutes, invitations and membership lists). A room that
    /// refuses the account as banned gets the ban enforced on the channel.
    async fn identify_in_rooms(&self, who: &Source, session: &Session, level: Level) {
        let Ok(nick) = DisplayNick::parse(&who.nick) else { return };
        for channel in self.state.presence.channels_of(&who.nick) {
            let Some(bound) = self.state.channel(&channel) else { continue };
            let member = MemberRef { user_id: Some(session.user_id), nick: nick.clone() };
            let joining = Joining {
                member: member.clone(),
                mask: Some(session.mask.clone()),
                phone: None,
                gateway: Gateway::Irc,
                caller_level: level,
                as_bot: false,
                nick_holder: None,
            };
            let Err(failure) = self.backend.execute_room(bound.room_id, RoomCommand::Join(joining), Actor::User(session.user_id)).await
            else {
                continue;
            };
            let banned = match self.backend.room(bound.room_id).await {
                Ok(room) => room.is_banned(Some(session.user_id), nick.as_str(), Some(&session.mask), Utc::now()).is_some(),
                Err(_) => false,
            };
            if !banned {
                tracing::warn!(?failure, %channel, nick = %who.nick, "logged-in guest not identified in the room");
                continue;
            }
            let enforce = RoomCommand::EnforceBan { member, mask: Some(session.mask.clone()), nick_holder: None };
            match self.backend.execute_room(bound.room_id, enforce, Actor::System).await {
                Ok(_) => self.state.kick_banned(&bound.channel, &who.nick),
                Err(e) => tracing::info!(?e, %channel, nick = %who.nick, "ban not enforced"),
            }
        }
    }

    /// The account a presented token is to be checked against: its owner when the read model
    /// knows the token, else the account holding the nick (a token only works from its account's
    /// nick, and the nick's reservation is read from its stream, never behind). The domain then
    /// checks the token itself, so an unknown one is refused without waiting or polling.
    async fn token_account(&self, token: &TokenHash, nick: &Nick) -> Result<Option<Uuid>, Failure> {
        match self.backend.token_owner(token).await? {
            Some(owner) => Ok(Some(owner)),
            None => self.backend.nick_holder(nick.as_str()).await,
        }
    }

    /// `.logout`: ends the caller's session.
    pub async fn logout(&self, asker: &Asker) -> Answer {
        let Some(session) = self.state.session_of(&asker.who) else {
            return Err(Failure::Say(replies::NOT_LOGGED_IN.into()));
        };
        self.state.sessions.remove(&asker.who.nick);
        let end = UserCommand::EndIrcSession { session_id: Some(session.session_id), reason: SessionEndReason::Logout };
        self.backend.execute_user(session.user_id, &end, Actor::User(session.user_id)).await?;
        self.state.reply(asker, replies::LOGGED_OUT);
        Ok(())
    }

    /// `.status`: logged in or not, and the level.
    pub async fn status(&self, asker: &Asker) -> Answer {
        let level = self.level_of(&asker.who).await?;
        let text = match self.state.session_of(&asker.who) {
            Some(_) => replies::status_logged_in(level),
            None => replies::status_guest(self.prefix()),
        };
        self.state.reply(asker, &text);
        Ok(())
    }

    /// `.meet <nick>`: tells `nick` privately how to sign up (recorded on the inviter's stream).
    pub async fn meet(&self, asker: &Asker, nick: &str) -> Answer {
        let (user_id, _) = self.require(asker, Level::Member).await?;
        let invite = UserCommand::SendSignUpInvitation { nick: DisplayNick::parse(nick)? };
        self.backend.execute_user(user_id, &invite, Actor::User(user_id)).await?;
        let settings = &self.state.settings;
        self.state.outbox.privmsg(nick, &replies::invitation(nick, &asker.who.nick, &settings.public_url, &settings.prefix));
        self.state.reply(asker, &replies::invitation_sent(nick));
        Ok(())
    }

    /// `.about [nick]`: someone's about text, one's own without a nick. A `private` person's is
    /// told only to people in a room with them, and to staff.
    pub async fn about(&self, asker: &Asker, nick: Option<&str>) -> Answer {
        let (own_id, level) = self.require(asker, Level::Member).await?;
        let user_id = match nick {
            None => own_id,
            Some(nick) => self.backend.nick_holder(nick).await?.ok_or_else(|| Failure::Say(replies::no_account(nick)))?,
        };
        let user = self.backend.user(user_id).await?;
        let shown = !user.private || user_id == own_id || level >= Level::Staff || self.backend.share_a_room(own_id, user_id).await?;
        self.state.reply(asker, &if shown { replies::about(&user) } else { replies::about_private(&user) });
        Ok(())
    }

    /// `.about set <text>`.
    pub async fn set_about(&self, asker: &Asker, text: &str) -> Answer {
        let (user_id, _) = self.require(asker, Level::Member).await?;
        let set = UserCommand::SetAbout { about: Some(AboutText::parse(text)?) };
        self.backend.execute_user(user_id, &set, Actor::User(user_id)).await?;
        self.state.reply(asker, replies::ABOUT_SAVED);
        Ok(())
    }

    /// A token said in a channel: it is revoked (when it is anyone's) and its sayer is told.
    pub async fn leaked_token(&self, who: &Source, token: &str) {
        let hash = TokenHash::of_secret(token);
        let owner = match self.backend.token_owner(&hash).await {
            // Not found (yet): the likeliest owner is the account of the nick that said it.
            Ok(None) => self.backend.user_by_irc_nick(&who.nick).await.ok().flatten(),
            Ok(owner) => owner,
            Err(e) => {
                tracing::error!(error = ?e, "leaked token lookup failed");
                None
            }
        };
        if let Some(user_id) = owner {
            let revoke = UserCommand::RevokeLeakedToken { token: hash };
            if let Err(e) = self.backend.execute_user(user_id, &revoke, Actor::System).await {
                tracing::error!(error = ?e, "leaked token not revoked");
            }
        }
        self.state.outbox.notice(&who.nick, replies::TOKEN_LEAKED);
    }

    /// Records the end of a session the bot has already forgotten.
    pub async fn record_session_end(&self, session: &Session, reason: SessionEndReason) {
        let end = UserCommand::EndIrcSession { session_id: Some(session.session_id), reason };
        if let Err(e) = self.backend.execute_user(session.user_id, &end, Actor::System).await {
            tracing::error!(error = ?e, user_id = %session.user_id, "session end not recorded");
        }
    }
}
