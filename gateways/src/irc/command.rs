//! Reading a line said to the bot (in a channel or privately) as a [`BotCommand`].
//!
//! A line is addressed to the bot when it starts with the configured prefix (`.` by default)
//! immediately followed by a letter: `.seen bob`. Anything else is chat and [`parse`] answers
//! `None`, so that people can write `...`, `. hi`, `.5 stars` or an empty line without the bot
//! replying. No whitespace is allowed before the prefix, for the same reason: ` .help` is an
//! indented line of chat, not a command. (An empty prefix makes every line that starts with a
//! letter a command, which only suits private messages.) Once a line is addressed to the bot it
//! always gets an answer, a command or a [`CommandError`] whose [`reply`](CommandError::reply)
//! tells the sender what to type instead; a mistyped command must not pass silently as chat.
//!
//! Command words are matched case-insensitively (`.SEEN Bob` is `.seen Bob`) and `.commands` is
//! another name for `.help`. Arguments keep their case. Runs of whitespace separate arguments; a
//! free-text argument that ends a command (a quote, a reason, a topic, what `.say` says) is the
//! rest of the line as typed, with its inner spacing kept and its ends trimmed, because people
//! quote ASCII art and aligned text. Search words are the exception: they are joined with single
//! spaces since spacing means nothing to a search.
//!
//! A command with a missing or an extra argument is a usage error naming its [`HelpTopic`], with
//! two deliberate exceptions:
//! - `.register` and `.login` take their first argument as the token and ignore the rest. A token
//!   said in a channel must be revoked (SPEC §2.1), which the gateway can only do if it sees the
//!   token, even when the line has words after it.
//! - Subcommand words are reserved: `.quote add|search|del`, `.info add|set|del` and `.about set`
//!   are always read as subcommands, so `.info del` alone is a usage error rather than a lookup of
//!   an item called `del`.
//!
//! Durations (`.ban`, `.mute`) are `domain::BanDuration`s: `30m`, `2h`, `3d`, `1w`. In `.ban` the
//! second word is the duration when it parses as one and otherwise begins the reason
//! (`.ban bob spamming links`). A second word that is a number, optionally with a duration unit,
//! yet out of range (`.ban bob 0m`, `.ban bob 60`, `.ban bob 400d`) is a usage error instead of a
//! reason: reading it as a reason would turn a mistyped timed ban into a permanent one. Quote ids
//! are positive whole numbers, optionally written `#12`.
//!
//! This module checks syntax only. Nicks, masks, channels, tokens and texts are passed on as typed
//! for the gateway to check against the domain's rules (`domain::Nick::parse`,
//! `domain::HostMask::parse`, `domain::QuoteText::parse`, …), and who may use which command is
//! decided there too; [`HelpTopic::min_level`] only describes it for `.help`.

use domain::Level;
use domain::events::ChannelMode;

/// The prefix of the SPEC (`.`), used by the `Display` of [`CommandError`]. Replies sent to users
/// should come from [`CommandError::reply`] with the configured prefix.
pub const DEFAULT_PREFIX: &str = ".";

/// How much of an unknown command word or help topic is echoed back, so the hint stays one short
/// line whatever was typed.
const ECHO_CHARS: usize = 20;

