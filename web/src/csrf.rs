//! CSRF protection for every form, checked in one extractor.
//!
//! Each form carries a hidden `csrf` field with the visitor's token (bound to their session:
//! see [`crate::session`]). [`CsrfForm`] reads a urlencoded body, refuses it with 403 unless the
//! field matches (compared in constant time), and only then parses the fields the handler wants.
//! The session cookie is SameSite=Lax as a second line; the token is what holds.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq as _;

use crate::error::PageError;
use crate::session::Visitor;

/// The form field that carries the token.
pub const FIELD: &str = "csrf";

/// A form body whose CSRF token matched the visitor's.
pub struct CsrfForm<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for CsrfForm<T> {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let visitor = request.extensions().get::<Visitor>().cloned().ok_or(PageError::Internal("the visitor was not loaded"))?;
        let is_form = request
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(PageError::BadForm("send the form as application/x-www-form-urlencoded".into()));
        }
        let body = Bytes::from_request(request, state).await.map_err(|e| PageError::BadForm(e.body_text()))?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|e| PageError::BadForm(e.to_string()))?;
        let sent = pairs.iter().find(|(key, _)| key == FIELD).map(|(_, value)| value.as_str()).unwrap_or("");
        let expected = visitor.csrf_token();
        if expected.is_empty() || !bool::from(sent.as_bytes().ct_eq(expected.as_bytes())) {
            return Err(PageError::Csrf);
        }
        serde_urlencoded::from_bytes(&body).map(CsrfForm).map_err(|e| PageError::BadForm(e.to_string()))
    }
}
