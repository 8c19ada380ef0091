//! SMS deliveries for staff (level 4) and superusers: every text sent, newest first, by room
//! and status, each with its status history as Twilio reported it (queued, sent, delivered,
//! undelivered, failed; the time of each and Twilio's error code), a page at a time.
//!
//! The rules (who may look, which statuses exist) are [`api::history::deliveries`], the same
//! GraphQL's `deliveries` calls; the rows are the deliveries read model's.

use axum::extract::{Query, State};
use chrono::{DateTime, SecondsFormat, Utc};
use domain::Level;
use maud::{Markup, html};
use projections::queries::DeliveryFilter;
use serde::Deserialize;
use uuid::Uuid;

use crate::WebState;
use crate::error::PageError;
use crate::layout;
use crate::session::SignedIn;

/// Deliveries per page.
const PAGE: i64 = 25;

#[derive(Debug, Deserialize)]
pub struct DeliveriesQuery {
    /// One room's deliveries (empty: every room's).
    #[serde(default)]
    room: String,
    /// One status (empty: any).
    #[serde(default)]
    status: String,
    /// `<RFC 3339 time>,<delivery id>`: deliveries queued before this one.
    before: Option<String>,
}

fn cursor(at: DateTime<Utc>, id: Uuid) -> String {
    format!("{},{id}", at.to_rfc3339_opts(SecondsFormat::Micros, true))
}

fn parse_cursor(raw: &str) -> Result<(DateTime<Utc>, Uuid), PageError> {
    let bad = || PageError::BadForm("that page link is not one this site gave out".into());
    let (at, id) = raw.split_once(',').ok_or_else(bad)?;
    Ok((DateTime::parse_from_rfc3339(at).map_err(|_| bad())?.with_timezone(&Utc), Uuid::parse_str(id).map_err(|_| bad())?))
}

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

pub async fn deliveries(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Query(query): Query<DeliveriesQuery>,
) -> Result<Markup, PageError> {
    let viewer = signed_in.require(Level::Staff, "deliveries")?;
    let app = &state.app;
    let room = match query.room.trim() {
        "" => None,
        id => Some(Uuid::parse_str(id).map_err(|_| PageError::BadForm(format!("“{id}” is not a room id")))?),
    };
    let status = Some(query.status.trim().to_owned()).filter(|s| !s.is_empty());
    let filter = DeliveryFilter { room_id: room, recipient: None, status };
    let before = query.before.as_deref().map(parse_cursor).transpose()?;
    let mut rows = api::history::deliveries(app, viewer, &filter, before, PAGE + 1).await?;
    let older = rows.len() as i64 > PAGE;
    rows.truncate(PAGE as usize);
    let mut shown = Vec::with_capacity(rows.len());
    for row in rows {
        let history = api::history::delivery_history(app, viewer, row.delivery_id).await?;
        shown.push((row, history));
    }
    let rooms = app.read.rooms(None).await?;
    let room_name = |id: Uuid| rooms.iter().find(|r| r.room_id == id).map_or_else(|| id.to_string(), |r| r.name.clone());
    let next = shown.last().map(|(row, _)| {
        serde_urlencoded::to_string([
            ("room", query.room.as_str()),
            ("status", query.status.as_str()),
            ("before", cursor(row.queued_at, row.delivery_id).as_str()),
        ])
        .unwrap_or_default()
    });
    Ok(layout::page(
        &signed_in.visitor,
        "SMS deliveries",
        html! {
            p { a href="/staff" { "Back to the desk" } }
            form method="get" action="/staff/deliveries" {
                label for="room" { "Room" }
                select id="room" name="room" {
                    option value="" { "Every room" }
                    @for r in &rooms {
                        option value=(r.room_id) selected[room == Some(r.room_id)] {
                            (r.name) @if let Some(number) = &r.sms_number { " (" (number) ")" }
                        }
                    }
                }
                label for="status" { "Status" }
                select id="status" name="status" {
                    option value="" { "Any" }
                    @for s in api::history::DELIVERY_STATUSES { option value=(s) selected[query.status == s] { (s) } }
                }
                button type="submit" { "Show" }
            }
            @if shown.is_empty() { p { "No deliveries." } }
            @else {
                table.deliveries {
                    thead { tr { th { "Queued" } th { "Room" } th { "To" } th { "Text" } th { "Status" } th { "History" } } }
                    tbody {
                        @for (row, history) in &shown {
                            tr data-delivery=(row.delivery_id) {
                                td { time datetime=(row.queued_at.to_rfc3339()) { (when(row.queued_at)) } }
                                td { (room_name(row.room_id)) br; small { "from " (row.from_number) } }
                                td { (row.to_number) }
                                td {
                                    (row.body)
                                    @if row.segments > 1 { " " small { "(part " (row.segment) " of " (row.segments) ")" } }
                                }
                                td.status {
                                    strong { (row.status) }
                                    @if let Some(code) = row.error_code { " " span.error-code { "(Twilio error " (code) ")" } }
                                    @if let Some(failure) = &row.failure { br; small { (failure) } }
                                    @if let Some(sid) = &row.twilio_sid { br; small { code { (sid) } } }
                                }
                                td {
                                    ol.status-history {
                                        @for change in history {
                                            li {
                                                (change.status) " at " time datetime=(change.at.to_rfc3339()) { (when(change.at)) }
                                                @if let Some(code) = change.error_code { " (Twilio error " (code) ")" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                nav.pager aria-label="Delivery pages" {
                    @if older && let Some(next) = &next { a href={ "/staff/deliveries?" (next) } { "Older deliveries" } }
                    @if before.is_some() {
                        " " a href={ "/staff/deliveries?" (serde_urlencoded::to_string([("room", query.room.as_str()), ("status", query.status.as_str())]).unwrap_or_default()) } { "Newest deliveries" }
                    }
                }
            }
        },
    ))
}
