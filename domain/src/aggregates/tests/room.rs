use chrono::TimeDelta;
use uuid::Uuid;

use crate::aggregate::Aggregate;
use crate::aggregates::room::*;
use crate::events::*;
use crate::metadata::{Actor, Gateway};
use crate::testing::*;
use crate::values::*;

const ROOM: u128 = 10;
const ALICE: u128 = 1;
const BOB: u128 = 2;
const OP: u128 = 3;

fn room_id() -> Uuid {
    id(ROOM)
}

fn created(invite_only: bool) -> Event {
    RoomCreated { room_id: room_id(), name: RoomName::parse("Lobby").unwrap(), invite_only, created_by: Actor::System }.into()
}

fn joined(user: u128, nick: &str, gateway: Gateway) -> Event {
    MemberJoined { room_id: room_id(), member: member(id(user), nick), mask: None, phone: None, gateway, invite_id: None, is_bot: false }
        .into()
}

fn joined_irc(user: u128, nick: &str, host_mask: &str) -> Event {
    MemberJoined {
        room_id: room_id(),
        member: member(id(user), nick),
        mask: Some(mask(host_mask)),
        phone: None,
        gateway: Gateway::Irc,
        invite_id: None,
        is_bot: false,
    }
    .into()
}

fn bot_joined() -> Event {
    MemberJoined {
        room_id: room_id(),
        member: guest("switchboard"),
        mask: Some(mask("switchboard!bot@bot.example")),
        phone: None,
        gateway: Gateway::Irc,
        invite_id: None,
        is_bot: true,
    }
    .into()
}

/// A room with Alice (SMS) and Bob (IRC) as members.
fn lobby() -> Vec<Event> {
    vec![created(false), joined(ALICE, "Alice", Gateway::Sms), joined_irc(BOB, "Bob", "Bob!~bob@bob.example"), bot_joined()]
}

fn with(mut history: Vec<Event>, more: impl IntoIterator<Item = Event>) -> Vec<Event> {
    history.extend(more);
    history
}

fn join_sms(user: u128, nick: &str, number: &str, level: Level) -> RoomCommand {
    RoomCommand::Join(Joining {
        member: member(id(user), nick),
        mask: None,
        phone: Some(phone(number)),
        gateway: Gateway::Sms,
        caller_level: level,
        as_bot: false,
        nick_holder: None,
    })
}

fn join_irc(user: Option<u128>, nick: &str, host_mask: &str, level: Level) -> RoomCommand {
    RoomCommand::Join(Joining {
        member: MemberRef { user_id: user.map(id), nick: display(nick) },
        mask: Some(mask(host_mask)),
        phone: None,
        gateway: Gateway::Irc,
        caller_level: level,
        as_bot: false,
        nick_holder: None,
    })
}

fn say(user: u128, nick: &str, text: &str, gateway: Gateway) -> RoomCommand {
    RoomCommand::Post {
        message_id: id(50),
        speaker: Speaker::Member { member: member(id(user), nick), mask: None },
        body: body(text),
        kind: MessageKind::Say,
        gateway,
        caller_level: Level::Member,
    }
}

fn ban(target: BanTarget, duration: Option<&str>, caller_level: Level, target_level: Level) -> RoomCommand {
    RoomCommand::Ban {
        ban_id: id(60),
        target,
        duration: duration.map(|d| BanDuration::parse(d).unwrap()),
        reason: Some(reason("spam")),
        caller_level,
        target_level,
    }
}

fn banned(target: BanTarget, until: Option<chrono::DateTime<chrono::Utc>>) -> Event {
    UserBanned { room_id: room_id(), ban_id: id(60), target, until, reason: Some(reason("spam")), by: Actor::User(id(OP)) }.into()
}

fn user_target(user: u128) -> BanTarget {
    BanTarget::User { user_id: id(user) }
}

// --- creation and bindings

#[test]
fn staff_create_a_room() {
    given::<Room>(vec![])
        .by_user(id(OP))
        .when(RoomCommand::Create {
            room_id: room_id(),
            name: RoomName::parse("Lobby").unwrap(),
            invite_only: false,
            caller_level: Level::Staff,
        })
        .then(vec![
            RoomCreated {
                room_id: room_id(),
                name: RoomName::parse("Lobby").unwrap(),
                invite_only: false,
                created_by: Actor::User(id(OP)),
            }
            .into(),
        ]);
}

#[test]
fn an_operator_cannot_create_a_room() {
    given::<Room>(vec![])
        .by_user(id(OP))
        .when(RoomCommand::Create {
            room_id: room_id(),
            name: RoomName::parse("Lobby").unwrap(),
            invite_only: false,
            caller_level: Level::Operator,
        })
        .then_error(RoomError::InsufficientLevel { needed: Level::Staff, have: Level::Operator });
}

#[test]
fn a_room_is_created_only_once() {
    given::<Room>(vec![created(false)])
        .when(RoomCommand::Create {
            room_id: room_id(),
            name: RoomName::parse("Again").unwrap(),
            invite_only: false,
            caller_level: Level::Staff,
        })
        .then_error(RoomError::AlreadyCreated);
}