/// What a line addressed to the bot asks for. Who may ask is the bot's business. Shown with the
/// default prefix `.`; free texts (`text`, `reason`) are the rest of the line as typed, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BotCommand {
    /// `.register <token>`: the first word after the command; anything after it is ignored so that
    /// a token said in a channel still reaches the gateway to be revoked.
    Register { token: String },
    /// `.login <token>`: as for `Register`, the first word.
    Login { token: String },
    /// `.logout`
    Logout,
    /// `.status`
    Status,
    /// `.meet <nick>`
    Meet { nick: String },
    /// `.about [nick]`: `None` asks for one's own.
    About { nick: Option<String> },
    /// `.about set <text>`
    SetAbout { text: String },
    /// `.seen <nick>`
    Seen { nick: String },
    /// `.quote`
    RandomQuote,
    /// `.quote <id>`: `id` is positive (`.quote 12` or `.quote #12`).
    Quote { id: i64 },
    /// `.quote add <nick> <text>`
    AddQuote { nick: String, text: String },
    /// `.quote search <words>`: the words joined with single spaces.
    SearchQuotes { words: String },
    /// `.quote del <id>`: `id` is positive.
    DeleteQuote { id: i64 },
    /// `.info <item>`
    Info { item: String },
    /// `.info add <item> <text>`
    AddInfo { item: String, text: String },
    /// `.info set <item> <text>`
    SetInfo { item: String, text: String },
    /// `.info del <item>`
    DeleteInfo { item: String },
    /// `.help [cmd]` / `.commands [cmd]`: `topic` as typed (perhaps with the prefix, perhaps no
    /// command at all); [`help_topic`] reads it.
    Help { topic: Option<String> },
    /// `.version`
    Version,
    /// `.kick <nick> [reason]`
    Kick { nick: String, reason: Option<String> },
    /// `.ban <nick|mask> [duration] [reason]`; `duration` is present when the second word parses
    /// as a `domain::BanDuration` (`30m`, `2h`, `3d`, `1w`), otherwise it starts the reason, unless
    /// it is a number meant as an invalid duration (`0m`, `60`, `400d`): that is a usage error.
    Ban { target: String, duration: Option<domain::BanDuration>, reason: Option<String> },
    /// `.unban <nick|mask>`
    Unban { target: String },
    /// `.mute <nick> [duration]`: a second word that is not a `domain::BanDuration` is a usage error.
    Mute { nick: String, duration: Option<domain::BanDuration> },
    /// `.unmute <nick>`
    Unmute { nick: String },
    /// `.voice|.devoice|.op|.deop <nick>`
    Mode { nick: String, mode: domain::events::ChannelMode },
    /// `.requestban <nick> <reason>`
    RequestBan { nick: String, reason: String },
    /// `.approve <id>` (ban request id: a UUID or its first 8 hex digits as shown by the bot)
    Approve { request: String },
    /// `.reject <id>`
    Reject { request: String },
    /// `.topic <text>`
    Topic { text: String },
    /// `.channels`
    Channels,
    /// `.join <#chan> [key]`
    JoinChannel { channel: String, key: Option<String> },
    /// `.part <#chan>`
    PartChannel { channel: String },
    /// `.say <#chan|nick> <text>`
    Say { target: String, text: String },
    /// `.act <#chan|nick> <text>`
    Act { target: String, text: String },
    /// `.whois <nick>`
    Whois { nick: String },
}

/// The commands, as topics of `.help <command>` and as the subject of a usage error. One per
/// command word; `.commands` is [`HelpTopic::Help`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HelpTopic {
    Register,
    Login,
    Logout,
    Status,
    Meet,
    About,
    Seen,
    Quote,
    Info,
    Help,
    Version,
    Kick,
    Ban,
    Unban,
    Mute,
    Unmute,
    Voice,
    Devoice,
    Op,
    Deop,
    RequestBan,
    Approve,
    Reject,
    Topic,
    Channels,
    Join,
    Part,
    Say,
    Act,
    Whois,
}

impl HelpTopic {
    /// Every topic, in the order `.help` lists them.
    pub const ALL: [HelpTopic; 30] = [
        HelpTopic::Register,
        HelpTopic::Login,
        HelpTopic::Logout,
        HelpTopic::Status,
        HelpTopic::Meet,
        HelpTopic::About,
        HelpTopic::Seen,
        HelpTopic::Quote,
        HelpTopic::Info,
        HelpTopic::Help,
        HelpTopic::Version,
        HelpTopic::Kick,
        HelpTopic::Ban,
        HelpTopic::Unban,
        HelpTopic::Mute,
        HelpTopic::Unmute,
        HelpTopic::Voice,
        HelpTopic::Devoice,
        HelpTopic::Op,
        HelpTopic::Deop,
        HelpTopic::RequestBan,
        HelpTopic::Approve,
        HelpTopic::Reject,
        HelpTopic::Topic,
        HelpTopic::Channels,
        HelpTopic::Join,
        HelpTopic::Part,
        HelpTopic::Say,
        HelpTopic::Act,
        HelpTopic::Whois,
    ];

