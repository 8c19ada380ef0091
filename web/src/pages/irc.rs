//! The IRC page: issue a register or login token (shown once, with the exact line to paste, a
//! copy button and its expiry counting down), the account's live IRC sessions with "end
//! session", and the account's API tokens (this browser's session among them) with create and
//! revoke. Each step is [`api::accounts`].

use api::accounts::{self, IssuedApiToken, IssuedIrcToken};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use domain::events::TokenPurpose;
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::account::Empty;
use crate::WebState;
use crate::csrf::CsrfForm;
use crate::error::PageError;
use crate::layout;
use crate::session::{self, SignedIn};

/// Something to show once at the top of the page.
enum Fresh {
    Nothing,
    IrcToken(IssuedIrcToken),
    ApiToken(IssuedApiToken),
    Notice(&'static str),
}

fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

async fn render(state: &WebState, signed_in: &SignedIn, fresh: Fresh) -> Result<Markup, PageError> {
    let app = &state.app;
    let viewer = &signed_in.viewer;
    let user = app.read.user(viewer.user_id).await?;
    let sessions = app.read.open_irc_sessions_of(viewer.user_id).await?;
    let tokens = app.read.live_api_tokens_of(viewer.user_id).await?;
    let bot = &state.site.bot_nick;
    let verified = user.as_ref().is_some_and(|u| u.email_verified);
    let registered = user.as_ref().and_then(|u| u.irc_mask.clone());
    let visitor = &signed_in.visitor;
    Ok(layout::page(
        visitor,
        "IRC and API tokens",
        html! {
            @match &fresh {
                Fresh::IrcToken(token) => {
                    section.fresh aria-labelledby="fresh-token" {
                        h2 id="fresh-token" { "Your " (purpose_name(token.purpose)) " token" }
                        p { "Paste this line into your IRC client (it is a private message to the bot, never say it in a channel). It is shown only once." }
                        p.copyable {
                            code id="irc-line" { "/msg " (bot) " " (token.command()) }
                            button type="button" data-copy="irc-line" hidden { "Copy" }
                        }
                        p {
                            "It works once and expires at "
                            time datetime=(token.expires_at.to_rfc3339_opts(SecondsFormat::Secs, true)) data-countdown { (when(token.expires_at)) }
                            "."
                        }
                    }
                }
                Fresh::ApiToken(token) => {
                    section.fresh aria-labelledby="fresh-api-token" {
                        h2 id="fresh-api-token" { "Your new API token" }
                        p { "Send it as " code { "Authorization: Bearer <token>" } ". It is shown only once." }
                        p.copyable {
                            code id="api-token" { (token.secret) }
                            button type="button" data-copy="api-token" hidden { "Copy" }
                        }
                        p { "Valid until " (when(token.expires_at)) "." }
                    }
                }
                Fresh::Notice(text) => (layout::notice(text)),
                Fresh::Nothing => {}
            }
            @if !verified {
                section aria-labelledby="verify" {
                    h2 id="verify" { "Confirm your email address" }
                    p { "You are a guest until you open the link we emailed you." }
                    form method="post" action="/verify/resend" {
                        (layout::csrf_field(visitor))
                        button type="submit" { "Send the link again" }
                    }
                }
            }
            section aria-labelledby="irc-tokens" {
                h2 id="irc-tokens" { "Log in on IRC" }
                @match &registered {
                    Some(mask) => p { "Your IRC nick is registered from " code { (mask) } ". Get a login token each time you connect." },
                    None => p { "First link your IRC nick to this account with a register token (once); then log in with a login token each time you connect. Your IRC nick must be " strong { (viewer.nick) } "." },
                }
                div.buttons {
                    form method="post" action="/irc/token" {
                        (layout::csrf_field(visitor))
                        input type="hidden" name="purpose" value="login";
                        button type="submit" { "Get a login token" }
                    }
                    form method="post" action="/irc/token" {
                        (layout::csrf_field(visitor))
                        input type="hidden" name="purpose" value="register";
                        button.secondary type="submit" { "Get a register token" }
                    }
                }
            }
            section aria-labelledby="irc-sessions" {
                h2 id="irc-sessions" { "Live IRC sessions" }
                @if sessions.is_empty() {
                    p { "You are not logged in on IRC." }
                } @else {
                    ul.sessions {
                        @for s in &sessions {
                            li {
                                code { (s.nick) "!" (s.mask) } " since " (when(s.started_at)) " "
                                form.inline method="post" action="/irc/sessions/end" {
                                    (layout::csrf_field(visitor))
                                    input type="hidden" name="session_id" value=(s.session_id);
                                    button type="submit" aria-label=(format!("End the session of {}", s.nick)) { "End session" }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="api-tokens" {
                h2 id="api-tokens" { "API tokens" }
                p { "For GraphQL clients and scripts. Logging in here also holds one: revoking it logs that browser out." }
                ul.tokens {
                    @for t in &tokens {
                        li {
                            "Issued " (when(t.issued_at)) ", valid until " (when(t.expires_at))
                            @if t.token_id == viewer.token_id { " " strong { "(this browser)" } }
                            " "
                            form.inline method="post" action="/tokens/revoke" {
                                (layout::csrf_field(visitor))
                                input type="hidden" name="token_id" value=(t.token_id);
                                button.secondary type="submit" { "Revoke" }
                            }
                        }
                    }
                }
                form method="post" action="/tokens" {
                    (layout::csrf_field(visitor))
                    button type="submit" { "Create an API token" }
                }
            }
        },
    ))
}

fn purpose_name(purpose: TokenPurpose) -> &'static str {
    match purpose {
        TokenPurpose::Register => "register",
        TokenPurpose::Login => "login",
    }
}

pub async fn irc_page(State(state): State<WebState>, signed_in: SignedIn) -> Result<Markup, PageError> {
    render(&state, &signed_in, Fresh::Nothing).await
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PurposeField {
    Login,
    Register,
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    purpose: PurposeField,
}

/// Answers the POST with the page itself (not a redirect): the token is shown once and never
/// stored in a form that could be reloaded from the cache (pages are `no-store`).
pub async fn issue_token(
    State(state): State<WebState>,
    signed_in: SignedIn,
    CsrfForm(form): CsrfForm<TokenForm>,
) -> Result<Markup, PageError> {
    let purpose = match form.purpose {
        PurposeField::Login => TokenPurpose::Login,
        PurposeField::Register => TokenPurpose::Register,
    };
    let issued = accounts::issue_irc_token(&state.app, signed_in.viewer.user_id, purpose).await?;
    render(&state, &signed_in, Fresh::IrcToken(issued)).await
}

#[derive(Debug, Deserialize)]
pub struct SessionForm {
    session_id: Uuid,
}

pub async fn end_session(
    State(state): State<WebState>,
    signed_in: SignedIn,
    CsrfForm(form): CsrfForm<SessionForm>,
) -> Result<Markup, PageError> {
    let done = accounts::end_irc_session(&state.app, signed_in.viewer.user_id, form.session_id).await?;
    let notice = if done.events > 0 { "The IRC session is ended." } else { "That IRC session had already ended." };
    render(&state, &signed_in, Fresh::Notice(notice)).await
}

pub async fn create_api_token(
    State(state): State<WebState>,
    signed_in: SignedIn,
    CsrfForm(_): CsrfForm<Empty>,
) -> Result<Markup, PageError> {
    let issued = accounts::issue_api_token(&state.app, signed_in.viewer.user_id).await?;
    render(&state, &signed_in, Fresh::ApiToken(issued)).await
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    token_id: Uuid,
}

pub async fn revoke_api_token(
    State(state): State<WebState>,
    signed_in: SignedIn,
    CsrfForm(form): CsrfForm<RevokeForm>,
) -> Result<Response, PageError> {
    accounts::revoke_api_token(&state.app, signed_in.viewer.user_id, form.token_id).await?;
    if form.token_id == signed_in.viewer.token_id {
        // This browser's own session: it is over.
        let mut response = Redirect::to("/login").into_response();
        response.headers_mut().append(header::SET_COOKIE, session::end_session(state.secure_cookies));
        return Ok(response);
    }
    Ok((StatusCode::OK, render(&state, &signed_in, Fresh::Notice("The token is revoked.")).await?).into_response())
}