#[test]
fn commands_to_a_missing_room_are_refused() {
    given::<Room>(vec![]).when(say(ALICE, "Alice", "hi", Gateway::Sms)).then_error(RoomError::RoomNotFound);
}

#[test]
fn a_room_binds_one_irc_channel_and_remembers_its_key() {
    let chan = IrcChannel::parse("#lobby").unwrap();
    given::<Room>(vec![created(false)])
        .when(RoomCommand::BindIrcChannel { channel: chan.clone(), key: Some("k".into()), caller_level: Level::Guest })
        .then(vec![IrcChannelBound { room_id: room_id(), channel: chan.clone(), key: Some("k".into()), by: Actor::System }.into()]);
    let bound: Event = IrcChannelBound { room_id: room_id(), channel: chan.clone(), key: None, by: Actor::System }.into();
    given::<Room>(vec![created(false), bound.clone()])
        .when(RoomCommand::BindIrcChannel { channel: IrcChannel::parse("#LOBBY").unwrap(), key: None, caller_level: Level::Staff })
        .then_nothing();
    given::<Room>(vec![created(false), bound])
        .by_user(id(OP))
        .when(RoomCommand::BindIrcChannel { channel: IrcChannel::parse("#other").unwrap(), key: None, caller_level: Level::Staff })
        .then_error(RoomError::IrcAlreadyBound { channel: chan });
}

#[test]
fn unbinding_an_unbound_sms_number_changes_nothing() {
    given::<Room>(vec![created(false)]).when(RoomCommand::UnbindSmsNumber { caller_level: Level::Staff }).then_nothing();
}

// --- joining and leaving

#[test]
fn a_new_number_joins_an_open_room() {
    given::<Room>(vec![created(false)]).by_user(id(ALICE)).when(join_sms(ALICE, "Alice", "+15551234567", Level::Guest)).then(vec![
        MemberJoined {
            room_id: room_id(),
            member: member(id(ALICE), "Alice"),
            mask: None,
            phone: Some(phone("+15551234567")),
            gateway: Gateway::Sms,
            invite_id: None,
            is_bot: false,
        }
        .into(),
    ]);
}

#[test]
fn joining_twice_changes_nothing() {
    given::<Room>(lobby()).when(join_sms(ALICE, "Alice", "+15551234567", Level::Member)).then_nothing();
}

#[test]
fn a_banned_user_cannot_join() {
    given::<Room>(vec![created(false), banned(user_target(ALICE), None)])
        .by_user(id(ALICE))
        .when(join_sms(ALICE, "Alice", "+15551234567", Level::Member))
        .then_error(RoomError::Banned { until: None });
}

#[test]
fn an_expired_ban_no_longer_refuses_a_join() {
    let history = vec![created(false), banned(user_target(ALICE), Some(at(TimeDelta::hours(2))))];
    given::<Room>(history.clone())
        .after(TimeDelta::hours(1))
        .when(join_sms(ALICE, "Alice", "+15551234567", Level::Member))
        .then_error(RoomError::Banned { until: Some(at(TimeDelta::hours(2))) });
    given::<Room>(history).after(TimeDelta::hours(2)).when(join_sms(ALICE, "Alice", "+15551234567", Level::Member)).events();
}

#[test]
fn a_mask_ban_refuses_a_matching_irc_guest() {
    given::<Room>(vec![created(false), banned(BanTarget::Mask { mask: mask("*!*@*.evil.example") }, None)])
        .by(Actor::Anonymous)
        .when(join_irc(None, "[troll]", "[troll]!~t@dsl.evil.example", Level::Guest))
        .then_error(RoomError::Banned { until: None });
}

#[test]
fn an_account_ban_refuses_a_guest_joining_under_the_accounts_nick() {
    let guest = |nick_holder| {
        RoomCommand::Join(Joining {
            member: MemberRef { user_id: None, nick: display("Alice") },
            mask: Some(mask("Alice!a@home.example")),
            phone: None,
            gateway: Gateway::Irc,
            caller_level: Level::Guest,
            as_bot: false,
            nick_holder,
        })
    };
    let history = vec![created(false), banned(user_target(ALICE), None)];
    given::<Room>(history.clone()).by(Actor::Anonymous).when(guest(Some(id(ALICE)))).then_error(RoomError::Banned { until: None });
    given::<Room>(history).by(Actor::Anonymous).when(guest(Some(id(BOB)))).events();
}

fn guest_joined(nick: &str, host_mask: &str) -> Event {
    MemberJoined {
        room_id: room_id(),
        member: guest(nick),
        mask: Some(mask(host_mask)),
        phone: None,
        gateway: Gateway::Irc,
        invite_id: None,
        is_bot: false,
    }
    .into()
}

fn identified(user: u128, nick: &str) -> Event {
    MemberIdentified { room_id: room_id(), nick: display(nick), user_id: id(user) }.into()
}

