//! `.help` by level, `.help <command>`, `.version`, `.whois`.

use domain::Level;

use super::{LOBBY, World, person};
use crate::irc::settings::IrcSettings;

#[tokio::test]
async fn a_guest_who_asks_for_help_is_told_privately_what_anyone_may_use() {
    let w = World::new().await;
    w.says(&person("carol"), Some(LOBBY), ".help").await;
    assert_eq!(
        w.sent(),
        ["NOTICE carol :anyone: .register .login .status .seen .quote .info .help .version", "NOTICE carol :.help <command> explains one"]
    );
}

#[tokio::test]
async fn help_for_staff_lists_everything_up_to_staff() {
    let mut w = World::new().await;
    let (staff, _) = w.logged_in("staff", Level::Staff).await;
    w.says(&staff, None, ".commands").await;
    assert_eq!(
        w.sent(),
        [
            "NOTICE staff :anyone: .register .login .status .seen .quote .info .help .version",
            "NOTICE staff :members: .logout .meet .about .requestban",
            "NOTICE staff :operators: .kick .ban .unban .mute .unmute .voice .devoice .op .deop .topic",
            "NOTICE staff :staff: .approve .reject .channels .join .part .say .act",
            "NOTICE staff :.help <command> explains one",
        ]
    );
}

#[tokio::test]
async fn help_on_a_command_explains_it_whoever_asks() {
    let w = World::new().await;
    w.says(&person("carol"), Some(LOBBY), ".help .KICK").await;
    w.says(&person("carol"), Some(LOBBY), ".help dance").await;
    assert_eq!(
        w.sent(),
        [
            "NOTICE carol :.kick <nick> [reason] — kick <nick> from this channel (operators and up)",
            "NOTICE carol :no command .dance — .help lists them"
        ]
    );
}

#[tokio::test]
async fn a_mistyped_command_gets_its_usage_and_an_unknown_one_a_hint() {
    let w = World::new().await;
    w.says(&person("carol"), Some(LOBBY), ".seen").await;
    w.says(&person("carol"), None, ".dance").await;
    assert_eq!(w.sent(), ["PRIVMSG #lobby :carol: usage: .seen <nick>", "PRIVMSG carol :unknown command .dance — try .help"]);
}

#[tokio::test]
async fn version_answers_where_it_was_asked() {
    let w = World::new().await;
    w.says(&person("carol"), Some(LOBBY), ".version").await;
    assert_eq!(w.sent(), [format!("PRIVMSG #lobby :carol: {}", IrcSettings::version())]);
}

#[tokio::test]
async fn a_superuser_is_told_privately_everything_held_about_an_account() {
    let mut w = World::new().await;
    let (root, _) = w.logged_in("root", Level::Superuser).await;
    let (_, bob_id) = w.logged_in("bob", Level::Member).await;

    w.says(&root, Some(LOBBY), ".whois Bob").await;
    w.says(&root, Some(LOBBY), ".whois nobody").await;

    let sent = w.sent();
    assert_eq!(sent.len(), 5, "{sent:?}");
    assert_eq!(sent[0], format!("NOTICE root :Bob: user {bob_id}, level 1 (member), private"));
    assert_eq!(sent[1], "NOTICE root :web account: none");
    assert!(sent[2].starts_with("NOTICE root :IRC identity: bob (bob!bob@example.net); session: since "), "{}", sent[2]);
    assert!(sent[2].ends_with(" from bob!bob@example.net"), "{}", sent[2]);
    assert_eq!(sent[3], "NOTICE root :phone: none; about: none");
    assert_eq!(sent[4], "NOTICE root :nobody has no account");
}

#[tokio::test]
async fn whois_is_refused_below_superuser() {
    let mut w = World::new().await;
    let (staff, _) = w.logged_in("staff", Level::Staff).await;
    w.says(&staff, None, ".whois bob").await;
    assert_eq!(w.sent(), ["PRIVMSG staff :you need level 5 (superuser) for that; you have 4"]);
}
