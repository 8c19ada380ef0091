//! What the bot remembers for everyone: `.seen`, the quote book (`.quote …`) and shared facts
//! (`.info …`). Reading is open to guests; changing needs what the domain asks (a member to add,
//! the adder or an operator to delete).

use domain::{DisplayNick, Event, Gateway, InfoCommand, InfoKey, InfoText, Level, QuoteCommand, QuoteText};
use projections::queries::Sighting;

use super::{Answer, Asker, Failure, Handlers};
use crate::irc::bot::backend::Backend;
use crate::irc::bot::replies;

/// How many quotes `.quote search` shows.
const SEARCH_RESULTS: i64 = 3;

impl<B: Backend> Handlers<'_, B> {
    /// `.seen <nick>`: when and where, on IRC or SMS. Seen on IRC, the place is the channel
    /// people know (`#lobby`); by SMS it is the room's name. Of someone whose profile is private,
    /// only when is told, except to members of that room and staff.
    pub async fn seen(&self, asker: &Asker, nick: &str) -> Answer {
        if self.state.is_me(nick) {
            self.state.reply(asker, replies::SEEN_MYSELF);
            return Ok(());
        }
        if nick.eq_ignore_ascii_case(&asker.who.nick) {
            self.state.reply(asker, replies::SEEN_YOURSELF);
            return Ok(());
        }
        let text = match self.backend.last_seen(nick).await? {
            None => replies::never_seen(nick),
            Some(sighting) if self.sighting_hidden(asker, &sighting).await? => replies::sighting_private(&sighting),
            Some(sighting) => {
                let channel = (sighting.gateway == Gateway::Irc).then(|| self.state.channels.of_room(sighting.room_id)).flatten();
                replies::sighting(&sighting, channel.as_ref().map(|c| c.channel.as_str()))
            }
        };
        self.state.reply(asker, &text);
        Ok(())
    }

    /// Whether where `sighting`'s person was and what they did is kept from the asker: their
    /// profile is private and the asker is neither in that room nor staff.
    async fn sighting_hidden(&self, asker: &Asker, sighting: &Sighting) -> Result<bool, Failure> {
        let Some(person) = sighting.user_id else { return Ok(false) };
        if !self.backend.user(person).await?.private {
            return Ok(false);
        }
        let Some(session) = self.state.session_of(&asker.who) else { return Ok(true) };
        if session.user_id == person || self.backend.user(session.user_id).await?.level >= Level::Staff {
            return Ok(false);
        }
        Ok(!self.backend.is_member(sighting.room_id, session.user_id).await?)
    }

    /// `.quote`
    pub async fn random_quote(&self, asker: &Asker) -> Answer {
        let text = match self.backend.random_quote().await? {
            Some(q) => replies::quote(&q),
            None => replies::QUOTE_BOOK_EMPTY.into(),
        };
        self.state.reply(asker, &text);
        Ok(())
    }

    /// `.quote <id>`
    pub async fn quote(&self, asker: &Asker, id: i64) -> Answer {
        let text = match self.backend.quote(id).await? {
            Some(q) => replies::quote(&q),
            None => replies::no_quote(id),
        };
        self.state.reply(asker, &text);
        Ok(())
    }

    /// `.quote add <nick> <text>`
    pub async fn add_quote(&self, asker: &Asker, nick: &str, text: &str) -> Answer {
        let level = self.level_of(&asker.who).await?;
        let add = QuoteCommand::Add { nick: DisplayNick::parse(nick)?, text: QuoteText::parse(text)?, caller_level: level };
        let events = self.backend.execute_quotes(&add, self.actor(asker)).await?;
        let id = events.iter().find_map(|e| if let Event::QuoteAdded(q) = e { Some(q.quote_id) } else { None });
        self.state.reply(asker, &replies::quote_added(id.unwrap_or_default()));
        Ok(())
    }

    /// `.quote search <words>`: the best few.
    pub async fn search_quotes(&self, asker: &Asker, words: &str) -> Answer {
        let found = self.backend.search_quotes(words, SEARCH_RESULTS).await?;
        if found.is_empty() {
            self.state.reply(asker, replies::NO_QUOTE_MATCHES);
        }
        for q in found {
            self.state.reply(asker, &replies::quote(&q));
        }
        Ok(())
    }

    /// `.quote del <id>`
    pub async fn delete_quote(&self, asker: &Asker, id: i64) -> Answer {
        let level = self.level_of(&asker.who).await?;
        let delete = QuoteCommand::Delete { quote_id: id as u64, caller_level: level };
        self.backend.execute_quotes(&delete, self.actor(asker)).await?;
        self.state.reply(asker, &replies::quote_deleted(id));
        Ok(())
    }

    /// `.info <item>`
    pub async fn info(&self, asker: &Asker, item: &str) -> Answer {
        let text = match self.backend.info_item(item).await? {
            Some(entry) => replies::info(&entry),
            None => replies::unknown_info(item),
        };
        self.state.reply(asker, &text);
        Ok(())
    }

    /// `.info add <item> <text>`
    pub async fn add_info(&self, asker: &Asker, item: &str, text: &str) -> Answer {
        let level = self.level_of(&asker.who).await?;
        let key = InfoKey::parse(item)?;
        let add = InfoCommand::Add { item: key.clone(), text: InfoText::parse(text)?, caller_level: level };
        self.backend.execute_info(&key, &add, self.actor(asker)).await?;
        self.state.reply(asker, &replies::info_added(item));
        Ok(())
    }

    /// `.info set <item> <text>`
    pub async fn set_info(&self, asker: &Asker, item: &str, text: &str) -> Answer {
        let level = self.level_of(&asker.who).await?;
        let key = InfoKey::parse(item)?;
        let set = InfoCommand::Replace { text: InfoText::parse(text)?, caller_level: level };
        self.backend.execute_info(&key, &set, self.actor(asker)).await?;
        self.state.reply(asker, &replies::info_replaced(item));
        Ok(())
    }

    /// `.info del <item>`
    pub async fn delete_info(&self, asker: &Asker, item: &str) -> Answer {
        let level = self.level_of(&asker.who).await?;
        let key = InfoKey::parse(item)?;
        self.backend.execute_info(&key, &InfoCommand::Delete { caller_level: level }, self.actor(asker)).await?;
        self.state.reply(asker, &replies::info_deleted(item));
        Ok(())
    }
}
