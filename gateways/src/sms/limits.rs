//! Per-member cost limits on what one person can make Switchboard text: invitations to new
//! numbers, `#resend`, and an IRC guest's lines fanned out to a room's phones. Every text costs
//! money, and without a bound one member (or one anonymous IRC nick) could run up the bill.
//!
//! Counted in memory over a sliding window on the time each request was recorded (not the clock
//! of the moment it is handled, so a backlog is judged as it arrived). A restart starts the
//! counts afresh: a limit can then admit more, never refuse what was allowed, and a replayed
//! request (same id) is counted once, so replays queue nothing new.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use uuid::Uuid;

/// How much each member may spend; `0` turns a limit off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CostLimits {
    /// Invitations one member may send from one room in 24 hours.
    pub invites_per_day: u32,
    /// Texts one member may have resent (`#resend`) from one room in an hour.
    pub resent_texts_per_hour: u32,
    /// Lines one IRC guest (no account) may have texted to one room's phones in an hour.
    pub guest_lines_per_hour: u32,
}

impl Default for CostLimits {
    fn default() -> Self {
        Self { invites_per_day: 10, resent_texts_per_hour: 30, guest_lines_per_hour: 60 }
    }
}

/// What is being paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Spend {
    Invite,
    Resend,
    GuestLine,
}

impl Spend {
    fn window(self) -> TimeDelta {
        match self {
            Spend::Invite => TimeDelta::days(1),
            Spend::Resend | Spend::GuestLine => TimeDelta::hours(1),
        }
    }

    fn limit(self, limits: &CostLimits) -> u32 {
        match self {
            Spend::Invite => limits.invites_per_day,
            Spend::Resend => limits.resent_texts_per_hour,
            Spend::GuestLine => limits.guest_lines_per_hour,
        }
    }
}

/// Who spends: one member (or guest nick, casefolded) in one room.
type Spender = (Spend, Uuid, String);
/// What a spender spent in the window, oldest first: when, for which request, how much.
type Spent = VecDeque<(DateTime<Utc>, Uuid, u32)>;

/// Spending per member within each limit's window (shared by clones).
#[derive(Clone, Debug, Default)]
pub struct Spending {
    limits: CostLimits,
    spent: Arc<Mutex<HashMap<Spender, Spent>>>,
    /// When each spender was last told they reached a limit.
    told: Arc<Mutex<HashMap<Spender, DateTime<Utc>>>>,
}

/// Beyond this many spenders, the ones with nothing left in their window are forgotten.
const SWEEP_ABOVE: usize = 10_000;

impl Spending {
    pub fn new(limits: CostLimits) -> Self {
        Self { limits, spent: Arc::default(), told: Arc::default() }
    }

    pub fn limits(&self) -> CostLimits {
        self.limits
    }

    /// Records that `who` in `room` spends `amount` for request `request` recorded `at`, unless
    /// that takes them over the limit (then nothing is recorded and `false` is returned). A
    /// request already counted is allowed again without counting twice.
    pub fn try_spend(&self, spend: Spend, room: Uuid, who: &str, request: Uuid, at: DateTime<Utc>, amount: u32) -> bool {
        let limit = spend.limit(&self.limits);
        if limit == 0 {
            return true;
        }
        let mut spent = self.spent.lock().expect("spending lock");
        if spent.len() > SWEEP_ABOVE {
            spent.retain(|(kind, _, _), entries| entries.back().is_some_and(|(t, _, _)| *t > at - kind.window()));
        }
        let entries = spent.entry((spend, room, who.to_owned())).or_default();
        while entries.front().is_some_and(|(t, _, _)| *t <= at - spend.window()) {
            entries.pop_front();
        }
        if entries.iter().any(|(_, id, _)| *id == request) {
            return true;
        }
        let used: u32 = entries.iter().map(|(_, _, n)| n).sum();
        if used.saturating_add(amount) > limit {
            return false;
        }
        entries.push_back((at, request, amount));
        true
    }
}

impl Spending {
    /// Whether a refusal at `at` is the first in the limit's window, so worth telling (an IRC
    /// guest over the limit hears it once an hour, not once a line).
    pub fn first_refusal(&self, spend: Spend, room: Uuid, who: &str, at: DateTime<Utc>) -> bool {
        let mut told = self.told.lock().expect("told lock");
        if told.len() > SWEEP_ABOVE {
            told.retain(|(kind, _, _), t| *t > at - kind.window());
        }
        let last = told.entry((spend, room, who.to_owned())).or_insert(DateTime::<Utc>::MIN_UTC);
        if *last > at - spend.window() {
            return false;
        }
        *last = at;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(minutes: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap() + TimeDelta::minutes(minutes)
    }

    #[test]
    fn a_member_is_refused_over_the_limit_until_the_window_has_passed() {
        let spending = Spending::new(CostLimits { invites_per_day: 2, ..CostLimits::default() });
        let room = Uuid::from_u128(1);
        let request = |n: u128| Uuid::from_u128(100 + n);
        assert!(spending.try_spend(Spend::Invite, room, "alice", request(1), at(0), 1));
        assert!(spending.try_spend(Spend::Invite, room, "alice", request(2), at(1), 1));
        assert!(!spending.try_spend(Spend::Invite, room, "alice", request(3), at(2), 1));
        // Someone else, another room, a replay of a counted request: not affected.
        assert!(spending.try_spend(Spend::Invite, room, "bob", request(4), at(2), 1));
        assert!(spending.try_spend(Spend::Invite, Uuid::from_u128(2), "alice", request(5), at(2), 1));
        assert!(spending.try_spend(Spend::Invite, room, "alice", request(2), at(2), 1));
        // A day after the first, one is free again.
        assert!(spending.try_spend(Spend::Invite, room, "alice", request(6), at(24 * 60), 1));
        assert!(!spending.try_spend(Spend::Invite, room, "alice", request(7), at(24 * 60), 1));
    }

    #[test]
    fn a_refusal_is_news_once_a_window() {
        let spending = Spending::new(CostLimits::default());
        let room = Uuid::from_u128(1);
        assert!(spending.first_refusal(Spend::GuestLine, room, "guest", at(0)));
        assert!(!spending.first_refusal(Spend::GuestLine, room, "guest", at(59)));
        assert!(spending.first_refusal(Spend::GuestLine, room, "other", at(59)));
        assert!(spending.first_refusal(Spend::GuestLine, room, "guest", at(61)));
    }

    #[test]
    fn amounts_count_and_zero_means_no_limit() {
        let spending = Spending::new(CostLimits { resent_texts_per_hour: 5, guest_lines_per_hour: 0, ..CostLimits::default() });
        let room = Uuid::from_u128(1);
        assert!(spending.try_spend(Spend::Resend, room, "alice", Uuid::from_u128(1), at(0), 4));
        assert!(!spending.try_spend(Spend::Resend, room, "alice", Uuid::from_u128(2), at(1), 2));
        assert!(spending.try_spend(Spend::Resend, room, "alice", Uuid::from_u128(3), at(1), 1));
        assert!((0..1000).all(|n| spending.try_spend(Spend::GuestLine, room, "guest", Uuid::from_u128(n), at(0), 1)));
    }
}
