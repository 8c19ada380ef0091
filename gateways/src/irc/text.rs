//! Text on the IRC wire: making any text safe to send, cutting it into lines that fit, and
//! answering CTCP requests.
//!
//! An IRC line is at most [`MAX_LINE_BYTES`] bytes including its CR LF (RFC 1459 §2.3, still what
//! servers enforce), and that limit applies to the line as the server relays it to others, with
//! the bot's full `nick!user@host` in front, not to the shorter line the bot writes. A server cuts
//! an over-long line, silently losing the end of a message, so the bot splits its texts itself:
//! [`message_budget`] gives the room left for the text and [`split_to_fit`] cuts the text into
//! pieces within it, at spaces where it can. Limits are counted in bytes, never characters, and
//! a cut never falls inside a UTF-8 character.
//!
//! Text from elsewhere (SMS bodies, quotes, about texts, the web) may hold line breaks and other
//! control characters. A CR or LF inside a line would end it early and let the rest be read as
//! a command of its own (an injection), NUL ends it on some servers, and `\x01` would turn a
//! message into a CTCP request. [`sanitize`] makes any text one safe trailing parameter, keeping
//! the IRC formatting codes (bold, colour, …) people use on purpose.
//!
//! CTCP (the `\x01`-wrapped requests inside PRIVMSG, answered by NOTICE) is read by [`parse_ctcp`]
//! and answered by [`ctcp_reply`]: VERSION, PING, TIME and CLIENTINFO, as clients expect.

use chrono::{DateTime, Utc};

/// The longest IRC line, in bytes, including the closing CR LF.
pub const MAX_LINE_BYTES: usize = 512;

/// The CTCP delimiter.
const CTCP_DELIMITER: char = '\x01';

/// IRC formatting codes, kept by [`sanitize`]: bold, colour, reset, reverse, italic,
/// strikethrough, underline.
const FORMATTING: [char; 7] = ['\x02', '\x03', '\x0f', '\x16', '\x1d', '\x1e', '\x1f'];

/// The most bytes of a CTCP PING argument echoed back: real clients send a timestamp of a few
/// dozen bytes; anything longer is someone using the bot as an amplifier.
const MAX_PING_ECHO: usize = 100;

/// The most bytes of the version string sent in a CTCP VERSION reply.
const MAX_VERSION: usize = 200;

/// The CTCP requests [`ctcp_reply`] answers, plus ACTION (`/me`), which the gateway handles as a
/// message: the CLIENTINFO reply.
const CLIENTINFO: &str = "ACTION CLIENTINFO PING TIME VERSION";

/// Makes `text` safe as one IRC trailing parameter: every run of line breaks and other control
/// characters (CR, LF, NUL, tab, ESC, DEL, C1 controls, and the Unicode line and paragraph
/// separators), together with any whitespace around it, becomes a single space; `\x01` (the CTCP
/// delimiter) is removed; the IRC formatting codes `\x02 \x03 \x0f \x16 \x1d \x1e \x1f` are kept;
/// the ends are trimmed. Runs of ordinary spaces are kept as typed (aligned text, ASCII art).
///
/// The result may be empty (for blank or control-only input); callers send nothing then.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    // True right after a break was written, so the whitespace that follows it is swallowed.
    let mut after_break = false;
    for c in text.chars() {
        if c == CTCP_DELIMITER {
            continue;
        }
        if FORMATTING.contains(&c) {
            out.push(c);
            after_break = false;
        } else if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
            if !after_break {
                out.truncate(out.trim_end().len());
                out.push(' ');
                after_break = true;
            }
        } else if !(after_break && c.is_whitespace()) {
            out.push(c);
            after_break = false;
        }
    }
    out.trim().to_owned()
}

/// What was said, as the room records it: [`sanitize`]d, then without IRC formatting (bold,
/// colours with their `\x03NN[,NN]` digits, reverse, italics, strike-through, underline, reset).
/// The domain refuses control characters in message bodies, and formatting codes are control
/// characters: without this, any coloured line would be dropped instead of recorded.
pub fn plain(text: &str) -> String {
    let sanitized = sanitize(text);
    let mut out = String::with_capacity(sanitized.len());
    let mut chars = sanitized.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{3}' {
            // Up to two foreground digits, then optionally a comma and up to two background digits.
            for _ in 0..2 {
                chars.next_if(char::is_ascii_digit);
            }
            let mut ahead = chars.clone();
            if ahead.next() == Some(',') && ahead.next().is_some_and(|d| d.is_ascii_digit()) {
                chars.next();
                for _ in 0..2 {
                    chars.next_if(char::is_ascii_digit);
                }
            }
        } else if !FORMATTING.contains(&c) {
            out.push(c);
        }
    }
    out.trim().to_owned()
}

