//! `.seen`, `.quote …` and `.info …`: the answers made of read-model rows, and the writes the
//! domain allows or refuses.

use chrono::{TimeZone, Utc};
use domain::{Event, Level, StreamName};
use projections::queries::{InfoEntry, Quote, Sighting};
use uuid::Uuid;

use super::{LOBBY, World, minutes_ago, person};
use crate::irc::bot::backend::Backend;

/// A sighting in a room that is not bound to a channel the bot knows.
fn sighting(nick: &str, room: &str, gateway: &str, activity: &str, detail: Option<&str>, private: bool) -> Sighting {
    sighting_in(Uuid::now_v7(), nick, room, gateway, activity, detail, private)
}

fn sighting_in(room_id: Uuid, nick: &str, room: &str, gateway: &str, activity: &str, detail: Option<&str>, private: bool) -> Sighting {
    Sighting {
        nick: nick.into(),
        user_id: None,
        room_id,
        room_name: Some(room.into()),
        room_private: private,
        at: minutes_ago(3),
        gateway: gateway.parse().unwrap(),
        activity: activity.parse().unwrap(),
        detail: detail.map(str::to_owned),
    }
}

fn quote(id: i64, nick: &str, text: &str) -> Quote {
    Quote {
        quote_id: id,
        nick: nick.into(),
        text: text.into(),
        added_by: format!("user:{}", Uuid::nil()),
        added_by_nick: Some("alice".into()),
        added_at: Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap(),
    }
}

#[tokio::test]
async fn a_guest_who_asks_for_seen_gets_the_channel_name_and_what_was_said() {
    let w = World::new().await;
    *w.memory.sighting.lock().unwrap() = Some(sighting_in(w.lobby, "bob", "lobby", "irc", "said", Some("hi all"), false));
    w.says(&person("carol"), Some(LOBBY), ".seen Bob").await;
    assert_eq!(w.sent(), ["PRIVMSG #lobby :carol: bob was last seen 3 minutes ago in #lobby, saying: hi all"]);
}

#[tokio::test]
async fn seen_by_sms_in_a_room_with_a_channel_names_the_room() {
    let w = World::new().await;
    *w.memory.sighting.lock().unwrap() = Some(sighting_in(w.lobby, "dave", "lobby", "sms", "said", Some("hi"), false));
    w.says(&person("carol"), None, ".seen dave").await;
    assert_eq!(w.sent(), ["PRIVMSG carol :dave was last seen 3 minutes ago in lobby (by SMS), saying: hi"]);
}

#[tokio::test]
async fn seen_in_an_invite_only_room_never_repeats_what_was_said() {
    let w = World::new().await;
    *w.memory.sighting.lock().unwrap() = Some(sighting("bob", "vip", "irc", "said", Some("secret plans"), true));
    w.says(&person("carol"), None, ".seen bob").await;
    assert_eq!(w.sent(), ["PRIVMSG carol :bob was last seen 3 minutes ago in vip"]);
}

#[tokio::test]
async fn seen_says_when_someone_was_last_there_by_sms_or_doing_something_else() {
    let w = World::new().await;
    *w.memory.sighting.lock().unwrap() = Some(sighting("bob", "lobby", "sms", "action", Some("waves"), false));
    w.says(&person("carol"), None, ".seen bob").await;
    *w.memory.sighting.lock().unwrap() = Some(sighting("bob", "lobby", "irc", "nick_changed", None, false));
    w.says(&person("carol"), None, ".seen bob").await;
    assert_eq!(
        w.sent(),
        [
            "PRIVMSG carol :bob was last seen 3 minutes ago in lobby (by SMS): * bob waves",
            "PRIVMSG carol :bob was last seen 3 minutes ago in lobby (nick changed)"
        ]
    );
}

#[tokio::test]
async fn seen_of_the_bot_of_oneself_and_of_a_stranger() {
    let w = World::new().await;
    let carol = person("carol");
    w.says(&carol, None, ".seen SwitchBoard").await;
    w.says(&carol, None, ".seen CAROL").await;
    w.says(&carol, None, ".seen nobody").await;
    assert_eq!(w.sent(), ["PRIVMSG carol :that's me!", "PRIVMSG carol :that's you!", "PRIVMSG carol :I have never seen nobody"]);
}

