//! Kicks, bans, mutes, modes, ban requests and topics: the room command decided, the lines
//! sent to the channel, the reply.

use domain::events::BanTarget;
use domain::{Event, Level};

use super::{LOBBY, World, member_ref, person};
use crate::irc::input::{ChannelModeKind, ModeChange};

#[tokio::test]
async fn an_operator_kicks_a_guest_off_the_channel() {
    let mut w = World::new().await;
    let (oper, _) = w.logged_in("oper", Level::Operator).await;
    w.joins(&person("bob"), LOBBY).await;

    w.says(&oper, Some(LOBBY), ".kick bob").await;
    w.says(&oper, Some(LOBBY), ".kick carol go away").await;

    assert_eq!(w.sent(), ["KICK #lobby bob :kicked by oper", "PRIVMSG #lobby :oper: not a member of this room"]);
    assert!(w.room_types().ends_with(&["room.member_kicked", "room.member_left"]), "{:?}", w.room_types());
    let kicked = w.room_events().into_iter().find_map(|e| if let Event::MemberKicked(k) = e { Some(k) } else { None }).expect("a kick");
    assert_eq!(kicked.member, member_ref(None, "bob"));
    assert!(!w.state.presence.is_anywhere("bob"));
}

#[tokio::test]
async fn a_member_may_not_kick_and_the_bot_will_not_kick_itself() {
    let mut w = World::new().await;
    let (alice, _) = w.logged_in("alice", Level::Member).await;
    let (oper, _) = w.logged_in("oper", Level::Operator).await;
    w.joins(&person("bob"), LOBBY).await;

    w.says(&alice, Some(LOBBY), ".kick bob").await;
    w.says(&oper, Some(LOBBY), ".kick Switchboard").await;

    assert_eq!(
        w.sent(),
        [
            "PRIVMSG #lobby :alice: you need level 3 (operator) for that; you have 1 (member)",
            "PRIVMSG #lobby :oper: I will not kick myself"
        ]
    );
}

#[tokio::test]
async fn moderation_said_privately_or_outside_a_room_is_asked_for_in_the_channel() {
    let mut w = World::new().await;
    let (oper, _) = w.logged_in("oper", Level::Operator).await;
    w.says(&oper, None, ".ban bob").await;
    w.says(&oper, Some("#elsewhere"), ".mute bob").await;
    assert_eq!(
        w.sent(),
        ["PRIVMSG oper :say that in the channel it is about", "PRIVMSG #elsewhere :oper: #elsewhere is not a Switchboard room"]
    );
}

#[tokio::test]
async fn an_operator_bans_an_account_by_nick_for_two_hours_and_it_is_kicked() {
    let mut w = World::new().await;
    let (oper, _) = w.logged_in("oper", Level::Operator).await;
    let (_, bob_id) = w.logged_in("bob", Level::Member).await;

    w.says(&oper, Some(LOBBY), ".ban bob 2h spamming").await;

    assert_eq!(w.sent(), ["MODE #lobby +b bob!*@*", "KICK #lobby bob spamming", "PRIVMSG #lobby :oper: banned bob!*@* for 2 hours"]);
    let banned = w.room_events().into_iter().find_map(|e| if let Event::UserBanned(b) = e { Some(b) } else { None }).expect("a ban");
    assert_eq!(banned.target, BanTarget::User { user_id: bob_id });
    assert!(banned.until.is_some());
}

#[tokio::test]
async fn nobody_bans_someone_of_their_own_rank() {
    let mut w = World::new().await;
    let (oper, _) = w.logged_in("oper", Level::Operator).await;
    w.logged_in("other", Level::Operator).await;
    w.says(&oper, Some(LOBBY), ".ban other").await;
    assert_eq!(
        w.sent(),
        ["PRIVMSG #lobby :oper: you cannot do that to someone at level 3 (operator): it is not below your own 3 (operator)"]
    );
}

#[tokio::test]
async fn a_mask_ban_kicks_everyone_present_it_matches_and_unban_lifts_it() {
    let mut w = World::new().await;
    let (oper, _) = w.logged_in("oper", Level::Operator).await;
    w.joins(&person("spam1"), LOBBY).await;
    w.joins(&person("spam2"), LOBBY).await;
    w.joins(&person("carol"), LOBBY).await;

    w.says(&oper, Some(LOBBY), ".ban spam*!*@*").await;
    let mut sent = w.sent();
    sent[1..3].sort();
    assert_eq!(
        sent,
        ["MODE #lobby +b spam*!*@*", "KICK #lobby spam1 banned", "KICK #lobby spam2 banned", "PRIVMSG #lobby :oper: banned spam*!*@*"]
    );

    w.says(&oper, Some(LOBBY), ".unban spam*!*@*").await;
    w.says(&oper, Some(LOBBY), ".unban spam*!*@*").await;
    assert_eq!(
        w.sent(),
        ["MODE #lobby -b spam*!*@*", "PRIVMSG #lobby :oper: unbanned spam*!*@*", "PRIVMSG #lobby :oper: no active ban matches that"]
    );
}

