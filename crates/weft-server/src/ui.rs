//! The web UI: static assets embedded in the binary at compile time (`ui/`), served under
//! `/ui/<file>`, and the single-page app's entry (`index.html`) for every page a user can
//! bookmark: `/`, `/search`, `/trace/{id}`, `/compare`, `/map`.
//!
//! Assets are plain JavaScript modules and CSS: `cargo build` is the only build step, and
//! nothing is loaded from another origin. Every response carries a strong ETag (a hash of the
//! content, computed at compile time) and `Cache-Control: no-cache`, so browsers revalidate
//! with `If-None-Match` and get `304 Not Modified` until the binary changes.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::api::{ApiError, ApiState};

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
    etag: &'static str,
}

/// FNV-1a, 64 bits: a content hash cheap enough to run at compile time.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    h
}

/// `"` + 16 hex digits + `"`: a strong entity tag.
const fn etag_bytes(bytes: &[u8]) -> [u8; 18] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let h = fnv1a(bytes);
    let mut out = [b'"'; 18];
    let mut i = 0;
    while i < 16 {
        out[1 + i] = HEX[((h >> (60 - 4 * i)) & 0xf) as usize];
        i += 1;
    }
    out
}

macro_rules! assets {
    ($($name:literal => $ct:literal),* $(,)?) => {
        const ASSETS: &[Asset] = &[$(
            Asset {
                name: $name,
                content_type: $ct,
                body: include_bytes!(concat!("../ui/", $name)),
                etag: {
                    const E: [u8; 18] = etag_bytes(include_bytes!(concat!("../ui/", $name)));
                    match std::str::from_utf8(&E) {
                        Ok(s) => s,
                        Err(_) => panic!("an etag is ascii"),
                    }
                },
            },
        )*];
    };
}

assets! {
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "favicon.svg" => "image/svg+xml",
    "app.js" => "text/javascript; charset=utf-8",
    "api.js" => "text/javascript; charset=utf-8",
    "util.js" => "text/javascript; charset=utf-8",
    "search.js" => "text/javascript; charset=utf-8",
    "tracemodel.js" => "text/javascript; charset=utf-8",
    "trace.js" => "text/javascript; charset=utf-8",
    "waterfall.js" => "text/javascript; charset=utf-8",
    "flamegraph.js" => "text/javascript; charset=utf-8",
    "spanpanel.js" => "text/javascript; charset=utf-8",
    "compare.js" => "text/javascript; charset=utf-8",
    "map.js" => "text/javascript; charset=utf-8",
}

fn asset(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// Only this origin; inline `style` attributes are allowed (the views position elements with
/// them), inline scripts are not.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; \
                   base-uri 'none'; frame-ancestors 'none'";

/// For UI development only: with `WEFT_UI_DEV_DIR=<dir>` set, assets are read from that directory
/// on every request (so an edit shows on reload, without rebuilding). Only the embedded names
/// are served, so no other file can be reached.
fn dev_override(a: &Asset) -> Option<Vec<u8>> {
    let dir = std::env::var_os("WEFT_UI_DEV_DIR")?;
    std::fs::read(std::path::Path::new(&dir).join(a.name)).ok()
}

fn serve(a: &'static Asset, headers: &HeaderMap) -> Response {
    if let Some(body) = dev_override(a) {
        return (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(a.content_type),
                ),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
            body,
        )
            .into_response();
    }
    let etag = HeaderValue::from_static(a.etag);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .map(|t| t.trim().trim_start_matches("W/"))
                .any(|t| t == a.etag || t == "*")
        });
    let common = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ),
        (
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        ),
    ];
    if matches {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(a.content_type),
        )],
        a.body,
    )
        .into_response()
}

async fn index(headers: HeaderMap) -> Response {
    serve(
        asset("index.html").expect("index.html is embedded"),
        &headers,
    )
}

async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    match asset(&name) {
        Some(a) => serve(a, &headers),
        None => ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no such UI asset {name:?}: open / for the web UI"),
        )
        .into_response(),
    }
}

/// The UI's routes: assets under `/ui/`, and `index.html` for every page of the app.
pub fn routes() -> Router<ApiState> {
    Router::new()
        .route("/", get(index))
        .route("/search", get(index))
        .route("/trace", get(index))
        .route("/trace/{id}", get(index))
        .route("/compare", get(index))
        .route("/map", get(index))
        .route("/ui/{name}", get(file))
        .route(
            "/favicon.ico",
            get(|h: HeaderMap| async move { serve(asset("favicon.svg").expect("embedded"), &h) }),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(name: &str) -> &'static str {
        std::str::from_utf8(
            asset(name)
                .unwrap_or_else(|| panic!("{name} embedded"))
                .body,
        )
        .expect("utf-8")
    }

    /// Every `/ui/...` file index.html names, and every module a module imports, is embedded.
    #[test]
    fn references_resolve() {
        let mut checked = 0;
        for a in ASSETS {
            let body = std::str::from_utf8(a.body).unwrap_or("");
            let refs: Vec<&str> = if a.name == "index.html" {
                body.split("\"/ui/")
                    .skip(1)
                    .filter_map(|s| s.split('"').next())
                    .collect()
            } else if a.name.ends_with(".js") {
                body.lines()
                    .filter(|l| l.starts_with("import ") || l.starts_with("export * from"))
                    .filter_map(|l| l.split("'./").nth(1))
                    .filter_map(|s| s.split('\'').next())
                    .collect()
            } else {
                vec![]
            };
            for r in refs {
                assert!(
                    asset(r).is_some(),
                    "{} refers to {r}, which is not embedded",
                    a.name
                );
                checked += 1;
            }
        }
        assert!(checked >= 10, "only {checked} references found");
        assert!(text("index.html").contains("/ui/app.js"));
    }

    #[test]
    fn etags_are_content_hashes() {
        assert_eq!(etag_bytes(b""), *b"\"cbf29ce484222325\"");
        assert_eq!(etag_bytes(b"a"), *b"\"af63dc4c8601ec8c\"");
        let mut seen = std::collections::HashSet::new();
        for a in ASSETS {
            assert!(seen.insert(a.etag), "{} shares its etag", a.name);
            assert_eq!(a.etag.len(), 18);
        }
    }

    #[test]
    fn not_modified_when_etag_matches() {
        let a = asset("style.css").unwrap();
        let mut h = HeaderMap::new();
        assert_eq!(serve(a, &h).status(), StatusCode::OK);
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_str(&format!("\"x\", W/{}", a.etag)).unwrap(),
        );
        assert_eq!(serve(a, &h).status(), StatusCode::NOT_MODIFIED);
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"x\""));
        let r = serve(a, &h);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "text/css; charset=utf-8");
    }
}