#[tokio::test]
async fn a_member_adds_a_quote_and_hears_its_number() {
    let mut w = World::new().await;
    let (alice, alice_id) = w.logged_in("alice", Level::Member).await;

    w.says(&alice, Some(LOBBY), ".quote add bob  this   is fine").await;
    w.says(&alice, Some(LOBBY), ".quote add bob this is FINE").await;

    assert_eq!(
        w.sent(),
        ["PRIVMSG #lobby :alice: quote #1 added", "PRIVMSG #lobby :alice: that quote of bob is already in the book as #1"]
    );
    let Some(Event::QuoteAdded(added)) = w.memory.last(&StreamName::quotes()) else { panic!("no quote added") };
    assert_eq!((added.nick.as_str(), added.text.as_str(), added.added_by), ("bob", "this   is fine", domain::Actor::User(alice_id)));
}

#[tokio::test]
async fn a_guest_may_not_add_a_quote() {
    let w = World::new().await;
    w.says(&person("carol"), Some(LOBBY), ".quote add bob hello").await;
    assert_eq!(w.sent(), ["PRIVMSG #lobby :carol: you need level 1 (member) for that; you have 0 (guest)"]);
    assert!(w.memory.types(&StreamName::quotes()).is_empty());
}

#[tokio::test]
async fn a_quote_is_shown_with_who_said_it_who_added_it_and_when() {
    let w = World::new().await;
    w.says(&person("carol"), Some(LOBBY), ".quote").await;
    *w.memory.quotes.lock().unwrap() = vec![quote(7, "bob", "this is fine")];
    w.says(&person("carol"), Some(LOBBY), ".quote").await;
    w.says(&person("carol"), Some(LOBBY), ".quote #7").await;
    w.says(&person("carol"), Some(LOBBY), ".quote 8").await;
    assert_eq!(
        w.sent(),
        [
            "PRIVMSG #lobby :carol: the quote book is empty",
            "PRIVMSG #lobby :carol: #7 <bob> this is fine (added by alice, 2026-03-01)",
            "PRIVMSG #lobby :carol: #7 <bob> this is fine (added by alice, 2026-03-01)",
            "PRIVMSG #lobby :carol: no quote #8",
        ]
    );
}

#[tokio::test]
async fn a_quote_search_shows_at_most_three_matches_or_says_there_are_none() {
    let w = World::new().await;
    w.says(&person("carol"), None, ".quote search dog").await;
    *w.memory.quotes.lock().unwrap() = (1..=5).map(|id| quote(id, "bob", "fine dog")).collect();
    w.says(&person("carol"), None, ".quote search dog").await;
    let sent = w.sent();
    assert_eq!(sent[0], "PRIVMSG carol :no quote matches");
    assert_eq!(sent[1..], ["#1", "#2", "#3"].map(|id| format!("PRIVMSG carol :{id} <bob> fine dog (added by alice, 2026-03-01)")));
}

#[tokio::test]
async fn only_the_adder_or_an_operator_deletes_a_quote() {
    let mut w = World::new().await;
    let (alice, _) = w.logged_in("alice", Level::Member).await;
    let (bob, _) = w.logged_in("bob", Level::Member).await;
    let (oper, _) = w.logged_in("oper", Level::Operator).await;
    w.says(&alice, None, ".quote add carol one").await;
    w.says(&alice, None, ".quote add carol two").await;
    w.sent();

    w.says(&bob, None, ".quote del 1").await;
    w.says(&alice, None, ".quote del 1").await;
    w.says(&oper, None, ".quote del 2").await;
    w.says(&oper, None, ".quote del 2").await;

    assert_eq!(
        w.sent(),
        [
            "PRIVMSG bob :only the one who added quote #1 or an operator may delete it",
            "PRIVMSG alice :quote #1 deleted",
            "PRIVMSG oper :quote #2 deleted",
            "PRIVMSG oper :no quote #2",
        ]
    );
}

