//! The account page: what the account is (username, email and whether it is confirmed, nick,
//! level, the IRC host mask it is registered with), the profile others see (about text,
//! privacy: [`api::accounts::set_profile`]), the nick ([`api::accounts::change_nick`], as SMS
//! `#update`), a new email address confirmed by an emailed link
//! ([`api::accounts::request_email_change`]), a phone number proven by a texted code
//! ([`api::accounts::request_phone_code`], [`api::accounts::verify_phone_code`]), and closing
//! it ("delete my account": every session ends and the account is marked closed, through
//! [`api::accounts::close_account`]).

use std::net::SocketAddr;

use api::error::ApiError;
use axum::extract::{ConnectInfo, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use crate::WebState;
use crate::csrf::CsrfForm;
use crate::error::PageError;
use crate::layout::{self, Field, field, form_error};
use crate::session::{self, SignedIn};

/// What to say at the top and next to the forms.
#[derive(Default)]
struct Messages<'a> {
    notice: Option<String>,
    profile_error: Option<String>,
    delete_error: Option<&'a str>,
    /// A refused form field: (field name, what was typed, why).
    refused: Option<(&'static str, String, String)>,
}

impl Messages<'_> {
    fn notice(text: impl Into<String>) -> Self {
        Self { notice: Some(text.into()), ..Self::default() }
    }

    /// What was typed into `name` and why it was refused, when it was.
    fn refusal(&self, name: &str) -> (Option<&str>, Option<&str>) {
        match &self.refused {
            Some((field, typed, error)) if *field == name => (Some(typed.as_str()), Some(error.as_str())),
            _ => (None, None),
        }
    }
}

