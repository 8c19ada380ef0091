//! `.register`, `.login`, `.logout`, `.status`, `.meet`, `.about`, and tokens said in a channel.

use domain::events::{SessionEndReason, TokenPurpose, TokenRevocationReason};
use domain::{Actor, Event, Level, StreamName, UserCommand};

use super::{LOBBY, World, person};
use crate::irc::bot::backend::Backend;

#[tokio::test]
async fn a_guest_who_asks_for_status_hears_they_are_not_logged_in_and_how_to_log_in() {
    let w = World::new().await;
    w.says(&person("carol"), Some(LOBBY), ".status").await;
    assert_eq!(w.sent(), ["PRIVMSG #lobby :carol: you are not logged in; level 0 (guest). .login <token> in a private message to log in"]);
}

#[tokio::test]
async fn registering_with_a_register_token_links_the_nick_and_host_to_the_account() {
    let w = World::new().await;
    let alice = w.account("alice", Level::Member).await;
    w.token(alice, TokenPurpose::Register, "s3cret").await;

    w.says(&person("alice"), None, ".register s3cret").await;

    assert_eq!(w.sent(), ["PRIVMSG alice :registered: alice is now yours from alice!alice@example.net. Log in with a login token"]);
    let Some(Event::IrcIdentityRegistered(registered)) = w.memory.last(&StreamName::user(alice)) else { panic!("no identity registered") };
    assert_eq!(registered.host_mask.as_str(), "alice!alice@example.net");
}

#[tokio::test]
async fn registering_with_a_token_nobody_was_issued_is_refused() {
    let w = World::new().await;
    w.says(&person("alice"), None, ".register guessed").await;
    assert_eq!(w.sent(), ["PRIVMSG alice :that token is not valid; issue a new one (GraphQL issueIrcToken)"]);
}

#[tokio::test]
async fn someone_who_shares_no_channel_with_the_bot_is_asked_to_join_one_before_logging_in() {
    let w = World::new().await;
    w.says(&person("alice"), None, ".login whatever").await;
    assert_eq!(w.sent(), ["PRIVMSG alice :join a Switchboard channel first, then log in"]);
}

#[tokio::test]
async fn logging_in_starts_a_session_bound_to_the_host_and_invites_to_closed_channels() {
    let w = World::new().await;
    w.bound_channel("#vip", true).await;
    let alice = w.account("alice", Level::Member).await;
    w.token(alice, TokenPurpose::Register, "reg").await;
    w.says(&person("alice"), None, ".register reg").await;
    w.joins(&person("alice"), LOBBY).await;
    w.token(alice, TokenPurpose::Login, "log").await;
    w.sent();

    w.says(&person("alice"), None, ".login log").await;

    assert_eq!(w.sent(), ["INVITE alice #vip", "PRIVMSG alice :logged in as alice; level 1 (member)"]);
    assert!(w.memory.types(&StreamName::user(alice)).ends_with(&["user.irc_token_revoked", "user.irc_session_started"]));
    assert_eq!(w.state.session_of(&person("alice")).map(|s| s.user_id), Some(alice));
    let elsewhere = crate::irc::input::Source { host: "other.example".into(), ..person("alice") };
    assert!(w.state.session_of(&elsewhere).is_none(), "the same nick from another host is someone else");
}

#[tokio::test]
async fn a_guest_on_the_channel_who_logs_in_is_the_accounts_member_in_the_room() {
    let mut w = World::new().await;
    let (_, alice) = w.logged_in("alice", Level::Member).await;

    assert_eq!(w.room_types().last(), Some(&"room.member_identified"));
    let room: domain::Room = w.memory.fold(&StreamName::room(w.lobby));
    assert!(room.is_member(alice), "{:?}", room.members);
    assert_eq!(room.members.len(), 1, "no guest entry is left: {:?}", room.members);
}

