//! The account page: what the account is (username, email and whether it is confirmed, nick,
//! level, the IRC host mask it is registered with), the profile others see (about text,
//! privacy: [`api::accounts::set_profile`]), and closing it ("delete my account": every session
//! ends and the account is marked closed, through [`api::accounts::close_account`]).

use axum::extract::State;
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
    notice: Option<&'a str>,
    profile_error: Option<String>,
    delete_error: Option<&'a str>,
}

async fn account_page(state: &WebState, signed_in: &SignedIn, messages: Messages<'_>) -> Result<Markup, PageError> {
    let viewer = &signed_in.viewer;
    let user = state.app.read.user(viewer.user_id).await?.ok_or(PageError::NotFound)?;
    let visitor = &signed_in.visitor;
    Ok(layout::page(
        visitor,
        "Your account",
        html! {
            @if let Some(notice) = messages.notice { (layout::notice(notice)) }
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
        Ok(_) => Ok(account_page(&state, &signed_in, Messages { notice: Some("Your profile is saved."), ..Messages::default() })
            .await?
            .into_response()),
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