async fn account_page(state: &WebState, signed_in: &SignedIn, messages: Messages<'_>) -> Result<Markup, PageError> {
    let viewer = &signed_in.viewer;
    let user = state.app.read.user(viewer.user_id).await?.ok_or(PageError::NotFound)?;
    let pending = api::accounts::pending_changes(&state.app, viewer.user_id).await?;
    let visitor = &signed_in.visitor;
    let (nick_typed, nick_error) = messages.refusal("nick");
    let (email_typed, email_error) = messages.refusal("email");
    let (phone_typed, phone_error) = messages.refusal("phone");
    let (_, code_error) = messages.refusal("code");
    let email_hint = match &pending.email {
        Some(new) => {
            format!("A link was sent to {new}. Until it is opened, your address stays {}.", user.email.as_deref().unwrap_or("as it is"))
        }
        None => "We email a link to the new address; your address changes when it is opened.".to_owned(),
    };
    let code_hint = pending.phone.as_ref().map(|(phone, expires_at, left)| {
        format!("Texted to {phone}; it works until {} UTC, and takes {left} more wrong tries.", expires_at.format("%H:%M"))
    });
    Ok(layout::page(
        visitor,
        "Your account",
        html! {
            @if let Some(notice) = &messages.notice { (layout::notice(notice)) }
            dl.facts {
                dt { "Username" } dd { (user.username.as_deref().unwrap_or("—")) }
                dt { "Email address" } dd {
                    (user.email.as_deref().unwrap_or("—"))
                    @if user.email_verified { " (confirmed)" } @else { " (not confirmed yet)" }
                }
                dt { "Nick" } dd { (user.nick) }
                dt { "Level" } dd { (viewer.level) }
                dt { "IRC" } dd {
                    @match (&user.irc_nick, &user.irc_mask) {
                        (Some(nick), Some(mask)) => { "registered as " code { (nick) } " from " code { (mask) } }
                        _ => { "not registered; see " a href="/irc" { "IRC and API tokens" } }
                    }
                }
                dt { "Phone" } dd { (user.phone.as_deref().unwrap_or("—")) }
            }
            section aria-labelledby="nick" {
                h2 id="nick" { "Your nick" }
                form method="post" action="/account/nick" {
                    (layout::csrf_field(visitor))
                    (field(Field {
                        value: nick_typed.unwrap_or(&user.nick),
                        error: nick_error,
                        hint: Some("Your name on IRC and SMS: 1-20 letters, digits, _ or -, starting with a letter. Nobody else may have it (in any case)."),
                        ..Field::new("nick", "Nick")
                    }))
                    button type="submit" { "Change the nick" }
                }
            }
            section aria-labelledby="email" {
                h2 id="email" { "Your email address" }
                form method="post" action="/account/email" {
                    (layout::csrf_field(visitor))
                    (field(Field {
                        kind: "email",
                        autocomplete: "email",
                        value: email_typed.unwrap_or(""),
                        error: email_error,
                        hint: Some(&email_hint),
                        ..Field::new("email", "New email address")
                    }))
                    button type="submit" { "Send a link to the new address" }
                }
            }
            section aria-labelledby="phone" {
                h2 id="phone" { "Your phone number" }
                p { "A number you prove with a texted code becomes your account's: what you text to a room's number is said as you." }
                form method="post" action="/account/phone" {
                    (layout::csrf_field(visitor))
                    (field(Field {
                        kind: "tel",
                        autocomplete: "tel",
                        value: phone_typed.unwrap_or(""),
                        error: phone_error,
                        hint: Some("With the country code, e.g. +1 555 123 4567. We text it a 6-digit code."),
                        ..Field::new("phone", "Phone number")
                    }))
                    button type="submit" { "Text me a code" }
                }
                @if let Some(hint) = &code_hint {
                    form method="post" action="/account/phone/verify" {
                        (layout::csrf_field(visitor))
                        (field(Field {
                            autocomplete: "one-time-code",
                            error: code_error,
                            hint: Some(hint),
                            ..Field::new("code", "Code from the text")
                        }))
                        button type="submit" { "Check the code" }
                    }
                } @else if let Some(error) = code_error {
                    (form_error(Some(error)))
                }
            }
            section aria-labelledby="profile" {
                h2 id="profile" { "Your profile" }
                form method="post" action="/account/profile" {
                    (layout::csrf_field(visitor))
                    (form_error(messages.profile_error.as_deref()))
                    div.field {
                        label for="field-about" { "About you" }
                        small.hint id="field-about-hint" { "Shown by " code { ".about" } " on IRC. Leave empty to clear it." }
                        textarea id="field-about" name="about" rows="3" aria-describedby="field-about-hint" { (user.about.as_deref().unwrap_or("")) }
                    }
                    div.field.check {
                        label {
                            input type="checkbox" name="private" value="on" checked[user.private];
                            " Private: other members do not see your phone number and profile"
                        }
                    }
                    button type="submit" { "Save the profile" }
                }
            }
            section aria-labelledby="delete" {
                h2 id="delete" { "Delete my account" }
                p { "This signs you out everywhere (web, API clients and IRC) and closes the account: nobody can log in to it again." }
                form method="post" action="/account/delete" {
                    (layout::csrf_field(visitor))
                    (form_error(messages.delete_error))
                    (field(Field { autocomplete: "off", hint: Some("Type your username to confirm."), ..Field::new("confirm", "Username") }))
                    button.danger type="submit" { "Delete my account" }
                }
            }
        },
    ))
}

pub async fn account(State(state): State<WebState>, signed_in: SignedIn) -> Result<Markup, PageError> {
    account_page(&state, &signed_in, Messages::default()).await
}

#[derive(Debug, Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    about: String,
    /// Present (`on`) when the box is ticked; browsers leave an unticked box out.
    private: Option<String>,
}