#[tokio::test]
async fn a_guest_whose_account_is_banned_from_the_room_is_kicked_on_logging_in() {
    let w = World::new().await;
    let alice = w.account("alice", Level::Member).await;
    w.token(alice, TokenPurpose::Register, "reg").await;
    w.says(&person("alice"), None, ".register reg").await;
    w.joins(&person("alice"), LOBBY).await;
    let ban = domain::RoomCommand::Ban {
        ban_id: uuid::Uuid::now_v7(),
        target: domain::events::BanTarget::User { user_id: alice },
        duration: None,
        reason: None,
        caller_level: Level::Superuser,
        target_level: Level::Member,
    };
    w.memory.execute_room(w.lobby, ban, Actor::System).await.unwrap();
    w.token(alice, TokenPurpose::Login, "log").await;
    w.sent();

    w.says(&person("alice"), None, ".login log").await;

    assert_eq!(
        w.sent(),
        [
            "MODE #lobby +b alice!*@*",
            "KICK #lobby alice :you are banned from this room",
            "PRIVMSG alice :logged in as alice; level 1 (member)"
        ]
    );
    assert_eq!(w.room_types().last(), Some(&"room.ban_enforced"));
}

#[tokio::test]
async fn a_demoted_account_logs_in_as_a_guest_and_is_not_invited_to_closed_channels() {
    let w = World::new().await;
    w.bound_channel("#vip", true).await;
    let bob = w.account("bob", Level::Member).await;
    w.token(bob, TokenPurpose::Register, "reg").await;
    w.token(bob, TokenPurpose::Login, "log").await;
    let demote = UserCommand::ChangeLevel { to: Level::Guest, caller_level: Level::Superuser };
    w.memory.execute_user(bob, &demote, domain::Actor::System).await.unwrap();
    w.says(&person("bob"), None, ".register reg").await;
    w.joins(&person("bob"), LOBBY).await;
    w.sent();

    w.says(&person("bob"), None, ".login log").await;
    w.says(&person("bob"), Some(LOBBY), ".status").await;

    assert_eq!(w.sent(), ["PRIVMSG bob :logged in as bob; level 0 (guest)", "PRIVMSG #lobby :bob: you are logged in; level 0 (guest)"]);
}

#[tokio::test]
async fn a_wrong_login_token_is_refused_and_the_failure_recorded() {
    let w = World::new().await;
    let alice = w.account("alice", Level::Member).await;
    w.token(alice, TokenPurpose::Register, "reg").await;
    w.says(&person("alice"), None, ".register reg").await;
    w.joins(&person("alice"), LOBBY).await;
    w.sent();

    w.says(&person("alice"), None, ".login wrong").await;

    assert_eq!(w.sent(), ["PRIVMSG alice :login refused: that token is not valid"]);
    assert_eq!(w.memory.types(&StreamName::user(alice)).last(), Some(&"user.irc_login_failed"));
    assert!(w.state.session_of(&person("alice")).is_none());
}

#[tokio::test]
async fn a_logged_in_member_who_asks_for_status_hears_their_level() {
    let mut w = World::new().await;
    let (alice, _) = w.logged_in("alice", Level::Operator).await;
    w.says(&alice, Some(LOBBY), ".status").await;
    assert_eq!(w.sent(), ["PRIVMSG #lobby :alice: you are logged in; level 3 (operator)"]);
}

#[tokio::test]
async fn logging_out_ends_the_session_and_records_why() {
    let mut w = World::new().await;
    let (alice, alice_id) = w.logged_in("alice", Level::Member).await;

    w.says(&alice, None, ".logout").await;

    assert_eq!(w.sent(), ["PRIVMSG alice :logged out"]);
    let Some(Event::IrcSessionEnded(ended)) = w.memory.last(&StreamName::user(alice_id)) else { panic!("no session end") };
    assert_eq!(ended.reason, SessionEndReason::Logout);
    assert!(w.state.session_of(&alice).is_none());
    w.says(&alice, None, ".logout").await;
    assert_eq!(w.sent(), ["PRIVMSG alice :you are not logged in"]);
}

#[tokio::test]
async fn a_member_kicked_off_the_last_shared_channel_loses_the_session() {
    let mut w = World::new().await;
    let (_, bob_id) = w.logged_in("bob", Level::Member).await;
    let (oper, _) = w.logged_in("oper", Level::Operator).await;

    w.says(&oper, Some(LOBBY), ".kick bob").await;

    assert_eq!(w.ended_sessions(), [(bob_id, SessionEndReason::Kick)]);
}