    /// The command word, lowercase and without the prefix.
    pub fn name(self) -> &'static str {
        match self {
            HelpTopic::Register => "register",
            HelpTopic::Login => "login",
            HelpTopic::Logout => "logout",
            HelpTopic::Status => "status",
            HelpTopic::Meet => "meet",
            HelpTopic::About => "about",
            HelpTopic::Seen => "seen",
            HelpTopic::Quote => "quote",
            HelpTopic::Info => "info",
            HelpTopic::Help => "help",
            HelpTopic::Version => "version",
            HelpTopic::Kick => "kick",
            HelpTopic::Ban => "ban",
            HelpTopic::Unban => "unban",
            HelpTopic::Mute => "mute",
            HelpTopic::Unmute => "unmute",
            HelpTopic::Voice => "voice",
            HelpTopic::Devoice => "devoice",
            HelpTopic::Op => "op",
            HelpTopic::Deop => "deop",
            HelpTopic::RequestBan => "requestban",
            HelpTopic::Approve => "approve",
            HelpTopic::Reject => "reject",
            HelpTopic::Topic => "topic",
            HelpTopic::Channels => "channels",
            HelpTopic::Join => "join",
            HelpTopic::Part => "part",
            HelpTopic::Say => "say",
            HelpTopic::Act => "act",
            HelpTopic::Whois => "whois",
        }
    }

    /// The topic a command name gives, in any case, with or without a prefix: `ban`, `.BAN` and
    /// `!ban` all name [`HelpTopic::Ban`], and `commands` names [`HelpTopic::Help`]. Since the
    /// prefix is configurable and this takes none, any leading ASCII punctuation is dropped.
    pub fn from_name(name: &str) -> Option<HelpTopic> {
        HelpTopic::from_word(name.trim().trim_start_matches(|c: char| c.is_ascii_punctuation()))
    }

    /// The topic of an exact command word (no prefix), in any case.
    fn from_word(word: &str) -> Option<HelpTopic> {
        if word.eq_ignore_ascii_case("commands") {
            return Some(HelpTopic::Help);
        }
        HelpTopic::ALL.into_iter().find(|topic| topic.name().eq_ignore_ascii_case(word))
    }

    /// The lowest level that may use the command at all, per SPEC §2. Some subcommands ask for
    /// more (`.quote add` and the `.info` changes need a member; `.quote del` the quote's adder or
    /// an operator): the gateway checks those, this is what `.help` lists a command under.
    pub fn min_level(self) -> Level {
        match self {
            HelpTopic::Register
            | HelpTopic::Login
            | HelpTopic::Status
            | HelpTopic::Seen
            | HelpTopic::Quote
            | HelpTopic::Info
            | HelpTopic::Help
            | HelpTopic::Version => Level::Guest,
            // A session is what makes someone a member on IRC, so ending one needs one.
            HelpTopic::Logout | HelpTopic::Meet | HelpTopic::About | HelpTopic::RequestBan => Level::Member,
            HelpTopic::Kick
            | HelpTopic::Ban
            | HelpTopic::Unban
            | HelpTopic::Mute
            | HelpTopic::Unmute
            | HelpTopic::Voice
            | HelpTopic::Devoice
            | HelpTopic::Op
            | HelpTopic::Deop
            | HelpTopic::Topic => Level::Operator,
            HelpTopic::Approve
            | HelpTopic::Reject
            | HelpTopic::Channels
            | HelpTopic::Join
            | HelpTopic::Part
            | HelpTopic::Say
            | HelpTopic::Act => Level::Staff,
            HelpTopic::Whois => Level::Superuser,
        }
    }

    /// The command's forms without the prefix, e.g. `["about [nick]", "about set <text>"]`.
    fn forms(self) -> &'static [&'static str] {
        match self {
            HelpTopic::Register => &["register <token>"],
            HelpTopic::Login => &["login <token>"],
            HelpTopic::Logout => &["logout"],
            HelpTopic::Status => &["status"],
            HelpTopic::Meet => &["meet <nick>"],
            HelpTopic::About => &["about [nick]", "about set <text>"],
            HelpTopic::Seen => &["seen <nick>"],
            HelpTopic::Quote => &["quote [id]", "quote add <nick> <text>", "quote search <words>", "quote del <id>"],
            HelpTopic::Info => &["info <item>", "info add|set <item> <text>", "info del <item>"],
            HelpTopic::Help => &["help [command]"],
            HelpTopic::Version => &["version"],
            HelpTopic::Kick => &["kick <nick> [reason]"],
            HelpTopic::Ban => &["ban <nick|mask> [duration] [reason]"],
            HelpTopic::Unban => &["unban <nick|mask>"],
            HelpTopic::Mute => &["mute <nick> [duration]"],
            HelpTopic::Unmute => &["unmute <nick>"],
            HelpTopic::Voice => &["voice <nick>"],
            HelpTopic::Devoice => &["devoice <nick>"],
            HelpTopic::Op => &["op <nick>"],
            HelpTopic::Deop => &["deop <nick>"],
            HelpTopic::RequestBan => &["requestban <nick> <reason>"],
            HelpTopic::Approve => &["approve <id>"],
            HelpTopic::Reject => &["reject <id>"],
            HelpTopic::Topic => &["topic <text>"],
            HelpTopic::Channels => &["channels"],
            HelpTopic::Join => &["join <#chan> [key]"],
            HelpTopic::Part => &["part <#chan>"],
            HelpTopic::Say => &["say <#chan|nick> <text>"],
            HelpTopic::Act => &["act <#chan|nick> <text>"],
            HelpTopic::Whois => &["whois <nick>"],
        }
    }

    /// One sentence on what the command does, lowercase, without the final full stop.
    fn description(self) -> &'static str {
        match self {
            HelpTopic::Register => "in a private message, link this nick and host to your account with a token from the website",
            HelpTopic::Login => "in a private message, start a session with a fresh token from the website",
            HelpTopic::Logout => "end your session",
            HelpTopic::Status => "your level and whether you are logged in",
            HelpTopic::Meet => "privately tell <nick> how to sign up",
            HelpTopic::About => "show someone's about text (yours without a nick), or set your own",
            HelpTopic::Seen => "when and where <nick> was last seen, on IRC or SMS",
            HelpTopic::Quote => "a random quote or quote <id>; members add quotes, anyone searches, the adder or an operator deletes",
            HelpTopic::Info => "look up a shared fact; members create, replace or delete them",
            HelpTopic::Help => "list the commands you can use, or explain one",
            HelpTopic::Version => "the bot's version",
            HelpTopic::Kick => "kick <nick> from this channel",
            HelpTopic::Ban => "ban from this room, on IRC and SMS; a duration looks like 30m, 2h, 3d or 1w, none means permanent",
            HelpTopic::Unban => "lift a ban from this room",
            HelpTopic::Mute => "stop relaying <nick>'s text in this room, for a while (30m, 2h, 3d, 1w) or until unmuted",
            HelpTopic::Unmute => "relay <nick>'s text again",
            HelpTopic::Voice => "give <nick> voice (+v) in this channel",
            HelpTopic::Devoice => "take <nick>'s voice (-v) in this channel",
            HelpTopic::Op => "give <nick> channel operator status, +o, in this channel",
            HelpTopic::Deop => "take <nick>'s channel operator status, -o, in this channel",
            HelpTopic::RequestBan => "ask staff to ban <nick>, saying why",
            HelpTopic::Approve => "approve a ban request",
            HelpTopic::Reject => "reject a ban request",
            HelpTopic::Topic => "set this channel's topic; the bot restores it if someone below operator changes it",
            HelpTopic::Channels => "the channels the bot is bound to",
            HelpTopic::Join => "bind a new room to <#chan> and have the bot join it",
            HelpTopic::Part => "unbind <#chan> and have the bot leave it; the history stays",
            HelpTopic::Say => "have the bot say <text> in a channel or to a nick",
            HelpTopic::Act => "have the bot do <text> (/me) in a channel or to a nick",
            HelpTopic::Whois => "privately, everything held about <nick>",
        }
    }

    /// The usage line: `usage: ` and the command's forms with `prefix`, separated by ` | `.
    pub fn usage(self, prefix: &str) -> String {
        format!("usage: {}", self.syntax(prefix))
    }

    /// The command's forms with `prefix`, separated by ` | `.
    fn syntax(self, prefix: &str) -> String {
        self.forms().iter().map(|form| format!("{prefix}{form}")).collect::<Vec<_>>().join(" | ")
    }
}

