//! Historic replay: the read models as they stood at a past time or log position.
//!
//! Three tools, cheapest first: temporal tables (`valid @> T` is one GiST lookup, see
//! [`crate::queries`]), mapping between times and log positions, and folding one entity's stream
//! up to a time or version with its aggregate (exact, for anything the tables do not keep).

use chrono::{DateTime, Utc};
use domain::{Aggregate, EventCodec, StreamName};
use store::{Backend, Direction, EventStore, Position};
use tokio_postgres::Client;

use crate::error::ProjectionError;

/// "As of" for a read: now, a time, or a log position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    Now,
    Time(DateTime<Utc>),
    Position(Position),
}

/// How far to fold a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Events recorded at or before this time.
    Time(DateTime<Utc>),
    /// Events up to and including this stream version.
    Version(u64),
}

/// The last position recorded at or before `time` (`None` when the log starts later).
pub async fn position_at(client: &Client, backend: Backend, time: DateTime<Utc>) -> Result<Option<Position>, ProjectionError> {
    Ok(store::catalogue::position_at(client, backend, time).await?)
}

/// When the event at `position` was recorded (`None` for the start or an unknown position).
pub async fn time_of(client: &Client, backend: Backend, position: Position) -> Result<Option<DateTime<Utc>>, ProjectionError> {
    Ok(store::catalogue::recorded_at(client, backend, position).await?)
}

/// The time an [`AsOf`] stands for: `None` means now. A position before the first event is the
/// beginning of time (nothing existed yet).
pub async fn resolve(client: &Client, backend: Backend, as_of: AsOf) -> Result<Option<DateTime<Utc>>, ProjectionError> {
    match as_of {
        AsOf::Now => Ok(None),
        AsOf::Time(t) => Ok(Some(t)),
        AsOf::Position(p) if p.is_start() => Ok(Some(DateTime::<Utc>::UNIX_EPOCH)),
        AsOf::Position(p) => match time_of(client, backend, p).await? {
            Some(t) => Ok(Some(t)),
            None => Err(ProjectionError::Store(store::StoreError::InvalidPosition(format!("no event at {p}")))),
        },
    }
}

/// Folds one stream with its aggregate up to a time or version: the entity exactly as it was.
/// Returns the state and the last version folded (`None`: nothing yet).
pub async fn fold_stream<A>(store: &dyn EventStore, stream: &StreamName, until: Until) -> Result<(A, Option<u64>), ProjectionError>
where
    A: Aggregate,
    A::Event: EventCodec,
{
    const PAGE: usize = 1_000;
    let mut state = A::default();
    let mut version = None;
    let mut from = 0;
    loop {
        let page = store.read_stream(stream, Direction::Forwards, Some(from), PAGE).await?;
        let full = page.len() == PAGE;
        for recorded in page {
            let past_the_end = match until {
                Until::Time(t) => recorded.recorded_at > t,
                Until::Version(v) => recorded.stream_version > v,
            };
            if past_the_end {
                return Ok((state, version));
            }
            version = Some(recorded.stream_version);
            from = recorded.stream_version + 1;
            state = state.evolve(&recorded.decode::<A::Event>()?.event);
        }
        if !full {
            return Ok((state, version));
        }
    }
}
