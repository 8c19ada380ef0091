//! What a projection is: a name, a version, the events it reads, its tables, and a pure handler.

use domain::Event;
use store::Envelope;

use crate::writes::Writes;

/// A read model fed from the log.
///
/// The runner owns everything around it (checkpoints, transactions, generations); a projection
/// only says which tables it has and which statements each batch of events becomes. `apply`
/// must be deterministic (times come from the events, never from the clock) so that a rebuild
/// from zero produces exactly the live tables.
pub trait Projection: Send + Sync + 'static {
    /// Stable name (`users`); also the prefix of its generation schemas.
    fn name(&self) -> &'static str;

    /// Bumped whenever `schema` or `apply` change meaning; a new version is built side by side.
    fn version(&self) -> i32;

    /// The stored event types it reads; the runner subscribes to exactly these.
    fn event_types(&self) -> &'static [&'static str];

    /// DDL creating its tables, with unqualified names (run inside the generation's schema).
    /// Table names must be unique across projections: each becomes a view `read.<table>`.
    ///
    /// Indexes that only readers use, and exclusion constraints, go after a line
    /// `-- @reader-indexes`: a rebuild creates them after its bulk load, where one sorted build
    /// (and one check) costs far less than keeping them up to date row by row. Everything the
    /// handlers' own statements need (keys for upserts, the indexes their updates look rows up
    /// by) stays above it.
    fn schema(&self) -> &'static str;

    /// The statements for a batch of events (all of them among `event_types`), in log order.
    fn apply(&self, events: &[&Envelope<Event>], out: &mut Writes);
}

/// Every projection Switchboard runs.
pub fn all() -> Vec<std::sync::Arc<dyn Projection>> {
    use crate::models::*;
    vec![
        std::sync::Arc::new(users::Users),
        std::sync::Arc::new(rooms::Rooms),
        std::sync::Arc::new(reply_numbers::ReplyNumbers),
        std::sync::Arc::new(last_seen::LastSeen),
        std::sync::Arc::new(history::History),
        std::sync::Arc::new(quotes::Quotes),
        std::sync::Arc::new(deliveries::Deliveries),
    ]
}

/// The projections with these names (all when `names` is empty), or a clear error naming the
/// unknown one.
pub fn select(names: &[String]) -> Result<Vec<std::sync::Arc<dyn Projection>>, crate::ProjectionError> {
    let all = all();
    if names.is_empty() {
        return Ok(all);
    }
    names
        .iter()
        .map(|name| {
            all.iter()
                .find(|p| p.name() == name)
                .cloned()
                .ok_or_else(|| crate::ProjectionError::Unknown(name.clone(), all.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_projection_reads_only_event_types_the_domain_has_each_once() {
        let known: BTreeSet<&str> = domain::events::EVENT_TYPES.iter().copied().collect();
        for projection in all() {
            let mut seen = BTreeSet::new();
            for event_type in projection.event_types() {
                assert!(known.contains(event_type), "{} reads {event_type:?}, which the domain does not have", projection.name());
                assert!(seen.insert(event_type), "{} lists {event_type:?} twice", projection.name());
            }
            assert!(!seen.is_empty(), "{} reads no events", projection.name());
        }
    }

    #[test]
    fn projection_names_are_unique() {
        let names: Vec<&str> = all().iter().map(|p| p.name()).collect();
        let unique: BTreeSet<&str> = names.iter().copied().collect();
        assert_eq!(names.len(), unique.len(), "{names:?}");
    }
}
