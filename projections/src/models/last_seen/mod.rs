//! `last_seen`: when and where each nick was last seen, and what they said or did (`.seen`).
//!
//! `schema.sql` creates its tables, [`writer`] fills them from the log, and [`queries`] reads them
//! (through [`ReadModels`](crate::ReadModels)).

pub mod queries;
pub mod writer;

pub use writer::LastSeen;

/// What a nick was last seen doing. Stored as [`as_str`](Activity::as_str)'s name in
/// `last_seen.activity`, so rows written before this type existed read back unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Activity {
    /// Talked (`detail`: the text).
    Said,
    /// A `/me` action (`detail`: the text).
    Action,
    /// A notice (`detail`: the text).
    Notice,
    Joined,
    /// Left the room (`detail`: why, e.g. `quit`).
    Left,
    /// Was kicked (`detail`: the reason given, if any).
    Kicked,
    /// Changed nick away from this one (`detail`: the new nick); seen outside rooms.
    NickChanged,
}

impl Activity {
    pub const ALL: [Activity; 7] =
        [Activity::Said, Activity::Action, Activity::Notice, Activity::Joined, Activity::Left, Activity::Kicked, Activity::NickChanged];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Activity::Said => "said",
            Activity::Action => "action",
            Activity::Notice => "notice",
            Activity::Joined => "joined",
            Activity::Left => "left",
            Activity::Kicked => "kicked",
            Activity::NickChanged => "nick_changed",
        }
    }
}

impl std::fmt::Display for Activity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A stored activity name this code does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no last-seen activity is called {0:?}")]
pub struct UnknownActivity(pub String);

impl std::str::FromStr for Activity {
    type Err = UnknownActivity;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Activity::ALL.into_iter().find(|a| a.as_str() == name).ok_or_else(|| UnknownActivity(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn activities_read_back_from_the_names_they_are_stored_as() {
        let names: Vec<&str> = Activity::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(names, ["said", "action", "notice", "joined", "left", "kicked", "nick_changed"]);
        for activity in Activity::ALL {
            assert_eq!(activity.as_str().parse(), Ok(activity));
        }
        assert_eq!("Said".parse::<Activity>(), Err(UnknownActivity("Said".into())));
    }
}
