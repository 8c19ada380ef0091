//! The statements a projection wants executed for a batch of events.
//!
//! Handlers are pure: they turn events into SQL statements with parameters and never wait on
//! the database. The runner then sends every statement of a batch in one pipeline (tokio-postgres
//! sends queued statements without waiting for each reply), so a batch costs about one round trip
//! however many statements it has. Hot paths (messages, last-seen) are written set-based: one
//! statement over arrays for the whole batch.

use tokio_postgres::types::ToSql;

/// One statement parameter.
pub type Param = Box<dyn ToSql + Sync + Send>;

/// Builds a `Vec<Param>` from expressions: `params![id, nick.to_string(), at]`.
#[macro_export]
macro_rules! params {
    ($($p:expr),* $(,)?) => { vec![$(Box::new($p) as $crate::writes::Param),*] };
}

pub struct Write {
    pub sql: &'static str,
    pub params: Vec<Param>,
}

/// The statements for one batch, in the order they must run.
#[derive(Default)]
pub struct Writes {
    items: Vec<Write>,
}

impl Writes {
    pub fn push(&mut self, sql: &'static str, params: Vec<Param>) {
        self.items.push(Write { sql, params });
    }

    pub fn iter(&self) -> impl Iterator<Item = &Write> {
        self.items.iter()
    }
}

impl std::fmt::Debug for Writes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.items.iter().map(|w| w.sql)).finish()
    }
}
