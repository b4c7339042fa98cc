//! `/console`: the live call console, a page served by the binary (its three files are
//! embedded; nothing comes from elsewhere, so it works offline). It reads the API as any
//! client does: the tenant's calls (`streamConversations`), one call's live stream
//! (`streamConversation`) and the after-call messages, with the API key the user pastes
//! (kept in the tab's session storage, sent only in the `x-api-key` header). The strict
//! Content Security Policy allows only this server's own script, styles and API; the page
//! writes transcript text as text, never as HTML. `scripts/test-console` checks it in
//! headless Chromium against a real call.

use poem::http::header;
use poem::{Endpoint, Response, Route, endpoint::make_sync};

/// Only this page's own files and API; no inline script or style, no frames, no forms
/// posting elsewhere.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

const FILES: [(&str, &str, &str); 3] = [
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("console/index.html"),
    ),
    (
        "/console.js",
        "text/javascript; charset=utf-8",
        include_str!("console/console.js"),
    ),
    (
        "/console.css",
        "text/css; charset=utf-8",
        include_str!("console/console.css"),
    ),
];

/// The console's routes (nest it at `/console`).
pub fn endpoint() -> impl Endpoint {
    FILES
        .iter()
        .fold(Route::new(), |route, &(path, content_type, body)| {
            route.at(
                path,
                make_sync(move |_| {
                    Response::builder()
                        .content_type(content_type)
                        .header(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY)
                        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff")
                        .header(header::REFERRER_POLICY, "no-referrer")
                        .header(header::CACHE_CONTROL, "no-cache")
                        .body(body)
                }),
            )
        })
}
