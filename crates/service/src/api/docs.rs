//! `/docs`: the interactive API reference. It is poem-openapi's Swagger UI page (5.17), whose
//! script, styles and spec are all inline, so it needs nothing but this service and works
//! offline. Its template has three flaws a browser shows, patched here:
//! - no doctype, so browsers render it in quirks mode;
//! - the tab title is "Swagger UI";
//! - no icon, so every visit logs a 404 for `/favicon.ico` in the browser console.
//!
//! `scripts/test-docs` checks the page in headless Chromium.

use poem::{Endpoint, Route, endpoint::make_sync, web::Html};

/// What replaces the template's opening tag and title.
const PATCHES: [(&str, &str); 2] = [
    (
        "<html charset=\"UTF-8\">",
        "<!DOCTYPE html>\n<html lang=\"en\">",
    ),
    (
        "<title>Swagger UI</title>",
        // An empty data: icon: the browser asks for no /favicon.ico.
        "<title>callscribe API reference</title>\n    <link rel=\"icon\" href=\"data:,\">",
    ),
];

/// The page, from poem-openapi's `swagger_ui_html()`.
pub fn page(swagger_ui_html: &str) -> String {
    let mut html = swagger_ui_html.trim_start().to_owned();
    for (from, to) in PATCHES {
        // A poem-openapi upgrade that changes its template must not silently drop a patch.
        assert!(html.contains(from), "Swagger UI template lacks {from:?}");
        html = html.replacen(from, to, 1);
    }
    html
}

/// The `/docs` endpoint (nest it at `/docs`; it answers `/docs` and `/docs/`).
pub fn endpoint(swagger_ui_html: String) -> impl Endpoint {
    let html = page(&swagger_ui_html);
    Route::new().at("/", make_sync(move |_| Html(html.clone())))
}
