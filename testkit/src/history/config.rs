//! How big a history is and what it is made of: [`HistoryConfig`], the weighted mix of
//! steady-state steps, and the shares and limits the simulation draws with.

/// How big a history to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryConfig {
    /// Seeds every random choice and every id: the same seed gives the same history.
    pub seed: u64,
    /// Exactly this many events are yielded in all (the last append may be cut short).
    pub events: usize,
    /// Registered users; at least 2 are used (the first two are the superusers who set things up).
    pub users: usize,
    /// Rooms, each bound to an IRC channel; at least 1 is used.
    pub rooms: usize,
    /// Rooms also bound to an SMS number; at most `rooms` are.
    pub sms_rooms: usize,
}

impl HistoryConfig {
    /// Proportions of a mid-sized network: one user per 200 events (10 to 5,000), one room per
    /// 25 users (3 to 50), half of the rooms also reachable by SMS.
    pub fn realistic(events: usize, seed: u64) -> Self {
        Self::populated(events, seed, None, None)
    }

    /// The realistic mix with a chosen population: `users` (default as in [`Self::realistic`])
    /// and `rooms` (default one per 25 users, 3 to 50), half of the rooms also on SMS. Room
    /// sizes follow popularity (room `k` weighs `1/(k+1)`): with 100 rooms the largest usually
    /// holds about 0.39 × `users` members.
    pub fn populated(events: usize, seed: u64, users: Option<usize>, rooms: Option<usize>) -> Self {
        let users = users.unwrap_or((events / 200).clamp(10, 5000));
        let rooms = rooms.unwrap_or((users / 25).clamp(3, 50));
        Self { seed, events, users, rooms, sms_rooms: rooms / 2 }
    }
}

/// One steady-state step: a command somebody gives, which becomes one or a few appends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    Message,
    /// Staff speaking through the bot (`.say`).
    BotSay,
    Join,
    Leave,
    Kick,
    RoomMute,
    Ban,
    PersonalMute,
    NickChange,
    LevelOrPrivacy,
    Quote,
    SmsStopStart,
    BanRequest,
    Invite,
    Topic,
    ChannelMode,
}

/// Weights of the steps, per mille. Multi-event steps (kicks, nick changes) make the share of
/// `room.message_posted` among events a little lower than its share of steps.
pub(super) const STEP_MIX: &[(Step, u32)] = &[
    (Step::Message, 840),
    (Step::BotSay, 1),
    (Step::Join, 40),
    (Step::Leave, 30),
    (Step::Kick, 10),
    (Step::RoomMute, 10),
    (Step::Ban, 10),
    (Step::PersonalMute, 10),
    (Step::NickChange, 10),
    (Step::LevelOrPrivacy, 10),
    (Step::Quote, 10),
    (Step::SmsStopStart, 5),
    (Step::BanRequest, 5),
    (Step::Invite, 4),
    (Step::Topic, 2),
    (Step::ChannelMode, 3),
];

/// Memberships per user on average; room sizes follow from it and the rooms' popularity.
pub(super) const MEMBERSHIPS_PER_USER: f64 = 2.0;
/// Share of users with a phone bound, and of those who text rather than use IRC.
pub(super) const PHONE_SHARE: f64 = 0.35;
pub(super) const TEXTING_SHARE: f64 = 0.8;
/// Share of rooms (other than the first, the lobby) that are invite-only.
pub(super) const INVITE_ONLY_SHARE: f64 = 0.15;
/// Share of messages said as `/me`.
pub(super) const ACTION_SHARE: f64 = 0.07;
/// How many random picks a step tries before it gives up and another step runs instead.
pub(super) const TRIES: usize = 8;
/// The bot's nick, kept out of the users' nicks.
pub(super) const BOT_NICK: &str = "Switchboard";
/// 2026-01-01T00:00:00Z: the fixed time part of the event ids (see the module doc).
pub(super) const ID_EPOCH_MS: u64 = 1_767_225_600_000;
/// Lengths of timed bans and mutes, as typed in chat (`1h` … `30d`).
pub(super) const DURATIONS_HOURS: &[i64] = &[1, 2, 6, 12, 24, 72, 168, 336, 720];
