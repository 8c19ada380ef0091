//! History for analysts: a room as it was at a chosen moment (topic, members, bans and mutes,
//! the historic replay the GraphQL room fields give with `asOf`), its conversation between two
//! times (searched across the whole window in the database, a page at a time), and message
//! statistics drawn as SVG charts by the server, the IRC vs SMS share among them.
//!
//! Access follows GraphQL exactly: a room's history and members through [`api::access`] (its
//! members and staff), the conversation through [`api::history::conversation`], its bans and
//! mutes for operators and above, statistics through [`api::history::statistics`] and
//! [`api::history::gateway_share`] (staff). Times are UTC; the time picker is a plain
//! `datetime-local` field, so the page works without JavaScript.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use chrono::{DateTime, NaiveDateTime, TimeDelta, Timelike, Utc};
use domain::Level;
use maud::{Markup, html};
use projections::AsOf;
use serde::Deserialize;
use uuid::Uuid;

use crate::WebState;
use crate::error::PageError;
use crate::layout;
use crate::session::SignedIn;

/// Messages per page of a conversation.
const PAGE: i64 = 100;

/// A `datetime-local` value (`2026-12-01T14:30`, seconds optional), read as UTC; empty is none.
fn picked(value: &str) -> Result<Option<DateTime<Utc>>, PageError> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(None);
    }
    ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(value, format).ok())
        .map(|t| Some(t.and_utc()))
        .ok_or_else(|| PageError::BadForm(format!("“{value}” is not a time; use 2026-12-01T14:30 (UTC)")))
}

