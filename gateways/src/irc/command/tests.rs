//! The parser on every command form, the chat it must leave alone, and its usage errors.

use super::*;

fn ok(text: &str) -> BotCommand {
    match parse(".", text) {
        Some(Ok(command)) => command,
        other => panic!("{text:?} gave {other:?}"),
    }
}

fn err(text: &str) -> CommandError {
    match parse(".", text) {
        Some(Err(error)) => error,
        other => panic!("{text:?} gave {other:?}"),
    }
}

fn duration(s: &str) -> Option<domain::BanDuration> {
    Some(domain::BanDuration::parse(s).unwrap())
}

fn s(text: &str) -> String {
    text.to_owned()
}

#[test]
fn each_command_parses_into_its_variant() {
    let cases = [
        (".register abc123", BotCommand::Register { token: s("abc123") }),
        (".login abc123", BotCommand::Login { token: s("abc123") }),
        (".logout", BotCommand::Logout),
        (".status", BotCommand::Status),
        (".meet carol", BotCommand::Meet { nick: s("carol") }),
        (".about", BotCommand::About { nick: None }),
        (".about bob", BotCommand::About { nick: Some(s("bob")) }),
        (".about set I like trains", BotCommand::SetAbout { text: s("I like trains") }),
        (".seen bob", BotCommand::Seen { nick: s("bob") }),
        (".quote", BotCommand::RandomQuote),
        (".quote 42", BotCommand::Quote { id: 42 }),
        (".quote add bob this is fine", BotCommand::AddQuote { nick: s("bob"), text: s("this is fine") }),
        (".quote search fine dog", BotCommand::SearchQuotes { words: s("fine dog") }),
        (".quote del 7", BotCommand::DeleteQuote { id: 7 }),
        (".info rules", BotCommand::Info { item: s("rules") }),
        (".info add rules Be nice.", BotCommand::AddInfo { item: s("rules"), text: s("Be nice.") }),
        (".info set rules Be kind.", BotCommand::SetInfo { item: s("rules"), text: s("Be kind.") }),
        (".info del rules", BotCommand::DeleteInfo { item: s("rules") }),
        (".help", BotCommand::Help { topic: None }),
        (".help ban", BotCommand::Help { topic: Some(s("ban")) }),
        (".version", BotCommand::Version),
        (".kick bob", BotCommand::Kick { nick: s("bob"), reason: None }),
        (".kick bob go away", BotCommand::Kick { nick: s("bob"), reason: Some(s("go away")) }),
        (".ban bob", BotCommand::Ban { target: s("bob"), duration: None, reason: None }),
        (
            ".ban *!*@evil.example 2h spam",
            BotCommand::Ban { target: s("*!*@evil.example"), duration: duration("2h"), reason: Some(s("spam")) },
        ),
        (".unban bob", BotCommand::Unban { target: s("bob") }),
        (".mute bob", BotCommand::Mute { nick: s("bob"), duration: None }),
        (".mute bob 30m", BotCommand::Mute { nick: s("bob"), duration: duration("30m") }),
        (".unmute bob", BotCommand::Unmute { nick: s("bob") }),
        (".voice bob", BotCommand::Mode { nick: s("bob"), mode: ChannelMode::Voice }),
        (".devoice bob", BotCommand::Mode { nick: s("bob"), mode: ChannelMode::Devoice }),
        (".op bob", BotCommand::Mode { nick: s("bob"), mode: ChannelMode::Op }),
        (".deop bob", BotCommand::Mode { nick: s("bob"), mode: ChannelMode::Deop }),
        (".requestban bob keeps flooding", BotCommand::RequestBan { nick: s("bob"), reason: s("keeps flooding") }),
        (".approve 1a2b3c4d", BotCommand::Approve { request: s("1a2b3c4d") }),
        (".reject 1a2b3c4d", BotCommand::Reject { request: s("1a2b3c4d") }),
        (".topic Welcome! Be nice.", BotCommand::Topic { text: s("Welcome! Be nice.") }),
        (".channels", BotCommand::Channels),
        (".join #new", BotCommand::JoinChannel { channel: s("#new"), key: None }),
        (".join #new s3cret", BotCommand::JoinChannel { channel: s("#new"), key: Some(s("s3cret")) }),
        (".part #new", BotCommand::PartChannel { channel: s("#new") }),
        (".say #chat hello all", BotCommand::Say { target: s("#chat"), text: s("hello all") }),
        (".act bob waves", BotCommand::Act { target: s("bob"), text: s("waves") }),
        (".whois bob", BotCommand::Whois { nick: s("bob") }),
    ];
    for (text, expected) in cases {
        assert_eq!(ok(text), expected, "{text}");
    }
}

