//! Switchboard's web app: the pages people open in a browser, served by `switchboard serve` at
//! `/` beside the API (GraphQL stays at `/graphql`). It owns the HTML (compile-time checked
//! [`maud`] templates in [`pages`], one shared [`layout`]), browser sessions and CSRF
//! ([`session`], [`csrf`]), the security headers every page carries ([`security`]), and its own
//! CSS and JavaScript ([`assets`], served from memory with cache headers; nothing from a CDN).
//!
//! It holds no account or room rules: every step calls the same functions GraphQL calls
//! ([`api::accounts`]; the read models through [`projections::ReadModels`]; commands through
//! the executor on [`api::App`]), so levels and limits are checked in one place. Pages work
//! without JavaScript; the small scripts only add a countdown and a copy button, and the live
//! log's live part (`live.js`, following server-sent events).
//!
//! Main types: [`router`] (the routes, given the shared [`api::App`] and the [`Site`] facts the
//! pages tell people), [`session::Visitor`] (who is asking, and their CSRF token),
//! [`csrf::CsrfForm`] (a form body whose CSRF token was checked), [`error::PageError`] (every
//! failure's page, mapped once).
//!
//! # Adding a page
//!
//! 1. Write a handler in a module under `pages/` (one module per area). Take [`session::Visitor`]
//!    for a public page or [`session::SignedIn`] for one that needs a session (a visitor without
//!    one is sent to the log-in page and back). For a level, call
//!    [`session::SignedIn::require`] with the same level GraphQL checks.
//! 2. Render with [`layout::page`]`(&visitor, "Title", html! { … })`. maud escapes every
//!    `(expression)`; never build HTML from strings. Forms post to the same site and start with
//!    [`layout::csrf_field`]`(&visitor)`; fields use [`layout::field`] (label, value, the error
//!    next to it).
//! 3. A form handler takes [`csrf::CsrfForm<T>`] (a `serde::Deserialize` struct of the fields)
//!    as its last argument: the request is refused with 403 before the handler runs when the
//!    token is missing or wrong. Return `Result<_, PageError>`; API refusals become readable
//!    pages through `From<ApiError>`, or are shown next to their field by the handler.
//! 4. Add the route in [`router`] and a link in the layout's navigation if it is a main page;
//!    add its behaviour to the browser tests in `web/tests/`.

pub mod assets;
pub mod csrf;
pub mod error;
pub mod layout;
pub mod pages;
pub mod security;
pub mod session;

use std::sync::Arc;

use api::App;
use axum::Router;
use axum::routing::{get, post};

/// What the pages tell people about this installation (from the binary's settings).
#[derive(Debug, Clone, Default)]
pub struct Site {
    /// The IRC server people connect to (`host` or `host:port`), when the bot runs.
    pub irc_server: Option<String>,
    pub irc_port: u16,
    pub irc_tls: bool,
    /// The bot's nick: what people `/msg`.
    pub bot_nick: String,
}

/// What every page handler shares.
#[derive(Clone)]
pub struct WebState {
    pub app: Arc<App>,
    pub site: Arc<Site>,
    /// Cookies carry `Secure` when the public URL is https.
    pub secure_cookies: bool,
}

impl axum::extract::FromRef<WebState> for Arc<App> {
    fn from_ref(state: &WebState) -> Self {
        state.app.clone()
    }
}

/// The web app's routes, to be merged with [`api::router`].
pub fn router(app: Arc<App>, site: Site) -> Router {
    let secure_cookies = app.settings.public_url.starts_with("https://");
    let state = WebState { app, site: Arc::new(site), secure_cookies };
    Router::new()
        .route("/", get(pages::home::home))
        .route("/signup", get(pages::account::sign_up_form).post(pages::account::sign_up))
        .route("/verify", get(pages::account::verify))
        .route("/verify/resend", post(pages::account::resend_verification))
        .route("/login", get(pages::account::log_in_form).post(pages::account::log_in))
        .route("/logout", post(pages::account::log_out))
        .route("/password/forgot", get(pages::account::forgot_form).post(pages::account::forgot))
        .route("/reset", get(pages::account::reset_form).post(pages::account::reset))
        .route("/account", get(pages::profile::account))
        .route("/rooms/{room_id}", get(pages::rooms::room))
        .route("/lookup", get(pages::lookup::lookup))
        .route("/account/profile", post(pages::profile::save_profile))
        .route("/account/nick", post(pages::profile::change_nick))
        .route("/account/email", post(pages::profile::change_email))
        .route("/account/phone", post(pages::profile::request_phone_code))
        .route("/account/phone/verify", post(pages::profile::verify_phone))
        .route("/account/delete", post(pages::profile::delete))
        .route("/irc", get(pages::irc::irc_page))
        .route("/irc/token", post(pages::irc::issue_token))
        .route("/irc/sessions/end", post(pages::irc::end_session))
        .route("/tokens", post(pages::irc::create_api_token))
        .route("/tokens/revoke", post(pages::irc::revoke_api_token))
        .route("/history/rooms/{room}", get(pages::history::room_history))
        .route("/history/charts", get(pages::history::charts))
        .route("/live", get(pages::live::live_log))
        .route("/live/stream", get(pages::live::live_stream))
        .route("/staff", get(pages::staff::desk))
        .route("/staff/ban-requests/approve", post(pages::staff::approve))
        .route("/staff/ban-requests/reject", post(pages::staff::reject))
        .route("/staff/level", post(pages::staff::set_level))
        .route("/staff/rooms/{room}", get(pages::staff::room_desk))
        .route("/staff/rooms/{room}/ban", post(pages::staff::ban))
        .route("/staff/rooms/{room}/unban", post(pages::staff::lift_ban))
        .route("/staff/rooms/{room}/mute", post(pages::staff::mute))
        .route("/staff/rooms/{room}/unmute", post(pages::staff::unmute))
        .route("/staff/rooms/{room}/kick", post(pages::staff::kick))
        .route("/assets/{file}", get(assets::serve))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), session::load_visitor))
        .layer(axum::middleware::from_fn(security::headers))
        .with_state(state)
}