pub async fn save_profile(
    State(state): State<WebState>,
    signed_in: SignedIn,
    CsrfForm(form): CsrfForm<ProfileForm>,
) -> Result<Response, PageError> {
    match api::accounts::set_profile(&state.app, &signed_in.viewer, &form.about, form.private.is_some()).await {
        Ok(_) => Ok(account_page(&state, &signed_in, Messages::notice("Your profile is saved.")).await?.into_response()),
        Err(e @ api::error::ApiError::Internal(_)) => Err(e.into()),
        Err(e) => {
            let page = account_page(&state, &signed_in, Messages { profile_error: Some(e.message()), ..Messages::default() }).await?;
            Ok((e.status_code(), page).into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    #[serde(default)]
    confirm: String,
}

pub async fn delete(
    State(state): State<WebState>,
    signed_in: SignedIn,
    CsrfForm(form): CsrfForm<DeleteForm>,
) -> Result<Response, PageError> {
    let user = state.app.read.user(signed_in.viewer.user_id).await?.ok_or(PageError::NotFound)?;
    let confirmed = user.username.as_deref().is_some_and(|name| name.eq_ignore_ascii_case(form.confirm.trim()));
    if !confirmed {
        let messages = Messages { delete_error: Some("type your username to confirm; nothing was deleted"), ..Messages::default() };
        let page = account_page(&state, &signed_in, messages).await?;
        return Ok((axum::http::StatusCode::BAD_REQUEST, page).into_response());
    }
    api::accounts::close_account(&state.app, signed_in.viewer.user_id).await?;
    let page = layout::page(
        &signed_in.visitor.without_session(),
        "Account closed",
        html! { (layout::notice("Your account is closed and every session has ended.")) p { a href="/" { "Home" } } },
    );
    let mut response = page.into_response();
    response.headers_mut().append(header::SET_COOKIE, session::end_session(state.secure_cookies));
    Ok(response)
}

/// The account page after a form: its notice, or the refusal shown next to `field` (with what
/// was typed, so nothing is lost) and the refusal's status.
async fn after_form(
    state: &WebState,
    signed_in: &SignedIn,
    field: &'static str,
    typed: &str,
    outcome: Result<String, ApiError>,
) -> Result<Response, PageError> {
    match outcome {
        Ok(notice) => Ok(account_page(state, signed_in, Messages::notice(notice)).await?.into_response()),
        Err(e @ ApiError::Internal(_)) => Err(e.into()),
        Err(e) => {
            let messages = Messages { refused: Some((field, typed.to_owned(), e.message())), ..Messages::default() };
            Ok((e.status_code(), account_page(state, signed_in, messages).await?).into_response())
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct NickForm {
    #[serde(default)]
    nick: String,
}

pub async fn change_nick(
    State(state): State<WebState>,
    signed_in: SignedIn,
    CsrfForm(form): CsrfForm<NickForm>,
) -> Result<Response, PageError> {
    let outcome = api::accounts::change_nick(&state.app, &signed_in.viewer, &form.nick)
        .await
        .map(|_| format!("Your nick is now {}.", form.nick.trim()));
    after_form(&state, &signed_in, "nick", &form.nick, outcome).await
}

#[derive(Debug, Deserialize)]
pub struct EmailForm {
    #[serde(default)]
    email: String,
}

pub async fn change_email(
    State(state): State<WebState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    signed_in: SignedIn,
    CsrfForm(form): CsrfForm<EmailForm>,
) -> Result<Response, PageError> {
    let outcome = api::accounts::request_email_change(&state.app, &signed_in.viewer, &form.email, Some(peer.ip()))
        .await
        .map(|_| format!("We sent a link to {}. Open it to make it your address.", form.email.trim()));
    after_form(&state, &signed_in, "email", &form.email, outcome).await
}

#[derive(Debug, Deserialize)]
pub struct PhoneForm {
    #[serde(default)]
    phone: String,
}

pub async fn request_phone_code(
    State(state): State<WebState>,
    signed_in: SignedIn,
    CsrfForm(form): CsrfForm<PhoneForm>,
) -> Result<Response, PageError> {
    let outcome = api::accounts::request_phone_code(&state.app, &signed_in.viewer, &form.phone)
        .await
        .map(|sent| format!("We texted a code to {}. Type it below.", sent.phone));
    after_form(&state, &signed_in, "phone", &form.phone, outcome).await
}

#[derive(Debug, Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
}

pub async fn verify_phone(
    State(state): State<WebState>,
    signed_in: SignedIn,
    CsrfForm(form): CsrfForm<CodeForm>,
) -> Result<Response, PageError> {
    let outcome = api::accounts::verify_phone_code(&state.app, &signed_in.viewer, &form.code)
        .await
        .map(|_| "Your phone number is verified: texts from it are yours.".to_owned());
    after_form(&state, &signed_in, "code", "", outcome).await
}