/// Cuts `text` (already [`sanitize`]d) into pieces of at most `max_bytes` bytes each, in order.
///
/// A piece ends at the last whitespace that lets it fit; a word longer than a whole piece is cut
/// at the last UTF-8 character boundary that fits. Pieces are trimmed and never empty, so a blank
/// text gives no pieces. Whitespace is dropped only where a cut falls, and no-break spaces are
/// never cut at. A `max_bytes` below 4 is taken as 4, the longest UTF-8 character, so every piece
/// holds at least one character and the loop always advances.
///
/// Formatting codes are not carried across a cut: colour or bold set in one piece does not
/// continue in the next, and a cut may fall between `\x03` and its colour digits.
pub fn split_to_fit(text: &str, max_bytes: usize) -> Vec<String> {
    let max_bytes = max_bytes.max(4);
    let mut pieces = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        if rest.len() <= max_bytes {
            pieces.push(rest.to_owned());
            break;
        }
        let fit = floor_char_boundary(rest, max_bytes);
        // A space right after the fitting part is a clean cut too, so look one character further.
        let window = fit + rest[fit..].chars().next().map_or(0, char::len_utf8);
        let space = rest[..window].char_indices().rev().find(|&(at, c)| at > 0 && breaks(c)).map(|(at, _)| at);
        // `rest` starts with a non-whitespace character that fits (`fit` ≥ its length, as
        // `max_bytes` ≥ 4), so the piece is never empty.
        let cut = space.unwrap_or(fit);
        pieces.push(rest[..cut].trim_end().to_owned());
        rest = rest[cut..].trim_start();
    }
    pieces
}

/// Whitespace that a line may be cut at: any but the no-break spaces.
fn breaks(c: char) -> bool {
    c.is_whitespace() && !matches!(c, '\u{a0}' | '\u{2007}' | '\u{202f}')
}

/// The largest index ≤ `at` that is a character boundary of `s` (`s.len()` when `at` is past it).
fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    // Boundaries are at most 3 bytes apart, and 0 is always one.
    (0..=at).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0)
}

/// `text` cut to at most `max_bytes` bytes at a character boundary, without trailing whitespace.
pub fn truncate(text: &str, max_bytes: usize) -> &str {
    text[..floor_char_boundary(text, max_bytes)].trim_end()
}

/// The bytes left for the text of `:<source> <COMMAND> <target> :<text>\r\n` within
/// [`MAX_LINE_BYTES`], where `source_prefix_len` is the length of `<source>`, the bot's
/// `nick!user@host` as the server relays it, and `command` is `PRIVMSG` or `NOTICE`. Zero when
/// nothing fits.
///
/// The bot does not know exactly how others see its user and host (cloaks, an ident `~`, a host
/// the server resolved), so callers pass a conservative length: [`source_len_estimate`] of its
/// nick, unless the server told the bot its real prefix.
pub fn message_budget(source_prefix_len: usize, command: &str, target: &str) -> usize {
    // ':' source ' ' command ' ' target ' ' ':' … "\r\n"; saturating, as a nonsense length
    // must give no room rather than a panic.
    let overhead = [source_prefix_len, command.len(), target.len(), 1 + 1 + 1 + 2 + 2].into_iter().fold(0, usize::saturating_add);
    MAX_LINE_BYTES.saturating_sub(overhead)
}

/// A safe length for `nick!user@host` when only the nick is known: a user part of up to 11 bytes
/// (USERLEN is commonly 10, and servers may add `~` for an unverified ident) and a host of up to
/// 63 bytes (the common HOSTLEN).
pub fn source_len_estimate(nick: &str) -> usize {
    nick.len() + 1 + 11 + 1 + 63
}

