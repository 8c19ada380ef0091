//! A room: its topic, channel and number, members, and recent history a page at a time going
//! back; and "request a ban" (IRC's `.requestban`) for its members, which puts the request on
//! the staff desk. Who sees what is `api::access` (the same rules as GraphQL's `room`,
//! `members` and `messages`); the request is `api::moderation::request_ban`, as GraphQL's
//! `requestBan`.

use axum::extract::{Path, Query, State};
use axum::response::Redirect;
use chrono::{DateTime, SecondsFormat, Utc};
use domain::{Actor, Gateway, Level, Metadata};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use crate::WebState;
use crate::csrf::CsrfForm;
use crate::error::PageError;
use crate::layout::{self, Field, field};
use crate::session::SignedIn;

/// Messages per page.
const PAGE: i64 = 50;

#[derive(Debug, Deserialize)]
pub struct RoomQuery {
    /// `<RFC 3339 time>,<message id>`: show what was said before this message.
    before: Option<String>,
    /// Set after a ban request was sent: say so.
    requested: Option<String>,
}

fn cursor(at: DateTime<Utc>, id: Uuid) -> String {
    format!("{},{id}", at.to_rfc3339_opts(SecondsFormat::Micros, true))
}

fn parse_cursor(raw: &str) -> Result<(DateTime<Utc>, Uuid), PageError> {
    let bad = || PageError::Api(api::error::ApiError::bad_input("that page link is not one this site gave out"));
    let (at, id) = raw.split_once(',').ok_or_else(bad)?;
    Ok((DateTime::parse_from_rfc3339(at).map_err(|_| bad())?.with_timezone(&Utc), Uuid::parse_str(id).map_err(|_| bad())?))
}

pub async fn room(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(room_id): Path<Uuid>,
    Query(query): Query<RoomQuery>,
) -> Result<Markup, PageError> {
    let app = &state.app;
    let viewer = signed_in.require(Level::Member, "a room")?;
    let room = app.read.room(room_id, None).await?.ok_or(PageError::NotFound)?;
    let members = match api::access::require_members_access(app, viewer, &room).await {
        Ok(()) => Ok(app.read.members(room.room_id, projections::AsOf::Now).await?),
        Err(refusal) => Err(refusal.message()),
    };
    let before = query.before.as_deref().map(parse_cursor).transpose()?;
    let history = match api::access::require_history_access(app, viewer, room.room_id).await {
        Ok(()) => {
            let mut page = app.read.messages_before(room.room_id, before, PAGE + 1).await?;
            let older = page.len() as i64 > PAGE;
            page.truncate(PAGE as usize);
            page.reverse();
            Ok((page, older))
        }
        Err(refusal) => Err(refusal.message()),
    };
    let may_request_ban = viewer.level >= Level::Staff || app.read.is_member(room.room_id, viewer.user_id).await?;
    let visitor = &signed_in.visitor;
    Ok(layout::page(
        visitor,
        &room.name,
        html! {
            @if query.requested.is_some() { (layout::notice("Your ban request is with staff. They will decide on the moderation desk.")) }
            @if let Some(topic) = &room.topic { p.topic { strong { "Topic: " } (topic) } }
            p {
                @if let Some(channel) = &room.irc_channel { "On IRC: " code { (channel) } ". " }
                @if let Some(number) = &room.sms_number { "By SMS: " (number) ". " }
                @if room.invite_only { "Invite only." }
            }
            section aria-labelledby="members" {
                h2 id="members" { "Members" }
                @match &members {
                    Ok(members) if members.is_empty() => p { "Nobody is in this room." },
                    Ok(members) => ul.members {
                        @for m in members { li { (m.nick) " " small { "(" (m.gateway) ")" } } }
                    },
                    Err(why) => p { (why) },
                }
            }
            section aria-labelledby="history" {
                h2 id="history" { "Recent messages" }
                @match &history {
                    Ok((messages, older)) => {
                        @if messages.is_empty() { p { "Nothing was said here yet." } }
                        ol.messages {
                            @for m in messages {
                                li {
                                    time datetime=(m.posted_at.to_rfc3339_opts(SecondsFormat::Secs, true)) { (m.posted_at.format("%Y-%m-%d %H:%M")) }
                                    " "
                                    @if m.kind == "action" { "* " strong.nick { (m.author_nick) } " " } @else { strong.nick { "<" (m.author_nick) ">" } " " }
                                    span.body { (m.body) }
                                    " " small { "(" (m.gateway) ")" }
                                }
                            }
                        }
                        nav.pager aria-label="History pages" {
                            @if *older && let Some(first) = messages.first() {
                                a href=(format!("/rooms/{}?before={}", room.room_id, cursor(first.posted_at, first.message_id))) { "Older messages" }
                            }
                            @if before.is_some() { " " a href=(format!("/rooms/{}", room.room_id)) { "Newest messages" } }
                        }
                    }
                    Err(why) => p { (why) },
                }
            }
            @if may_request_ban {
                section aria-labelledby="request-ban" {
                    h2 id="request-ban" { "Request a ban" }
                    p { "Ask staff to ban someone from this room, and say why. Staff decide on the moderation desk." }
                    form method="post" action=(format!("/rooms/{}/ban-request", room.room_id)) {
                        (layout::csrf_field(visitor))
                        (field(Field { hint: Some("Their nick, or an IRC mask such as nick!*@host."), ..Field::new("nick", "Who") }))
                        (field(Field { hint: Some("What they did."), ..Field::new("reason", "Reason") }))
                        button type="submit" { "Request a ban" }
                    }
                }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct BanRequestForm {
    nick: String,
    reason: String,
}

pub async fn request_ban(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(room_id): Path<Uuid>,
    CsrfForm(form): CsrfForm<BanRequestForm>,
) -> Result<Redirect, PageError> {
    let metadata = Metadata::new(Actor::User(signed_in.viewer.user_id), Gateway::Api);
    // A mask is recognised as on IRC (`.requestban`): by its wildcard or separator characters.
    let who = form.nick.trim();
    let target = if who.contains(['!', '@', '*', '?']) { (None, Some(who)) } else { (Some(who), None) };
    let (_, done) = api::moderation::request_ban(&state.app, &signed_in.viewer, metadata, room_id, target, &form.reason).await?;
    api::moderation::caught_up(&state.app, done, &["rooms"]).await?;
    Ok(Redirect::to(&format!("/rooms/{room_id}?requested=1")))
}
