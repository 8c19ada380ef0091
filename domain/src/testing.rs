//! Given/when/then for aggregates, fixed clocks and ids, and one sample of every event type.
//!
//! ```ignore
//! given::<Room>(vec![room_created(), member_joined(alice())])
//!     .by(Actor::User(alice_id()))
//!     .when(RoomCommand::Ban { .. })
//!     .then(vec![Event::UserBanned(..)]);
//! ```
//!
//! Compiled for this crate's tests and, with the `testing` feature, for other crates' tests.

use std::fmt::Debug;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use uuid::Uuid;

use crate::aggregate::{Aggregate, Context};
use crate::events::*;
use crate::metadata::{Actor, Gateway};
use crate::values::*;

/// The fixed "now" of every test: decisions never read a clock, so tests choose the time.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().expect("a valid fixed time")
}

/// `now()` shifted by `delta` (negative for the past).
pub fn at(delta: TimeDelta) -> DateTime<Utc> {
    now() + delta
}

/// The default context: the fixed time, acting as the system.
pub fn ctx() -> Context {
    Context::new(now(), Actor::System)
}

/// A readable, stable id: `id(7)` is `00000000-0000-0000-0000-000000000007`.
pub fn id(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

pub fn nick(s: &str) -> Nick {
    Nick::parse(s).expect("a valid test nick")
}

pub fn display(s: &str) -> DisplayNick {
    DisplayNick::parse(s).expect("a valid test display nick")
}

pub fn phone(s: &str) -> PhoneNumber {
    PhoneNumber::parse(s).expect("a valid test phone number")
}

pub fn mask(s: &str) -> HostMask {
    HostMask::parse(s).expect("a valid test host mask")
}

pub fn token(secret: &str) -> TokenHash {
    TokenHash::of_secret(secret)
}

pub fn body(s: &str) -> MessageBody {
    MessageBody::parse(s).expect("a valid test message")
}

pub fn reason(s: &str) -> Reason {
    Reason::parse(s).expect("a valid test reason")
}

/// A member reference for a known user.
pub fn member(user_id: Uuid, nick: &str) -> MemberRef {
    MemberRef { user_id: Some(user_id), nick: display(nick) }
}

/// A member reference for an IRC guest.
pub fn guest(nick: &str) -> MemberRef {
    MemberRef { user_id: None, nick: display(nick) }
}

/// The past of a stream, folded into state, plus the context the next command runs in.
pub struct Given<A: Aggregate> {
    state: A,
    ctx: Context,
}

/// Starts a scenario from past events.
pub fn given<A: Aggregate>(events: Vec<A::Event>) -> Given<A> {
    let state = events.iter().fold(A::default(), |s, e| s.evolve(e));
    Given { state, ctx: ctx() }
}

impl<A: Aggregate> Given<A> {
    /// The command runs at `now`.
    pub fn at(mut self, now: DateTime<Utc>) -> Self {
        self.ctx.now = now;
        self
    }

    /// The command runs `delta` after the fixed `now()`.
    pub fn after(self, delta: TimeDelta) -> Self {
        self.at(now() + delta)
    }

    /// The command is issued by `actor`.
    pub fn by(mut self, actor: Actor) -> Self {
        self.ctx.actor = actor;
        self
    }

    /// The command is issued by the user `user_id`.
    pub fn by_user(self, user_id: Uuid) -> Self {
        self.by(Actor::User(user_id))
    }

    pub fn state(&self) -> &A {
        &self.state
    }

    pub fn when(self, command: A::Command) -> Then<A> {
        let result = self.state.decide(&command, &self.ctx);
        Then { result }
    }
}

/// The outcome of a decision, to be checked.
pub struct Then<A: Aggregate> {
    result: Result<Vec<A::Event>, A::Error>,
}

impl<A: Aggregate> Then<A>
where
    A::Event: PartialEq + Debug,
    A::Error: PartialEq + Debug,
{
    /// The decision produced exactly these events.
    #[track_caller]
    pub fn then(self, expected: Vec<A::Event>) {
        match self.result {
            Ok(events) => assert_eq!(events, expected, "the decision produced other events"),
            Err(e) => panic!("expected events {expected:#?}, got the error {e:?}"),
        }
    }

    /// The decision was accepted but changed nothing (idempotent repeats, no-ops).
    #[track_caller]
    pub fn then_nothing(self) {
        self.then(vec![]);
    }

    /// The decision was refused with exactly this error.
    #[track_caller]
    pub fn then_error(self, expected: A::Error) {
        match self.result {
            Ok(events) => panic!("expected the error {expected:?}, got events {events:#?}"),
            Err(e) => assert_eq!(e, expected, "the decision was refused for another reason"),
        }
    }

    /// The events, for checks that need more than equality.
    #[track_caller]
    pub fn events(self) -> Vec<A::Event> {
        match self.result {
            Ok(events) => events,
            Err(e) => panic!("expected events, got the error {e:?}"),
        }
    }
}

/// One sample of every event type, in [`EVENT_TYPES`] order. The golden fixture is made from
/// these; a test checks that no type is missing.
pub fn sample_events() -> Vec<Event> {
    let user = id(1);
    let other = id(2);
    let room = id(10);
    let t = now();
    let alice = nick("Alice");
    let alice_mask = mask("Alice!~alice@host.example");
    let p = phone("+15551234567");
    let room_number = phone("+15557654321");
    let username = Username::parse("alice").expect("valid");
    let email = Email::parse("alice@example.org").expect("valid");
    vec![
        UserRegistered { user_id: user, nick: alice.clone(), gateway: Gateway::Sms }.into(),
        NickChanged { user_id: user, old: nick("Al"), new: alice.clone() }.into(),
        PhoneBound { user_id: user, phone: p.clone() }.into(),
        WebAccountCreated {
            user_id: user,
            username: username.clone(),
            email: email.clone(),
            password_hash: "$argon2id$v=19$sample".into(),
        }
        .into(),
        EmailVerificationRequested { user_id: user, email: email.clone(), token_hash: token("mail"), expires_at: t + TimeDelta::days(1) }
            .into(),
        EmailVerified { user_id: user, email }.into(),
        AboutChanged { user_id: user, about: Some(AboutText::parse("I like trains").expect("valid")) }.into(),
        PrivacyChanged { user_id: user, private: false }.into(),
        LevelChanged { user_id: user, from: Level::Member, to: Level::Operator, by: Actor::User(other) }.into(),
        SignUpInvitationSent { user_id: user, nick: display("newbie") }.into(),
        IrcTokenIssued {
            user_id: user,
            token_id: id(20),
            token_hash: token("t"),
            purpose: TokenPurpose::Login,
            expires_at: t + TimeDelta::minutes(15),
        }
        .into(),
        IrcTokenRevoked { user_id: user, token_id: id(20), reason: TokenRevocationReason::LeakedInChannel }.into(),
        IrcIdentityRegistered { user_id: user, nick: alice.clone(), host_mask: alice_mask.clone() }.into(),
        IrcSessionStarted { user_id: user, session_id: id(30), nick: alice.clone(), mask: alice_mask.clone(), started_at: t }.into(),
        IrcLoginFailed { user_id: user, nick: alice.clone(), mask: alice_mask.clone(), reason: LoginFailureReason::WrongToken, at: t }
            .into(),
        IrcLoginLocked { user_id: user, nick: alice.clone(), until: t + TimeDelta::minutes(10) }.into(),
        IrcSessionEnded { user_id: user, session_id: id(30), reason: SessionEndReason::IdleTimeout }.into(),
        SmsStopped { user_id: user, reason: SmsStopReason::CarrierKeyword, room_id: None }.into(),
        SmsStarted { user_id: user, room_id: None }.into(),
        ApiTokenIssued { user_id: user, token_id: id(21), token_hash: token("api"), expires_at: t + TimeDelta::days(30) }.into(),
        ApiTokenRevoked { user_id: user, token_id: id(21) }.into(),
        PasswordResetRequested { user_id: user, token_hash: token("reset"), expires_at: t + TimeDelta::hours(1) }.into(),
        PasswordChanged { user_id: user, password_hash: "$argon2id$v=19$changed".into() }.into(),
        AccountClosed { user_id: user }.into(),
        PhoneVerificationRequested {
            user_id: user,
            phone: p.clone(),
            code_hash: token("123456"),
            requested_at: t,
            expires_at: t + TimeDelta::minutes(10),
        }
        .into(),
        PhoneVerificationFailed { user_id: user, attempts_left: 4 }.into(),
        PhoneVerified { user_id: user, phone: p.clone() }.into(),
        NickReserved { nick: alice.clone(), user_id: user }.into(),
        NickReleased { nick: nick("Al"), user_id: user }.into(),
        PhoneReserved { phone: p.clone(), user_id: user }.into(),
        PhoneReleased { phone: p.clone(), user_id: user }.into(),
        AccountNameReserved { username: username.clone(), user_id: user }.into(),
        AccountNameReleased { username, user_id: user }.into(),
        RoomCreated { room_id: room, name: RoomName::parse("Lobby").expect("valid"), invite_only: true, created_by: Actor::System }.into(),
        RoomRenamed {
            room_id: room,
            old: RoomName::parse("Lobby").expect("valid"),
            new: RoomName::parse("Hall").expect("valid"),
            by: Actor::User(other),
        }
        .into(),
        InviteOnlyChanged { room_id: room, invite_only: false, by: Actor::User(other) }.into(),
        IrcChannelBound {
            room_id: room,
            channel: IrcChannel::parse("#lobby").expect("valid"),
            key: Some("sekrit".into()),
            by: Actor::System,
        }
        .into(),
        IrcChannelUnbound { room_id: room, channel: IrcChannel::parse("#lobby").expect("valid"), by: Actor::User(other) }.into(),
        SmsNumberBound { room_id: room, number: room_number.clone(), by: Actor::System }.into(),
        SmsNumberUnbound { room_id: room, number: room_number.clone(), by: Actor::User(other) }.into(),
        TopicSet { room_id: room, topic: Topic::parse("Welcome!").expect("valid"), by: Actor::User(other) }.into(),
        MemberJoined {
            room_id: room,
            member: member(user, "Alice"),
            mask: Some(alice_mask.clone()),
            phone: None,
            gateway: Gateway::Irc,
            invite_id: Some(id(40)),
            is_bot: false,
        }
        .into(),
        MemberLeft { room_id: room, member: member(user, "Alice"), reason: LeaveReason::Part }.into(),
        MemberIdentified { room_id: room, nick: display("Alice"), user_id: user }.into(),
        MemberKicked { room_id: room, member: guest("[troll]"), reason: Some(reason("flooding")), by: Actor::User(other) }.into(),
        MessagePosted {
            room_id: room,
            message_id: id(50),
            author_id: Some(user),
            author_nick: display("Alice"),
            body: body("hello, world"),
            kind: MessageKind::Action,
            gateway: Gateway::Irc,
        }
        .into(),
        RoomMuteSet { room_id: room, target: member(user, "Alice"), until: Some(t + TimeDelta::hours(2)), by: Actor::User(other) }.into(),
        RoomMuteLifted { room_id: room, target: member(user, "Alice"), by: Actor::User(other) }.into(),
        PersonalMuteSet { room_id: room, muter: user, mutee: Mutee::User(other) }.into(),
        PersonalMuteLifted { room_id: room, muter: user, mutee: Mutee::User(other) }.into(),
        UserBanned {
            room_id: room,
            ban_id: id(60),
            target: BanTarget::Mask { mask: mask("*!*@evil.example") },
            until: Some(t + TimeDelta::days(3)),
            reason: Some(reason("spam")),
            by: Actor::User(other),
        }
        .into(),
        UserUnbanned { room_id: room, ban_id: id(60), target: BanTarget::User { user_id: user }, by: Actor::User(other) }.into(),
        BanEnforced {
            room_id: room,
            ban_id: id(60),
            member: MemberRef { user_id: None, nick: display("Mallory") },
            mask: Some(mask("Mallory!m@evil.example")),
        }
        .into(),
        BanRequested {
            room_id: room,
            request_id: id(70),
            target: BanTarget::User { user_id: user },
            reason: reason("rude"),
            by: Actor::User(other),
        }
        .into(),
        BanRequestApproved { room_id: room, request_id: id(70), ban_id: id(61), by: Actor::User(other) }.into(),
        BanRequestRejected { room_id: room, request_id: id(71), by: Actor::User(other) }.into(),
        InviteIssued { room_id: room, invite_id: id(40), invitee: Invitee::Phone { phone: p.clone() }, by: Actor::User(other) }.into(),
        InviteAccepted { room_id: room, invite_id: id(40), user_id: user }.into(),
        ChannelModeChanged { room_id: room, nick: display("Alice"), mode: ChannelMode::Voice, by: Actor::User(other) }.into(),
        InboundSmsReceived {
            message_sid: "SM0123456789abcdef0123456789abcdef".into(),
            from: p.clone(),
            to: room_number.clone(),
            body: "#join Alice".into(),
            room_id: Some(room),
            media: vec![],
            twilio: Default::default(),
        }
        .into(),
        GuestTextingLimited { room_id: room, nick: display("Alice"), limit: 60 }.into(),
        DeliveryQueued {
            delivery_id: id(80),
            room_id: room,
            recipient: user,
            to: p.clone(),
            from: room_number,
            body: "[Bob] hi".into(),
            cause_message_id: Some(id(50)),
            cause_event_id: Some(id(51)),
            segment: 1,
            segments: 1,
        }
        .into(),
        DeliverySubmitted { delivery_id: id(80), twilio_sid: "SMfedcba9876543210fedcba9876543210".into(), status: DeliveryStatus::Queued }
            .into(),
        DeliveryStatusChanged { delivery_id: id(80), status: DeliveryStatus::Undelivered, error_code: Some(30003) }.into(),
        DeliveryFailedPermanently { delivery_id: id(80), error_code: Some(21610), reason: "recipient unsubscribed".into() }.into(),
        DeliveryRecipientOptedOut { delivery_id: id(80), recipient: user, to: p }.into(),
        QuoteAdded {
            quote_id: 1,
            nick: display("Bob"),
            text: QuoteText::parse("it works on my machine").expect("valid"),
            added_by: Actor::User(user),
            added_at: t,
        }
        .into(),
        QuoteDeleted { quote_id: 1, by: Actor::User(other) }.into(),
        InfoItemAdded {
            item: InfoKey::parse("rules").expect("valid"),
            text: InfoText::parse("Be nice.").expect("valid"),
            by: Actor::User(user),
        }
        .into(),
        InfoItemReplaced {
            item: InfoKey::parse("rules").expect("valid"),
            text: InfoText::parse("Be kind.").expect("valid"),
            by: Actor::User(other),
        }
        .into(),
        InfoItemDeleted { item: InfoKey::parse("rules").expect("valid"), by: Actor::User(other) }.into(),
    ]
}
