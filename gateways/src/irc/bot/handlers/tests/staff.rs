//! `.channels`, `.join`, `.part`, `.say`, `.act`: staff only.

use domain::{Event, Level, StreamName};

use super::{LOBBY, World, person};

#[tokio::test]
async fn staff_list_the_bound_channels() {
    let mut w = World::new().await;
    let (staff, _) = w.logged_in("staff", Level::Staff).await;
    w.bound_channel("#Amber", false).await;
    w.says(&staff, None, ".channels").await;
    assert_eq!(w.sent(), ["PRIVMSG staff :bound channels: #Amber #lobby"]);
}

#[tokio::test]
async fn staff_bind_a_new_channel_to_a_new_room_and_the_bot_joins_it() {
    let mut w = World::new().await;
    let (staff, _) = w.logged_in("staff", Level::Staff).await;

    w.says(&staff, None, ".join #new s3cret").await;
    w.says(&staff, None, ".join #NEW").await;

    assert_eq!(w.sent(), ["JOIN #new s3cret", "PRIVMSG staff :#new is now a Switchboard room", "PRIVMSG staff :#NEW is already bound"]);
    let bound = w.state.channel("#new").expect("bound in memory");
    assert_eq!(bound.key.as_deref(), Some("s3cret"));
    assert_eq!(w.memory.types(&StreamName::room(bound.room_id)), ["room.created", "room.irc_channel_bound"]);
}

#[tokio::test]
async fn staff_unbind_a_channel_and_the_bot_leaves_it() {
    let mut w = World::new().await;
    let (staff, _) = w.logged_in("staff", Level::Staff).await;

    w.says(&staff, None, ".part #lobby").await;
    w.says(&staff, None, ".part #lobby").await;

    assert_eq!(
        w.sent(),
        ["PART #lobby :unbound from Switchboard", "PRIVMSG staff :#lobby unbound; its history stays", "PRIVMSG staff :#lobby is not bound"]
    );
    assert_eq!(w.room_types().last(), Some(&"room.irc_channel_unbound"));
}

#[tokio::test]
async fn staff_speak_as_the_bot_and_it_is_recorded_on_a_bound_channel() {
    let mut w = World::new().await;
    let (staff, _) = w.logged_in("staff", Level::Staff).await;

    w.says(&staff, None, ".say #lobby hello all").await;
    w.says(&staff, None, ".act bob waves").await;

    assert_eq!(w.sent(), ["PRIVMSG #lobby :hello all", "PRIVMSG bob :\u{1}ACTION waves\u{1}"]);
    let Some(Event::MessagePosted(posted)) = w.last_room_event() else { panic!("nothing recorded") };
    assert_eq!((posted.author_id, posted.author_nick.as_str(), posted.body.as_str()), (None, "switchboard", "hello all"));
}

#[tokio::test]
async fn an_operator_may_not_use_staff_commands_and_a_guest_is_asked_to_log_in() {
    let mut w = World::new().await;
    let (oper, _) = w.logged_in("oper", Level::Operator).await;
    w.says(&oper, Some(LOBBY), ".channels").await;
    w.says(&person("carol"), None, ".say #lobby hi").await;
    assert_eq!(
        w.sent(),
        [
            "PRIVMSG #lobby :oper: you need level 4 (staff) for that; you have 3",
            "PRIVMSG carol :you need to be logged in for that (.login <token> in a private message)",
        ]
    );
    assert!(!w.room_types().contains(&"room.message_posted"));
}
