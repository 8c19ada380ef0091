//! The quote book: quotes added by member-level users (never a duplicate of a live quote) and
//! deleted by whoever added them or an operator.

use domain::events::{QuoteAdded, QuoteDeleted};
use domain::{Level, QuoteText, StreamName};
use rand::Rng;

use super::config::TRIES;
use super::simulation::{LiveQuote, Sim};
use super::words::text;

impl Sim {
    pub(super) fn quote(&mut self) -> bool {
        if !self.quotes.live.is_empty() && self.chance(0.15) { self.delete_quote() } else { self.add_quote() }
    }

    /// `quote.added` with the next id, by a member-level user, never a duplicate of a live quote.
    pub(super) fn add_quote(&mut self) -> bool {
        for _ in 0..TRIES {
            let adder = self.random_user();
            if self.users[adder].level < Level::Member {
                continue;
            }
            let said_by = self.random_user();
            let nick = self.users[said_by].display();
            let quote = QuoteText::parse(&text(&mut self.rng, 10, 200)).expect("generated quotes are valid");
            let key = (nick.casefold(), quote.dedup_key());
            if self.quotes.keys.contains(&key) {
                continue;
            }
            self.quotes.last_id += 1;
            let quote_id = self.quotes.last_id;
            self.quotes.keys.insert(key.clone());
            self.quotes.live.push(LiveQuote { id: quote_id, added_by: adder, key });
            let added = QuoteAdded { quote_id, nick, text: quote, added_by: self.users[adder].actor(), added_at: self.now() };
            let gateway = self.users[adder].home();
            let meta = self.user_request(adder, gateway);
            self.emit(StreamName::quotes(), &meta, vec![added.into()]);
            return true;
        }
        false
    }

    /// `quote.deleted` of a live quote, by whoever added it or by an operator.
    pub(super) fn delete_quote(&mut self) -> bool {
        let nth = self.rng.random_range(0..self.quotes.live.len());
        let quote = self.quotes.live.swap_remove(nth);
        self.quotes.keys.remove(&quote.key);
        let moderator = self.pick_moderator();
        let caller = match moderator {
            Some(op) if self.chance(0.5) => op,
            _ => quote.added_by,
        };
        let gateway = self.users[caller].home();
        let meta = self.user_request(caller, gateway);
        self.emit(StreamName::quotes(), &meta, vec![QuoteDeleted { quote_id: quote.id, by: self.users[caller].actor() }.into()]);
        true
    }
}