/// Reads a CTCP request or reply: for a text that starts with `\x01`, the command and its
/// arguments, e.g. `("PING", "12345")` for `"\x01PING 12345\x01"`. A missing closing `\x01` is
/// tolerated, as many clients and bridges drop it. The command is returned as sent (compare it
/// with `eq_ignore_ascii_case`; CTCP commands are uppercase by convention but some clients send
/// `version`), the arguments are everything after the first space, as sent (ACTION text keeps its
/// spacing), and empty when there are none. `None` for ordinary text and for an empty request.
pub fn parse_ctcp(text: &str) -> Option<(&str, &str)> {
    let inner = text.strip_prefix(CTCP_DELIMITER)?;
    let inner = inner.strip_suffix(CTCP_DELIMITER).unwrap_or(inner);
    let (command, args) = inner.split_once(' ').unwrap_or((inner, ""));
    (!command.is_empty()).then_some((command, args))
}

/// The NOTICE body answering a CTCP request, `\x01` delimiters included, given the request's inner
/// text (`VERSION`, `PING 12345`, `TIME`; surrounding `\x01`s are tolerated). The command is
/// matched in any case and answered in uppercase:
/// - `VERSION`: `version` (sanitised, at most 200 bytes);
/// - `PING <arg>`: the argument echoed, sanitised and cut to 100 bytes, since clients time the
///   round trip with it;
/// - `TIME`: `now` in RFC 2822 form, e.g. `Tue, 1 Jul 2003 10:52:37 +0000`;
/// - `CLIENTINFO`: the supported requests.
///
/// Anything else (ACTION, DCC, unknown requests) gets `None`: no answer, as the convention asks.
/// Replies go out as NOTICE so that two bots cannot answer each other forever; rate limiting is
/// the caller's.
pub fn ctcp_reply(request: &str, version: &str, now: DateTime<Utc>) -> Option<String> {
    let request = request.trim_matches(CTCP_DELIMITER);
    let (command, args) = request.split_once(' ').unwrap_or((request, ""));
    let body = if command.eq_ignore_ascii_case("VERSION") {
        format!("VERSION {}", truncate(&sanitize(version), MAX_VERSION))
    } else if command.eq_ignore_ascii_case("PING") {
        let echo = sanitize(args);
        let echo = truncate(&echo, MAX_PING_ECHO);
        if echo.is_empty() { "PING".to_owned() } else { format!("PING {echo}") }
    } else if command.eq_ignore_ascii_case("TIME") {
        format!("TIME {}", now.to_rfc2822())
    } else if command.eq_ignore_ascii_case("CLIENTINFO") {
        format!("CLIENTINFO {CLIENTINFO}")
    } else {
        return None;
    };
    Some(format!("{CTCP_DELIMITER}{body}{CTCP_DELIMITER}"))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn pieces(text: &str, max: usize) -> Vec<String> {
        let pieces = split_to_fit(text, max);
        for piece in &pieces {
            assert!(!piece.is_empty(), "an empty piece in {pieces:?}");
            assert!(piece.len() <= max.max(4), "{} bytes > {max}: {piece:?}", piece.len());
            assert_eq!(piece.trim(), piece, "whitespace at an end of {piece:?}");
        }
        pieces
    }

    /// What a split loses: nothing but whitespace at the cuts.
    fn words(text: &str) -> String {
        text.split_whitespace().collect()
    }

    // --- sanitize ---------------------------------------------------------------------------

    #[test]
    fn plain_text_drops_formatting_and_colour_digits_but_keeps_the_words() {
        assert_eq!(plain("\u{2}bold\u{2} and \u{3}04red\u{3} and \u{3}12,08blue on yellow\u{f}!"), "bold and red and blue on yellow!");
        assert_eq!(plain("\u{3}1,text"), ",text", "a comma not followed by a digit stays text");
        assert_eq!(plain("bell\u{7} and \u{1b}[31m escape"), "bell and [31m escape");
        assert_eq!(plain("2\u{3}3 is not 23"), "2 is not 23", "colour digits after \\x03 are formatting");
        assert_eq!(plain("\u{2}\u{3}"), "");
    }

    #[test]
    fn line_breaks_become_one_space_with_the_whitespace_around_them() {
        assert_eq!(sanitize("one\r\ntwo"), "one two");
        assert_eq!(sanitize("one\n\n\ntwo"), "one two");
        assert_eq!(sanitize("one  \r\n  two"), "one two");
        assert_eq!(sanitize("PRIVMSG #a :hi\r\nQUIT :pwned"), "PRIVMSG #a :hi QUIT :pwned");
        assert_eq!(sanitize("a\u{2028}b\u{2029}c\u{85}d"), "a b c d");
    }

    #[test]
    fn other_control_characters_become_a_space_too() {
        assert_eq!(sanitize("nul\0byte"), "nul byte");
        assert_eq!(sanitize("tab\there"), "tab here");
        assert_eq!(sanitize("bell\u{7}\u{1b}[31mred"), "bell [31mred");
        assert_eq!(sanitize("del\u{7f}ete"), "del ete");
        assert_eq!(sanitize("c1\u{9b}x"), "c1 x");
    }

    #[test]
    fn ctcp_delimiters_are_removed_without_a_trace() {
        assert_eq!(sanitize("\u{1}ACTION pwns\u{1}"), "ACTION pwns");
        assert_eq!(sanitize("a\u{1}b"), "ab");
        assert_eq!(sanitize("\u{1}\u{1}"), "");
    }

    #[test]
    fn formatting_codes_are_kept() {
        let styled = "\u{2}bold\u{2} \u{3}4,1red\u{f} \u{16}rev\u{16} \u{1d}it\u{1d} \u{1e}st\u{1e} \u{1f}ul\u{1f}";
        assert_eq!(sanitize(styled), styled);
        assert_eq!(sanitize("a\n\u{2}b"), "a \u{2}b");
        assert_eq!(sanitize("\u{3}"), "\u{3}");
    }

    #[test]
    fn ordinary_spaces_and_unicode_are_kept_and_ends_trimmed() {
        assert_eq!(sanitize("  a   b  "), "a   b");
        assert_eq!(sanitize("Ça va? 👋 日本語"), "Ça va? 👋 日本語");
        assert_eq!(sanitize("\u{a0}x\u{a0}y\u{a0}"), "x\u{a0}y");
    }

    #[test]
    fn blank_or_control_only_text_sanitises_to_nothing() {
        for text in ["", "   ", "\r\n", "\0\t\u{1}\n \u{7f}", "\u{3000}"] {
            assert_eq!(sanitize(text), "", "{text:?}");
        }
    }

    #[test]
    fn sanitised_text_never_holds_a_line_break_nul_or_ctcp_delimiter() {
        let nasty: String = (0u8..=0x7f).map(char::from).chain("\u{85}\u{2028}x\r\n\u{1}y".chars()).collect();
        let clean = sanitize(&nasty);
        assert!(!clean.contains(['\r', '\n', '\0', '\u{1}']), "{clean:?}");
        assert!(clean.chars().all(|c| !c.is_control() || FORMATTING.contains(&c)), "{clean:?}");
        assert_eq!(sanitize(&clean), clean, "sanitising twice changes nothing");
    }

    // --- split_to_fit -----------------------------------------------------------------------

    #[test]
    fn a_text_that_fits_is_one_piece_even_at_the_exact_limit() {
        assert_eq!(pieces("hello world", 11), ["hello world"]);
        assert_eq!(pieces("hello world", 400), ["hello world"]);
        assert_eq!(pieces(&"x".repeat(400), 400), ["x".repeat(400)]);
    }

    #[test]
    fn long_text_is_cut_at_the_last_space_that_fits() {
        assert_eq!(pieces("the quick brown fox jumps", 10), ["the quick", "brown fox", "jumps"]);
        assert_eq!(pieces("aaaa bbbb cccc", 9), ["aaaa bbbb", "cccc"], "a space just past the limit is a clean cut");
        assert_eq!(pieces("aaaa   bbbb", 6), ["aaaa", "bbbb"], "the run of spaces at a cut is dropped");
    }

    #[test]
    fn no_piece_is_empty_or_ends_in_whitespace() {
        let text = "a  b   c    d     e      f       g        h";
        for max in 1..=text.len() + 1 {
            let got = pieces(text, max);
            assert_eq!(words(&got.concat()), words(text), "max {max}: {got:?}");
        }
    }

    #[test]
    fn a_single_word_of_600_bytes_is_hard_split() {
        let word = "w".repeat(600);
        assert_eq!(pieces(&word, 400), ["w".repeat(400), "w".repeat(200)]);
        assert_eq!(pieces(&format!("hi {word} there"), 400), ["hi".to_owned(), "w".repeat(400), "w".repeat(200) + " there"]);
    }

    #[test]
    fn multi_byte_characters_are_never_cut() {
        // 4-byte emoji: 10 bytes hold two of them, not two and a half.
        assert_eq!(pieces(&"🎉".repeat(5), 10), ["🎉🎉", "🎉🎉", "🎉"]);
        // 3-byte CJK: a limit one short of a boundary falls back to the previous one.
        assert_eq!(pieces(&"日本語".repeat(2), 8), ["日本", "語日", "本語"]);
        assert_eq!(pieces(&"日本語".repeat(2), 9), ["日本語", "日本語"]);
        // A character ending exactly at the limit stays.
        assert_eq!(pieces("ab🎉cd", 6), ["ab🎉", "cd"]);
        assert_eq!(pieces("ab🎉cd", 5), ["ab", "🎉c", "d"]);
    }

    #[test]
    fn a_space_right_after_a_multi_byte_character_at_the_limit_is_a_clean_cut() {
        assert_eq!(pieces("日本 語", 6), ["日本", "語"]);
        assert_eq!(pieces("🎉🎉 🎉", 8), ["🎉🎉", "🎉"]);
    }

    #[test]
    fn a_limit_below_four_bytes_still_fits_any_character() {
        assert_eq!(pieces("🎉🎉", 0), ["🎉", "🎉"]);
        assert_eq!(pieces("🎉a", 1), ["🎉", "a"]);
        assert_eq!(pieces("abcdefghi", 2), ["abcd", "efgh", "i"]);
    }

    #[test]
    fn blank_text_gives_no_pieces() {
        for text in ["", " ", "   \t  ", "\u{3000}"] {
            assert!(split_to_fit(text, 10).is_empty(), "{text:?}");
        }
    }

    #[test]
    fn no_break_spaces_are_not_cut_at() {
        assert_eq!(pieces("10\u{a0}km away", 8), ["10\u{a0}km", "away"]);
        assert_eq!(pieces("aa\u{a0}bb cc", 6), ["aa\u{a0}bb", "cc"]);
        assert_eq!(pieces("aaa\u{a0}bbbb", 6), ["aaa\u{a0}b", "bbb"], "a word joined by one is cut like a word");
        assert_eq!(pieces("aaaa\u{a0}bbbb", 6), ["aaaa", "bbbb"], "a hard cut right after one trims it");
    }

    #[test]
    fn splitting_mixed_text_keeps_every_word_in_order() {
        let text = "Ça va? 👋 日本語のテキスト and some English, then 🎉🎉🎉 and a long-long-long-word-without-spaces-at-all end";
        for max in [4, 5, 7, 9, 13, 20, 33, 64] {
            let got = pieces(text, max);
            assert_eq!(words(&got.concat()), words(text), "max {max}: {got:?}");
        }
    }

    #[test]
    fn truncate_cuts_at_a_character_boundary_and_trims() {
        assert_eq!(truncate("日本語", 7), "日本");
        assert_eq!(truncate("ab cd", 3), "ab");
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("🎉", 3), "");
    }

    // --- message_budget ---------------------------------------------------------------------

    #[test]
    fn the_budget_is_what_the_relayed_line_leaves_for_the_text() {
        let source = "bot!~bot@host.example";
        let budget = message_budget(source.len(), "PRIVMSG", "#chat");
        let text = "x".repeat(budget);
        let line = format!(":{source} PRIVMSG #chat :{text}\r\n");
        assert_eq!(line.len(), MAX_LINE_BYTES, "the text fills the line exactly");
        assert_eq!(budget, 512 - 1 - 21 - 1 - 7 - 1 - 5 - 2 - 2);
    }

    #[test]
    fn the_budget_is_zero_when_nothing_fits() {
        assert_eq!(message_budget(600, "PRIVMSG", "#chat"), 0);
        assert_eq!(message_budget(usize::MAX, "NOTICE", "bob"), 0);
    }

    #[test]
    fn the_source_estimate_covers_a_long_ident_and_host() {
        let real = format!("{}!~{}@{}", "switchboard", "a".repeat(10), "h".repeat(63));
        assert!(source_len_estimate("switchboard") >= real.len());
        let budget = message_budget(source_len_estimate("switchboard"), "PRIVMSG", "#switchboard");
        assert!((380..=420).contains(&budget), "{budget}");
    }

    #[test]
    fn split_to_the_budget_gives_lines_the_server_relays_whole() {
        let source = format!("bot!~{}@{}", "u".repeat(10), "h".repeat(63));
        let budget = message_budget(source.len(), "PRIVMSG", "#chat");
        let text = sanitize(&format!("{}\n{}", "日本語 ".repeat(200), "🎉".repeat(300)));
        for piece in split_to_fit(&text, budget) {
            assert!(format!(":{source} PRIVMSG #chat :{piece}\r\n").len() <= MAX_LINE_BYTES);
        }
    }

    // --- CTCP -------------------------------------------------------------------------------

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 5, 14, 7, 9).unwrap()
    }

    #[test]
    fn ctcp_requests_are_read_with_or_without_the_closing_delimiter() {
        assert_eq!(parse_ctcp("\u{1}VERSION\u{1}"), Some(("VERSION", "")));
        assert_eq!(parse_ctcp("\u{1}PING 12345\u{1}"), Some(("PING", "12345")));
        assert_eq!(parse_ctcp("\u{1}PING 12345"), Some(("PING", "12345")));
        assert_eq!(parse_ctcp("\u{1}ACTION waves  hello\u{1}"), Some(("ACTION", "waves  hello")));
        assert_eq!(parse_ctcp("\u{1}version\u{1}"), Some(("version", "")), "the command comes as sent");
        assert_eq!(parse_ctcp("\u{1}ACTION \u{1}"), Some(("ACTION", "")));
    }

    #[test]
    fn ordinary_or_empty_texts_are_not_ctcp() {
        for text in ["VERSION", "hello \u{1}VERSION\u{1}", "", "\u{1}", "\u{1}\u{1}", "\u{1} PING\u{1}"] {
            assert_eq!(parse_ctcp(text), None, "{text:?}");
        }
    }

    #[test]
    fn version_is_answered_with_the_version_string() {
        assert_eq!(ctcp_reply("VERSION", "Switchboard 0.1.0", now()).as_deref(), Some("\u{1}VERSION Switchboard 0.1.0\u{1}"));
        assert_eq!(ctcp_reply("version", "x\r\ny\u{1}", now()).as_deref(), Some("\u{1}VERSION x y\u{1}"));
    }

    #[test]
    fn ping_echoes_its_argument_sanitised_and_bounded() {
        assert_eq!(ctcp_reply("PING 1712345678 123", "v", now()).as_deref(), Some("\u{1}PING 1712345678 123\u{1}"));
        assert_eq!(ctcp_reply("PING", "v", now()).as_deref(), Some("\u{1}PING\u{1}"));
        assert_eq!(ctcp_reply("PING a\r\nQUIT\u{1}", "v", now()).as_deref(), Some("\u{1}PING a QUIT\u{1}"));
        let long = ctcp_reply(&format!("PING {}", "日".repeat(100)), "v", now()).unwrap();
        assert_eq!(long, format!("\u{1}PING {}\u{1}", "日".repeat(33)), "99 bytes: a 34th character would pass 100");
    }

    #[test]
    fn time_is_answered_in_rfc_2822_form() {
        assert_eq!(ctcp_reply("TIME", "v", now()).as_deref(), Some("\u{1}TIME Tue, 5 Mar 2024 14:07:09 +0000\u{1}"));
    }

    #[test]
    fn clientinfo_lists_what_is_supported() {
        assert_eq!(ctcp_reply("CLIENTINFO", "v", now()).as_deref(), Some("\u{1}CLIENTINFO ACTION CLIENTINFO PING TIME VERSION\u{1}"));
    }

    #[test]
    fn a_request_may_come_with_its_delimiters() {
        assert_eq!(ctcp_reply("\u{1}TIME\u{1}", "v", now()), ctcp_reply("TIME", "v", now()));
    }

    #[test]
    fn other_requests_get_no_answer() {
        for request in ["ACTION waves", "DCC SEND x 1 2 3", "FINGER", "", "PINGX 1", "VERSIONS"] {
            assert_eq!(ctcp_reply(request, "v", now()), None, "{request:?}");
        }
    }

    #[test]
    fn every_reply_is_one_safe_ctcp_body() {
        for request in ["VERSION", "PING x\r\n\0y", "TIME", "CLIENTINFO"] {
            let reply = ctcp_reply(request, "v\n\u{1}", now()).unwrap();
            let inner = reply.strip_prefix('\u{1}').and_then(|r| r.strip_suffix('\u{1}')).unwrap();
            assert!(!inner.contains(['\r', '\n', '\0', '\u{1}']), "{reply:?}");
            assert!(reply.len() < 150, "{reply:?}");
        }
    }
}