/// The usage line of a command with the configured prefix, e.g.
/// `usage: .ban <nick|mask> [duration] [reason]`. Same as [`HelpTopic::usage`].
pub fn usage(prefix: &str, topic: HelpTopic) -> String {
    topic.usage(prefix)
}

/// Why a line addressed to the bot is not a command. `Display` gives the reply for the default
/// prefix `.`; send [`CommandError::reply`] with the configured one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// A missing or extra argument, an unknown subcommand, or a malformed id or duration.
    #[error("{}", .0.usage(DEFAULT_PREFIX))]
    Usage(HelpTopic),
    /// The word after the prefix names no command. `word` is as typed without the prefix, its
    /// control characters (IRC colours, CTCP delimiters) dropped, cut to 20 characters.
    #[error("{}", unknown_reply(DEFAULT_PREFIX, .word))]
    Unknown { word: String },
}

impl CommandError {
    /// The line to send back: the usage line, or for an unknown word
    /// `unknown command .foo — try .help`.
    pub fn reply(&self, prefix: &str) -> String {
        match self {
            CommandError::Usage(topic) => topic.usage(prefix),
            CommandError::Unknown { word } => unknown_reply(prefix, word),
        }
    }
}

fn unknown_reply(prefix: &str, word: &str) -> String {
    format!("unknown command {prefix}{word} — try {prefix}help")
}

