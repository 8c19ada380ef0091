//! What a line from the IRC server means for Switchboard, as plain data: who did what where.
//!
//! [`translate`] reads an `irc::proto::Message` (already parsed by the `irc` crate) and keeps
//! only what the bot acts on; everything else (server notices, MOTD, numerics we do not use)
//! is `None`. It is pure so it is tested on real server lines (`"…".parse::<Message>()`),
//! and the connection task stays a loop that forwards inputs.
//!
//! Nicks are kept as the server sent them; deciding whether a nick is valid for Switchboard
//! (`domain::Nick`) is the bot's business, because an IRC nick like `[away]bob` is a legal
//! channel member we must still record as a guest even though it is not a legal account nick.

use irc::proto::mode::{ChannelMode as WireMode, Mode};
use irc::proto::{Command, Message, Prefix, Response};

use super::text::parse_ctcp;

/// Who sent a line: `nick!user@host` as the server relayed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub nick: String,
    pub user: String,
    pub host: String,
}

impl Source {
    /// The concrete `nick!user@host` (absent when the server left parts out).
    pub fn mask(&self) -> Option<domain::HostMask> {
        domain::HostMask::from_parts(&self.nick, &self.user, &self.host).ok()
    }
}

/// How something was said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaidKind {
    Privmsg,
    /// CTCP ACTION (`/me`).
    Action,
    Notice,
}

/// One mode change on a channel (`+b mask`, `-v nick`, `+i`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeChange {
    pub adding: bool,
    pub mode: ChannelModeKind,
    pub argument: Option<String>,
}

/// The channel modes the bot cares about; the rest are `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelModeKind {
    Ban,
    Voice,
    Op,
    InviteOnly,
    Key,
    Other(char),
}

/// What happened, for the bot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IrcInput {
    /// The server accepted our registration (001) under this nick.
    Welcome {
        nick: String,
    },
    Joined {
        who: Source,
        channel: String,
    },
    Parted {
        who: Source,
        channel: String,
        reason: Option<String>,
    },
    Quit {
        who: Source,
        reason: Option<String>,
    },
    NickChanged {
        who: Source,
        new: String,
    },
    Kicked {
        by: Source,
        channel: String,
        nick: String,
        reason: Option<String>,
    },
    /// Text to a channel (`to_channel`) or privately to the bot; `/me` is an ACTION kind.
    Said {
        who: Source,
        target: String,
        to_channel: bool,
        text: String,
        kind: SaidKind,
    },
    /// A CTCP request other than ACTION (VERSION, PING, TIME…): its inner text.
    Ctcp {
        who: Source,
        request: String,
    },
    ModeChanged {
        by: Source,
        channel: String,
        changes: Vec<ModeChange>,
    },
    TopicChanged {
        by: Source,
        channel: String,
        topic: String,
    },
    /// One RPL_NAMREPLY line: nicks on a channel, with their status prefix stripped.
    Names {
        channel: String,
        nicks: Vec<String>,
    },
    EndOfNames {
        channel: String,
    },
    /// The server refused to let us join (banned, invite-only, bad key, full).
    JoinRefused {
        channel: String,
        reason: String,
    },
    /// The server refused a TOPIC or MODE of ours: we are not a channel operator there (482).
    NotChannelOperator {
        channel: String,
    },
}

fn source(message: &Message) -> Option<Source> {
    match &message.prefix {
        Some(Prefix::Nickname(nick, user, host)) if !nick.is_empty() => {
            Some(Source { nick: nick.clone(), user: user.clone(), host: host.clone() })
        }
        _ => None,
    }
}

fn is_channel(target: &str) -> bool {
    target.starts_with(['#', '&', '+', '!'])
}

