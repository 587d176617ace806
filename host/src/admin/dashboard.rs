//! The dashboard: a page at `/` on the admin listener, built from hand-written HTML, CSS and
//! JavaScript embedded in the binary (no CDN, no fonts, no build step). The page holds no data:
//! it reads the admin API's JSON endpoints, with the token the operator gives it, so the files
//! are served without the token (the `Host` rule still applies) and every figure needs it.
//!
//! Each answer says `Cache-Control: no-cache` (a new binary's page is never stale) and carries
//! a strict `Content-Security-Policy`: scripts, styles and requests to this origin only, no
//! inline script, no framing (a page of another site cannot click the reload button through
//! an invisible frame).

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Response, StatusCode};
use http_body_util::Full;

/// One embedded file: its path under the admin listener, content type and bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        content_type: "text/html; charset=utf-8",
        body: include_str!("dashboard/index.html"),
    },
    Asset {
        path: "/dashboard/app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("dashboard/app.js"),
    },
    Asset {
        path: "/dashboard/views.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_str!("dashboard/views.js"),
    },
    Asset {
        path: "/dashboard/style.css",
        content_type: "text/css; charset=utf-8",
        body: include_str!("dashboard/style.css"),
    },
];

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Whether `path` is one of the dashboard's files (`/`, `/index.html` or `/dashboard/...`).
pub(super) fn is_page(path: &str) -> bool {
    path == "/" || path == "/index.html" || path.starts_with("/dashboard/")
}

/// The file at `path`, or `404`.
pub(super) fn serve(path: &str) -> Response<Full<Bytes>> {
    let path = if path == "/index.html" { "/" } else { path };
    let Some(asset) = ASSETS.iter().find(|a| a.path == path) else {
        let mut response = Response::new(Full::new(Bytes::from_static(b"not found\n")));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    };
    let mut response = Response::new(Full::new(Bytes::from_static(asset.body.as_bytes())));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}
