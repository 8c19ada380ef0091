//! The body of `POST /graphql`, read within `max_body_bytes`, and the short JSON answer a client
//! gets when it is too large (413) or not a GraphQL request (400) — the error text of the
//! parser, never a debug dump of its internals.

use async_graphql::http::MultipartOptions;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::HttpState;
use crate::error::Code;

/// A GraphQL request parsed from the body (JSON, or multipart as async-graphql reads it).
pub(crate) struct GraphQLBody(pub async_graphql::Request);

impl FromRequest<HttpState> for GraphQLBody {
    type Rejection = Response;

    async fn from_request(request: Request, state: &HttpState) -> Result<Self, Response> {
        let limit = state.app.settings.max_body_bytes;
        let content_type = request.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
        // A body without a Content-Length (chunked) is cut off by the limit layer while being
        // read; the extractor reports that as "payload too large".
        let body = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large(limit)
            } else {
                error_response(StatusCode::BAD_REQUEST, "the request body could not be read")
            }
        })?;
        async_graphql::http::receive_body(content_type, &body[..], MultipartOptions::default().max_file_size(limit))
            .await
            .map(GraphQLBody)
            .map_err(|e| error_response(StatusCode::BAD_REQUEST, &format!("not a GraphQL request: {}", short(&e.to_string()))))
    }
}

/// 413 with a JSON body, for the limit layer's own refusals (a `Content-Length` above the
/// limit), which otherwise answer in plain text.
pub(crate) async fn json_payload_too_large(State(state): State<HttpState>, response: Response) -> Response {
    let is_json = response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json { too_large(state.app.settings.max_body_bytes) } else { response }
}

fn too_large(limit: usize) -> Response {
    error_response(StatusCode::PAYLOAD_TOO_LARGE, &format!("the request body is larger than {limit} bytes"))
}

/// `{"errors":[{"message":…,"extensions":{"code":"BAD_USER_INPUT"}}]}`, as GraphQL answers.
fn error_response(status: StatusCode, message: &str) -> Response {
    let body = json!({ "errors": [{ "message": message, "extensions": { "code": Code::BadUserInput.as_str() } }] });
    (status, axum::Json(body)).into_response()
}

/// The parser's message, at most one line of 200 characters (serde's messages can quote input).
fn short(message: &str) -> String {
    let line = message.lines().next().unwrap_or_default();
    line.chars().take(200).collect()
}