#[test]
fn lines_that_do_not_start_with_the_prefix_and_a_letter_are_chat() {
    for text in ["", ".", "...", ". hi", ".5 stars", ".#chan", ".🎉 party", "hello .help", " .help", "\t.seen bob", "help", ",help"] {
        assert_eq!(parse(".", text), None, "{text:?}");
    }
}

#[test]
fn the_prefix_is_configurable_and_may_be_longer_than_one_character() {
    assert_eq!(parse("!", "!seen bob"), Some(Ok(BotCommand::Seen { nick: s("bob") })));
    assert_eq!(parse("!", ".seen bob"), None);
    assert_eq!(parse("sb: ", "sb: status"), Some(Ok(BotCommand::Status)));
    assert_eq!(parse("sb: ", "sb:status"), None);
    assert_eq!(parse("!!", "!!quote 3"), Some(Ok(BotCommand::Quote { id: 3 })));
    assert_eq!(parse("!!", "!quote 3"), None);
}

#[test]
fn an_empty_prefix_makes_every_line_starting_with_a_letter_a_command() {
    assert_eq!(parse("", "seen bob"), Some(Ok(BotCommand::Seen { nick: s("bob") })));
    assert_eq!(parse("", "hello there"), Some(Err(CommandError::Unknown { word: s("hello") })));
    assert_eq!(parse("", "5 stars"), None);
}

#[test]
fn command_words_are_case_insensitive_but_arguments_keep_their_case() {
    assert_eq!(ok(".SEEN Bob"), BotCommand::Seen { nick: s("Bob") });
    assert_eq!(ok(".Quote ADD Bob Hello World"), BotCommand::AddQuote { nick: s("Bob"), text: s("Hello World") });
    assert_eq!(ok(".INFO Set Rules BE NICE"), BotCommand::SetInfo { item: s("Rules"), text: s("BE NICE") });
    assert_eq!(ok(".About SET Hi"), BotCommand::SetAbout { text: s("Hi") });
    assert_eq!(ok(".DeOp Bob"), BotCommand::Mode { nick: s("Bob"), mode: ChannelMode::Deop });
    assert_eq!(ok(".RequestBan Bob Rude"), BotCommand::RequestBan { nick: s("Bob"), reason: s("Rude") });
    assert_eq!(ok(".login AbC"), BotCommand::Login { token: s("AbC") });
}

#[test]
fn runs_of_whitespace_separate_and_trailing_whitespace_is_ignored() {
    assert_eq!(ok(".kick   bob \t  bye  "), BotCommand::Kick { nick: s("bob"), reason: Some(s("bye")) });
    assert_eq!(ok(".join\t#new   key "), BotCommand::JoinChannel { channel: s("#new"), key: Some(s("key")) });
    assert_eq!(ok(".status   "), BotCommand::Status);
    assert_eq!(ok(".seen\u{a0}bob"), BotCommand::Seen { nick: s("bob") }, "a no-break space separates too");
}

#[test]
fn free_text_keeps_its_inner_spacing_but_search_words_are_joined_with_single_spaces() {
    assert_eq!(ok(".quote add bob  <alice>   hi  there "), BotCommand::AddQuote { nick: s("bob"), text: s("<alice>   hi  there") });
    assert_eq!(ok(".topic  a  |  b "), BotCommand::Topic { text: s("a  |  b") });
    assert_eq!(ok(".quote search  fine   dog "), BotCommand::SearchQuotes { words: s("fine dog") });
}

#[test]
fn commands_is_another_name_for_help() {
    assert_eq!(ok(".commands"), BotCommand::Help { topic: None });
    assert_eq!(ok(".COMMANDS ban"), BotCommand::Help { topic: Some(s("ban")) });
    assert_eq!(err(".commands a b"), CommandError::Usage(HelpTopic::Help));
}

#[test]
fn help_keeps_its_topic_as_typed_even_when_it_names_no_command() {
    assert_eq!(ok(".help .Ban"), BotCommand::Help { topic: Some(s(".Ban")) });
    assert_eq!(ok(".help dance"), BotCommand::Help { topic: Some(s("dance")) });
}

