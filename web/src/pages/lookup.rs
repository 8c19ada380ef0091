//! Looking things up, as on IRC: where a nick was last seen (`.seen`) and the quotes, newest
//! first or searched (full text). The rules are `api::access`, as for GraphQL's `lastSeen` and
//! `quotes`.

use axum::extract::{Query, State};
use chrono::SecondsFormat;
use maud::{Markup, html};
use serde::Deserialize;

use crate::WebState;
use crate::error::PageError;
use crate::layout::{self, Field, field};
use crate::session::SignedIn;

/// Quotes per page.
const PAGE: i64 = 20;

#[derive(Debug, Default, Deserialize)]
pub struct LookupQuery {
    nick: Option<String>,
    search: Option<String>,
    /// Show quotes older than this number.
    before: Option<i64>,
}

pub async fn lookup(State(state): State<WebState>, signed_in: SignedIn, Query(query): Query<LookupQuery>) -> Result<Markup, PageError> {
    let app = &state.app;
    let viewer = &signed_in.viewer;
    let nick = query.nick.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let seen = match nick {
        None => None,
        Some(nick) => Some(match api::access::check_lookup_nick(nick) {
            Ok(()) => match app.read.last_seen(nick).await? {
                Some(s) => Ok(Some(api::access::visible_sighting(app, viewer, s).await?)),
                None => Ok(None),
            },
            Err(e) => Err(e.message()),
        }),
    };
    let search = query.search.as_deref().map(str::trim).filter(|s| !s.is_empty());
    let quotes = match search {
        Some(words) => match api::access::check_search(words) {
            Ok(()) => Ok(app.read.search_quotes_page(words, 0, PAGE).await?),
            Err(e) => Err(e.message()),
        },
        None => Ok(app.read.quotes_before(query.before.unwrap_or(i64::MAX), PAGE + 1).await?),
    };
    Ok(layout::page(
        &signed_in.visitor,
        "Look up",
        html! {
            section aria-labelledby="seen" {
                h2 id="seen" { "Last seen" }
                form method="get" action="/lookup" {
                    (field(Field { value: nick.unwrap_or(""), hint: Some("Where and when someone last said or did something, on IRC or by SMS."), ..Field::new("nick", "Nick") }))
                    button type="submit" { "Look up" }
                }
                @match &seen {
                    None => {}
                    Some(Err(why)) => p.error role="alert" { "Error: " (why) },
                    Some(Ok(None)) => p role="status" { "Nobody called " strong { (nick.unwrap_or("")) } " has been seen." },
                    Some(Ok(Some(s))) => p.sighting role="status" {
                        strong { (s.nick) } " was last seen "
                        time datetime=(s.at.to_rfc3339_opts(SecondsFormat::Secs, true)) { (s.at.format("%Y-%m-%d %H:%M UTC")) }
                        @if let Some(room) = &s.room_name { " in " (room) }
                        " (" (s.gateway.as_str()) ", " (s.activity.as_str()) ")"
                        @if let Some(detail) = &s.detail { ": " q { (detail) } }
                    },
                }
            }
            section aria-labelledby="quotes" {
                h2 id="quotes" { "Quotes" }
                form method="get" action="/lookup" {
                    (field(Field { value: search.unwrap_or(""), required: false, ..Field::new("search", "Search the quotes") }))
                    button type="submit" { "Search" }
                }
                @match &quotes {
                    Err(why) => p.error role="alert" { "Error: " (why) },
                    Ok(quotes) if quotes.is_empty() => p { "No quotes found." },
                    Ok(quotes) => {
                        ol.quotes {
                            @for q in quotes.iter().take(PAGE as usize) {
                                li { "#" (q.quote_id) " " q { (q.text) } " — " (q.nick) }
                            }
                        }
                        @if search.is_none() && quotes.len() as i64 > PAGE && let Some(last) = quotes.get(PAGE as usize - 1) {
                            nav.pager aria-label="Quote pages" { a href=(format!("/lookup?before={}", last.quote_id)) { "Older quotes" } }
                        }
                    }
                }
            }
        },
    ))
}
