//! The web app's CSS and JavaScript, compiled into the binary and served from memory. Pages link
//! them as `/assets/<file>?v=<hash of the content>`: a request with the current hash may be
//! cached for a year (a new build changes the hash, hence the URL); any other is revalidated.

use std::sync::LazyLock;

use axum::extract::{Path, Query};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::error::PageError;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset { name: "app.css", content_type: "text/css; charset=utf-8", body: include_bytes!("../assets/app.css") },
    Asset { name: "app.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../assets/app.js") },
    Asset { name: "live.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../assets/live.js") },
];

/// Each asset's content hash (the `v` of its URL and its ETag).
static VERSIONS: LazyLock<Vec<String>> = LazyLock::new(|| {
    ASSETS.iter().map(|a| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&Sha256::digest(a.body)[..9])).collect()
});

/// The URL a page links an asset by.
pub fn url(name: &str) -> String {
    let index = ASSETS.iter().position(|a| a.name == name).expect("a known asset");
    format!("/assets/{name}?v={}", VERSIONS[index])
}

#[derive(serde::Deserialize)]
pub struct Version {
    v: Option<String>,
}

pub async fn serve(Path(file): Path<String>, Query(version): Query<Version>, headers: HeaderMap) -> Response {
    let Some(index) = ASSETS.iter().position(|a| a.name == file) else { return PageError::NotFound.into_response() };
    let asset = &ASSETS[index];
    let current = &VERSIONS[index];
    let etag = format!("\"{current}\"");
    let cache = if version.v.as_deref() == Some(current.as_str()) { "public, max-age=31536000, immutable" } else { "no-cache" };
    let mut response = if headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, asset.content_type)], asset.body).into_response()
    };
    let out = response.headers_mut();
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    out.insert(header::ETAG, HeaderValue::from_str(&etag).expect("base64url is a valid header"));
    response
}
