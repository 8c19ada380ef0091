//! Sign up, the one-click email verification link, resending it, and logging in and out. Each
//! step is [`api::accounts`]: the same rules and limits as GraphQL's `signUp`, `verifyEmail`,
//! `logIn` and `logOut`.

use std::net::SocketAddr;

use api::accounts::{self, NewAccount, SignUpField, SignUpRefusal};
use api::error::ApiError;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use crate::WebState;
use crate::csrf::CsrfForm;
use crate::error::PageError;
use crate::layout::{self, Field, field, form_error};
use crate::session::{self, SignedIn, Visitor};

#[derive(Debug, Default, Deserialize)]
pub struct SignUpForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    nick: String,
}

/// What went wrong with a sign-up, by field.
#[derive(Default)]
struct SignUpErrors {
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
    nick: Option<String>,
    form: Option<String>,
}

impl SignUpErrors {
    fn set(&mut self, field: Option<SignUpField>, message: String) {
        let slot = match field {
            Some(SignUpField::Username) => &mut self.username,
            Some(SignUpField::Email) => &mut self.email,
            Some(SignUpField::Password) => &mut self.password,
            Some(SignUpField::Nick) => &mut self.nick,
            None => &mut self.form,
        };
        slot.get_or_insert(message);
    }
}

fn sign_up_page(visitor: &Visitor, form: &SignUpForm, errors: &SignUpErrors) -> Markup {
    layout::page(
        visitor,
        "Sign up",
        html! {
            p { "One account for the web, IRC and SMS. We email you a link to confirm your address; a confirmed account is a member." }
            form method="post" action="/signup" novalidate {
                (layout::csrf_field(visitor))
                (form_error(errors.form.as_deref()))
                (field(Field { value: &form.username, error: errors.username.as_deref(), autocomplete: "username",
                    hint: Some("What you log in with."), ..Field::new("username", "Username") }))
                (field(Field { kind: "email", value: &form.email, error: errors.email.as_deref(), autocomplete: "email", ..Field::new("email", "Email address") }))
                (field(Field { kind: "password", error: errors.password.as_deref(), autocomplete: "new-password",
                    hint: Some("At least 10 characters."), ..Field::new("password", "Password") }))
                (field(Field { value: &form.nick, error: errors.nick.as_deref(), required: false, autocomplete: "nickname",
                    hint: Some("Your name in the rooms, on IRC and SMS alike. Leave empty to use your username."), ..Field::new("nick", "Nick") }))
                button type="submit" { "Sign up" }
            }
            p { "Already have an account? " a href="/login" { "Log in" } "." }
        },
    )
}

pub async fn sign_up_form(visitor: Visitor) -> Markup {
    sign_up_page(&visitor, &SignUpForm::default(), &SignUpErrors::default())
}

pub async fn sign_up(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    visitor: Visitor,
    CsrfForm(form): CsrfForm<SignUpForm>,
) -> Result<Response, PageError> {
    let input = NewAccount {
        username: form.username.clone(),
        email: form.email.clone(),
        password: form.password.clone(),
        nick: Some(form.nick.clone()).filter(|n| !n.trim().is_empty()),
    };
    let mut errors = SignUpErrors::default();
    for (field, refusal) in accounts::check_new_account(&input) {
        errors.set(Some(field), refusal.message());
    }
    if errors.username.is_none() && errors.email.is_none() && errors.password.is_none() && errors.nick.is_none() {
        match accounts::sign_up(&state.app, input, Some(peer.ip())).await {
            Ok(done) => return Ok(signed_up_page(&visitor, &done.nick, &form.email, done.verification_sent).into_response()),
            Err(SignUpRefusal { error: e @ ApiError::Internal(_), .. }) => return Err(e.into()),
            Err(refusal) => errors.set(refusal.field, refusal.error.message()),
        }
    }
    Ok((StatusCode::BAD_REQUEST, sign_up_page(&visitor, &form, &errors)).into_response())
}

