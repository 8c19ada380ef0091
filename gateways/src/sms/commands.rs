//! Reading an inbound text as a room command or a chat message (one Twilio number is one room).
//!
//! Commands start with `#` and a letter, case-insensitively (`#JOIN Bob` is `#join Bob`); the
//! arguments keep their case. Surrounding whitespace is ignored and runs of whitespace between
//! arguments count as one separator. A `#` followed by anything but a letter (`# of people`,
//! `#1 fan`, a lone `#`) is plain text, since people write those in ordinary messages; a `#word`
//! that names no command is an error rather than text, so a mistyped command is not broadcast.
//!
//! Carrier keywords are honoured too: a whole message (trimmed, any case) that is `STOP` or one of
//! Twilio's standard opt-out synonyms (`STOPALL`, `UNSUBSCRIBE`, `CANCEL`, `END`, `QUIT`) stops
//! delivery; `START`, `UNSTOP` or `YES` resumes it; `HELP` or `INFO` asks for help. Twilio and the
//! carriers act on these words whatever we do (they block or unblock the number), so the room
//! must agree with them instead of relaying "quit" to everyone. Only the exact word counts:
//! "stop it" and "yes!" are chat.
//!
//! This module checks syntax only: the number of arguments, `on|off`, and the `#resend` count.
//! Nicks and phone numbers are passed on as typed, to be checked against the domain's rules
//! (`domain::Nick::parse`, and normalisation to `domain::PhoneNumber`) by the gateway, which also
//! checks who may use which command (a member, an operator for `#admin`) and rejects text the
//! domain refuses (control characters, over-long bodies).

/// What an inbound text asks for. Who may ask is the gateway's business (noted per variant).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SmsCommand {
    /// `#join <nick>`, from a number that is not yet a member: join the room under `nick`.
    Join { nick: String },
    /// `#update <nick>`, member: change nick.
    Update { nick: String },
    /// `#invite <phone>`, member: invite a phone number. The words after `#invite` are joined with
    /// single spaces, so `#invite +1 555 123 4567` arrives whole for the gateway to normalise.
    Invite { phone: String },
    /// `#who <nick>`, member: show that person's profile.
    Who { nick: String },
    /// `#private on|off`, member: hide or show one's details.
    Private { on: bool },
    /// `#stop`, or a carrier opt-out keyword (`carrier_keyword: true`), member: stop receiving the
    /// room's texts. On a carrier keyword Twilio (with its default opt-out handling) has already
    /// blocked the number and sent its own confirmation, so the gateway records the stop but must
    /// not text back.
    Stop { carrier_keyword: bool },
    /// `#start`, or a carrier opt-in keyword (`carrier_keyword: true`), member: receive again.
    Start { carrier_keyword: bool },
    /// `#list`, member: the nicks in the room.
    List,
    /// `#resend <n>`, member: send again the last `n` messages, 1 ≤ n ≤ [`MAX_RESEND`].
    Resend { count: u8 },
    /// `#mute <nick> on|off`, member: stop or resume receiving one person's messages (for oneself).
    Mute { nick: String, on: bool },
    /// `#admin <nick> on|off`, operators (level ≥ 3): grant or revoke operator.
    Admin { nick: String, on: bool },
    /// `#help [command]`, or the carrier keywords `HELP` / `INFO`, anyone.
    Help { topic: Option<HelpTopic> },
    /// Anything else, member: a chat message, exactly as sent apart from surrounding whitespace.
    /// Control characters are kept: refusing them is the domain's rule, applied by the gateway.
    Text { body: String },
}

/// The most messages one `#resend` may ask for (each costs an outbound SMS).
pub const MAX_RESEND: u8 = 20;

/// How much of an unknown `#word` is echoed back, so the reply stays within one SMS segment.
const UNKNOWN_ECHO_CHARS: usize = 20;

/// The commands, as topics of `#help <command>` and as the subject of a usage error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HelpTopic {
    Join,
    Update,
    Invite,
    Who,
    Private,
    Stop,
    Start,
    List,
    Resend,
    Mute,
    Unmute,
    Admin,
    Help,
}

