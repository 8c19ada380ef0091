//! Browser sessions and who is asking.
//!
//! A session is an API token (the same one `logIn` hands out) held in an HttpOnly, SameSite=Lax
//! cookie, `Secure` over https: only its SHA-256 is stored, it expires with the token, and
//! revoking it (log out, "revoke" on the tokens list, a new password) ends the session at once,
//! the same everywhere. A visitor without a session gets a random `sb_visit` cookie instead,
//! which only seeds the CSRF token of the public forms (sign up, log in).
//!
//! [`load_visitor`] runs before every page: it reads the cookies once, looks the session up,
//! and leaves a [`Visitor`] in the request for handlers ([`Visitor`] and [`SignedIn`] are their
//! extractors).

use api::auth::Viewer;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use domain::Level;
use sha2::{Digest, Sha256};

use crate::WebState;
use crate::error::PageError;

pub const SESSION_COOKIE: &str = "sb_session";
const VISIT_COOKIE: &str = "sb_visit";

/// Who is asking: the signed-in viewer, if any, and the CSRF token their forms carry.
#[derive(Debug, Clone)]
pub struct Visitor {
    pub viewer: Option<Viewer>,
    csrf: String,
}

impl Visitor {
    /// The token every form of this visitor must send back (see [`crate::csrf`]).
    pub fn csrf_token(&self) -> &str {
        &self.csrf
    }

    /// The same visitor, shown as signed out (a page answering the end of their session).
    pub fn without_session(&self) -> Self {
        Self { viewer: None, csrf: self.csrf.clone() }
    }

    /// A visitor for pages rendered outside a request's session (the error pages of requests
    /// that never reached [`load_visitor`]).
    pub(crate) fn anonymous() -> Self {
        Self { viewer: None, csrf: String::new() }
    }
}

/// The CSRF token is derived from the session secret (or, before logging in, from the visit
/// cookie), so it is bound to this browser's session and changes when the session does; a page
/// on another site can neither read the cookie nor compute the token.
fn csrf_for(seed: &str) -> String {
    let digest = Sha256::new().chain_update(b"switchboard web csrf\0").chain_update(seed.as_bytes()).finalize();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
}

/// One cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty())
}

fn set_cookie(name: &str, value: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let secure = if secure { "; Secure" } else { "" };
    // Values are base64url or empty: nothing to quote.
    HeaderValue::from_str(&format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"))
        .expect("a cookie of base64url characters is a valid header")
}

/// The `Set-Cookie` that starts a session with an API token, until the token expires.
pub fn start_session(token: &str, expires_at: DateTime<Utc>, secure: bool) -> HeaderValue {
    set_cookie(SESSION_COOKIE, token, (expires_at - Utc::now()).num_seconds().max(0), secure)
}

/// The `Set-Cookie` that forgets the session.
pub fn end_session(secure: bool) -> HeaderValue {
    set_cookie(SESSION_COOKIE, "", 0, secure)
}

/// Resolves the visitor once per request (see the module docs).
pub async fn load_visitor(State(state): State<WebState>, mut request: Request, next: Next) -> Response {
    let headers = request.headers();
    let mut forget_session = false;
    let mut viewer = None;
    let mut seed = None;
    if let Some(token) = cookie(headers, SESSION_COOKIE) {
        match api::auth::viewer_for_token(&state.app.read, token).await {
            Ok(found) => {
                viewer = Some(found);
                seed = Some(token.to_owned());
            }
            // Expired or revoked: carry on as a visitor and drop the dead cookie.
            Err(e) if e.code() == api::error::Code::Unauthenticated => forget_session = true,
            Err(e) => return PageError::from(e).into_response(),
        }
    }
    let mut new_visit = None;
    let seed = match seed.or_else(|| cookie(headers, VISIT_COOKIE).map(str::to_owned)) {
        Some(seed) => seed,
        None => {
            let fresh = api::auth::new_secret("");
            new_visit = Some(fresh.clone());
            fresh
        }
    };
    let visitor = Visitor { viewer, csrf: csrf_for(&seed) };
    request.extensions_mut().insert(visitor);
    let mut response = next.run(request).await;
    let cookies = response.headers_mut();
    if forget_session && !cookies.get_all(header::SET_COOKIE).iter().any(|c| c.as_bytes().starts_with(SESSION_COOKIE.as_bytes())) {
        cookies.append(header::SET_COOKIE, end_session(state.secure_cookies));
    }
    if let Some(visit) = new_visit {
        // A browser session's worth: it only seeds the public forms' CSRF token.
        cookies.append(header::SET_COOKIE, set_cookie(VISIT_COOKIE, &visit, 7 * 24 * 3600, state.secure_cookies));
    }
    response
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Visitor>().cloned().ok_or(PageError::Internal("the visitor was not loaded for this route"))
    }
}

/// A visitor with a session. Pages that take it send visitors without one to the log-in page,
/// which brings them back afterwards.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub viewer: Viewer,
    pub visitor: Visitor,
}

impl SignedIn {
    /// Refuses unless the viewer has at least `level` (the same check as GraphQL's).
    pub fn require(&self, level: Level, what: &str) -> Result<&Viewer, PageError> {
        self.viewer.require(level, what)?;
        Ok(&self.viewer)
    }
}

/// Where a visitor who must log in first is sent.
pub struct LogInFirst(String);

impl IntoResponse for LogInFirst {
    fn into_response(self) -> Response {
        let next: String = url_escape(&self.0);
        Redirect::to(&format!("/login?next={next}")).into_response()
    }
}

fn url_escape(text: &str) -> String {
    serde_urlencoded::to_string([("", text)]).map(|s| s[1..].to_owned()).unwrap_or_default()
}

impl<S: Send + Sync> FromRequestParts<S> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let visitor = Visitor::from_request_parts(parts, state).await.map_err(IntoResponse::into_response)?;
        match visitor.viewer.clone() {
            Some(viewer) => Ok(SignedIn { viewer, visitor }),
            None => {
                let back = parts.uri.path_and_query().map_or("/", |p| p.as_str());
                // Only a GET can be repeated after logging in; a form goes back to its page.
                let back = if parts.method == axum::http::Method::GET { back.to_owned() } else { parts.uri.path().to_owned() };
                Err(LogInFirst(back).into_response())
            }
        }
    }
}

/// Only local paths are followed after logging in (no open redirect to another site).
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.starts_with("/\\") => path,
        _ => "/irc",
    }
}