#[tokio::test]
async fn meet_tells_the_nick_privately_how_to_sign_up() {
    let mut w = World::new().await;
    let (alice, alice_id) = w.logged_in("alice", Level::Member).await;

    w.says(&alice, Some(LOBBY), ".meet dave").await;

    assert_eq!(
        w.sent(),
        [
            "PRIVMSG dave :Hi dave! alice invites you to Switchboard. Sign up at https://switchboard.example/graphql (mutation signUp), then issue an IRC token (issueIrcToken) and send me .register <token> in a private message.",
            "PRIVMSG #lobby :alice: I told dave how to sign up",
        ]
    );
    assert_eq!(w.memory.types(&StreamName::user(alice_id)).last(), Some(&"user.sign_up_invitation_sent"));
}

#[tokio::test]
async fn a_guest_who_asks_to_meet_someone_is_asked_to_log_in() {
    let w = World::new().await;
    w.says(&person("carol"), Some(LOBBY), ".meet dave").await;
    assert_eq!(w.sent(), ["PRIVMSG #lobby :carol: you need to be logged in for that (.login <token> in a private message)"]);
}

#[tokio::test]
async fn a_member_sets_an_about_text_and_others_read_it_by_nick() {
    let mut w = World::new().await;
    let (alice, alice_id) = w.logged_in("alice", Level::Member).await;
    let (bob, _) = w.logged_in("bob", Level::Member).await;
    // Profiles start private; alice's is public, so bob (in no room with her) may read it.
    w.memory.execute_user(alice_id, &UserCommand::SetPrivacy { private: false }, Actor::User(alice_id)).await.unwrap();

    w.says(&alice, None, ".about set I like trains").await;
    w.says(&bob, Some(LOBBY), ".about alice").await;
    w.says(&bob, Some(LOBBY), ".about").await;
    w.says(&bob, Some(LOBBY), ".about nobody").await;

    assert_eq!(
        w.sent(),
        [
            "PRIVMSG alice :about text saved",
            "PRIVMSG #lobby :bob: alice: I like trains",
            "PRIVMSG #lobby :bob: bob has not written an about text",
            "PRIVMSG #lobby :bob: nobody has no account",
        ]
    );
}

#[tokio::test]
async fn a_token_said_in_a_channel_is_revoked_and_its_sayer_warned() {
    let w = World::new().await;
    let alice = w.account("alice", Level::Member).await;
    w.token(alice, TokenPurpose::Login, "oops").await;

    w.handlers().leaked_token(&person("alice"), "oops").await;

    assert_eq!(
        w.sent(),
        [
            "NOTICE alice :You typed a token in a channel, where everyone can read it: it no longer works. Issue a new one and send it to me in a private message."
        ]
    );
    let Some(Event::IrcTokenRevoked(revoked)) = w.memory.last(&StreamName::user(alice)) else { panic!("not revoked") };
    assert_eq!(revoked.reason, TokenRevocationReason::LeakedInChannel);
}

#[tokio::test]
async fn a_login_decided_after_its_person_quit_ends_at_once_instead_of_outliving_them() {
    let mut w = World::new().await;
    let alice = w.account("alice", Level::Member).await;
    w.token(alice, TokenPurpose::Register, "reg").await;
    w.says(&person("alice"), None, ".register reg").await;
    w.joins(&person("alice"), LOBBY).await;
    w.token(alice, TokenPurpose::Login, "log").await;
    w.sent();
    let gate = std::sync::Arc::new(tokio::sync::Notify::new());
    *w.memory.login_gate.lock().unwrap() = Some(gate.clone());

    let alice_irc = person("alice");
    let quits_meanwhile = async {
        w.state.end_session_of("alice", SessionEndReason::Quit);
        gate.notify_one();
    };
    tokio::join!(w.says(&alice_irc, None, ".login log"), quits_meanwhile);

    assert!(w.sent().is_empty(), "no welcome for someone who is gone");
    assert!(w.state.session_of(&person("alice")).is_none());
    assert_eq!(w.memory.types(&StreamName::user(alice)).last(), Some(&"user.irc_session_started"));
    assert_eq!(w.ended_sessions(), [(alice, SessionEndReason::Disconnect)], "the session the domain started is ended at once");
}