#[test]
fn a_guest_who_logs_in_becomes_the_accounts_member() {
    let history = vec![created(false), guest_joined("carol", "carol!c@home.example")];
    given::<Room>(history.clone())
        .by_user(id(OP))
        .when(join_irc(Some(OP), "Carol", "carol!c@home.example", Level::Member))
        .then(vec![identified(OP, "Carol")]);
    let room = given::<Room>(with(history, [identified(OP, "Carol")])).state().clone();
    assert!(room.is_member(id(OP)));
    assert_eq!(room.members.len(), 1, "the guest entry is gone: {:?}", room.members);
    let member = &room.members[&MemberKey::User(id(OP))];
    assert_eq!(
        (member.member.user_id, member.gateway, member.mask.clone()),
        (Some(id(OP)), Gateway::Irc, Some(mask("carol!c@home.example")))
    );
}

#[test]
fn logging_in_keeps_a_guests_room_mute() {
    let muted: Event = RoomMuteSet { room_id: room_id(), target: guest("carol"), until: None, by: Actor::User(id(BOB)) }.into();
    let history = vec![created(false), guest_joined("carol", "carol!c@home.example"), muted, identified(OP, "carol")];
    given::<Room>(history)
        .by_user(id(OP))
        .when(say(OP, "carol", "am I heard now?", Gateway::Irc))
        .then_error(RoomError::Muted { until: None });
}

#[test]
fn of_two_mutes_the_one_ending_later_holds_after_logging_in() {
    let mute = |target, minutes| -> Event {
        RoomMuteSet { room_id: room_id(), target, until: Some(at(TimeDelta::minutes(minutes))), by: Actor::User(id(BOB)) }.into()
    };
    let history = vec![
        created(false),
        joined(OP, "carol", Gateway::Sms),
        mute(member(id(OP), "carol"), 10),
        guest_joined("carol", "carol!c@home.example"),
        mute(guest("carol"), 60),
        identified(OP, "carol"),
    ];
    let room = given::<Room>(history.clone()).state().clone();
    assert_eq!(room.members[&MemberKey::User(id(OP))].gateway, Gateway::Sms, "the SMS membership stays");
    assert_eq!(room.members.len(), 1);
    given::<Room>(history)
        .after(TimeDelta::minutes(30))
        .when(say(OP, "carol", "now?", Gateway::Sms))
        .then_error(RoomError::Muted { until: Some(at(TimeDelta::minutes(60))) });
}

#[test]
fn a_guest_whose_account_is_banned_is_refused_on_logging_in() {
    let history = vec![created(false), guest_joined("carol", "carol!c@home.example"), banned(user_target(OP), None)];
    given::<Room>(history)
        .by_user(id(OP))
        .when(join_irc(Some(OP), "carol", "carol!c@home.example", Level::Member))
        .then_error(RoomError::Banned { until: None });
}

#[test]
fn an_sms_guest_of_the_same_nick_is_not_taken_over() {
    // Only an IRC guest is identified; a logged-in IRC join beside an SMS member of another
    // account under the same nick is an ordinary join.
    let history = vec![created(false), joined(ALICE, "carol", Gateway::Sms)];
    let events = given::<Room>(history).by_user(id(OP)).when(join_irc(Some(OP), "carol", "carol!c@home.example", Level::Member)).events();
    assert!(matches!(events.as_slice(), [Event::MemberJoined(_)]), "{events:?}");
}

#[test]
fn the_system_records_which_ban_it_enforced_on_whom() {
    let alice = MemberRef { user_id: None, nick: display("Alice") };
    let enforce = RoomCommand::EnforceBan { member: alice.clone(), mask: Some(mask("Alice!a@home.example")), nick_holder: Some(id(ALICE)) };
    let history = vec![created(false), banned(user_target(ALICE), None)];
    given::<Room>(history.clone()).when(enforce.clone()).then(vec![
        BanEnforced { room_id: room_id(), ban_id: id(60), member: alice.clone(), mask: Some(mask("Alice!a@home.example")) }.into(),
    ]);
    given::<Room>(history).by_user(id(OP)).when(enforce.clone()).then_error(RoomError::NotTheBot);
    given::<Room>(vec![created(false)]).when(enforce).then_error(RoomError::NotBanned);
}

#[test]
fn a_nick_ban_also_refuses_the_nick_on_sms() {
    given::<Room>(vec![created(false), banned(BanTarget::Mask { mask: mask("Mallory") }, None)])
        .when(join_sms(7, "mallory", "+15550000007", Level::Guest))
        .then_error(RoomError::Banned { until: None });
}

#[test]
fn invite_only_rooms_refuse_a_join_without_an_invite() {
    given::<Room>(vec![created(true)])
        .by_user(id(ALICE))
        .when(join_sms(ALICE, "Alice", "+15551234567", Level::Member))
        .then_error(RoomError::InviteRequired);
}

#[test]
fn an_invited_number_joins_an_invite_only_room_and_uses_up_the_invite() {
    let invite: Event = InviteIssued {
        room_id: room_id(),
        invite_id: id(40),
        invitee: Invitee::Phone { phone: phone("+15551234567") },
        by: Actor::User(id(BOB)),
    }
    .into();
    let events = given::<Room>(vec![created(true), invite]).when(join_sms(ALICE, "Alice", "+15551234567", Level::Guest)).events();
    assert_eq!(events[0], InviteAccepted { room_id: room_id(), invite_id: id(40), user_id: id(ALICE) }.into());
    assert!(matches!(&events[1], Event::MemberJoined(j) if j.invite_id == Some(id(40))));
}

