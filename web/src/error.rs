//! Every failure of a page, mapped once to what the visitor sees: a page that says what went
//! wrong in words, with the matching HTTP status. Refusals keep the API's wording (written for
//! people); internal causes are logged with an id and never shown.

use api::error::{ApiError, Code, ErrorChain};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::html;

use crate::layout;
use crate::session::Visitor;

#[derive(Debug)]
pub enum PageError {
    /// A refusal or failure from the account steps, the executor or the read models.
    Api(ApiError),
    /// A form without its CSRF token, or with someone else's.
    Csrf,
    /// A form body that could not be read.
    BadForm(String),
    NotFound,
    /// A wiring mistake (a route without the session layer).
    Internal(&'static str),
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> Self {
        PageError::Api(e)
    }
}

impl From<projections::ProjectionError> for PageError {
    fn from(e: projections::ProjectionError) -> Self {
        PageError::Api(e.into())
    }
}

impl From<store::StoreError> for PageError {
    fn from(e: store::StoreError) -> Self {
        PageError::Api(e.into())
    }
}

impl<E: std::error::Error + 'static> From<store::ExecuteError<E>> for PageError
where
    ApiError: From<store::ExecuteError<E>>,
{
    fn from(e: store::ExecuteError<E>) -> Self {
        PageError::Api(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match self {
            PageError::Api(ApiError::Internal(cause)) => {
                let id = uuid::Uuid::now_v7();
                tracing::error!(error_id = %id, cause = %ErrorChain(&*cause), "internal error on a page");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    format!("Something went wrong on our side (error id {id}). Try again in a moment."),
                )
            }
            PageError::Api(e) => {
                let title = match e.code() {
                    Code::Unauthenticated => "Please log in",
                    Code::Forbidden => "Not allowed",
                    Code::NotFound => "Not found",
                    Code::RateLimited => "Too many attempts",
                    Code::Timeout => "Still working on it",
                    _ => "That did not work",
                };
                (e.status_code(), title, e.message())
            }
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "This form has expired",
                "The form was sent without its security token, or from another site. Go back, reload the page and send it again."
                    .to_owned(),
            ),
            PageError::BadForm(why) => (StatusCode::BAD_REQUEST, "That form could not be read", why),
            PageError::NotFound => (StatusCode::NOT_FOUND, "Not found", "There is no page here.".to_owned()),
            PageError::Internal(what) => {
                tracing::error!(what, "web wiring error");
                (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "Something went wrong on our side.".to_owned())
            }
        };
        let body = layout::page(
            &Visitor::anonymous(),
            title,
            html! {
                p role="alert" { (message) }
                p { a href="/" { "Back to the home page" } }
            },
        );
        (status, body).into_response()
    }
}