impl HelpTopic {
    pub const ALL: [HelpTopic; 13] = [
        HelpTopic::Join,
        HelpTopic::Update,
        HelpTopic::Invite,
        HelpTopic::Who,
        HelpTopic::Private,
        HelpTopic::Stop,
        HelpTopic::Start,
        HelpTopic::List,
        HelpTopic::Resend,
        HelpTopic::Mute,
        HelpTopic::Unmute,
        HelpTopic::Admin,
        HelpTopic::Help,
    ];

    /// The command word, lowercase and without `#`.
    pub fn name(self) -> &'static str {
        match self {
            HelpTopic::Join => "join",
            HelpTopic::Update => "update",
            HelpTopic::Invite => "invite",
            HelpTopic::Who => "who",
            HelpTopic::Private => "private",
            HelpTopic::Stop => "stop",
            HelpTopic::Start => "start",
            HelpTopic::List => "list",
            HelpTopic::Resend => "resend",
            HelpTopic::Mute => "mute",
            HelpTopic::Unmute => "unmute",
            HelpTopic::Admin => "admin",
            HelpTopic::Help => "help",
        }
    }

    /// The command's syntax, e.g. `#mute <nick> on|off`.
    pub fn usage(self) -> &'static str {
        match self {
            HelpTopic::Join => "#join <nick>",
            HelpTopic::Update => "#update <nick>",
            HelpTopic::Invite => "#invite <phone>",
            HelpTopic::Who => "#who <nick>",
            HelpTopic::Private => "#private on|off",
            HelpTopic::Stop => "#stop",
            HelpTopic::Start => "#start",
            HelpTopic::List => "#list",
            HelpTopic::Resend => "#resend <n>",
            HelpTopic::Mute => "#mute <nick> on|off",
            HelpTopic::Unmute => "#unmute <nick>",
            HelpTopic::Admin => "#admin <nick> on|off",
            HelpTopic::Help => "#help [command]",
        }
    }

    /// The topic a command word names, in any case, with or without its `#`.
    pub fn from_word(word: &str) -> Option<HelpTopic> {
        let word = word.strip_prefix('#').unwrap_or(word);
        HelpTopic::ALL.into_iter().find(|topic| topic.name().eq_ignore_ascii_case(word))
    }
}

/// Why a text could not be read as a command. Each message is a reply that fits in one SMS
/// segment (160 GSM characters) and tells the sender what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// Nothing but whitespace.
    #[error("empty message; send #help for the commands")]
    Empty,
    /// `#word` names no command (also for `#help word`). `word` is as typed, without `#`, cut to
    /// 20 characters.
    #[error("unknown command #{word}; send #help for the list")]
    Unknown { word: String },
    /// Wrong number of arguments, or something other than `on`/`off` where one is expected.
    #[error("usage: {}", command.usage())]
    Usage { command: HelpTopic },
    /// `#resend` with something other than a whole number from 1 to [`MAX_RESEND`].
    #[error("#resend takes a number from 1 to 20, e.g. #resend 5")]
    ResendCount,
}

/// Reads an inbound text. Pure: the same body always gives the same answer.
pub fn parse(body: &str) -> Result<SmsCommand, CommandError> {
    let trimmed = body.trim();
    if trimmed.is_empty() {
        return Err(CommandError::Empty);
    }
    if let Some(command) = carrier_keyword(trimmed) {
        return Ok(command);
    }
    let Some(rest) = trimmed.strip_prefix('#').filter(|rest| rest.starts_with(char::is_alphabetic)) else {
        return Ok(SmsCommand::Text { body: trimmed.to_owned() });
    };
    let mut words = rest.split_whitespace();
    // `rest` starts with a letter, so there is a first word.
    let word = words.next().unwrap_or_default();
    let args: Vec<&str> = words.collect();
    let topic = HelpTopic::from_word(word).ok_or_else(|| unknown(word))?;
    let usage = CommandError::Usage { command: topic };

    let command = match (topic, args.as_slice()) {
        (HelpTopic::Join, [nick]) => SmsCommand::Join { nick: (*nick).to_owned() },
        (HelpTopic::Update, [nick]) => SmsCommand::Update { nick: (*nick).to_owned() },
        (HelpTopic::Invite, [_, ..]) => SmsCommand::Invite { phone: args.join(" ") },
        (HelpTopic::Who, [nick]) => SmsCommand::Who { nick: (*nick).to_owned() },
        (HelpTopic::Private, [on]) => SmsCommand::Private { on: on_off(on).ok_or(usage)? },
        (HelpTopic::Stop, []) => SmsCommand::Stop { carrier_keyword: false },
        (HelpTopic::Start, []) => SmsCommand::Start { carrier_keyword: false },
        (HelpTopic::List, []) => SmsCommand::List,
        (HelpTopic::Resend, [count]) => SmsCommand::Resend { count: resend_count(count)? },
        (HelpTopic::Mute, [nick, on]) => SmsCommand::Mute { nick: (*nick).to_owned(), on: on_off(on).ok_or(usage)? },
        (HelpTopic::Unmute, [nick]) => SmsCommand::Mute { nick: (*nick).to_owned(), on: false },
        (HelpTopic::Admin, [nick, on]) => SmsCommand::Admin { nick: (*nick).to_owned(), on: on_off(on).ok_or(usage)? },
        (HelpTopic::Help, []) => SmsCommand::Help { topic: None },
        (HelpTopic::Help, [about]) => SmsCommand::Help { topic: Some(HelpTopic::from_word(about).ok_or_else(|| unknown(about))?) },
        _ => return Err(usage),
    };
    Ok(command)
}