#[test]
fn logged_in_irc_members_enter_an_invite_only_room_because_the_bot_invites_them() {
    given::<Room>(vec![created(true)]).when(join_irc(Some(BOB), "Bob", "Bob!~bob@bob.example", Level::Member)).events();
    given::<Room>(vec![created(true)])
        .by(Actor::Anonymous)
        .when(join_irc(None, "guest", "guest!~g@x", Level::Guest))
        .then_error(RoomError::InviteRequired);
}

#[test]
fn staff_may_join_an_invite_only_room() {
    given::<Room>(vec![created(true)]).by_user(id(OP)).when(join_sms(OP, "Op", "+15550000003", Level::Staff)).events();
}

#[test]
fn only_the_system_joins_as_the_bot() {
    let as_bot = RoomCommand::Join(Joining {
        member: guest("switchboard"),
        mask: None,
        phone: None,
        gateway: Gateway::Irc,
        caller_level: Level::Superuser,
        as_bot: true,
        nick_holder: None,
    });
    given::<Room>(vec![created(true)]).by_user(id(OP)).when(as_bot.clone()).then_error(RoomError::NotTheBot);
    given::<Room>(vec![created(true)]).when(as_bot).events();
}

#[test]
fn leaving_twice_is_a_no_op() {
    let left: Event = MemberLeft { room_id: room_id(), member: member(id(ALICE), "Alice"), reason: LeaveReason::Removed }.into();
    given::<Room>(lobby())
        .when(RoomCommand::Leave { member: member(id(ALICE), "Alice"), reason: LeaveReason::Removed })
        .then(vec![left.clone()]);
    given::<Room>(with(lobby(), [left]))
        .when(RoomCommand::Leave { member: member(id(ALICE), "Alice"), reason: LeaveReason::Removed })
        .then_nothing();
}

#[test]
fn an_irc_part_or_quit_never_ends_a_membership_by_sms() {
    // Alice is a member by SMS; an IRC guest (or Alice's own IRC client) called Alice leaves.
    for who in [guest("Alice"), member(id(ALICE), "Alice")] {
        for reason in [LeaveReason::Part, LeaveReason::Quit, LeaveReason::Kick, LeaveReason::Disconnect] {
            given::<Room>(lobby()).when(RoomCommand::Leave { member: who.clone(), reason }).then_nothing();
        }
    }
    // Bob is on IRC: his part is recorded.
    let left: Event = MemberLeft { room_id: room_id(), member: member(id(BOB), "Bob"), reason: LeaveReason::Part }.into();
    given::<Room>(lobby()).when(RoomCommand::Leave { member: guest("Bob"), reason: LeaveReason::Part }).then(vec![left]);
}

// --- messages

#[test]
fn a_member_posts_a_message() {
    given::<Room>(lobby()).by_user(id(ALICE)).when(say(ALICE, "Alice", "hello", Gateway::Sms)).then(vec![
        MessagePosted {
            room_id: room_id(),
            message_id: id(50),
            author_id: Some(id(ALICE)),
            author_nick: display("Alice"),
            body: body("hello"),
            kind: MessageKind::Say,
            gateway: Gateway::Sms,
        }
        .into(),
    ]);
}

#[test]
fn a_non_member_cannot_post_by_sms() {
    given::<Room>(vec![created(false)]).when(say(ALICE, "Alice", "hello", Gateway::Sms)).then_error(RoomError::NotAMember);
}

#[test]
fn irc_text_from_someone_present_before_the_bot_is_recorded() {
    given::<Room>(vec![created(false)]).when(say(9, "early", "morning", Gateway::Irc)).events();
}

#[test]
fn empty_and_oversized_bodies_never_reach_a_room() {
    assert!(MessageBody::parse("   ").is_err());
    assert!(MessageBody::parse(&"x".repeat(MAX_MESSAGE_BODY + 1)).is_err());
}

#[test]
fn a_banned_user_cannot_post() {
    given::<Room>(with(lobby(), [banned(BanTarget::Mask { mask: mask("*!*@bob.example") }, None)]))
        .when(RoomCommand::Post {
            message_id: id(50),
            speaker: Speaker::Member { member: member(id(BOB), "Bob"), mask: Some(mask("Bob!~bob@bob.example")) },
            body: body("hi"),
            kind: MessageKind::Say,
            gateway: Gateway::Irc,
            caller_level: Level::Member,
        })
        .then_error(RoomError::Banned { until: None });
}

#[test]
fn a_room_muted_member_cannot_post_until_the_mute_ends() {
    let muted: Event = RoomMuteSet {
        room_id: room_id(),
        target: member(id(ALICE), "Alice"),
        until: Some(at(TimeDelta::minutes(30))),
        by: Actor::User(id(OP)),
    }
    .into();
    given::<Room>(with(lobby(), [muted.clone()]))
        .when(say(ALICE, "Alice", "hi", Gateway::Sms))
        .then_error(RoomError::Muted { until: Some(at(TimeDelta::minutes(30))) });
    given::<Room>(with(lobby(), [muted])).after(TimeDelta::minutes(30)).when(say(ALICE, "Alice", "hi", Gateway::Sms)).events();
}

