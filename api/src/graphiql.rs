//! GraphiQL at `GET /graphql`, with its assets (GraphiQL, React, graphql-ws; see
//! `api/assets/graphiql/README.md` for versions and licences) compiled in and served from
//! `/graphql/assets/…`, so the page works without internet access and references no other host.

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};

/// Scripts only from here, no inline script. GraphiQL's editor sets inline styles and its CSS
/// embeds its fonts as data URLs.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; font-src 'self' data:; \
     img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// `(file, content type, content)`.
const ASSETS: &[(&str, &str, &[u8])] = &[
    ("graphiql.min.js", "text/javascript; charset=utf-8", include_bytes!("../assets/graphiql/graphiql.min.js")),
    ("graphiql.min.css", "text/css; charset=utf-8", include_bytes!("../assets/graphiql/graphiql.min.css")),
    ("react.production.min.js", "text/javascript; charset=utf-8", include_bytes!("../assets/graphiql/react.production.min.js")),
    ("react-dom.production.min.js", "text/javascript; charset=utf-8", include_bytes!("../assets/graphiql/react-dom.production.min.js")),
    ("graphql-ws.min.js", "text/javascript; charset=utf-8", include_bytes!("../assets/graphiql/graphql-ws.min.js")),
    ("graphiql-init.js", "text/javascript; charset=utf-8", include_bytes!("../assets/graphiql/graphiql-init.js")),
];

/// The vendored files never change within a build; the version in their URL does when the
/// binary does, so they may be cached for a day and revalidate after.
const ASSET_CACHE: &str = "public, max-age=86400";

const PAGE: &str = concat!(
    "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n",
    "<title>GraphiQL · Switchboard</title>\n",
    "<link rel=\"stylesheet\" href=\"/graphql/assets/graphiql.min.css?v=",
    env!("CARGO_PKG_VERSION"),
    "\">\n",
    "<style>body{margin:0}#graphiql{height:100vh}</style>\n",
    "</head>\n<body>\n",
    "<div id=\"graphiql\" data-endpoint=\"/graphql\" data-subscriptions=\"/graphql/ws\">Loading GraphiQL… (it needs JavaScript)</div>\n",
    "<script src=\"/graphql/assets/react.production.min.js?v=",
    env!("CARGO_PKG_VERSION"),
    "\"></script>\n",
    "<script src=\"/graphql/assets/react-dom.production.min.js?v=",
    env!("CARGO_PKG_VERSION"),
    "\"></script>\n",
    "<script src=\"/graphql/assets/graphql-ws.min.js?v=",
    env!("CARGO_PKG_VERSION"),
    "\"></script>\n",
    "<script src=\"/graphql/assets/graphiql.min.js?v=",
    env!("CARGO_PKG_VERSION"),
    "\"></script>\n",
    "<script src=\"/graphql/assets/graphiql-init.js?v=",
    env!("CARGO_PKG_VERSION"),
    "\"></script>\n",
    "</body>\n</html>\n"
);

pub(crate) async fn page() -> Response {
    let mut response = Html(PAGE).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    response
}

pub(crate) async fn asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (header::CACHE_CONTROL, HeaderValue::from_static(ASSET_CACHE)),
                (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
            ],
            *body,
        )
            .into_response(),
        None => (axum::http::StatusCode::NOT_FOUND, "no such GraphiQL asset").into_response(),
    }
}