fn picker_value(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

#[derive(Debug, Deserialize)]
pub struct RoomHistoryQuery {
    #[serde(default)]
    at: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    q: String,
    /// `<RFC 3339 time>,<message id>`: the page after this message.
    after: Option<String>,
}

fn cursor(at: DateTime<Utc>, id: Uuid) -> String {
    format!("{},{id}", at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
}

fn parse_cursor(raw: &str) -> Result<(DateTime<Utc>, Uuid), PageError> {
    let bad = || PageError::BadForm("that page link is not one this site gave out".into());
    let (at, id) = raw.split_once(',').ok_or_else(bad)?;
    Ok((DateTime::parse_from_rfc3339(at).map_err(|_| bad())?.with_timezone(&Utc), Uuid::parse_str(id).map_err(|_| bad())?))
}

pub async fn room_history(
    State(state): State<WebState>,
    signed_in: SignedIn,
    Path(room_id): Path<Uuid>,
    Query(query): Query<RoomHistoryQuery>,
) -> Result<Markup, PageError> {
    let viewer = &signed_in.viewer;
    let app = &state.app;
    api::access::require_history_access(app, viewer, room_id).await?;
    let room = app.read.room(room_id, None).await?.ok_or(PageError::NotFound)?;
    api::access::require_members_access(app, viewer, &room).await?;
    let now = Utc::now();
    let at = picked(&query.at)?.unwrap_or(now);
    let as_of = AsOf::Time(at);
    let existed = app.read.room(room_id, Some(at)).await?.is_some();
    let members = if existed { app.read.members(room_id, as_of).await? } else { Vec::new() };
    let topic = if existed { app.read.topic(room_id, as_of).await? } else { None };
    let moderation = viewer.level >= Level::Operator;
    let (bans, mutes) = if moderation && existed {
        (app.read.bans(room_id, as_of).await?, app.read.room_mutes(room_id, as_of).await?)
    } else {
        (Vec::new(), Vec::new())
    };
    let to = picked(&query.to)?.unwrap_or(now);
    let from = picked(&query.from)?.unwrap_or(to - TimeDelta::days(1));
    if to < from {
        return Err(PageError::BadForm("the window's end is before its start".into()));
    }
    let after = query.after.as_deref().map(parse_cursor).transpose()?;
    let window = (Some(from), Some(to));
    let mut messages = api::history::conversation(app, viewer, room_id, window, Some(query.q.as_str()), after, PAGE + 1).await?;
    let more = messages.len() as i64 > PAGE;
    messages.truncate(PAGE as usize);
    let page_link = |after: Option<String>| {
        let mut pairs = vec![("at", query.at.clone()), ("from", picker_value(from)), ("to", picker_value(to)), ("q", query.q.clone())];
        pairs.extend(after.map(|a| ("after", a)));
        format!("/history/rooms/{room_id}?{}#conversation", serde_urlencoded::to_string(pairs).unwrap_or_default())
    };
    let next = messages.last().filter(|_| more).map(|m| page_link(Some(cursor(m.posted_at, m.message_id))));
    let banned: Vec<Uuid> = bans.iter().filter_map(|b| b.target_user).collect();
    let names = app.read.nicks(&banned).await?;
    Ok(layout::page(
        &signed_in.visitor,
        &format!("History: {}", room.name),
        html! {
            section aria-labelledby="as-of" {
                h2 id="as-of" { "The room as it was" }
                form method="get" {
                    label for="at" { "At (UTC)" }
                    input id="at" type="datetime-local" step="1" name="at" value=(picker_value(at));
                    input type="hidden" name="from" value=(query.from);
                    input type="hidden" name="to" value=(query.to);
                    button type="submit" { "Show" }
                }
                p.as-of { "As of " time datetime=(at.to_rfc3339()) { (at.format("%Y-%m-%d %H:%M:%S UTC")) } }
                @if !existed { p { "The room did not exist yet." } }
                @else {
                    h3 { "Topic" }
                    @match &topic {
                        Some(topic) => p.topic-then { (topic) },
                        None => p.topic-then { "No topic was set." },
                    }
                    h3 { "Members" }
                    @if members.is_empty() { p { "Nobody was in the room." } }
                    ul.members-then { @for m in &members { li { (m.nick) " (" (m.gateway) ")" } } }
                    @if moderation {
                        h3 { "Bans" }
                        @if bans.is_empty() { p.no-bans { "Nobody was banned." } }
                        ul.bans-then {
                            @for ban in &bans {
                                li {
                                    @match (ban.target_user.and_then(|u| names.get(&u)), &ban.target_mask) {
                                        (Some(nick), _) => { (nick) },
                                        (None, Some(mask)) => { (mask) },
                                        (None, None) => { "—" },
                                    }
                                    @if let Some(reason) = &ban.reason { " — " (reason) }
                                }
                            }
                        }
                        h3 { "Mutes" }
                        @if mutes.is_empty() { p { "Nobody was muted." } }
                        ul.mutes-then { @for m in &mutes { li { (m.nick) } } }
                    }
                }
            }
            section aria-labelledby="conversation" {
                h2 id="conversation" { "Conversation" }
                form method="get" role="search" {
                    input type="hidden" name="at" value=(query.at);
                    label for="from" { "From (UTC)" }
                    input id="from" type="datetime-local" step="1" name="from" value=(picker_value(from));
                    label for="to" { "To (UTC)" }
                    input id="to" type="datetime-local" step="1" name="to" value=(picker_value(to));
                    label for="q" { "Containing" }
                    input id="q" name="q" value=(query.q);
                    button type="submit" { "Show" }
                }
                p.conversation-count {
                    @if query.q.trim().is_empty() { (messages.len()) " messages" } @else { (messages.len()) " messages containing “" (query.q.trim()) "”" }
                    @if after.is_some() { " (a later page)" }
                    @if more { ", and more on the next page" }
                    "."
                }
                ol.conversation {
                    @for m in &messages {
                        li {
                            time datetime=(m.posted_at.to_rfc3339()) { (m.posted_at.format("%Y-%m-%d %H:%M:%S")) }
                            " " strong { (m.author_nick) } " (" (m.gateway) "): " (m.body)
                        }
                    }
                }
                nav.pager aria-label="Conversation pages" {
                    @if let Some(next) = &next { a.next href=(next) { "Later messages" } }
                    @if after.is_some() { " " a href=(page_link(None)) { "First page" } }
                }
            }
        },
    ))
}

/// One bar of a chart: its label and its value.
struct Bar {
    label: String,
    value: i64,
}

/// A horizontal bar chart drawn by the server, with a title and description for screen readers
/// and the same numbers as a table below it. Labels are text nodes, escaped like every value.
fn bar_chart(id: &str, title: &str, description: &str, column: &str, bars: &[Bar]) -> Markup {
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let row = 22;
    let height = (bars.len().max(1) * row) as i64 + 10;
    let (label_width, bar_width) = (140i64, 420i64);
    html! {
        figure.chart {
            svg role="img" aria-labelledby={ (id) "-title " (id) "-desc" } width=(label_width + bar_width + 60) height=(height)
                viewBox={ "0 0 " (label_width + bar_width + 60) " " (height) } xmlns="http://www.w3.org/2000/svg" {
                title id={ (id) "-title" } { (title) }
                desc id={ (id) "-desc" } { (description) }
                @for (i, bar) in bars.iter().enumerate() {
                    @let y = (i * row) as i64 + 5;
                    @let width = bar.value * bar_width / max;
                    text x=(label_width - 6) y=(y + 15) text-anchor="end" font-size="13" fill="currentColor" { (bar.label) }
                    rect x=(label_width) y=(y) width=(width) height=(row - 6) fill="#3b6ea5" {}
                    text x=(label_width + width + 6) y=(y + 15) font-size="13" fill="currentColor" { (bar.value) }
                }
            }
            figcaption { (title) }
            table.chart-data id={ (id) "-table" } {
                thead { tr { th scope="col" { (column) } th scope="col" { "Messages" } } }
                tbody { @for bar in bars { tr { th scope="row" { (bar.label) } td { (bar.value) } } } }
            }
        }
    }
}

/// What a gateway is called on the charts.
fn gateway_name(gateway: &str) -> String {
    match gateway {
        "irc" => "IRC".to_owned(),
        "sms" => "SMS".to_owned(),
        "api" => "Web and API".to_owned(),
        other => other.to_owned(),
    }
}

/// A share of a whole, in whole per cent (rounded; 0 of 0 is 0).
fn per_cent(part: i64, whole: i64) -> i64 {
    if whole == 0 { 0 } else { (part * 100 + whole / 2) / whole }
}

/// The IRC vs SMS share: one bar split by gateway, each part labelled with its name and per
/// cent (not told by colour alone), and the numbers as a table below it.
fn share_chart(scope: &str, shares: &[projections::queries::GatewayCount]) -> Markup {
    const FILLS: [&str; 4] = ["#3b6ea5", "#c9822b", "#5b8c5a", "#8a6fb0"];
    let total: i64 = shares.iter().map(|s| s.messages).sum();
    let (width, bar_height) = (620i64, 28i64);
    let mut x = 0i64;
    let mut parts = Vec::new();
    for (i, share) in shares.iter().enumerate() {
        let w = if total == 0 { 0 } else { share.messages * width / total };
        parts.push((x, w, FILLS[i % FILLS.len()], gateway_name(&share.gateway), per_cent(share.messages, total)));
        x += w;
    }
    let legend_height = 22 * shares.len().max(1) as i64;
    let height = bar_height + 12 + legend_height;
    let description = format!(
        "Messages by gateway in {scope}: {}.",
        if shares.is_empty() {
            "none".to_owned()
        } else {
            shares.iter().map(|s| format!("{} {}%", gateway_name(&s.gateway), per_cent(s.messages, total))).collect::<Vec<_>>().join(", ")
        }
    );
    html! {
        figure.chart {
            svg role="img" aria-labelledby="gateway-share-title gateway-share-desc" width=(width) height=(height)
                viewBox={ "0 0 " (width) " " (height) } xmlns="http://www.w3.org/2000/svg" {
                title id="gateway-share-title" { "IRC vs SMS share" }
                desc id="gateway-share-desc" { (description) }
                @for (x, w, fill, _, _) in &parts {
                    rect x=(x) y="0" width=(w) height=(bar_height) fill=(fill) {}
                }
                @for (i, (_, _, fill, name, pct)) in parts.iter().enumerate() {
                    @let y = bar_height + 12 + 22 * i as i64;
                    rect x="0" y=(y) width="14" height="14" fill=(fill) {}
                    text x="20" y=(y + 12) font-size="13" fill="currentColor" { (name) " " (pct) "%" }
                }
            }
            figcaption { "IRC vs SMS share" }
            table.chart-data id="gateway-share-table" {
                thead { tr { th scope="col" { "Gateway" } th scope="col" { "Messages" } th scope="col" { "Share" } } }
                tbody {
                    @for share in shares {
                        tr { th scope="row" { (gateway_name(&share.gateway)) } td { (share.messages) } td { (per_cent(share.messages, total)) "%" } }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ChartsQuery {
    /// One room, or every room when absent.
    room: Option<Uuid>,
    /// How many days back from now (default 7).
    days: Option<i64>,
}

pub async fn charts(State(state): State<WebState>, signed_in: SignedIn, Query(query): Query<ChartsQuery>) -> Result<Markup, PageError> {
    let app = &state.app;
    let viewer = &signed_in.viewer;
    let days = query.days.unwrap_or(7).clamp(1, api::history::MAX_STATISTICS_DAYS);
    let to = Utc::now().with_minute(0).and_then(|t| t.with_second(0)).and_then(|t| t.with_nanosecond(0)).unwrap_or_else(Utc::now)
        + TimeDelta::hours(1);
    let from = to - TimeDelta::days(days);
    let counts = api::history::chart_counts(app, viewer, from, to, query.room).await?;
    let named: Vec<Uuid> = counts.top_talkers.iter().filter_map(|(author, _)| *author).collect();
    let nicks = app.read.nicks(&named).await?;
    let top_bars: Vec<Bar> = counts
        .top_talkers
        .iter()
        .map(|(author, messages)| {
            let label = match author {
                Some(user_id) => nicks.get(user_id).cloned().unwrap_or_else(|| user_id.to_string()),
                None => app.settings.bot_nick.clone(),
            };
            Bar { label, value: *messages }
        })
        .collect();
    let per_room: BTreeMap<Uuid, i64> = counts.per_room.iter().copied().collect();
    let shares = counts.per_gateway;
    let rooms = app.read.rooms(None).await?;
    let room_bars: Vec<Bar> =
        rooms.iter().filter_map(|r| per_room.get(&r.room_id).map(|n| Bar { label: r.name.clone(), value: *n })).collect();
    let day_bars: Vec<Bar> = counts.per_day.iter().map(|(day, n)| Bar { label: day.format("%Y-%m-%d").to_string(), value: *n }).collect();
    let hour_bars: Vec<Bar> =
        counts.per_hour_of_day.iter().enumerate().map(|(h, n)| Bar { label: format!("{h:02}:00"), value: *n }).collect();
    let total: i64 = day_bars.iter().map(|b| b.value).sum();
    let scope = match query.room.and_then(|id| rooms.iter().find(|r| r.room_id == id)) {
        Some(room) => format!("room {}", room.name),
        None => "every room".to_owned(),
    };
    Ok(layout::page(
        &signed_in.visitor,
        "Statistics",
        html! {
            form method="get" {
                label for="room" { "Room" }
                select id="room" name="room" {
                    option value="" { "Every room" }
                    @for r in &rooms { option value=(r.room_id) selected[query.room == Some(r.room_id)] { (r.name) } }
                }
                label for="days" { "Days" }
                input id="days" name="days" type="number" min="1" max="366" value=(days);
                button type="submit" { "Show" }
            }
            p.total { (total) " messages in " (scope) " over the last " (days) " days (UTC)." }
            (bar_chart("per-day", "Messages per day", &format!("Messages per day in {scope}, oldest first."), "Day", &day_bars))
            (bar_chart("per-hour", "Busiest hours", &format!("Messages per hour of the day (UTC) in {scope}."), "Hour", &hour_bars))
            (share_chart(&scope, &shares))
            (bar_chart("per-room", "Messages per room", "Messages per room over the period.", "Room", &room_bars))
            (bar_chart("top-talkers", "Top talkers", &format!("The ten people who wrote most in {scope}."), "Nick", &top_bars))
        },
    ))
}