#[tokio::test]
async fn an_operator_mutes_for_a_while_then_unmutes() {
    let mut w = World::new().await;
    let (oper, _) = w.logged_in("oper", Level::Operator).await;
    w.joins(&person("bob"), LOBBY).await;

    w.says(&oper, Some(LOBBY), ".mute bob 30m").await;
    w.says(&oper, Some(LOBBY), ".unmute bob").await;

    assert_eq!(
        w.sent(),
        [
            "MODE #lobby -v bob",
            "PRIVMSG #lobby :oper: bob is muted for 30 minutes",
            "MODE #lobby +v bob",
            "PRIVMSG #lobby :oper: bob may speak again"
        ]
    );
    assert!(w.room_types().ends_with(&["room.mute_set", "room.mute_lifted"]));
}

#[tokio::test]
async fn voice_and_op_are_recorded_then_set_on_the_channel() {
    let mut w = World::new().await;
    let (oper, _) = w.logged_in("oper", Level::Operator).await;
    w.joins(&person("bob"), LOBBY).await;

    w.says(&oper, Some(LOBBY), ".voice bob").await;
    w.says(&oper, Some(LOBBY), ".deop bob").await;

    assert_eq!(w.sent(), ["MODE #lobby +v bob", "MODE #lobby -o bob"]);
    assert!(w.room_types().ends_with(&["room.channel_mode_changed", "room.channel_mode_changed"]));
}

#[tokio::test]
async fn a_member_requests_a_ban_and_staff_approve_it_by_its_short_id() {
    let mut w = World::new().await;
    let (alice, _) = w.logged_in("alice", Level::Member).await;
    let (staff, _) = w.logged_in("staff", Level::Staff).await;
    w.joins(&person("troll"), LOBBY).await;

    w.says(&alice, Some(LOBBY), ".requestban troll keeps flooding").await;
    let opened = w.sent();
    let short =
        opened[0].strip_prefix("PRIVMSG #lobby :alice: ban request ").and_then(|rest| rest.strip_suffix(" opened; staff will decide"));
    let short = short.unwrap_or_else(|| panic!("{opened:?}")).to_owned();

    w.says(&alice, Some(LOBBY), &format!(".approve {short}")).await;
    w.says(&staff, Some(LOBBY), ".approve ffffffff").await;
    w.says(&staff, Some(LOBBY), &format!(".approve {short}")).await;

    assert_eq!(
        w.sent(),
        [
            "PRIVMSG #lobby :alice: you need level 4 (staff) for that; you have 1 (member)".to_owned(),
            "PRIVMSG #lobby :staff: no single ban request matches \"ffffffff\"".to_owned(),
            "MODE #lobby +b troll!*@*".to_owned(),
            "KICK #lobby troll :keeps flooding".to_owned(),
            format!("PRIVMSG #lobby :staff: ban request {short} approved"),
        ]
    );
}

#[tokio::test]
async fn staff_reject_a_ban_request() {
    let mut w = World::new().await;
    let (alice, _) = w.logged_in("alice", Level::Member).await;
    let (staff, _) = w.logged_in("staff", Level::Staff).await;
    w.says(&alice, Some(LOBBY), ".requestban troll rude").await;
    let short = w.sent()[0].split(' ').nth(5).expect("the request id").to_owned();

    w.says(&staff, Some(LOBBY), &format!(".reject {}", short.to_uppercase())).await;

    assert_eq!(w.sent(), [format!("PRIVMSG #lobby :staff: ban request {short} rejected")]);
    assert_eq!(w.room_types().last(), Some(&"room.ban_request_rejected"));
}

#[tokio::test]
async fn an_operator_sets_the_topic_and_a_guest_changing_it_by_hand_gets_it_put_back() {
    let mut w = World::new().await;
    let (oper, _) = w.logged_in("oper", Level::Operator).await;

    w.says(&oper, Some(LOBBY), ".topic Welcome!  Be nice.").await;
    w.handlers().topic_changed(&person("carol"), LOBBY, "carol was here").await.unwrap();

    assert_eq!(w.sent(), ["TOPIC #lobby :Welcome!  Be nice.", "TOPIC #lobby :Welcome!  Be nice."]);
    assert_eq!(w.room_types().iter().filter(|t| **t == "room.topic_set").count(), 1);
}

#[tokio::test]
async fn an_operators_own_topic_and_mask_ban_by_hand_are_recorded() {
    let mut w = World::new().await;
    let (oper, _) = w.logged_in("oper", Level::Operator).await;

    w.handlers().topic_changed(&oper, LOBBY, "by hand").await.unwrap();
    let ban = ModeChange { adding: true, mode: ChannelModeKind::Ban, argument: Some("*!*@evil.example".into()) };
    w.handlers().mode_changed(&oper, LOBBY, &[ban]).await.unwrap();
    w.handlers()
        .mode_changed(
            &person("carol"),
            LOBBY,
            &[ModeChange { adding: false, mode: ChannelModeKind::Ban, argument: Some("*!*@evil.example".into()) }],
        )
        .await
        .unwrap();

    assert!(w.sent().is_empty(), "nothing is said back");
    assert!(w.room_types().ends_with(&["room.topic_set", "room.user_banned"]), "{:?}", w.room_types());
}