/// The reply to `#help`: the command list (at most two SMS segments, 306 GSM characters) for
/// `None`, or one command's usage and purpose (one segment) for a topic.
pub fn help_text(topic: Option<HelpTopic>) -> &'static str {
    let Some(topic) = topic else {
        return "Commands: #join <nick>, #update <nick>, #invite <phone>, #who <nick>, #private on|off, #stop, #start, #list, \
                #resend <n>, #mute <nick> on|off, #unmute <nick>, #admin <nick> on|off (operators). Any other text goes to the room. \
                #help <command> for more.";
    };
    match topic {
        HelpTopic::Join => "#join <nick> - join this room as <nick>: 1-20 letters, digits, _ or -, starting with a letter",
        HelpTopic::Update => "#update <nick> - change your nick",
        HelpTopic::Invite => "#invite <phone> - text an invitation to this room, e.g. #invite (415) 555-0134",
        HelpTopic::Who => "#who <nick> - show someone's profile",
        HelpTopic::Private => "#private on|off - on hides your number and profile from other members, off shows them",
        HelpTopic::Stop => "#stop - stop receiving this room's texts (STOP works too); #start to resume",
        HelpTopic::Start => "#start - receive this room's texts again (START works too)",
        HelpTopic::List => "#list - the nicks in this room",
        HelpTopic::Resend => "#resend <n> - send you the last n messages again, n from 1 to 20",
        HelpTopic::Mute => {
            "#mute <nick> on|off - on stops <nick>'s messages reaching you (on IRC too), off lets them through; only you are affected"
        }
        HelpTopic::Unmute => "#unmute <nick> - let <nick>'s messages reach you again, as #mute <nick> off",
        HelpTopic::Admin => "#admin <nick> on|off - make <nick> an operator of this room, or not (operators only)",
        HelpTopic::Help => "#help [command] - list the commands, or explain one, e.g. #help mute",
    }
}

/// Carrier keywords, matched against the whole trimmed message (see the module docs).
fn carrier_keyword(trimmed: &str) -> Option<SmsCommand> {
    const STOP: [&str; 6] = ["STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"];
    const START: [&str; 3] = ["START", "UNSTOP", "YES"];
    const HELP: [&str; 2] = ["HELP", "INFO"];
    let is = |words: &[&str]| words.iter().any(|w| w.eq_ignore_ascii_case(trimmed));
    if is(&STOP) {
        Some(SmsCommand::Stop { carrier_keyword: true })
    } else if is(&START) {
        Some(SmsCommand::Start { carrier_keyword: true })
    } else if is(&HELP) {
        Some(SmsCommand::Help { topic: None })
    } else {
        None
    }
}

/// Only `on` and `off` (any case): `yes`/`no` would look like they work for `#private` yet `YES`
/// alone is a carrier opt-in keyword, and one spelling keeps the usage line honest.
fn on_off(word: &str) -> Option<bool> {
    if word.eq_ignore_ascii_case("on") {
        Some(true)
    } else if word.eq_ignore_ascii_case("off") {
        Some(false)
    } else {
        None
    }
}