#[test]
fn only_staff_make_the_bot_speak() {
    let bot_says = |level| RoomCommand::Post {
        message_id: id(51),
        speaker: Speaker::Bot { nick: display("switchboard") },
        body: body("maintenance at noon"),
        kind: MessageKind::Notice,
        gateway: Gateway::Api,
        caller_level: level,
    };
    given::<Room>(lobby())
        .by_user(id(OP))
        .when(bot_says(Level::Operator))
        .then_error(RoomError::InsufficientLevel { needed: Level::Staff, have: Level::Operator });
    let events = given::<Room>(lobby()).by_user(id(OP)).when(bot_says(Level::Staff)).events();
    assert!(matches!(&events[0], Event::MessagePosted(m) if m.author_id.is_none() && m.author_nick.as_str() == "switchboard"));
}

// --- room mutes

fn mute(target: MemberRef, duration: Option<&str>, caller_level: Level, target_level: Level) -> RoomCommand {
    RoomCommand::Mute { target, duration: duration.map(|d| BanDuration::parse(d).unwrap()), caller_level, target_level }
}

#[test]
fn an_operator_mutes_a_member_for_two_hours() {
    given::<Room>(lobby()).by_user(id(OP)).when(mute(member(id(ALICE), "Alice"), Some("2h"), Level::Operator, Level::Voice)).then(vec![
        RoomMuteSet {
            room_id: room_id(),
            target: member(id(ALICE), "Alice"),
            until: Some(at(TimeDelta::hours(2))),
            by: Actor::User(id(OP)),
        }
        .into(),
    ]);
}

#[test]
fn a_voice_member_cannot_mute() {
    given::<Room>(lobby())
        .by_user(id(BOB))
        .when(mute(member(id(ALICE), "Alice"), None, Level::Voice, Level::Member))
        .then_error(RoomError::InsufficientLevel { needed: Level::Operator, have: Level::Voice });
}

#[test]
fn nobody_mutes_someone_at_their_own_level_unless_superuser() {
    given::<Room>(lobby())
        .by_user(id(OP))
        .when(mute(member(id(ALICE), "Alice"), None, Level::Operator, Level::Operator))
        .then_error(RoomError::TargetOutranksCaller { target: Level::Operator, caller: Level::Operator });
    given::<Room>(lobby()).by_user(id(OP)).when(mute(member(id(ALICE), "Alice"), None, Level::Superuser, Level::Superuser)).events();
}

#[test]
fn muting_someone_by_nick_finds_their_account() {
    let events = given::<Room>(lobby()).by_user(id(OP)).when(mute(guest("BOB"), None, Level::Operator, Level::Member)).events();
    assert!(matches!(&events[0], Event::RoomMuteSet(m) if m.target == member(id(BOB), "Bob")));
}

#[test]
fn unmuting_lifts_the_mute_and_unmuting_again_changes_nothing() {
    let muted: Event = RoomMuteSet { room_id: room_id(), target: member(id(ALICE), "Alice"), until: None, by: Actor::User(id(OP)) }.into();
    let lifted: Event = RoomMuteLifted { room_id: room_id(), target: member(id(ALICE), "Alice"), by: Actor::User(id(OP)) }.into();
    given::<Room>(with(lobby(), [muted.clone()]))
        .by_user(id(OP))
        .when(RoomCommand::Unmute { target: guest("alice"), caller_level: Level::Operator })
        .then(vec![lifted.clone()]);
    given::<Room>(with(lobby(), [muted, lifted]))
        .by_user(id(OP))
        .when(RoomCommand::Unmute { target: member(id(ALICE), "Alice"), caller_level: Level::Operator })
        .then_nothing();
}

// --- the bot

#[test]
fn the_bot_can_never_be_kicked_banned_or_muted() {
    given::<Room>(lobby())
        .when(RoomCommand::Kick { target: guest("Switchboard"), reason: None, caller_level: Level::Superuser, target_level: Level::Guest })
        .then_error(RoomError::CannotTargetBot);
    given::<Room>(lobby()).when(mute(guest("switchboard"), None, Level::Superuser, Level::Guest)).then_error(RoomError::CannotTargetBot);
    given::<Room>(lobby())
        .when(ban(BanTarget::Mask { mask: mask("*!*@bot.example") }, None, Level::Superuser, Level::Guest))
        .then_error(RoomError::CannotTargetBot);
    given::<Room>(lobby())
        .when(ban(BanTarget::Mask { mask: mask("switch*") }, None, Level::Superuser, Level::Guest))
        .then_error(RoomError::CannotTargetBot);
    given::<Room>(lobby())
        .when(RoomCommand::ChangeChannelMode {
            nick: display("switchboard"),
            mode: ChannelMode::Deop,
            caller_level: Level::Superuser,
            target_level: Level::Guest,
        })
        .then_error(RoomError::CannotTargetBot);
}

// --- personal mutes

fn personal_mute(mutee: MemberRef, on: bool) -> RoomCommand {
    RoomCommand::PersonalMute { mutee, on }
}

