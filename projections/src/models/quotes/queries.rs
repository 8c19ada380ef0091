//! Reads of `quotes` and `info_items`: the quote book (by number, at random, full-text search)
//! and the shared facts.

use chrono::{DateTime, Utc};
use tokio_postgres::Row;

use crate::error::ProjectionError;
use crate::queries::ReadModels;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub quote_id: i64,
    pub nick: String,
    pub text: String,
    /// The actor who added it, as recorded (`user:<id>`, `system`).
    pub added_by: String,
    /// That actor's account nick now, when it is an account.
    pub added_by_nick: Option<String>,
    pub added_at: DateTime<Utc>,
}

impl From<&Row> for Quote {
    fn from(r: &Row) -> Self {
        Quote { quote_id: r.get(0), nick: r.get(1), text: r.get(2), added_by: r.get(3), added_by_nick: r.get(4), added_at: r.get(5) }
    }
}

/// A shared fact (`.info`), with who last changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InfoEntry {
    pub item: String,
    pub text: String,
    /// The actor who last changed it, as recorded (`user:<id>`, `system`).
    pub changed_by: String,
    /// That actor's account nick now, when it is an account.
    pub changed_by_nick: Option<String>,
    pub changed_at: DateTime<Utc>,
    pub revisions: i32,
}

/// The account nick of a recorded actor column (`user:<id>`), NULL for `system` and
/// `anonymous`: people are named by nick, never by id.
fn nick_of_actor(column: &str) -> String {
    format!("CASE WHEN {column} LIKE 'user:%' THEN (SELECT u.nick FROM read.users u WHERE u.user_id = substr({column}, 6)::uuid) END")
}

/// The columns [`Quote::from`] reads, from `read.quotes` (unaliased).
fn quote_columns() -> String {
    format!("quote_id, nick, text, added_by, {}, added_at", nick_of_actor("added_by"))
}

impl ReadModels {
    /// Quotes matching words (full text, best first), at most `limit`.
    pub async fn search_quotes(&self, words: &str, limit: i64) -> Result<Vec<Quote>, ProjectionError> {
        let rows = self
            .query(
                &format!(
                    "SELECT {} FROM read.quotes, websearch_to_tsquery('english', $1) q \
                     WHERE deleted_at IS NULL AND search @@ q ORDER BY ts_rank(search, q) DESC, quote_id LIMIT $2",
                    quote_columns()
                ),
                &[&words, &limit],
            )
            .await?;
        Ok(rows.iter().map(Quote::from).collect())
    }

    /// A page of [`search_quotes`](Self::search_quotes)' ranking: `limit` matches after the
    /// first `offset`.
    pub async fn search_quotes_page(&self, words: &str, offset: i64, limit: i64) -> Result<Vec<Quote>, ProjectionError> {
        let rows = self
            .query_planned(
                &format!(
                    "SELECT {} FROM read.quotes, websearch_to_tsquery('english', $1) q \
                     WHERE deleted_at IS NULL AND search @@ q ORDER BY ts_rank(search, q) DESC, quote_id OFFSET $2 LIMIT $3",
                    quote_columns()
                ),
                &[&words, &offset, &limit],
            )
            .await?;
        Ok(rows.iter().map(Quote::from).collect())
    }

    /// Quotes numbered below `before`, newest first, at most `limit`.
    pub async fn quotes_before(&self, before: i64, limit: i64) -> Result<Vec<Quote>, ProjectionError> {
        let rows = self
            .query_planned(
                &format!(
                    "SELECT {} FROM read.quotes WHERE deleted_at IS NULL AND quote_id < $1 ORDER BY quote_id DESC LIMIT $2",
                    quote_columns()
                ),
                &[&before, &limit],
            )
            .await?;
        Ok(rows.iter().map(Quote::from).collect())
    }

    pub async fn quote(&self, quote_id: i64) -> Result<Option<Quote>, ProjectionError> {
        let rows = self
            .query(&format!("SELECT {} FROM read.quotes WHERE quote_id = $1 AND deleted_at IS NULL", quote_columns()), &[&quote_id])
            .await?;
        Ok(rows.first().map(Quote::from))
    }

    /// A random quote that is not deleted (`.quote`).
    pub async fn random_quote(&self) -> Result<Option<Quote>, ProjectionError> {
        // Picks a random id in the range and takes the next live quote, so the cost does not
        // grow with the book (ORDER BY random() would sort every quote).
        let rows = self
            .query(
                &format!(
                    "WITH bounds AS (SELECT min(quote_id) lo, max(quote_id) hi FROM read.quotes WHERE deleted_at IS NULL), \
                 pick AS (SELECT lo + floor(random() * (hi - lo + 1))::bigint AS id FROM bounds) \
                 SELECT {} FROM read.quotes, pick \
                 WHERE deleted_at IS NULL AND quote_id >= pick.id ORDER BY quote_id LIMIT 1",
                    quote_columns()
                ),
                &[],
            )
            .await?;
        Ok(rows.first().map(Quote::from))
    }

    /// A shared fact by its item name (case-insensitive).
    pub async fn info_item(&self, item: &str) -> Result<Option<InfoEntry>, ProjectionError> {
        let rows = self
            .query(
                &format!(
                    "SELECT item, text, changed_by, {}, changed_at, revisions FROM read.info_items WHERE item_fold = $1",
                    nick_of_actor("changed_by")
                ),
                &[&item.to_lowercase()],
            )
            .await?;
        Ok(rows.first().map(|r| InfoEntry {
            item: r.get(0),
            text: r.get(1),
            changed_by: r.get(2),
            changed_by_nick: r.get(3),
            changed_at: r.get(4),
            revisions: r.get(5),
        }))
    }
}
