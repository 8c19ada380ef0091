//! Reads of `last_seen`: where and when a nick was last seen.

use chrono::{DateTime, Utc};
use domain::Gateway;
use uuid::Uuid;

use super::Activity;
use crate::error::ProjectionError;
use crate::queries::ReadModels;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sighting {
    pub nick: String,
    pub user_id: Option<Uuid>,
    /// Nil for activity outside rooms (a nick change).
    pub room_id: Uuid,
    pub room_name: Option<String>,
    /// Whether the room is invite-only: its text is never revealed.
    pub room_private: bool,
    pub at: DateTime<Utc>,
    pub gateway: Gateway,
    pub activity: Activity,
    pub detail: Option<String>,
}

impl ReadModels {
    /// Where and when a nick was last seen, with the room's privacy (callers hide private text).
    pub async fn last_seen(&self, nick: &str) -> Result<Option<Sighting>, ProjectionError> {
        let rows = self
            .query(
                "SELECT s.nick, s.user_id, s.room_id, r.name, coalesce(r.invite_only, false), s.seen_at, s.gateway, s.activity, s.detail \
                 FROM read.last_seen s LEFT JOIN read.rooms r ON r.room_id = s.room_id \
                 WHERE s.nick_fold = $1 ORDER BY s.seen_at DESC LIMIT 1",
                &[&nick.to_ascii_lowercase()],
            )
            .await?;
        let Some(r) = rows.first() else { return Ok(None) };
        let unknown = |column, value: String| ProjectionError::UnknownStoredValue { table: "last_seen", column, value };
        let gateway: String = r.get(6);
        let activity: String = r.get(7);
        Ok(Some(Sighting {
            nick: r.get(0),
            user_id: r.get(1),
            room_id: r.get(2),
            room_name: r.get(3),
            room_private: r.get(4),
            at: r.get(5),
            gateway: gateway.parse().map_err(|_| unknown("gateway", gateway.clone()))?,
            activity: activity.parse().map_err(|_| unknown("activity", activity.clone()))?,
            detail: r.get(8),
        }))
    }
}