#[test]
fn a_member_personally_mutes_another_member_once() {
    let set: Event = PersonalMuteSet { room_id: room_id(), muter: id(ALICE), mutee: Mutee::User(id(BOB)) }.into();
    given::<Room>(lobby()).by_user(id(ALICE)).when(personal_mute(member(id(BOB), "Bob"), true)).then(vec![set.clone()]);
    given::<Room>(with(lobby(), [set.clone()])).by_user(id(ALICE)).when(personal_mute(member(id(BOB), "Bob"), true)).then_nothing();
    given::<Room>(with(lobby(), [set]))
        .by_user(id(ALICE))
        .when(personal_mute(member(id(BOB), "Bob"), false))
        .then(vec![PersonalMuteLifted { room_id: room_id(), muter: id(ALICE), mutee: Mutee::User(id(BOB)) }.into()]);
}

#[test]
fn a_member_named_by_nick_alone_is_found_by_the_nick_on_any_gateway() {
    // `#mute bob on` from a phone names bob by nick; bob is in the room by account.
    given::<Room>(lobby())
        .by_user(id(ALICE))
        .when(personal_mute(guest("BOB"), true))
        .then(vec![PersonalMuteSet { room_id: room_id(), muter: id(ALICE), mutee: Mutee::User(id(BOB)) }.into()]);
}

#[test]
fn an_irc_guest_is_muted_by_nick_even_when_an_account_holds_the_nick() {
    let history = with(lobby(), [guest_joined("carol", "carol!c@home.example")]);
    let set: Event = PersonalMuteSet { room_id: room_id(), muter: id(ALICE), mutee: Mutee::Guest { nick: display("carol") } }.into();
    given::<Room>(history.clone()).by_user(id(ALICE)).when(personal_mute(guest("Carol"), true)).then(vec![set.clone()]);
    // The account carol (not logged in on IRC) is not the member: the guest in the channel is.
    given::<Room>(history.clone()).by_user(id(ALICE)).when(personal_mute(member(id(7), "carol"), true)).then(vec![set.clone()]);
    let room = given::<Room>(with(history.clone(), [set.clone()])).state().clone();
    assert!(room.has_muted(id(ALICE), &MemberKey::Guest("carol".into())));
    given::<Room>(with(history, [set]))
        .by_user(id(ALICE))
        .when(personal_mute(guest("carol"), false))
        .then(vec![PersonalMuteLifted { room_id: room_id(), muter: id(ALICE), mutee: Mutee::Guest { nick: display("carol") } }.into()]);
}

#[test]
fn a_muted_guest_who_logs_in_stays_muted_under_the_account() {
    let set: Event = PersonalMuteSet { room_id: room_id(), muter: id(ALICE), mutee: Mutee::Guest { nick: display("carol") } }.into();
    let history = with(lobby(), [guest_joined("carol", "carol!c@home.example"), set, identified(7, "carol")]);
    let room = given::<Room>(history.clone()).state().clone();
    assert_eq!(room.personal_mutes.iter().cloned().collect::<Vec<_>>(), vec![(id(ALICE), MemberKey::User(id(7)))]);
    given::<Room>(history)
        .by_user(id(ALICE))
        .when(personal_mute(guest("carol"), false))
        .then(vec![PersonalMuteLifted { room_id: room_id(), muter: id(ALICE), mutee: Mutee::User(id(7)) }.into()]);
}

#[test]
fn a_guest_who_mutes_themself_by_logging_in_does_not() {
    // Alice muted the guest "alice" on IRC; it was she, logging in.
    let set: Event = PersonalMuteSet { room_id: room_id(), muter: id(ALICE), mutee: Mutee::Guest { nick: display("alice2") } }.into();
    let history = with(lobby(), [guest_joined("alice2", "alice2!a@home.example"), set, identified(ALICE, "alice2")]);
    assert!(given::<Room>(history).state().personal_mutes.is_empty());
}

#[test]
fn leaving_forgets_the_mutes_of_and_by_the_one_who_left() {
    let carol = guest("carol");
    let history = with(
        lobby(),
        [
            guest_joined("carol", "carol!c@home.example"),
            PersonalMuteSet { room_id: room_id(), muter: id(ALICE), mutee: Mutee::Guest { nick: display("carol") } }.into(),
            PersonalMuteSet { room_id: room_id(), muter: id(ALICE), mutee: Mutee::User(id(BOB)) }.into(),
        ],
    );
    let left = with(history.clone(), [MemberLeft { room_id: room_id(), member: carol, reason: LeaveReason::Part }.into()]);
    let room = given::<Room>(left).state().clone();
    assert_eq!(room.personal_mutes.iter().cloned().collect::<Vec<_>>(), vec![(id(ALICE), MemberKey::User(id(BOB)))]);
    let left = with(history, [MemberLeft { room_id: room_id(), member: member(id(ALICE), "Alice"), reason: LeaveReason::Part }.into()]);
    assert!(given::<Room>(left).state().personal_mutes.is_empty());
}

#[test]
fn nobody_mutes_themself_or_the_bot() {
    given::<Room>(lobby())
        .by_user(id(ALICE))
        .when(personal_mute(member(id(ALICE), "Alice"), true))
        .then_error(RoomError::CannotMuteYourself);
    given::<Room>(lobby()).by_user(id(ALICE)).when(personal_mute(guest("switchboard"), true)).then_error(RoomError::CannotTargetBot);
}