/// Reads a line said to the bot: `None` when the line is chat (it does not start with `prefix`
/// followed by a letter), otherwise the command or why it is not one. Pure.
pub fn parse(prefix: &str, text: &str) -> Option<Result<BotCommand, CommandError>> {
    let rest = text.strip_prefix(prefix)?;
    if !rest.starts_with(char::is_alphabetic) {
        return None;
    }
    // `rest` starts with a letter, so the command word is not empty.
    let (word, args) = split_word(rest.trim_end());
    let Some(topic) = HelpTopic::from_word(word) else {
        return Some(Err(unknown(word)));
    };
    Some(read(topic, Args { rest: args }).ok_or(CommandError::Usage(topic)))
}

/// The arguments of `topic`'s command, or `None` when they do not fit its usage.
fn read(topic: HelpTopic, mut args: Args<'_>) -> Option<BotCommand> {
    let command = match topic {
        HelpTopic::Register => BotCommand::Register { token: args.token()? },
        HelpTopic::Login => BotCommand::Login { token: args.token()? },
        HelpTopic::Logout => BotCommand::Logout,
        HelpTopic::Status => BotCommand::Status,
        HelpTopic::Meet => BotCommand::Meet { nick: args.word()?.to_owned() },
        HelpTopic::About => match args.word() {
            None => BotCommand::About { nick: None },
            Some(sub) if sub.eq_ignore_ascii_case("set") => BotCommand::SetAbout { text: args.text()? },
            Some(nick) => BotCommand::About { nick: Some(nick.to_owned()) },
        },
        HelpTopic::Seen => BotCommand::Seen { nick: args.word()?.to_owned() },
        HelpTopic::Quote => match args.word() {
            None => BotCommand::RandomQuote,
            Some(sub) if sub.eq_ignore_ascii_case("add") => BotCommand::AddQuote { nick: args.word()?.to_owned(), text: args.text()? },
            Some(sub) if sub.eq_ignore_ascii_case("search") => BotCommand::SearchQuotes { words: args.words()? },
            Some(sub) if sub.eq_ignore_ascii_case("del") => BotCommand::DeleteQuote { id: quote_id(args.word()?)? },
            Some(id) => BotCommand::Quote { id: quote_id(id)? },
        },
        HelpTopic::Info => {
            let first = args.word()?;
            if first.eq_ignore_ascii_case("add") {
                BotCommand::AddInfo { item: args.word()?.to_owned(), text: args.text()? }
            } else if first.eq_ignore_ascii_case("set") {
                BotCommand::SetInfo { item: args.word()?.to_owned(), text: args.text()? }
            } else if first.eq_ignore_ascii_case("del") {
                BotCommand::DeleteInfo { item: args.word()?.to_owned() }
            } else {
                BotCommand::Info { item: first.to_owned() }
            }
        }
        HelpTopic::Help => BotCommand::Help { topic: args.word().map(str::to_owned) },
        HelpTopic::Version => BotCommand::Version,
        HelpTopic::Kick => BotCommand::Kick { nick: args.word()?.to_owned(), reason: args.text() },
        HelpTopic::Ban => {
            let target = args.word()?.to_owned();
            let duration = match args.peek().map(|word| (word, domain::BanDuration::parse(word))) {
                Some((_, Ok(duration))) => {
                    args.word();
                    Some(duration)
                }
                Some((word, Err(_))) if looks_like_duration(word) => return None,
                _ => None,
            };
            BotCommand::Ban { target, duration, reason: args.text() }
        }
        HelpTopic::Unban => BotCommand::Unban { target: args.word()?.to_owned() },
        HelpTopic::Mute => {
            let nick = args.word()?.to_owned();
            let duration = match args.word() {
                Some(word) => Some(domain::BanDuration::parse(word).ok()?),
                None => None,
            };
            BotCommand::Mute { nick, duration }
        }
        HelpTopic::Unmute => BotCommand::Unmute { nick: args.word()?.to_owned() },
        HelpTopic::Voice => BotCommand::Mode { nick: args.word()?.to_owned(), mode: ChannelMode::Voice },
        HelpTopic::Devoice => BotCommand::Mode { nick: args.word()?.to_owned(), mode: ChannelMode::Devoice },
        HelpTopic::Op => BotCommand::Mode { nick: args.word()?.to_owned(), mode: ChannelMode::Op },
        HelpTopic::Deop => BotCommand::Mode { nick: args.word()?.to_owned(), mode: ChannelMode::Deop },
        HelpTopic::RequestBan => BotCommand::RequestBan { nick: args.word()?.to_owned(), reason: args.text()? },
        HelpTopic::Approve => BotCommand::Approve { request: args.word()?.to_owned() },
        HelpTopic::Reject => BotCommand::Reject { request: args.word()?.to_owned() },
        HelpTopic::Topic => BotCommand::Topic { text: args.text()? },
        HelpTopic::Channels => BotCommand::Channels,
        HelpTopic::Join => BotCommand::JoinChannel { channel: args.word()?.to_owned(), key: args.word().map(str::to_owned) },
        HelpTopic::Part => BotCommand::PartChannel { channel: args.word()?.to_owned() },
        HelpTopic::Say => BotCommand::Say { target: args.word()?.to_owned(), text: args.text()? },
        HelpTopic::Act => BotCommand::Act { target: args.word()?.to_owned(), text: args.text()? },
        HelpTopic::Whois => BotCommand::Whois { nick: args.word()?.to_owned() },
    };
    // Whatever the command did not take is an extra argument.
    args.rest.is_empty().then_some(command)
}

