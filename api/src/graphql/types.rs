//! Scalars and inputs shared by several areas.

use async_graphql::{InputValueError, InputValueResult, OneofObject, Scalar, ScalarType, SimpleObject, Value};
use chrono::{DateTime, Utc};
use store::Position;

/// A place in the event log, as an opaque token (e.g. `pg.1.7312.88120`). Every mutation
/// returns the position it produced; pass it as `waitFor` to read your own writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct LogPosition(pub Position);

#[Scalar(name = "Position")]
impl ScalarType for LogPosition {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) if s.len() <= 64 => {
                s.parse().map(LogPosition).map_err(|_| InputValueError::custom(format!("{s:?} is not a log position")))
            }
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.0.to_string())
    }
}

/// A moment in the past: a time, or a log position (exact: the state right after that event).
#[derive(OneofObject, Debug, Clone)]
pub enum AsOf {
    Time(DateTime<Utc>),
    Position(LogPosition),
}

/// What a mutation did: the log position of its last event (or the current head when it
/// changed nothing), to wait for with `waitFor`.
#[derive(SimpleObject, Debug, Clone)]
pub struct Changed {
    pub position: LogPosition,
    /// How many events the mutation appended (0: it was already so).
    pub events: i32,
}

#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    Hour,
    Day,
}

/// Levels by name, 0 guest … 5 superuser (docs/commands.md#levels).
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "Level")]
pub enum LevelName {
    Guest,
    Member,
    Voice,
    Operator,
    Staff,
    Superuser,
}

impl From<domain::Level> for LevelName {
    fn from(level: domain::Level) -> Self {
        use domain::Level as L;
        match level {
            L::Guest => LevelName::Guest,
            L::Member => LevelName::Member,
            L::Voice => LevelName::Voice,
            L::Operator => LevelName::Operator,
            L::Staff => LevelName::Staff,
            L::Superuser => LevelName::Superuser,
        }
    }
}

impl From<LevelName> for domain::Level {
    fn from(level: LevelName) -> Self {
        use domain::Level as L;
        match level {
            LevelName::Guest => L::Guest,
            LevelName::Member => L::Member,
            LevelName::Voice => L::Voice,
            LevelName::Operator => L::Operator,
            LevelName::Staff => L::Staff,
            LevelName::Superuser => L::Superuser,
        }
    }
}