#[test]
fn a_missing_or_extra_argument_gives_that_commands_usage() {
    let cases = [
        (".register", HelpTopic::Register),
        (".login", HelpTopic::Login),
        (".logout now", HelpTopic::Logout),
        (".status please", HelpTopic::Status),
        (".meet", HelpTopic::Meet),
        (".meet a b", HelpTopic::Meet),
        (".about a b", HelpTopic::About),
        (".about set", HelpTopic::About),
        (".seen", HelpTopic::Seen),
        (".seen bob yesterday", HelpTopic::Seen),
        (".quote 1 2", HelpTopic::Quote),
        (".quote funny", HelpTopic::Quote),
        (".quote add", HelpTopic::Quote),
        (".quote add bob", HelpTopic::Quote),
        (".quote search", HelpTopic::Quote),
        (".quote del", HelpTopic::Quote),
        (".quote del 3 4", HelpTopic::Quote),
        (".info", HelpTopic::Info),
        (".info rules now", HelpTopic::Info),
        (".info add", HelpTopic::Info),
        (".info add rules", HelpTopic::Info),
        (".info set rules", HelpTopic::Info),
        (".info del", HelpTopic::Info),
        (".info del rules now", HelpTopic::Info),
        (".help a b", HelpTopic::Help),
        (".version 2", HelpTopic::Version),
        (".kick", HelpTopic::Kick),
        (".ban", HelpTopic::Ban),
        (".unban", HelpTopic::Unban),
        (".unban a b", HelpTopic::Unban),
        (".mute", HelpTopic::Mute),
        (".mute bob 1h extra", HelpTopic::Mute),
        (".unmute", HelpTopic::Unmute),
        (".unmute a b", HelpTopic::Unmute),
        (".voice", HelpTopic::Voice),
        (".devoice a b", HelpTopic::Devoice),
        (".op", HelpTopic::Op),
        (".deop a b", HelpTopic::Deop),
        (".requestban", HelpTopic::RequestBan),
        (".requestban bob", HelpTopic::RequestBan),
        (".approve", HelpTopic::Approve),
        (".approve a b", HelpTopic::Approve),
        (".reject", HelpTopic::Reject),
        (".topic", HelpTopic::Topic),
        (".channels all", HelpTopic::Channels),
        (".join", HelpTopic::Join),
        (".join #a key extra", HelpTopic::Join),
        (".part", HelpTopic::Part),
        (".part #a #b", HelpTopic::Part),
        (".say", HelpTopic::Say),
        (".say #chat", HelpTopic::Say),
        (".act bob", HelpTopic::Act),
        (".whois", HelpTopic::Whois),
        (".whois a b", HelpTopic::Whois),
    ];
    for (text, topic) in cases {
        assert_eq!(err(text), CommandError::Usage(topic), "{text}");
    }
}

#[test]
fn register_and_login_take_the_first_word_so_a_token_leaked_in_a_channel_can_be_revoked() {
    assert_eq!(ok(".login abc123 please"), BotCommand::Login { token: s("abc123") });
    assert_eq!(ok(".register  abc123  now "), BotCommand::Register { token: s("abc123") });
}

#[test]
fn quote_ids_are_positive_whole_numbers() {
    assert_eq!(ok(".quote 007"), BotCommand::Quote { id: 7 });
    assert_eq!(ok(".quote #12"), BotCommand::Quote { id: 12 });
    assert_eq!(ok(".quote del #12"), BotCommand::DeleteQuote { id: 12 });
    assert_eq!(ok(&format!(".quote {}", i64::MAX)), BotCommand::Quote { id: i64::MAX });
    for text in [
        ".quote 0",
        ".quote -1",
        ".quote +1",
        ".quote 1.5",
        ".quote 9223372036854775808",
        ".quote #",
        ".quote ##1",
        ".quote ١٢",
        ".quote del 0",
        ".quote del abc",
        ".quote del -3",
    ] {
        assert_eq!(err(text), CommandError::Usage(HelpTopic::Quote), "{text}");
    }
}

#[test]
fn subcommand_words_are_reserved() {
    assert_eq!(err(".info del"), CommandError::Usage(HelpTopic::Info));
    assert_eq!(err(".info SET"), CommandError::Usage(HelpTopic::Info));
    assert_eq!(err(".about Set"), CommandError::Usage(HelpTopic::About));
    assert_eq!(err(".quote Search"), CommandError::Usage(HelpTopic::Quote));
    // Only the first argument is a subcommand.
    assert_eq!(ok(".about setter"), BotCommand::About { nick: Some(s("setter")) });
    assert_eq!(ok(".info adder"), BotCommand::Info { item: s("adder") });
    assert_eq!(ok(".quote add del x"), BotCommand::AddQuote { nick: s("del"), text: s("x") });
}

