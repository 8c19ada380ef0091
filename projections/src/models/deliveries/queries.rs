//! Reads of `deliveries` and `delivery_statuses`: outbound texts and what Twilio said of them.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::ProjectionError;
use crate::queries::ReadModels;

/// One outbound text (one segment of a message) to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    pub delivery_id: Uuid,
    pub room_id: Uuid,
    /// Nil for a reply to a number not (yet) a user.
    pub recipient: Uuid,
    pub to_number: String,
    pub from_number: String,
    pub body: String,
    /// 1-based part of a message split for SMS length.
    pub segment: i32,
    pub segments: i32,
    pub queued_at: DateTime<Utc>,
    pub twilio_sid: Option<String>,
    /// `queued`, `sent`, `delivered`, `undelivered`, `failed` or `opted_out`.
    pub status: String,
    pub error_code: Option<i32>,
    pub failure: Option<String>,
}

/// Which deliveries [`ReadModels::deliveries`] lists; every field that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub room_id: Option<Uuid>,
    pub recipient: Option<Uuid>,
    pub status: Option<String>,
}

/// A status Twilio reported for a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryStatusChange {
    pub status: String,
    pub error_code: Option<i32>,
    pub at: DateTime<Utc>,
}

impl ReadModels {
    /// Deliveries matching `filter`, newest first, before a `(queued_at, delivery_id)` cursor, at
    /// most `limit`.
    pub async fn deliveries(
        &self,
        filter: &DeliveryFilter,
        before: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> Result<Vec<DeliveryRow>, ProjectionError> {
        let (before_time, before_id) = before.map_or((None, None), |(t, id)| (Some(t), Some(id)));
        let rows = self
            .query_planned(
                "SELECT delivery_id, room_id, recipient, to_number, from_number, body, segment, segments, queued_at, twilio_sid, \
                        status, error_code, failure FROM read.deliveries \
                 WHERE ($1::uuid IS NULL OR room_id = $1) AND ($2::uuid IS NULL OR recipient = $2) AND ($3::text IS NULL OR status = $3) \
                   AND ($4::timestamptz IS NULL OR (queued_at, delivery_id) < ($4, $5::uuid)) \
                 ORDER BY queued_at DESC, delivery_id DESC LIMIT $6",
                &[&filter.room_id, &filter.recipient, &filter.status, &before_time, &before_id, &limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| DeliveryRow {
                delivery_id: r.get(0),
                room_id: r.get(1),
                recipient: r.get(2),
                to_number: r.get(3),
                from_number: r.get(4),
                body: r.get(5),
                segment: r.get(6),
                segments: r.get(7),
                queued_at: r.get(8),
                twilio_sid: r.get(9),
                status: r.get(10),
                error_code: r.get(11),
                failure: r.get(12),
            })
            .collect())
    }

    /// Every status Twilio reported for a delivery, in order.
    pub async fn delivery_history(&self, delivery_id: Uuid) -> Result<Vec<DeliveryStatusChange>, ProjectionError> {
        let rows = self
            .query_planned("SELECT status, error_code, at FROM read.delivery_statuses WHERE delivery_id = $1 ORDER BY at", &[&delivery_id])
            .await?;
        Ok(rows.iter().map(|r| DeliveryStatusChange { status: r.get(0), error_code: r.get(1), at: r.get(2) }).collect())
    }

    /// The bodies of the last `count` room texts (fan-out of a message, not replies) queued to a
    /// member in a room and not failed, oldest first (`#resend`).
    pub async fn last_room_texts(&self, room_id: Uuid, recipient: Uuid, count: i64) -> Result<Vec<String>, ProjectionError> {
        let rows = self
            .query_planned(
                "SELECT body FROM (SELECT body, queued_at, segment FROM read.deliveries \
                   WHERE room_id = $1 AND recipient = $2 AND cause_message_id IS NOT NULL AND status <> 'failed' \
                   ORDER BY queued_at DESC, segment DESC LIMIT $3) last ORDER BY queued_at, segment",
                &[&room_id, &recipient, &count],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }
}