/// Plain ASCII digits only (no sign), 1 to [`MAX_RESEND`].
fn resend_count(word: &str) -> Result<u8, CommandError> {
    let digits = !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit());
    // Too many digits for a u8 is simply out of range.
    let count = if digits { word.parse::<u8>().ok() } else { None };
    count.filter(|n| (1..=MAX_RESEND).contains(n)).ok_or(CommandError::ResendCount)
}

fn unknown(word: &str) -> CommandError {
    CommandError::Unknown { word: word.strip_prefix('#').unwrap_or(word).chars().take(UNKNOWN_ECHO_CHARS).collect() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(body: &str) -> SmsCommand {
        SmsCommand::Text { body: body.to_owned() }
    }

    fn usage(command: HelpTopic) -> Result<SmsCommand, CommandError> {
        Err(CommandError::Usage { command })
    }

    /// Length in GSM 03.38 septets (extension-table characters take two), or `None` when the text
    /// would need UCS-2, where a segment holds only 70 characters.
    fn gsm_septets(s: &str) -> Option<usize> {
        const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                             ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
        const EXTENSION: &str = "\u{c}^{}\\[~]|€";
        s.chars()
            .map(|c| {
                if BASIC.contains(c) {
                    Some(1)
                } else if EXTENSION.contains(c) {
                    Some(2)
                } else {
                    None
                }
            })
            .sum()
    }

    #[test]
    fn each_command_parses_into_its_variant() {
        let cases = [
            ("#join Bob", SmsCommand::Join { nick: "Bob".into() }),
            ("#update bobby", SmsCommand::Update { nick: "bobby".into() }),
            ("#invite +15551234567", SmsCommand::Invite { phone: "+15551234567".into() }),
            ("#who carol", SmsCommand::Who { nick: "carol".into() }),
            ("#private on", SmsCommand::Private { on: true }),
            ("#private off", SmsCommand::Private { on: false }),
            ("#stop", SmsCommand::Stop { carrier_keyword: false }),
            ("#start", SmsCommand::Start { carrier_keyword: false }),
            ("#list", SmsCommand::List),
            ("#resend 5", SmsCommand::Resend { count: 5 }),
            ("#mute dave on", SmsCommand::Mute { nick: "dave".into(), on: true }),
            ("#mute dave off", SmsCommand::Mute { nick: "dave".into(), on: false }),
            ("#unmute dave", SmsCommand::Mute { nick: "dave".into(), on: false }),
            ("#admin erin on", SmsCommand::Admin { nick: "erin".into(), on: true }),
            ("#admin erin off", SmsCommand::Admin { nick: "erin".into(), on: false }),
            ("#help", SmsCommand::Help { topic: None }),
            ("#help mute", SmsCommand::Help { topic: Some(HelpTopic::Mute) }),
            ("hello room", text("hello room")),
        ];
        for (body, expected) in cases {
            assert_eq!(parse(body), Ok(expected), "{body}");
        }
    }

    #[test]
    fn command_words_and_on_off_are_case_insensitive_but_arguments_keep_their_case() {
        assert_eq!(parse("#JOIN Bob"), Ok(SmsCommand::Join { nick: "Bob".into() }));
        assert_eq!(parse("#Join bOB"), Ok(SmsCommand::Join { nick: "bOB".into() }));
        assert_eq!(parse("#MUTE Dave ON"), Ok(SmsCommand::Mute { nick: "Dave".into(), on: true }));
        assert_eq!(parse("#Private Off"), Ok(SmsCommand::Private { on: false }));
        assert_eq!(parse("#STOP"), Ok(SmsCommand::Stop { carrier_keyword: false }));
        assert_eq!(parse("#HELP #Resend"), Ok(SmsCommand::Help { topic: Some(HelpTopic::Resend) }));
    }

    #[test]
    fn surrounding_whitespace_is_ignored_and_runs_between_arguments_collapse() {
        assert_eq!(parse("  #mute \t dave   on \n"), Ok(SmsCommand::Mute { nick: "dave".into(), on: true }));
        assert_eq!(parse("\n#list\n"), Ok(SmsCommand::List));
        assert_eq!(parse("#resend\u{a0}3"), Ok(SmsCommand::Resend { count: 3 }), "a no-break space separates too");
    }

    #[test]
    fn invite_takes_a_phone_number_written_with_spaces_as_one_argument() {
        assert_eq!(parse("#invite +1 555  123 4567"), Ok(SmsCommand::Invite { phone: "+1 555 123 4567".into() }));
        assert_eq!(parse("#invite (555) 123-4567"), Ok(SmsCommand::Invite { phone: "(555) 123-4567".into() }));
    }

    #[test]
    fn carrier_keywords_are_the_whole_message_in_any_case() {
        let stop = Ok(SmsCommand::Stop { carrier_keyword: true });
        let start = Ok(SmsCommand::Start { carrier_keyword: true });
        let help = Ok(SmsCommand::Help { topic: None });
        for body in ["STOP", "stop", " Stop ", "StopAll", "unsubscribe", "CANCEL", "End", "quit\n"] {
            assert_eq!(parse(body), stop, "{body:?}");
        }
        for body in ["START", "start", "Unstop", " yes "] {
            assert_eq!(parse(body), start, "{body:?}");
        }
        for body in ["HELP", "help", "Info"] {
            assert_eq!(parse(body), help, "{body:?}");
        }
    }

    #[test]
    fn a_carrier_keyword_within_a_longer_message_is_chat() {
        for body in ["stop it", "please STOP", "yes!", "the end.", "help me out", "STOP STOP"] {
            assert_eq!(parse(body), Ok(text(body)), "{body:?}");
        }
    }

    #[test]
    fn a_wrong_number_of_arguments_gives_that_commands_usage() {
        let cases = [
            ("#join", HelpTopic::Join),
            ("#join Bob Smith", HelpTopic::Join),
            ("#update", HelpTopic::Update),
            ("#update a b", HelpTopic::Update),
            ("#invite", HelpTopic::Invite),
            ("#who", HelpTopic::Who),
            ("#who a b", HelpTopic::Who),
            ("#private", HelpTopic::Private),
            ("#private on now", HelpTopic::Private),
            ("#stop now", HelpTopic::Stop),
            ("#start again", HelpTopic::Start),
            ("#list all", HelpTopic::List),
            ("#resend", HelpTopic::Resend),
            ("#resend 1 2", HelpTopic::Resend),
            ("#mute", HelpTopic::Mute),
            ("#mute dave", HelpTopic::Mute),
            ("#mute dave on now", HelpTopic::Mute),
            ("#unmute", HelpTopic::Unmute),
            ("#unmute dave off", HelpTopic::Unmute),
            ("#admin erin", HelpTopic::Admin),
            ("#admin", HelpTopic::Admin),
            ("#help mute now", HelpTopic::Help),
        ];
        for (body, topic) in cases {
            assert_eq!(parse(body), usage(topic), "{body}");
        }
        assert_eq!(parse("#mute dave").unwrap_err().to_string(), "usage: #mute <nick> on|off");
    }

    #[test]
    fn on_off_accepts_only_on_or_off() {
        assert_eq!(parse("#private yes"), usage(HelpTopic::Private));
        assert_eq!(parse("#private 1"), usage(HelpTopic::Private));
        assert_eq!(parse("#mute dave maybe"), usage(HelpTopic::Mute));
        assert_eq!(parse("#admin erin no"), usage(HelpTopic::Admin));
    }

    #[test]
    fn resend_takes_a_whole_number_from_one_to_twenty() {
        assert_eq!(parse("#resend 1"), Ok(SmsCommand::Resend { count: 1 }));
        assert_eq!(parse("#resend 20"), Ok(SmsCommand::Resend { count: 20 }));
        assert_eq!(parse("#resend 07"), Ok(SmsCommand::Resend { count: 7 }));
        for body in
            ["#resend 0", "#resend 21", "#resend abc", "#resend -1", "#resend +5", "#resend 2.5", "#resend 256", "#resend 99999999999"]
        {
            assert_eq!(parse(body), Err(CommandError::ResendCount), "{body}");
        }
    }

    #[test]
    fn an_unknown_command_names_itself_and_points_to_help() {
        assert_eq!(parse("#dance"), Err(CommandError::Unknown { word: "dance".into() }));
        assert_eq!(parse("#Dance all night"), Err(CommandError::Unknown { word: "Dance".into() }));
        assert_eq!(parse("#help dance"), Err(CommandError::Unknown { word: "dance".into() }));
        assert_eq!(parse("#help #dance"), Err(CommandError::Unknown { word: "dance".into() }));
        assert_eq!(parse("#joinBob"), Err(CommandError::Unknown { word: "joinBob".into() }));
        assert_eq!(parse("#über"), Err(CommandError::Unknown { word: "über".into() }));
        assert_eq!(parse("#dance").unwrap_err().to_string(), "unknown command #dance; send #help for the list");
    }

    #[test]
    fn a_long_unknown_word_is_cut_in_the_reply() {
        let Err(CommandError::Unknown { word }) = parse(&format!("#{}", "a".repeat(500))) else { panic!("not unknown") };
        assert_eq!(word, "a".repeat(20));
    }

    #[test]
    fn a_hash_followed_by_a_non_letter_is_plain_text() {
        for body in ["# of people coming?", "#", "#1 fan", "#!", "#🎉 party", "## heading"] {
            assert_eq!(parse(body), Ok(text(body)), "{body:?}");
        }
    }

    #[test]
    fn a_hash_inside_a_message_is_plain_text() {
        assert_eq!(parse("we are #1 and #join is a command"), Ok(text("we are #1 and #join is a command")));
    }

    #[test]
    fn text_is_kept_exactly_apart_from_surrounding_whitespace() {
        assert_eq!(parse("  Ça va? 👋 日本語  "), Ok(text("Ça va? 👋 日本語")));
        assert_eq!(parse("two  spaces\nand a line\tand a tab"), Ok(text("two  spaces\nand a line\tand a tab")));
    }

    #[test]
    fn control_characters_are_kept_in_text_for_the_gateway_to_refuse() {
        assert_eq!(parse("ring\u{7}ring\u{0}"), Ok(text("ring\u{7}ring\u{0}")));
        assert_eq!(parse("\u{1b}[31mred"), Ok(text("\u{1b}[31mred")));
    }

    #[test]
    fn an_empty_or_blank_message_is_empty() {
        for body in ["", " ", "\n\t \r\n", "\u{a0}"] {
            assert_eq!(parse(body), Err(CommandError::Empty), "{body:?}");
        }
    }

    #[test]
    fn every_topic_is_reachable_through_help_by_its_name() {
        for topic in HelpTopic::ALL {
            assert_eq!(parse(&format!("#help {}", topic.name())), Ok(SmsCommand::Help { topic: Some(topic) }));
            assert_eq!(parse(&format!("#help #{}", topic.name().to_uppercase())), Ok(SmsCommand::Help { topic: Some(topic) }));
            assert!(topic.usage().starts_with(&format!("#{}", topic.name())), "{topic:?}");
        }
    }

    #[test]
    fn the_command_list_fits_two_segments_and_each_topic_one() {
        let list = help_text(None);
        let septets = gsm_septets(list).expect("the list is plain GSM");
        assert!(septets <= 306, "{septets} septets: {list}");
        for topic in HelpTopic::ALL {
            let line = help_text(Some(topic));
            let septets = gsm_septets(line).expect("help lines are plain GSM");
            assert!(septets <= 160, "{topic:?}: {septets} septets");
            assert!(line.starts_with(topic.usage()), "{topic:?} opens with its usage");
            if topic != HelpTopic::Help {
                assert!(list.contains(topic.usage()), "the list names {topic:?}");
            }
        }
    }

    #[test]
    fn every_error_reply_fits_one_segment() {
        let mut errors = vec![CommandError::Empty, CommandError::ResendCount, unknown(&"w".repeat(100))];
        errors.extend(HelpTopic::ALL.map(|command| CommandError::Usage { command }));
        for error in errors {
            let reply = error.to_string();
            let septets = gsm_septets(&reply).expect("replies are plain GSM");
            assert!(septets <= 160, "{septets} septets: {reply}");
        }
        // A non-GSM echo switches the reply to UCS-2, whose segment holds 70 characters.
        let reply = unknown(&"ü€日".repeat(30)).to_string();
        assert!(reply.chars().count() <= 70, "{reply}");
    }
}
