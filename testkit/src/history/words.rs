//! Random picks and chat-like text: names, room names, message bodies, and the word lists
//! they are drawn from.

use rand::Rng;
use rand::rngs::StdRng;

pub(super) fn pick<T: Copy>(rng: &mut StdRng, items: &[T]) -> Option<T> {
    (!items.is_empty()).then(|| items[rng.random_range(0..items.len())])
}

pub(super) fn pick_str(rng: &mut StdRng, items: &[&'static str]) -> &'static str {
    items[rng.random_range(0..items.len())]
}

pub(super) fn capitalised(word: &str) -> String {
    let mut s = word.to_owned();
    if let Some(first) = s.get_mut(..1) {
        first.make_ascii_uppercase();
    }
    s
}

pub(super) fn room_name(r: usize) -> String {
    let name = ROOM_NAMES[r % ROOM_NAMES.len()];
    match r / ROOM_NAMES.len() {
        0 => name.to_owned(),
        n => format!("{name} {}", n + 1),
    }
}

/// A message body: mostly short lines, some paragraphs, a few long ones (5 to 300 bytes).
pub(super) fn message_text(rng: &mut StdRng) -> String {
    match rng.random_range(0..100) {
        0..70 => text(rng, 5, 80),
        70..95 => text(rng, 80, 200),
        _ => text(rng, 200, 300),
    }
}

/// Chat-like words up to a random length in `min..=max` bytes (never over `max`; at least
/// `min` whenever `max - min` exceeds the longest word).
pub(super) fn text(rng: &mut StdRng, min: usize, max: usize) -> String {
    let target = rng.random_range(min..=max);
    let mut s = String::with_capacity(target + 16);
    while s.len() < target {
        let word = pick_str(rng, WORDS);
        let needed = if s.is_empty() { word.len() } else { s.len() + 1 + word.len() };
        if needed > max {
            if s.is_empty() {
                continue;
            }
            break;
        }
        if !s.is_empty() {
            s.push(' ');
        }
        s.push_str(word);
    }
    if rng.random_bool(0.5) {
        s = capitalised(&s);
    }
    if s.len() < max && rng.random_bool(0.4) {
        s.push(['.', '?', '!'][rng.random_range(0..3)]);
    }
    s
}

pub(super) const NAMES: &[&str] = &[
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "karl", "lena", "mallory", "nina", "oscar",
    "peggy", "quinn", "rupert", "sybil", "trent", "ursula", "victor", "wendy", "xavier", "yara", "zoe", "sam", "max", "leo", "mia", "noah",
    "emma", "liam", "ava", "kai", "ida", "otto", "rosa", "hugo", "vera",
];

pub(super) const NICK_SUFFIXES: &[&str] = &["x", "dev", "away", "afk", "irl", "jr", "ok", "zz", "home", "work"];

pub(super) const ISPS: &[&str] = &["comcast", "verizon", "telia", "orange", "vodafone", "fastly", "sonic"];

pub(super) const ROOM_NAMES: &[&str] = &[
    "Lobby",
    "Random",
    "Dev",
    "Ops",
    "Music",
    "Books",
    "Games",
    "Support",
    "Announcements",
    "Off-topic",
    "Football",
    "Cooking",
    "Travel",
    "Photography",
    "Movies",
    "Science",
    "Politics",
    "Jobs",
    "Help",
    "Meetups",
    "Cycling",
    "Gardening",
    "Pets",
    "Parents",
    "Students",
    "Linux",
    "Rust",
    "Night Owls",
    "Weekend",
    "Market",
];

pub(super) const ACTIONS: &[&str] = &["waves", "laughs", "shrugs", "nods", "agrees", "sighs", "grins", "is away", "is back", "facepalms"];

pub(super) const REASONS: &[&str] = &[
    "spam",
    "flooding",
    "be nice",
    "ban evasion",
    "harassment",
    "off-topic after warnings",
    "advertising",
    "repeated caps lock",
    "posting links to malware",
    "trolling",
];

pub(super) const WORDS: &[&str] = &[
    "the",
    "a",
    "is",
    "it",
    "that",
    "this",
    "and",
    "or",
    "but",
    "so",
    "what",
    "why",
    "how",
    "when",
    "anyone",
    "know",
    "think",
    "just",
    "really",
    "maybe",
    "probably",
    "tonight",
    "tomorrow",
    "meeting",
    "server",
    "deploy",
    "coffee",
    "lunch",
    "train",
    "late",
    "again",
    "fixed",
    "broken",
    "build",
    "test",
    "works",
    "for",
    "me",
    "you",
    "we",
    "they",
    "was",
    "were",
    "have",
    "has",
    "got",
    "see",
    "saw",
    "new",
    "old",
    "release",
    "bug",
    "issue",
    "link",
    "thanks",
    "lol",
    "ok",
    "sure",
    "yes",
    "no",
    "nope",
    "yeah",
    "great",
    "nice",
    "weird",
    "going",
    "to",
    "be",
    "at",
    "in",
    "on",
    "with",
    "about",
    "after",
    "before",
    "from",
    "station",
    "weather",
    "rain",
    "sunny",
    "game",
    "music",
    "band",
    "show",
    "movie",
    "book",
    "read",
    "watch",
    "play",
    "call",
    "text",
    "phone",
    "message",
    "room",
    "channel",
    "everyone",
    "someone",
    "here",
    "there",
    "now",
    "later",
    "soon",
    "still",
    "already",
    "today",
    "weekend",
    "plans",
    "dinner",
    "pizza",
    "running",
    "walk",
    "dog",
    "cat",
    "kids",
    "work",
    "office",
    "home",
    "traffic",
    "bus",
    "ticket",
    "price",
    "cheap",
    "expensive",
    "question",
    "answer",
    "help",
    "please",
    "sorry",
    "agree",
    "idea",
    "plan",
    "check",
    "update",
    "version",
    "patch",
    "logs",
    "error",
    "restart",
    "back",
    "brb",
    "afk",
];