/// The arguments after the command word: trimmed at both ends, consumed from the left.
struct Args<'a> {
    rest: &'a str,
}

impl<'a> Args<'a> {
    /// The next word, if any.
    fn word(&mut self) -> Option<&'a str> {
        let word = self.peek()?;
        self.rest = split_word(self.rest).1;
        Some(word)
    }

    fn peek(&self) -> Option<&'a str> {
        Some(split_word(self.rest).0).filter(|word| !word.is_empty())
    }

    /// The rest of the line as typed, if any.
    fn text(&mut self) -> Option<String> {
        let text = std::mem::take(&mut self.rest);
        (!text.is_empty()).then(|| text.to_owned())
    }

    /// The remaining words joined with single spaces, if any.
    fn words(&mut self) -> Option<String> {
        let text = std::mem::take(&mut self.rest);
        (!text.is_empty()).then(|| text.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    /// The first word, ignoring the rest (see the module docs on `.register` and `.login`).
    fn token(&mut self) -> Option<String> {
        let token = self.word()?.to_owned();
        self.rest = "";
        Some(token)
    }
}

/// The first word of `s` (which has no leading whitespace) and what follows it, without leading
/// whitespace.
fn split_word(s: &str) -> (&str, &str) {
    match s.find(char::is_whitespace) {
        Some(end) => (&s[..end], s[end..].trim_start()),
        None => (s, ""),
    }
}

/// A positive whole number of plain ASCII digits, optionally written `#12` as people copy it.
fn quote_id(word: &str) -> Option<i64> {
    let digits = word.strip_prefix('#').unwrap_or(word);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Too many digits for an i64 is simply not an id.
    digits.parse::<i64>().ok().filter(|id| *id > 0)
}

/// Digits, optionally followed by one of `BanDuration`'s units: meant as a duration even when it
/// is not a valid one (`0m`, `60`, `400d`). `2nd` or `10y` are words, so they start a reason.
fn looks_like_duration(word: &str) -> bool {
    let unit = word.trim_start_matches(|c: char| c.is_ascii_digit());
    unit.len() < word.len() && ["", "m", "min", "h", "d", "w"].iter().any(|u| unit.eq_ignore_ascii_case(u))
}

fn unknown(word: &str) -> CommandError {
    CommandError::Unknown { word: echo(word) }
}

/// What is echoed of user input in a reply: no control characters, at most [`ECHO_CHARS`].
fn echo(word: &str) -> String {
    word.chars().filter(|c| !c.is_control()).take(ECHO_CHARS).collect()
}

/// The private reply to `.help` for someone at `level`: one line per group of commands they may
/// use (`anyone: .status .seen …`, `operators: .kick .ban …`), then a pointer to `.help <command>`.
/// At most six lines of under 200 bytes for a short prefix, so flood control sends them quickly.
pub fn help_lines(prefix: &str, level: Level) -> Vec<String> {
    const GROUPS: [(Level, &str); 6] = [
        (Level::Guest, "anyone"),
        (Level::Member, "members"),
        (Level::Voice, "voiced"),
        (Level::Operator, "operators"),
        (Level::Staff, "staff"),
        (Level::Superuser, "superusers"),
    ];
    let mut lines: Vec<String> = GROUPS
        .into_iter()
        .filter(|(group, _)| *group <= level)
        .filter_map(|(group, label)| {
            let names: Vec<String> = HelpTopic::ALL
                .into_iter()
                .filter(|topic| topic.min_level() == group)
                .map(|topic| format!("{prefix}{}", topic.name()))
                .collect();
            (!names.is_empty()).then(|| format!("{label}: {}", names.join(" ")))
        })
        .collect();
    lines.push(format!("{prefix}help <command> explains one"));
    lines
}

/// The reply to `.help <topic>`: the command's forms, a dash and what it does, and who may use it
/// when that is more than anyone, e.g.
/// `.kick <nick> [reason] — kick <nick> from this channel (operators and up)`. `topic` may carry
/// `prefix` (or another punctuation prefix) and any case. An unknown topic gets a hint line.
pub fn help_topic(prefix: &str, topic: &str) -> String {
    let topic = topic.trim();
    let without_prefix = if prefix.is_empty() { topic } else { topic.strip_prefix(prefix).unwrap_or(topic) };
    let Some(known) = HelpTopic::from_name(without_prefix) else {
        return format!("no command {prefix}{} — {prefix}help lists them", echo(without_prefix));
    };
    let who = match known.min_level() {
        Level::Guest => "",
        Level::Member => " (members and up)",
        Level::Voice => " (voiced and up)",
        Level::Operator => " (operators and up)",
        Level::Staff => " (staff and up)",
        Level::Superuser => " (superusers only)",
    };
    format!("{} — {}{who}", known.syntax(prefix), known.description())
}

#[cfg(test)]
mod tests {
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
        assert_eq!(
            ok(".ban bob 1W  be  nice "),
            BotCommand::Ban { target: s("bob"), duration: duration("1w"), reason: Some(s("be  nice")) }
        );
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
    fn every_usage_line_is_short_and_names_its_command() {
        for topic in HelpTopic::ALL {
            let line = usage(".", topic);
            assert!(line.starts_with(&format!("usage: .{} ", topic.name())) || line == format!("usage: .{}", topic.name()), "{line}");
            assert!(line.len() < 120, "{line}");
        }
    }

    #[test]
    fn every_topic_is_found_by_its_name_in_any_case_with_or_without_a_prefix() {
        for topic in HelpTopic::ALL {
            let name = topic.name();
            assert_eq!(HelpTopic::from_name(name), Some(topic));
            assert_eq!(HelpTopic::from_name(&name.to_uppercase()), Some(topic));
            assert_eq!(HelpTopic::from_name(&format!(".{name}")), Some(topic));
            assert_eq!(HelpTopic::from_name(&format!("!{name}")), Some(topic));
        }
        assert_eq!(HelpTopic::from_name("Commands"), Some(HelpTopic::Help));
        assert_eq!(HelpTopic::from_name(" .seen "), Some(HelpTopic::Seen));
        for unknown in ["", ".", "dance", "se en", "seen.", "requestBan2"] {
            assert_eq!(HelpTopic::from_name(unknown), None, "{unknown:?}");
        }
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

    #[test]
    fn min_levels_follow_the_spec() {
        use HelpTopic as T;
        let expect = |level: Level, topics: &[HelpTopic]| {
            for topic in topics {
                assert_eq!(topic.min_level(), level, "{topic:?}");
            }
        };
        expect(Level::Guest, &[T::Register, T::Login, T::Status, T::Seen, T::Quote, T::Info, T::Help, T::Version]);
        expect(Level::Member, &[T::Logout, T::Meet, T::About, T::RequestBan]);
        expect(Level::Operator, &[T::Kick, T::Ban, T::Unban, T::Mute, T::Unmute, T::Voice, T::Devoice, T::Op, T::Deop, T::Topic]);
        expect(Level::Staff, &[T::Approve, T::Reject, T::Channels, T::Join, T::Part, T::Say, T::Act]);
        expect(Level::Superuser, &[T::Whois]);
    }

    #[test]
    fn help_lists_exactly_the_commands_of_ones_level_and_below() {
        for level in Level::ALL {
            let lines = help_lines(".", level);
            let all = lines.join(" ");
            for topic in HelpTopic::ALL {
                let listed = all.split_whitespace().any(|word| word == format!(".{}", topic.name()));
                assert_eq!(listed, topic.min_level() <= level, "{level:?} {topic:?}: {all}");
            }
            assert!(lines.len() <= 6, "{lines:?}");
            assert!(lines.iter().all(|line| line.len() < 200), "{lines:?}");
            assert_eq!(lines.last().map(String::as_str), Some(".help <command> explains one"));
        }
    }

    #[test]
    fn help_for_guests_and_superusers_reads_well() {
        assert_eq!(
            help_lines(".", Level::Guest),
            ["anyone: .register .login .status .seen .quote .info .help .version", ".help <command> explains one"]
        );
        assert_eq!(
            help_lines("!", Level::Superuser),
            [
                "anyone: !register !login !status !seen !quote !info !help !version",
                "members: !logout !meet !about !requestban",
                "operators: !kick !ban !unban !mute !unmute !voice !devoice !op !deop !topic",
                "staff: !approve !reject !channels !join !part !say !act",
                "superusers: !whois",
                "!help <command> explains one",
            ]
        );
        assert_eq!(help_lines(".", Level::Voice), help_lines(".", Level::Member), "voice adds no commands");
    }

    #[test]
    fn help_on_a_topic_gives_its_usage_what_it_does_and_who_may_use_it() {
        assert_eq!(help_topic(".", "kick"), ".kick <nick> [reason] — kick <nick> from this channel (operators and up)");
        assert_eq!(help_topic("!", "!KICK"), help_topic("!", "kick").replace('.', "!"));
        assert_eq!(help_topic(".", "commands"), ".help [command] — list the commands you can use, or explain one");
        assert_eq!(help_topic(".", ".whois"), ".whois <nick> — privately, everything held about <nick> (superusers only)");
        for topic in HelpTopic::ALL {
            let line = help_topic(".", topic.name());
            assert!(line.starts_with(&topic.syntax(".")), "{line}");
            assert!(line.len() < 300, "{line}");
        }
    }

    #[test]
    fn help_on_an_unknown_topic_is_one_short_hint() {
        assert_eq!(help_topic(".", "dance"), "no command .dance — .help lists them");
        assert_eq!(help_topic("!", "!dance"), "no command !dance — !help lists them");
        let long = help_topic(".", &format!("{}\u{1}", "z".repeat(300)));
        assert_eq!(long, format!("no command .{} — .help lists them", "z".repeat(20)));
    }
}
