//! The command reference the bot gives: one [`HelpTopic`] per command word, with its forms, what
//! it does and the lowest level that may use it; the usage line of a usage error; `.help` by
//! level and `.help <command>`. People's version of it is `docs/commands.md`.

use domain::Level;

use super::echo;

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
    pub(super) fn from_word(word: &str) -> Option<HelpTopic> {
        if word.eq_ignore_ascii_case("commands") {
            return Some(HelpTopic::Help);
        }
        HelpTopic::ALL.into_iter().find(|topic| topic.name().eq_ignore_ascii_case(word))
    }

    /// The lowest level that may use the command at all (see `docs/commands.md`). Some subcommands ask for
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
    pub(super) fn syntax(self, prefix: &str) -> String {
        self.forms().iter().map(|form| format!("{prefix}{form}")).collect::<Vec<_>>().join(" | ")
    }
}

/// The usage line of a command with the configured prefix, e.g.
/// `usage: .ban <nick|mask> [duration] [reason]`. Same as [`HelpTopic::usage`].
pub fn usage(prefix: &str, topic: HelpTopic) -> String {
    topic.usage(prefix)
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
    fn min_levels_are_the_documented_ones() {
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