/// Reads one server line; `None` for lines the bot has nothing to do with.
pub fn translate(message: &Message) -> Option<IrcInput> {
    let from = source(message);
    match &message.command {
        Command::Response(Response::RPL_WELCOME, args) => Some(IrcInput::Welcome { nick: args.first()?.clone() }),
        Command::Response(Response::RPL_NAMREPLY, args) => {
            // <me> <=|*|@> <channel> :<nicks>
            let channel = args.get(2)?.clone();
            let nicks = args
                .get(3)?
                .split_whitespace()
                .map(|n| n.trim_start_matches(['@', '+', '%', '&', '~']).to_owned())
                .filter(|n| !n.is_empty());
            Some(IrcInput::Names { channel, nicks: nicks.collect() })
        }
        Command::Response(Response::RPL_ENDOFNAMES, args) => Some(IrcInput::EndOfNames { channel: args.get(1)?.clone() }),
        Command::Response(
            code
            @ (Response::ERR_BANNEDFROMCHAN | Response::ERR_INVITEONLYCHAN | Response::ERR_BADCHANNELKEY | Response::ERR_CHANNELISFULL),
            args,
        ) => Some(IrcInput::JoinRefused {
            channel: args.get(1)?.clone(),
            reason: args.last().cloned().unwrap_or_else(|| format!("{code:?}")),
        }),
        Command::Response(Response::ERR_CHANOPRIVSNEEDED, args) => Some(IrcInput::NotChannelOperator { channel: args.get(1)?.clone() }),
        Command::JOIN(channels, _, _) => {
            // Servers send one channel per JOIN line to clients; be lenient with lists anyway.
            Some(IrcInput::Joined { who: from?, channel: channels.split(',').next()?.to_owned() })
        }
        Command::PART(channels, reason) => {
            Some(IrcInput::Parted { who: from?, channel: channels.split(',').next()?.to_owned(), reason: reason.clone() })
        }
        Command::QUIT(reason) => Some(IrcInput::Quit { who: from?, reason: reason.clone() }),
        Command::NICK(new) => Some(IrcInput::NickChanged { who: from?, new: new.clone() }),
        Command::KICK(channel, nick, reason) => {
            Some(IrcInput::Kicked { by: from?, channel: channel.clone(), nick: nick.clone(), reason: reason.clone() })
        }
        Command::PRIVMSG(target, text) => {
            let (text, kind) = match parse_ctcp(text) {
                Some((command, args)) if command.eq_ignore_ascii_case("ACTION") => (args.to_owned(), SaidKind::Action),
                Some(_) => return Some(IrcInput::Ctcp { who: from?, request: text.trim_matches('\u{1}').to_owned() }),
                None => (text.clone(), SaidKind::Privmsg),
            };
            Some(IrcInput::Said { who: from?, to_channel: is_channel(target), target: target.clone(), text, kind })
        }
        Command::NOTICE(target, text) => {
            // CTCP replies arrive as NOTICEs; they are not conversation.
            if parse_ctcp(text).is_some() {
                return None;
            }
            Some(IrcInput::Said {
                who: from?,
                to_channel: is_channel(target),
                target: target.clone(),
                text: text.clone(),
                kind: SaidKind::Notice,
            })
        }
        Command::ChannelMODE(channel, modes) => {
            let changes = modes.iter().filter_map(mode_change).collect::<Vec<_>>();
            let by = from?;
            (!changes.is_empty()).then(|| IrcInput::ModeChanged { by, channel: channel.clone(), changes })
        }
        Command::TOPIC(channel, Some(topic)) => Some(IrcInput::TopicChanged { by: from?, channel: channel.clone(), topic: topic.clone() }),
        _ => None,
    }
}

