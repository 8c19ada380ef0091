//! The `quotes` projection: the events it reads and the statements they become.

use domain::{Event, events};
use store::Envelope;

use crate::params;
use crate::projection::Projection;
use crate::writes::Writes;

pub struct Quotes;

const ADD: &str = "INSERT INTO quotes (quote_id, nick, nick_fold, text, added_by, added_at) VALUES ($1, $2, $3, $4, $5, $6)";
const DELETE: &str = "UPDATE quotes SET deleted_at = $2, deleted_by = $3 WHERE quote_id = $1 AND deleted_at IS NULL";
const INFO_ADD: &str = "INSERT INTO info_items (item_fold, item, text, created_by, changed_by, changed_at, revisions) \
     VALUES ($1, $2, $3, $4, $4, $5, 1) \
     ON CONFLICT (item_fold) DO UPDATE SET item = excluded.item, text = excluded.text, created_by = excluded.created_by, \
         changed_by = excluded.changed_by, changed_at = excluded.changed_at, revisions = info_items.revisions + 1";
const INFO_REPLACE: &str =
    "UPDATE info_items SET text = $2, changed_by = $3, changed_at = $4, revisions = revisions + 1 WHERE item_fold = $1";
const INFO_DELETE: &str = "DELETE FROM info_items WHERE item_fold = $1";

impl Projection for Quotes {
    fn name(&self) -> &'static str {
        "quotes"
    }

    fn version(&self) -> i32 {
        1
    }

    fn event_types(&self) -> &'static [&'static str] {
        &[
            events::QuoteAdded::EVENT_TYPE,
            events::QuoteDeleted::EVENT_TYPE,
            events::InfoItemAdded::EVENT_TYPE,
            events::InfoItemReplaced::EVENT_TYPE,
            events::InfoItemDeleted::EVENT_TYPE,
        ]
    }

    fn schema(&self) -> &'static str {
        include_str!("schema.sql")
    }

    fn apply(&self, events: &[&Envelope<Event>], out: &mut Writes) {
        for envelope in events {
            let at = envelope.recorded_at;
            match &envelope.event {
                Event::QuoteAdded(e) => out.push(
                    ADD,
                    params![
                        e.quote_id as i64,
                        e.nick.to_string(),
                        e.nick.casefold(),
                        e.text.to_string(),
                        e.added_by.to_string(),
                        e.added_at
                    ],
                ),
                Event::QuoteDeleted(e) => out.push(DELETE, params![e.quote_id as i64, at, e.by.to_string()]),
                Event::InfoItemAdded(e) => {
                    out.push(INFO_ADD, params![e.item.casefold(), e.item.to_string(), e.text.to_string(), e.by.to_string(), at])
                }
                Event::InfoItemReplaced(e) => out.push(INFO_REPLACE, params![e.item.casefold(), e.text.to_string(), e.by.to_string(), at]),
                Event::InfoItemDeleted(e) => out.push(INFO_DELETE, params![e.item.casefold()]),
                _ => {}
            }
        }
    }
}