#[test]
fn personal_mutes_are_for_members_only() {
    given::<Room>(lobby()).by_user(id(9)).when(personal_mute(member(id(BOB), "Bob"), true)).then_error(RoomError::NotAMember);
    given::<Room>(lobby()).by_user(id(ALICE)).when(personal_mute(member(id(9), "zed"), true)).then_error(RoomError::NotAMember);
    given::<Room>(lobby()).by_user(id(ALICE)).when(personal_mute(guest("zed"), false)).then_error(RoomError::NotAMember);
}

// --- bans

#[test]
fn an_operator_bans_a_mask_and_matching_members_leave_at_once() {
    let target = BanTarget::Mask { mask: mask("*!*@bob.example") };
    given::<Room>(lobby()).by_user(id(OP)).when(ban(target.clone(), Some("3d"), Level::Operator, Level::Member)).then(vec![
        banned(target, Some(at(TimeDelta::days(3)))),
        MemberLeft { room_id: room_id(), member: member(id(BOB), "Bob"), reason: LeaveReason::Banned }.into(),
    ]);
}

#[test]
fn a_member_cannot_ban() {
    given::<Room>(lobby())
        .by_user(id(ALICE))
        .when(ban(user_target(BOB), None, Level::Member, Level::Member))
        .then_error(RoomError::InsufficientLevel { needed: Level::Operator, have: Level::Member });
}

#[test]
fn an_operator_cannot_ban_staff() {
    given::<Room>(lobby())
        .by_user(id(OP))
        .when(ban(user_target(BOB), None, Level::Operator, Level::Staff))
        .then_error(RoomError::TargetOutranksCaller { target: Level::Staff, caller: Level::Operator });
}

#[test]
fn repeating_the_same_ban_changes_nothing() {
    given::<Room>(vec![created(false), banned(user_target(ALICE), None)])
        .by_user(id(OP))
        .when(ban(user_target(ALICE), None, Level::Operator, Level::Member))
        .then_nothing();
}

#[test]
fn unbanning_lifts_the_active_ban() {
    given::<Room>(vec![created(false), banned(user_target(ALICE), None)])
        .by_user(id(OP))
        .when(RoomCommand::Unban { target: user_target(ALICE), caller_level: Level::Operator })
        .then(vec![UserUnbanned { room_id: room_id(), ban_id: id(60), target: user_target(ALICE), by: Actor::User(id(OP)) }.into()]);
}

#[test]
fn unbanning_someone_who_is_not_banned_is_refused() {
    given::<Room>(vec![created(false), banned(user_target(ALICE), Some(at(TimeDelta::minutes(-1))))])
        .by_user(id(OP))
        .when(RoomCommand::Unban { target: user_target(ALICE), caller_level: Level::Operator })
        .then_error(RoomError::NotBanned);
}

#[test]
fn is_banned_considers_expiry() {
    let g = given::<Room>(vec![created(false), banned(user_target(ALICE), Some(at(TimeDelta::hours(1))))]);
    assert!(g.state().is_banned(Some(id(ALICE)), "Alice", None, now()).is_some());
    assert!(g.state().is_banned(Some(id(ALICE)), "Alice", None, at(TimeDelta::hours(1))).is_none());
    assert!(g.state().is_banned(Some(id(BOB)), "Bob", None, now()).is_none());
}

// --- ban requests

fn request_ban(level: Level) -> RoomCommand {
    RoomCommand::RequestBan { request_id: id(70), target: user_target(BOB), reason: reason("rude"), caller_level: level }
}

fn requested() -> Event {
    BanRequested { room_id: room_id(), request_id: id(70), target: user_target(BOB), reason: reason("rude"), by: Actor::User(id(ALICE)) }
        .into()
}

fn approve(level: Level) -> RoomCommand {
    RoomCommand::ApproveBanRequest { request_id: id(70), ban_id: id(61), duration: None, caller_level: level, target_level: Level::Member }
}

#[test]
fn a_member_opens_a_ban_request() {
    given::<Room>(lobby()).by_user(id(ALICE)).when(request_ban(Level::Member)).then(vec![requested()]);
}

#[test]
fn a_guest_cannot_open_a_ban_request() {
    given::<Room>(lobby())
        .by(Actor::Anonymous)
        .when(request_ban(Level::Guest))
        .then_error(RoomError::InsufficientLevel { needed: Level::Member, have: Level::Guest });
}

#[test]
fn staff_approve_a_ban_request_which_bans_the_target() {
    given::<Room>(with(lobby(), [requested()])).by_user(id(OP)).when(approve(Level::Staff)).then(vec![
        BanRequestApproved { room_id: room_id(), request_id: id(70), ban_id: id(61), by: Actor::User(id(OP)) }.into(),
        UserBanned {
            room_id: room_id(),
            ban_id: id(61),
            target: user_target(BOB),
            until: None,
            reason: Some(reason("rude")),
            by: Actor::User(id(OP)),
        }
        .into(),
        MemberLeft { room_id: room_id(), member: member(id(BOB), "Bob"), reason: LeaveReason::Banned }.into(),
    ]);
}

