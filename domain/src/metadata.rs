//! Metadata carried by every event: who caused it, through which gateway, and in answer to what.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a command came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Gateway {
    Irc,
    Sms,
    Api,
    System,
}

impl Gateway {
    /// Every gateway, in declaration order.
    pub const ALL: [Gateway; 4] = [Gateway::Irc, Gateway::Sms, Gateway::Api, Gateway::System];

    pub fn as_str(self) -> &'static str {
        match self {
            Gateway::Irc => "irc",
            Gateway::Sms => "sms",
            Gateway::Api => "api",
            Gateway::System => "system",
        }
    }
}

/// A name that is not one of [`Gateway::as_str`]'s.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no gateway is called {0:?} (irc, sms, api or system)")]
pub struct UnknownGateway(pub String);

impl std::str::FromStr for Gateway {
    type Err = UnknownGateway;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Gateway::ALL.into_iter().find(|g| g.as_str() == name).ok_or_else(|| UnknownGateway(name.to_owned()))
    }
}

impl fmt::Display for Gateway {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who caused an event. Stored as a plain string (`user:<uuid>`, `system`, `anonymous`) so the
/// audit log can filter on it with an index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Actor {
    /// A known user.
    User(Uuid),
    /// Someone not (yet) known: an unknown SMS number, an IRC nick without a session.
    Anonymous,
    /// Switchboard itself: timers, the bot, migrations.
    System,
}

impl Actor {
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            Actor::User(id) => Some(*id),
            _ => None,
        }
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Actor::User(id) => write!(f, "user:{id}"),
            Actor::Anonymous => f.write_str("anonymous"),
            Actor::System => f.write_str("system"),
        }
    }
}

impl std::str::FromStr for Actor {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "system" => Ok(Actor::System),
            "anonymous" => Ok(Actor::Anonymous),
            other => other
                .strip_prefix("user:")
                .and_then(|id| Uuid::parse_str(id).ok())
                .map(Actor::User)
                .ok_or_else(|| format!("unknown actor {other:?}")),
        }
    }
}

impl Serialize for Actor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Actor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Metadata stored with every event. `event_id` and `recorded_at` live in their own columns;
/// this is the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    pub actor: Actor,
    pub gateway: Gateway,
    /// Shared by every event caused, directly or not, by one outside request.
    pub correlation_id: Uuid,
    /// The event (or inbound request) that directly caused this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<Uuid>,
}

impl Metadata {
    /// Metadata for a new outside request: a fresh correlation id, no cause.
    pub fn new(actor: Actor, gateway: Gateway) -> Self {
        Self { actor, gateway, correlation_id: Uuid::now_v7(), causation_id: None }
    }

    /// Metadata for work caused by an earlier event: same correlation, that event as cause.
    pub fn caused_by(&self, event_id: Uuid, actor: Actor, gateway: Gateway) -> Self {
        Self { actor, gateway, correlation_id: self.correlation_id, causation_id: Some(event_id) }
    }

    pub fn system() -> Self {
        Self::new(Actor::System, Gateway::System)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gateways_parse_from_their_stored_names_and_nothing_else() {
        for gateway in Gateway::ALL {
            assert_eq!(gateway.as_str().parse(), Ok(gateway));
            assert_eq!(serde_json::to_value(gateway).unwrap(), serde_json::Value::String(gateway.as_str().into()));
        }
        assert_eq!("IRC".parse::<Gateway>(), Err(UnknownGateway("IRC".into())));
        assert!("".parse::<Gateway>().is_err());
    }

    #[test]
    fn actors_round_trip_through_their_stored_form() {
        for actor in [Actor::System, Actor::Anonymous, Actor::User(Uuid::now_v7())] {
            let json = serde_json::to_string(&actor).unwrap();
            assert_eq!(serde_json::from_str::<Actor>(&json).unwrap(), actor);
        }
        assert!("user:nope".parse::<Actor>().is_err());
    }

    #[test]
    fn metadata_serialises_with_lowercase_gateway_and_omits_missing_cause() {
        let meta = Metadata::new(Actor::System, Gateway::Irc);
        let json = serde_json::to_value(&meta).unwrap();
        assert_eq!(json["gateway"], "irc");
        assert!(json.get("causation_id").is_none());
    }
}