#[tokio::test]
async fn an_info_item_is_shown_with_who_set_it() {
    let w = World::new().await;
    *w.memory.info.lock().unwrap() = Some(InfoEntry {
        item: "rules".into(),
        text: "be nice".into(),
        changed_by: format!("user:{}", Uuid::nil()),
        changed_by_nick: Some("alice".into()),
        changed_at: minutes_ago(120),
        revisions: 2,
    });
    w.says(&person("carol"), Some(LOBBY), ".info Rules").await;
    w.says(&person("carol"), Some(LOBBY), ".info faq").await;
    *w.memory.info.lock().unwrap() = Some(InfoEntry {
        item: "motd".into(),
        text: "welcome".into(),
        changed_by: "system".into(),
        changed_by_nick: None,
        changed_at: minutes_ago(120),
        revisions: 1,
    });
    w.says(&person("carol"), Some(LOBBY), ".info motd").await;
    assert_eq!(
        w.sent(),
        [
            "PRIVMSG #lobby :carol: rules: be nice (set by alice, 2 hours ago)",
            "PRIVMSG #lobby :carol: unknown item \"faq\"",
            "PRIVMSG #lobby :carol: motd: welcome (set by Switchboard, 2 hours ago)"
        ]
    );
}

#[tokio::test]
async fn a_member_adds_replaces_and_deletes_an_info_item_others_may_not_change() {
    let mut w = World::new().await;
    let (alice, _) = w.logged_in("alice", Level::Member).await;
    let (bob, _) = w.logged_in("bob", Level::Member).await;

    w.says(&alice, None, ".info add rules Be nice.").await;
    w.says(&bob, None, ".info add Rules Be mean.").await;
    w.says(&bob, None, ".info set rules Be mean.").await;
    w.says(&alice, None, ".info set rules Be kind.").await;
    w.says(&alice, None, ".info del rules").await;
    w.says(&person("carol"), None, ".info add faq none").await;

    assert_eq!(
        w.sent(),
        [
            "PRIVMSG alice :rules added",
            "PRIVMSG bob :the item rules already exists; use `.info set` to replace it",
            "PRIVMSG bob :only the item's creator or an operator may change it",
            "PRIVMSG alice :rules replaced",
            "PRIVMSG alice :rules deleted",
            "PRIVMSG carol :you need level 1 (member) for that; you have 0 (guest)",
        ]
    );
    assert_eq!(w.memory.types(&StreamName::info("rules")), ["info.added", "info.replaced", "info.deleted"]);
}

#[tokio::test]
async fn when_a_read_model_fails_the_asker_hears_only_an_error_id_and_never_the_cause() {
    let w = World::new().await;
    w.memory.last_seen_down.store(true, std::sync::atomic::Ordering::SeqCst);

    w.says(&person("carol"), Some(LOBBY), ".seen bob").await;

    let sent = w.sent();
    let [line] = sent.as_slice() else { panic!("{sent:?}") };
    let id = line
        .strip_prefix("PRIVMSG #lobby :carol: sorry, something went wrong on my side (error ")
        .and_then(|r| r.strip_suffix("); it has been logged"));
    assert!(id.is_some_and(|id| id.len() == 8 && id.chars().all(|c| c.is_ascii_hexdigit())), "{line}");
    assert!(!line.contains("connection refused"));
}

#[tokio::test]
async fn seen_of_a_private_person_tells_only_when_except_to_people_in_that_room_and_staff() {
    let mut w = World::new().await;
    let bob = w.account("bob", Level::Member).await;
    w.memory.execute_user(bob, &domain::UserCommand::SetPrivacy { private: true }, domain::Actor::User(bob)).await.unwrap();
    let seen_bob = Sighting { user_id: Some(bob), ..sighting_in(w.lobby, "bob", "lobby", "irc", "said", Some("meet at 6"), false) };
    *w.memory.sighting.lock().unwrap() = Some(seen_bob);
    let (alice, _) = w.logged_in("alice", Level::Member).await;
    w.bound_channel("#games", false).await;
    let erin = person("erin");
    let erin_id = w.account("erin", Level::Member).await;
    w.token(erin_id, domain::events::TokenPurpose::Register, "reg-erin").await;
    w.says(&erin, None, ".register reg-erin").await;
    w.state.presence.arrived("erin", "#games");
    w.token(erin_id, domain::events::TokenPurpose::Login, "log-erin").await;
    w.says(&erin, None, ".login log-erin").await;
    w.sent();

    w.says(&person("carol"), None, ".seen bob").await;
    w.says(&erin, None, ".seen bob").await;
    w.says(&alice, None, ".seen bob").await;

    assert_eq!(
        w.sent(),
        [
            "PRIVMSG carol :bob was last seen 3 minutes ago; where and what is private",
            "PRIVMSG erin :bob was last seen 3 minutes ago; where and what is private",
            "PRIVMSG alice :bob was last seen 3 minutes ago in #lobby, saying: meet at 6",
        ]
    );
}