#[test]
fn a_ban_duration_is_the_second_word_when_it_parses_otherwise_the_reason_begins() {
    assert_eq!(ok(".ban bob 3d"), BotCommand::Ban { target: s("bob"), duration: duration("3d"), reason: None });
    assert_eq!(ok(".ban bob 1W  be  nice "), BotCommand::Ban { target: s("bob"), duration: duration("1w"), reason: Some(s("be  nice")) });
    assert_eq!(ok(".ban bob spamming links"), BotCommand::Ban { target: s("bob"), duration: None, reason: Some(s("spamming links")) });
    assert_eq!(ok(".ban bob 2nd warning"), BotCommand::Ban { target: s("bob"), duration: None, reason: Some(s("2nd warning")) });
    assert_eq!(ok(".ban bob 10y old grudge"), BotCommand::Ban { target: s("bob"), duration: None, reason: Some(s("10y old grudge")) });
    assert_eq!(ok(".ban bob spam 2h"), BotCommand::Ban { target: s("bob"), duration: None, reason: Some(s("spam 2h")) });
}

#[test]
fn a_ban_duration_that_is_meant_but_invalid_is_a_usage_error_not_a_permanent_ban() {
    for text in [".ban bob 0m", ".ban bob 60", ".ban bob 400d", ".ban bob 53W spam", ".ban bob 9999999h", ".ban bob 0min"] {
        assert_eq!(err(text), CommandError::Usage(HelpTopic::Ban), "{text}");
    }
}

#[test]
fn a_mute_duration_must_be_valid_when_given() {
    assert_eq!(ok(".mute bob 2H"), BotCommand::Mute { nick: s("bob"), duration: duration("2h") });
    for text in [".mute bob forever", ".mute bob 0m", ".mute bob 60"] {
        assert_eq!(err(text), CommandError::Usage(HelpTopic::Mute), "{text}");
    }
}

#[test]
fn an_unknown_command_names_itself_without_control_characters_and_cut_short() {
    assert_eq!(err(".dance"), CommandError::Unknown { word: s("dance") });
    assert_eq!(err(".Dance all night"), CommandError::Unknown { word: s("Dance") });
    assert_eq!(err(".seenbob"), CommandError::Unknown { word: s("seenbob") });
    assert_eq!(err(".über"), CommandError::Unknown { word: s("über") });
    assert_eq!(err(".a\u{3}4red\u{1}"), CommandError::Unknown { word: s("a4red") });
    assert_eq!(err(&format!(".{}", "x".repeat(500))), CommandError::Unknown { word: "x".repeat(20) });
    assert_eq!(err(&format!(".{}", "日".repeat(30))), CommandError::Unknown { word: "日".repeat(20) });
}

#[test]
fn replies_use_the_configured_prefix_and_display_the_default_one() {
    let ban = CommandError::Usage(HelpTopic::Ban);
    assert_eq!(ban.reply("!"), "usage: !ban <nick|mask> [duration] [reason]");
    assert_eq!(ban.to_string(), "usage: .ban <nick|mask> [duration] [reason]");
    let unknown = CommandError::Unknown { word: s("dance") };
    assert_eq!(unknown.reply("!"), "unknown command !dance — try !help");
    assert_eq!(unknown.to_string(), "unknown command .dance — try .help");
    assert_eq!(
        CommandError::Usage(HelpTopic::Quote).reply("."),
        "usage: .quote [id] | .quote add <nick> <text> | .quote search <words> | .quote del <id>"
    );
    assert_eq!(usage("~", HelpTopic::About), "usage: ~about [nick] | ~about set <text>");
}

#[test]
fn every_command_word_parses_to_its_own_topic() {
    // No topic is shadowed by another's name, and each parses (maybe to a usage error) as itself.
    for topic in HelpTopic::ALL {
        match parse(".", &format!(".{}", topic.name())) {
            Some(Ok(_)) => {}
            Some(Err(CommandError::Usage(got))) => assert_eq!(got, topic),
            other => panic!("{topic:?}: {other:?}"),
        }
    }
}