#[test]
fn an_operator_cannot_approve_a_ban_request() {
    given::<Room>(with(lobby(), [requested()]))
        .by_user(id(OP))
        .when(approve(Level::Operator))
        .then_error(RoomError::InsufficientLevel { needed: Level::Staff, have: Level::Operator });
}

#[test]
fn a_ban_request_cannot_be_decided_twice() {
    let rejected: Event = BanRequestRejected { room_id: room_id(), request_id: id(70), by: Actor::User(id(OP)) }.into();
    given::<Room>(with(lobby(), [requested(), rejected]))
        .by_user(id(OP))
        .when(approve(Level::Staff))
        .then_error(RoomError::BanRequestAlreadyDecided);
}

#[test]
fn approving_an_unknown_request_is_refused() {
    given::<Room>(lobby()).by_user(id(OP)).when(approve(Level::Staff)).then_error(RoomError::BanRequestNotFound);
}

// --- invites

fn invite_phone(number: &str) -> RoomCommand {
    RoomCommand::Invite { invite_id: id(40), invitee: Invitee::Phone { phone: phone(number) }, invitee_user: None }
}

#[test]
fn a_member_invites_a_phone_number() {
    given::<Room>(lobby()).by_user(id(ALICE)).when(invite_phone("+15559990000")).then(vec![
        InviteIssued {
            room_id: room_id(),
            invite_id: id(40),
            invitee: Invitee::Phone { phone: phone("+15559990000") },
            by: Actor::User(id(ALICE)),
        }
        .into(),
    ]);
}

#[test]
fn a_current_member_cannot_be_invited() {
    let with_phone: Event = MemberJoined {
        room_id: room_id(),
        member: member(id(7), "Carol"),
        mask: None,
        phone: Some(phone("+15557777777")),
        gateway: Gateway::Sms,
        invite_id: None,
        is_bot: false,
    }
    .into();
    given::<Room>(with(lobby(), [with_phone])).by_user(id(ALICE)).when(invite_phone("+15557777777")).then_error(RoomError::AlreadyMember);
}

#[test]
fn a_non_member_cannot_invite() {
    given::<Room>(lobby()).by_user(id(9)).when(invite_phone("+15559990000")).then_error(RoomError::NotAMember);
}

// --- topic, kicks, modes

#[test]
fn operators_set_the_topic_and_members_cannot() {
    let topic = Topic::parse("Be nice").unwrap();
    given::<Room>(lobby())
        .by_user(id(OP))
        .when(RoomCommand::SetTopic { topic: topic.clone(), caller_level: Level::Operator })
        .then(vec![TopicSet { room_id: room_id(), topic: topic.clone(), by: Actor::User(id(OP)) }.into()]);
    given::<Room>(lobby())
        .by_user(id(ALICE))
        .when(RoomCommand::SetTopic { topic, caller_level: Level::Voice })
        .then_error(RoomError::InsufficientLevel { needed: Level::Operator, have: Level::Voice });
}

#[test]
fn a_kick_records_the_kick_and_the_departure() {
    given::<Room>(lobby())
        .by_user(id(OP))
        .when(RoomCommand::Kick {
            target: guest("bob"),
            reason: Some(reason("flood")),
            caller_level: Level::Operator,
            target_level: Level::Member,
        })
        .then(vec![
            MemberKicked { room_id: room_id(), member: member(id(BOB), "Bob"), reason: Some(reason("flood")), by: Actor::User(id(OP)) }
                .into(),
            MemberLeft { room_id: room_id(), member: member(id(BOB), "Bob"), reason: LeaveReason::Kick }.into(),
        ]);
}

#[test]
fn kicking_someone_who_is_not_here_is_refused() {
    given::<Room>(lobby())
        .by_user(id(OP))
        .when(RoomCommand::Kick { target: guest("nobody"), reason: None, caller_level: Level::Operator, target_level: Level::Guest })
        .then_error(RoomError::NotAMember);
}

#[test]
fn an_operator_voices_anyone_but_deops_only_those_below() {
    let mode =
        |mode, target_level| RoomCommand::ChangeChannelMode { nick: display("Bob"), mode, caller_level: Level::Operator, target_level };
    given::<Room>(lobby()).by_user(id(OP)).when(mode(ChannelMode::Voice, Level::Staff)).events();
    given::<Room>(lobby())
        .by_user(id(OP))
        .when(mode(ChannelMode::Deop, Level::Operator))
        .then_error(RoomError::TargetOutranksCaller { target: Level::Operator, caller: Level::Operator });
}

#[test]
fn a_message_changes_no_decision_so_it_is_appended_inert_while_moderation_is_not() {
    let posted: Event = MessagePosted {
        room_id: room_id(),
        message_id: id(99),
        author_id: Some(id(ALICE)),
        author_nick: display("Alice"),
        body: body("hello"),
        kind: MessageKind::Say,
        gateway: Gateway::Sms,
    }
    .into();
    let before = given::<Room>(lobby());
    let after = given::<Room>(with(lobby(), [posted.clone()]));
    assert_eq!(before.state(), after.state(), "folding a message leaves the room as it was");
    assert!(!Room::affects_decisions(&posted));
    for moderation in [banned(user_target(ALICE), None), joined(OP, "Op", Gateway::Irc), created(false)] {
        assert!(Room::affects_decisions(&moderation));
    }
}
