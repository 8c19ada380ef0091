//! The moderation desk, for staff (level 4) and superusers: open ban requests with approve and
//! reject; each room's bans and mutes with "lift", its members with "kick", and forms to ban,
//! mute and kick; user search with level changes (never above the viewer's own level). The
//! room steps (create, bind, say as the bot) are [`super::room_admin`], SMS deliveries
//! [`super::deliveries`].
//!
//! Every step is a function of [`api::moderation`], the same one the GraphQL mutation calls, so
//! each level check happens there, once. The desk itself needs staff; after a step the page
//! waits until the rooms and users read models have it, then sends the browser back
//! (post/redirect/get) so a reload repeats nothing.

use axum::extract::{Path, Query, State};
use axum::response::Redirect;
use domain::{Actor, Gateway, Level, Metadata};
use maud::{Markup, html};
use projections::AsOf;
use projections::queries::{BanRequestStatus, UserFilter};
use serde::Deserialize;
use uuid::Uuid;

use crate::WebState;
use crate::csrf::CsrfForm;
use crate::error::PageError;
use crate::layout::{self, Field, field};
use crate::session::SignedIn;

const DESK: &str = "the moderation desk";

fn metadata(signed_in: &SignedIn) -> Metadata {
    Metadata::new(Actor::User(signed_in.viewer.user_id), Gateway::Api)
}

fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// Whom a ban names, in words: the account's nick, or the mask.
async fn target_name(state: &WebState, user: Option<Uuid>, mask: Option<&str>) -> Result<String, PageError> {
    Ok(match (user, mask) {
        (Some(user_id), _) => match state.app.read.user(user_id).await? {
            Some(user) => user.nick,
            None => user_id.to_string(),
        },
        (None, Some(mask)) => mask.to_owned(),
        (None, None) => "—".to_owned(),
    })
}

/// Who did something, in words: `user:<id>` becomes the account's nick.
async fn actor_name(state: &WebState, by: &str) -> Result<String, PageError> {
    match by.strip_prefix("user:").and_then(|id| id.parse::<Uuid>().ok()) {
        Some(user_id) => target_name(state, Some(user_id), None).await,
        None => Ok(by.to_owned()),
    }
}

#[derive(Debug, Deserialize)]
pub struct DeskQuery {
    /// Part of a nick or username to search for.
    #[serde(default)]
    q: String,
}