fn mode_change(mode: &Mode<WireMode>) -> Option<ModeChange> {
    let (adding, wire, argument) = match mode {
        Mode::Plus(m, arg) => (true, m, arg.clone()),
        Mode::Minus(m, arg) => (false, m, arg.clone()),
        Mode::NoPrefix(_) => return None,
    };
    let mode = match wire {
        WireMode::Ban => ChannelModeKind::Ban,
        WireMode::Voice => ChannelModeKind::Voice,
        WireMode::Oper => ChannelModeKind::Op,
        WireMode::InviteOnly => ChannelModeKind::InviteOnly,
        WireMode::Key => ChannelModeKind::Key,
        other => ChannelModeKind::Other(other.to_string().chars().next().unwrap_or('?')),
    };
    Some(ModeChange { adding, mode, argument })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(line: &str) -> Option<IrcInput> {
        translate(&line.parse::<Message>().expect("a valid IRC line"))
    }

    fn bob() -> Source {
        Source { nick: "bob".into(), user: "~bob".into(), host: "127.0.0.1".into() }
    }

    #[test]
    fn channel_messages_actions_and_private_messages() {
        assert_eq!(
            input(":bob!~bob@127.0.0.1 PRIVMSG #chat :hello there\r\n"),
            Some(IrcInput::Said {
                who: bob(),
                target: "#chat".into(),
                to_channel: true,
                text: "hello there".into(),
                kind: SaidKind::Privmsg
            })
        );
        assert_eq!(
            input(":bob!~bob@127.0.0.1 PRIVMSG #chat :\u{1}ACTION waves\u{1}"),
            Some(IrcInput::Said { who: bob(), target: "#chat".into(), to_channel: true, text: "waves".into(), kind: SaidKind::Action })
        );
        assert_eq!(
            input(":bob!~bob@127.0.0.1 PRIVMSG switchboard :.login abc"),
            Some(IrcInput::Said {
                who: bob(),
                target: "switchboard".into(),
                to_channel: false,
                text: ".login abc".into(),
                kind: SaidKind::Privmsg
            })
        );
        assert_eq!(
            input(":bob!~bob@127.0.0.1 PRIVMSG switchboard :\u{1}PING 123\u{1}"),
            Some(IrcInput::Ctcp { who: bob(), request: "PING 123".into() })
        );
        assert_eq!(input(":bob!~bob@127.0.0.1 NOTICE switchboard :\u{1}PING 1\u{1}"), None);
    }

    #[test]
    fn membership_lines() {
        assert_eq!(input(":bob!~bob@127.0.0.1 JOIN :#chat"), Some(IrcInput::Joined { who: bob(), channel: "#chat".into() }));
        assert_eq!(
            input(":bob!~bob@127.0.0.1 PART #chat :bye"),
            Some(IrcInput::Parted { who: bob(), channel: "#chat".into(), reason: Some("bye".into()) })
        );
        assert_eq!(
            input(":bob!~bob@127.0.0.1 QUIT :Quit: leaving"),
            Some(IrcInput::Quit { who: bob(), reason: Some("Quit: leaving".into()) })
        );
        assert_eq!(input(":bob!~bob@127.0.0.1 NICK :robert"), Some(IrcInput::NickChanged { who: bob(), new: "robert".into() }));
        assert_eq!(
            input(":bob!~bob@127.0.0.1 KICK #chat alice :behave"),
            Some(IrcInput::Kicked { by: bob(), channel: "#chat".into(), nick: "alice".into(), reason: Some("behave".into()) })
        );
    }

    #[test]
    fn names_replies_strip_status_prefixes() {
        assert_eq!(
            input(":irc.test 353 switchboard = #chat :@switchboard +bob alice"),
            Some(IrcInput::Names { channel: "#chat".into(), nicks: vec!["switchboard".into(), "bob".into(), "alice".into()] })
        );
        assert_eq!(input(":irc.test 366 switchboard #chat :End of NAMES list"), Some(IrcInput::EndOfNames { channel: "#chat".into() }));
        assert_eq!(
            input(":irc.test 001 switchboard :Welcome to the Internet Relay Network"),
            Some(IrcInput::Welcome { nick: "switchboard".into() })
        );
    }

    #[test]
    fn mode_changes_keep_bans_voices_and_ops() {
        let Some(IrcInput::ModeChanged { channel, changes, .. }) =
            input(":bob!~bob@127.0.0.1 MODE #chat +bv-o *!*@evil.example alice carol")
        else {
            panic!("a mode change")
        };
        assert_eq!(channel, "#chat");
        assert_eq!(
            changes,
            vec![
                ModeChange { adding: true, mode: ChannelModeKind::Ban, argument: Some("*!*@evil.example".into()) },
                ModeChange { adding: true, mode: ChannelModeKind::Voice, argument: Some("alice".into()) },
                ModeChange { adding: false, mode: ChannelModeKind::Op, argument: Some("carol".into()) },
            ]
        );
    }

    #[test]
    fn refusals_to_join_and_server_chatter() {
        assert_eq!(
            input(":irc.test 474 switchboard #chat :Cannot join channel (+b)"),
            Some(IrcInput::JoinRefused { channel: "#chat".into(), reason: "Cannot join channel (+b)".into() })
        );
        assert_eq!(input(":irc.test 372 switchboard :- message of the day"), None);
        assert_eq!(input(":irc.test NOTICE * :*** Looking up your hostname"), None, "no nick source: not conversation");
    }
}