fn signed_up_page(visitor: &Visitor, nick: &str, email: &str, sent: bool) -> Markup {
    layout::page(
        visitor,
        "Check your email",
        html! {
            (layout::notice(&format!("Welcome, {nick}! Your account is created.")))
            @if sent {
                p { "We sent a link to " strong { (email) } ". Open it to confirm your address; then " a href="/login" { "log in" } "." }
            } @else {
                p { "We could not send the email just now. " a href="/login" { "Log in" } " and ask for a new link." }
            }
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct VerifyQuery {
    #[serde(default)]
    token: String,
}

/// The link from the verification email: verifies in one click (a GET, so it works from any mail
/// client). The token is single use; opening the link again says the address is confirmed.
pub async fn verify(State(state): State<WebState>, visitor: Visitor, Query(query): Query<VerifyQuery>) -> Result<Response, PageError> {
    let outcome = accounts::verify_email(&state.app, &query.token).await;
    let (status, body) = match outcome {
        Ok(_) => (
            StatusCode::OK,
            html! {
                (layout::notice("Your email address is confirmed: you are a member."))
                @if visitor.viewer.is_some() {
                    p { "Next: " a href="/irc" { "get a token to log in on IRC" } "." }
                } @else {
                    p { "Next: " a href="/login" { "log in" } ", then get a token to log in on IRC." }
                }
            },
        ),
        Err(e @ ApiError::Internal(_)) => return Err(e.into()),
        Err(e) => (
            StatusCode::BAD_REQUEST,
            html! {
                p.error role="alert" { "Error: " (e.message()) }
                p { "A link works once and expires after a while. " a href="/login" { "Log in" } " to ask for a new one." }
            },
        ),
    };
    Ok((status, layout::page(&visitor, "Confirm your email address", body)).into_response())
}

#[derive(Debug, Deserialize)]
pub struct Empty {}

pub async fn resend_verification(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    signed_in: SignedIn,
    CsrfForm(_): CsrfForm<Empty>,
) -> Result<Markup, PageError> {
    accounts::resend_verification(&state.app, signed_in.viewer.user_id, Some(peer.ip())).await?;
    Ok(layout::page(
        &signed_in.visitor,
        "Check your email",
        html! { (layout::notice("We sent you a new link. Earlier links no longer work.")) p { a href="/irc" { "Back" } } },
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct LogInForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct LogInQuery {
    next: Option<String>,
}

fn log_in_page(visitor: &Visitor, username: &str, next: Option<&str>, error: Option<&str>) -> Markup {
    layout::page(
        visitor,
        "Log in",
        html! {
            form method="post" action="/login" {
                (layout::csrf_field(visitor))
                (form_error(error))
                @if let Some(next) = next { input type="hidden" name="next" value=(next); }
                (field(Field { value: username, autocomplete: "username", ..Field::new("username", "Username") }))
                (field(Field { kind: "password", autocomplete: "current-password", ..Field::new("password", "Password") }))
                button type="submit" { "Log in" }
            }
            p { a href="/password/forgot" { "Forgotten your password?" } " · New here? " a href="/signup" { "Sign up" } "." }
        },
    )
}

pub async fn log_in_form(visitor: Visitor, Query(query): Query<LogInQuery>) -> Response {
    if visitor.viewer.is_some() {
        return Redirect::to(session::safe_next(query.next.as_deref())).into_response();
    }
    log_in_page(&visitor, "", query.next.as_deref(), None).into_response()
}

pub async fn log_in(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    visitor: Visitor,
    CsrfForm(form): CsrfForm<LogInForm>,
) -> Result<Response, PageError> {
    match accounts::log_in(&state.app, &form.username, &form.password, Some(peer.ip())).await {
        Ok(done) => {
            let mut response = Redirect::to(session::safe_next(form.next.as_deref())).into_response();
            response.headers_mut().append(header::SET_COOKIE, session::start_session(&done.token, done.expires_at, state.secure_cookies));
            Ok(response)
        }
        Err(e @ ApiError::Internal(_)) => Err(e.into()),
        Err(e) => {
            let status = e.status_code();
            let mut response = (status, log_in_page(&visitor, &form.username, form.next.as_deref(), Some(&e.message()))).into_response();
            if let ApiError::Refused { retry_after_secs: Some(secs), .. } = e {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            Ok(response)
        }
    }
}

/// Ends this browser's session: its API token is revoked, so the cookie is worthless even if
/// it was copied.
pub async fn log_out(State(state): State<WebState>, signed_in: SignedIn, CsrfForm(_): CsrfForm<Empty>) -> Result<Response, PageError> {
    accounts::revoke_api_token(&state.app, signed_in.viewer.user_id, signed_in.viewer.token_id).await?;
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().append(header::SET_COOKIE, session::end_session(state.secure_cookies));
    Ok(response)
}

#[derive(Debug, Default, Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    username: String,
}

pub async fn forgot_form(visitor: Visitor) -> Markup {
    layout::page(
        &visitor,
        "Forgotten password",
        html! {
            p { "We email a link to the address of your account. It works once; setting a new password signs you out everywhere." }
            form method="post" action="/password/forgot" {
                (layout::csrf_field(&visitor))
                (field(Field { autocomplete: "username", ..Field::new("username", "Username") }))
                button type="submit" { "Email me a link" }
            }
        },
    )
}

pub async fn forgot(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    visitor: Visitor,
    CsrfForm(form): CsrfForm<ForgotForm>,
) -> Result<Markup, PageError> {
    accounts::request_password_reset(&state.app, &form.username, Some(peer.ip())).await?;
    Ok(layout::page(
        &visitor,
        "Check your email",
        html! { (layout::notice("If that account exists, we sent a link to its email address.")) p { "The link expires after a while; you can ask for a new one here again." } },
    ))
}

#[derive(Debug, Default, Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    password: String,
}

fn reset_page(visitor: &Visitor, token: &str, error: Option<&str>) -> Markup {
    layout::page(
        visitor,
        "Choose a new password",
        html! {
            form method="post" action="/reset" {
                (layout::csrf_field(visitor))
                input type="hidden" name="token" value=(token);
                (field(Field { kind: "password", autocomplete: "new-password", error, hint: Some("At least 10 characters."), ..Field::new("password", "New password") }))
                button type="submit" { "Set the new password" }
            }
        },
    )
}

/// The link from the reset email opens the form; nothing changes until it is sent.
pub async fn reset_form(visitor: Visitor, Query(query): Query<VerifyQuery>) -> Markup {
    reset_page(&visitor, &query.token, None)
}

pub async fn reset(State(state): State<WebState>, visitor: Visitor, CsrfForm(form): CsrfForm<ResetForm>) -> Result<Response, PageError> {
    match accounts::reset_password(&state.app, &form.token, &form.password).await {
        Ok(_) => {
            let page = layout::page(
                &visitor.without_session(),
                "Password changed",
                html! {
                    (layout::notice("Your new password is set, and every session with the old one is signed out."))
                    p { a href="/login" { "Log in" } " with it." }
                },
            );
            let mut response = page.into_response();
            response.headers_mut().append(header::SET_COOKIE, session::end_session(state.secure_cookies));
            Ok(response)
        }
        Err(e @ ApiError::Internal(_)) => Err(e.into()),
        Err(e) => Ok((StatusCode::BAD_REQUEST, reset_page(&visitor, &form.token, Some(&e.message()))).into_response()),
    }
}
