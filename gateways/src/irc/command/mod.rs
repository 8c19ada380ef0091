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
//!   said in a channel must be revoked (see `docs/commands.md`), which the gateway can only do if it sees the
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

use domain::events::ChannelMode;

mod help;

pub use help::{HelpTopic, help_lines, help_topic, usage};

/// The documented prefix (`.`, as in `docs/commands.md`), used by the `Display` of [`CommandError`]. Replies sent to users
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
pub(crate) fn echo(word: &str) -> String {
    word.chars().filter(|c| !c.is_control()).take(ECHO_CHARS).collect()
}

#[cfg(test)]
mod tests;