pub async fn desk(State(state): State<WebState>, signed_in: SignedIn, Query(query): Query<DeskQuery>) -> Result<Markup, PageError> {
    let viewer = signed_in.require(Level::Staff, DESK)?.clone();
    let read = &state.app.read;
    let rooms = read.rooms(None).await?;
    let mut open = Vec::new();
    for room in &rooms {
        for request in read.ban_requests(room.room_id, Some(BanRequestStatus::Open)).await? {
            let target = target_name(&state, request.target_user, request.target_mask.as_deref()).await?;
            let by = actor_name(&state, &request.by).await?;
            open.push((room, request, target, by));
        }
    }
    let text = query.q.trim();
    let users = if text.is_empty() {
        Vec::new()
    } else {
        read.users(&UserFilter { text: Some(text.to_owned()), ..Default::default() }, "", 50).await?
    };
    let visitor = &signed_in.visitor;
    let grantable: Vec<Level> = (0..=viewer.level.as_u8()).filter_map(|l| Level::try_from(l).ok()).collect();
    Ok(layout::page(
        visitor,
        "Moderation desk",
        html! {
            section aria-labelledby="requests" {
                h2 id="requests" { "Open ban requests" }
                @if open.is_empty() { p { "No open ban requests." } }
                @else {
                    table.requests {
                        thead { tr { th { "Room" } th { "Ban" } th { "Reason" } th { "Asked by" } th { "When" } th { "Decide" } } }
                        tbody {
                            @for (room, request, target, by) in &open {
                                tr data-request=(request.request_id) {
                                    td { (room.name) }
                                    td { (target) }
                                    td { (request.reason) }
                                    td { (by) }
                                    td { (when(request.requested_at)) }
                                    td {
                                        form.inline method="post" action="/staff/ban-requests/approve" {
                                            (layout::csrf_field(visitor))
                                            input type="hidden" name="room" value=(room.room_id);
                                            input type="hidden" name="request" value=(request.request_id);
                                            label { "For " input name="duration" size="4" placeholder="e.g. 1d" aria-label="Ban duration (empty: until lifted)"; }
                                            button type="submit" { "Approve" }
                                        }
                                        form.inline method="post" action="/staff/ban-requests/reject" {
                                            (layout::csrf_field(visitor))
                                            input type="hidden" name="room" value=(room.room_id);
                                            input type="hidden" name="request" value=(request.request_id);
                                            button type="submit" { "Reject" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="rooms" {
                h2 id="rooms" { "Rooms" }
                p { a href="/history/charts" { "Statistics" } " · " a href="/staff/deliveries" { "SMS deliveries" } }
                (super::room_admin::create_form(visitor))
                ul.rooms {
                    @for room in &rooms {
                        li {
                            a href={ "/staff/rooms/" (room.room_id) } { (room.name) }
                            " (" a href={ "/history/rooms/" (room.room_id) } { "history" } ")"
                            @if let Some(channel) = &room.irc_channel { " · IRC " code { (channel) } }
                            @if let Some(number) = &room.sms_number { " · SMS " code { (number) } }
                        }
                    }
                }
            }
            section aria-labelledby="users" {
                h2 id="users" { "Users" }
                form method="get" action="/staff" role="search" {
                    (field(Field { value: text, required: false, hint: Some("Part of a nick or username."), ..Field::new("q", "Find users") }))
                    button type="submit" { "Search" }
                }
                @if !text.is_empty() {
                    @if users.is_empty() { p { "Nobody matches." } }
                    table.users {
                        thead { tr { th { "Nick" } th { "Username" } th { "Level" } th { "Change level" } } }
                        tbody {
                            @for user in &users {
                                @let level = api::graphql::level_of(user.level);
                                tr data-nick=(user.nick) {
                                    td { (user.nick) }
                                    td { (user.username.as_deref().unwrap_or("—")) }
                                    td.level { (level.as_u8()) " (" (level.name()) ")" }
                                    td {
                                        form.inline method="post" action="/staff/level" {
                                            (layout::csrf_field(visitor))
                                            input type="hidden" name="nick" value=(user.nick);
                                            input type="hidden" name="q" value=(text);
                                            select name="level" aria-label={ "New level for " (user.nick) } {
                                                @for option in &grantable {
                                                    option value=(option.as_u8()) selected[*option == level] { (option.as_u8()) " " (option.name()) }
                                                }
                                            }
                                            button type="submit" { "Set" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

pub async fn room_desk(State(state): State<WebState>, signed_in: SignedIn, Path(room_id): Path<Uuid>) -> Result<Markup, PageError> {
    signed_in.require(Level::Staff, DESK)?;
    let read = &state.app.read;
    let room = read.room(room_id, None).await?.ok_or(PageError::NotFound)?;
    let members = read.members(room_id, AsOf::Now).await?;
    let mut bans = Vec::new();
    for ban in read.bans(room_id, AsOf::Now).await? {
        let target = target_name(&state, ban.target_user, ban.target_mask.as_deref()).await?;
        bans.push((ban, target));
    }
    let mutes = read.room_mutes(room_id, AsOf::Now).await?;
    let visitor = &signed_in.visitor;
    let action = |what: &str| format!("/staff/rooms/{room_id}/{what}");
    Ok(layout::page(
        visitor,
        &format!("Moderation: {}", room.name),
        html! {
            p { a href="/staff" { "Back to the desk" } " · " a href={ "/history/rooms/" (room_id) } { "History" } }
            (super::room_admin::room_sections(visitor, &room))
            section aria-labelledby="bans" {
                h2 id="bans" { "Bans in force" }
                @if bans.is_empty() { p { "Nobody is banned." } }
                ul.bans {
                    @for (ban, target) in &bans {
                        li {
                            strong { (target) }
                            @if let Some(reason) = &ban.reason { " — " (reason) }
                            " · since " (when(ban.banned_at))
                            @match ban.until { Some(until) => { " · until " (when(until)) }, None => { " · until lifted" } }
                            form.inline method="post" action=(action("unban")) {
                                (layout::csrf_field(visitor))
                                input type="hidden" name="ban" value=(ban.ban_id);
                                button type="submit" { "Lift" }
                            }
                        }
                    }
                }
                form method="post" action=(action("ban")) {
                    (layout::csrf_field(visitor))
                    (field(Field { required: false, hint: Some("An account's nick, or leave empty and give a mask."), ..Field::new("nick", "Nick") }))
                    (field(Field { required: false, hint: Some("nick!user@host, * and ? as wildcards."), ..Field::new("mask", "Mask") }))
                    (field(Field { required: false, hint: Some("30m, 2h, 3d, 1w; empty: until lifted."), ..Field::new("duration", "Duration") }))
                    (field(Field { required: false, ..Field::new("reason", "Reason") }))
                    button.danger type="submit" { "Ban" }
                }
            }
            section aria-labelledby="mutes" {
                h2 id="mutes" { "Mutes in force" }
                @if mutes.is_empty() { p { "Nobody is muted." } }
                ul.mutes {
                    @for mute in &mutes {
                        li {
                            strong { (mute.nick) }
                            " · since " (when(mute.since))
                            @match mute.until { Some(until) => { " · until " (when(until)) }, None => { " · until lifted" } }
                            form.inline method="post" action=(action("unmute")) {
                                (layout::csrf_field(visitor))
                                input type="hidden" name="nick" value=(mute.nick);
                                button type="submit" { "Lift" }
                            }
                        }
                    }
                }
                form method="post" action=(action("mute")) {
                    (layout::csrf_field(visitor))
                    (field(Field::new("nick", "Nick")))
                    (field(Field { required: false, hint: Some("30m, 2h, 3d, 1w; empty: until lifted."), ..Field::new("duration", "Duration") }))
                    button type="submit" { "Mute" }
                }
            }
            section aria-labelledby="members" {
                h2 id="members" { "Members" }
                @if members.is_empty() { p { "Nobody is in the room." } }
                ul.members {
                    @for member in &members {
                        li data-nick=(member.nick) {
                            (member.nick) " (" (member.gateway) ")"
                            form.inline method="post" action=(action("kick")) {
                                (layout::csrf_field(visitor))
                                input type="hidden" name="nick" value=(member.nick);
                                button type="submit" { "Kick" }
                            }
                        }
                    }
                }
            }
        },
    ))
}

#[derive(Debug, Deserialize)]
pub struct DecideForm {
    room: Uuid,
    request: Uuid,
    #[serde(default)]
    duration: String,
}

pub async fn approve(
    State(state): State<WebState>,
    signed_in: SignedIn,
    CsrfForm(form): CsrfForm<DecideForm>,
) -> Result<Redirect, PageError> {
    let (app, viewer) = (&state.app, &signed_in.viewer);
    let done =
        api::moderation::approve_ban_request(app, viewer, metadata(&signed_in), form.room, form.request, Some(&form.duration)).await?;
    api::moderation::caught_up(app, done, &["rooms"]).await?;
    Ok(Redirect::to("/staff"))
}

pub async fn reject(
    State(state): State<WebState>,
    signed_in: SignedIn,
    CsrfForm(form): CsrfForm<DecideForm>,
) -> Result<Redirect, PageError> {
    let (app, viewer) = (&state.app, &signed_in.viewer);
    let done = api::moderation::reject_ban_request(app, viewer, metadata(&signed_in), form.room, form.request).await?;
    api::moderation::caught_up(app, done, &["rooms"]).await?;
    Ok(Redirect::to("/staff"))
}

#[derive(Debug, Deserialize)]
pub struct BanForm {
    #[serde(default)]
    nick: String,
    #[serde(default)]
    mask: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Deserialize)]
pub struct LiftBanForm {
    ban: Uuid,
}

#[derive(Debug, Deserialize)]
pub struct NickForm {
    nick: String,
    #[serde(default)]
    duration: String,
    #[serde(default)]
    reason: String,
}

/// Back to the room's desk once the read model has the step.
async fn back_to_room(state: &WebState, room: Uuid, done: api::accounts::Applied) -> Result<Redirect, PageError> {
    api::moderation::caught_up(&state.app, done, &["rooms"]).await?;
    Ok(Redirect::to(&format!("/staff/rooms/{room}")))
}

pub async fn ban(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(room): Path<Uuid>,
    CsrfForm(form): CsrfForm<BanForm>,
) -> Result<Redirect, PageError> {
    let target = (Some(form.nick.as_str()), Some(form.mask.as_str()));
    let metadata = metadata(&signed_in);
    let done =
        api::moderation::ban(&state.app, &signed_in.viewer, metadata, room, target, Some(&form.duration), Some(&form.reason)).await?;
    back_to_room(&state, room, done).await
}

pub async fn lift_ban(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(room): Path<Uuid>,
    CsrfForm(form): CsrfForm<LiftBanForm>,
) -> Result<Redirect, PageError> {
    let done = api::moderation::lift_ban(&state.app, &signed_in.viewer, metadata(&signed_in), room, form.ban).await?;
    back_to_room(&state, room, done).await
}

pub async fn mute(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(room): Path<Uuid>,
    CsrfForm(form): CsrfForm<NickForm>,
) -> Result<Redirect, PageError> {
    let done = api::moderation::mute(&state.app, &signed_in.viewer, metadata(&signed_in), room, &form.nick, Some(&form.duration)).await?;
    back_to_room(&state, room, done).await
}

pub async fn unmute(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(room): Path<Uuid>,
    CsrfForm(form): CsrfForm<NickForm>,
) -> Result<Redirect, PageError> {
    let done = api::moderation::unmute(&state.app, &signed_in.viewer, metadata(&signed_in), room, &form.nick).await?;
    back_to_room(&state, room, done).await
}

pub async fn kick(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(room): Path<Uuid>,
    CsrfForm(form): CsrfForm<NickForm>,
) -> Result<Redirect, PageError> {
    let done = api::moderation::kick(&state.app, &signed_in.viewer, metadata(&signed_in), room, &form.nick, Some(&form.reason)).await?;
    back_to_room(&state, room, done).await
}

#[derive(Debug, Deserialize)]
pub struct LevelForm {
    nick: String,
    level: u8,
    #[serde(default)]
    q: String,
}

pub async fn set_level(
    State(state): State<WebState>,
    signed_in: SignedIn,
    CsrfForm(form): CsrfForm<LevelForm>,
) -> Result<Redirect, PageError> {
    let level = Level::try_from(form.level).map_err(|_| PageError::BadForm(format!("there is no level {}", form.level)))?;
    let done = api::moderation::set_level(&state.app, &signed_in.viewer, metadata(&signed_in), &form.nick, level).await?;
    api::moderation::caught_up(&state.app, done, &["users"]).await?;
    let back = serde_urlencoded::to_string([("q", form.q.as_str())]).unwrap_or_default();
    Ok(Redirect::to(&format!("/staff?{back}")))
}
