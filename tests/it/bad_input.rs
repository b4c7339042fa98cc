//! Every bad input of the contract: the right status and code, a message naming the
//! problem, no internals leaked, and nothing stored.

use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app, start_body};

/// Sends a start body, asserts the error, that nothing was stored and that the
/// message neither leaks Rust internals nor misses `mentions`.
async fn refused(app: &TestApp, key: &str, body: &Value, status: u16, code: &str, mentions: &str) {
    let msg = assert_error(app.start(key, body).await, status, code).await;
    assert!(
        msg.contains(mentions),
        "message `{msg}` should mention `{mentions}`"
    );
    for leak in ["callscribe::", "poem", "sea_orm", "panicked", "::"] {
        assert!(!msg.contains(leak), "message leaks internals: {msg}");
    }
    assert_eq!(
        app.conversation_count().await,
        0,
        "nothing stored for {body}"
    );
}

fn with(mut body: Value, pointer: &str, value: Value) -> Value {
    *body.pointer_mut(pointer).expect("field exists") = value;
    body
}

fn without(mut body: Value, parent: &str, field: &str) -> Value {
    body.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .expect("object")
        .remove(field);
    body
}

/// Each `(pointer, value, field)` replaces one field of a valid start body: 400-01 naming
/// `field`.
async fn refuse_each<const N: usize>(app: &TestApp, key: &str, cases: [(&str, Value, &str); N]) {
    for (pointer, value, field) in cases {
        let body = with(start_body("g"), pointer, value);
        refused(app, key, &body, 400, "400-01", field).await;
    }
}

#[tokio::test]
async fn malformed_json_is_400_01() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    for raw in [
        "{",
        "not json",
        "[]",
        "null",
        "{\"namespace\": \"amazonconnect\",}",
        "",
    ] {
        let res = app
            .post_raw("/mg-autotranscribe/v1/start-streaming", &key, raw)
            .await;
        assert_error(res, 400, "400-01").await;
    }
    assert_eq!(app.conversation_count().await, 0);
}

#[tokio::test]
async fn missing_required_fields_are_400_01_naming_the_field() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    for field in [
        "namespace",
        "guid",
        "customerId",
        "agentId",
        "amazonConnectParams",
    ] {
        refused(
            &app,
            &key,
            &without(start_body("g"), "", field),
            400,
            "400-01",
            field,
        )
        .await;
    }
    refused(
        &app,
        &key,
        &without(start_body("g"), "/amazonConnectParams", "streamArn"),
        400,
        "400-01",
        "streamArn",
    )
    .await;
}

#[tokio::test]
async fn wrong_types_are_400_01_naming_the_field() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    let cases = [
        ("/guid", json!(42), "guid"),
        ("/customerId", json!(["a"]), "customerId"),
        (
            "/autotranscribeParams/detailedToken",
            json!("yes"),
            "detailedToken",
        ),
        (
            "/autotranscribeParams/redactionOutput",
            json!("sometimes"),
            "redactionOutput",
        ),
        (
            "/amazonConnectParams/startSelectorType",
            json!("LATEST"),
            "startSelectorType",
        ),
        (
            "/autotranscribeParams",
            json!("en-US"),
            "autotranscribeParams",
        ),
    ];
    refuse_each(&app, &key, cases).await;
}

#[tokio::test]
async fn empty_and_oversized_fields_are_400_01() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    let long = "x".repeat(129);
    let cases = [
        ("/guid", json!(""), "guid"),
        ("/guid", json!(long), "guid"),
        ("/customerId", json!(""), "customerId"),
        ("/customerId", json!("   "), "customerId"),
        ("/agentId", json!(long), "agentId"),
        ("/amazonConnectParams/streamArn", json!(""), "streamArn"),
        (
            "/amazonConnectParams/streamArn",
            json!("arn:aws:s3:::bucket/key"),
            "streamArn",
        ),
    ];
    refuse_each(&app, &key, cases).await;
}

#[tokio::test]
async fn guid_with_forbidden_characters_is_400_01() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    for guid in ["a b", "a/b", "a?b", "a\nb", "ü-contact", "a;drop table"] {
        refused(&app, &key, &start_body(guid), 400, "400-01", "guid").await;
    }
}

#[tokio::test]
async fn unknown_namespace_is_400_02_listing_the_supported_ones() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    refused(
        &app,
        &key,
        &with(start_body("g"), "/namespace", json!("genesys")),
        400,
        "400-02",
        "amazonconnect",
    )
    .await;
    let res = app
        .post(
            "/mg-autotranscribe/v1/stop-streaming",
            &key,
            &json!({"namespace": "twilio", "guid": "g"}),
        )
        .await;
    assert_error(res, 400, "400-02").await;
}

#[tokio::test]
async fn unsupported_language_is_400_03_listing_the_supported_ones() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    let body = with(
        start_body("g"),
        "/autotranscribeParams/language",
        json!("fr-FR"),
    );
    refused(&app, &key, &body, 400, "400-03", "en-US, en-GB").await;
    refused(&app, &key, &body, 400, "400-03", "es-US").await;
}

#[tokio::test]
async fn fragment_number_selector_needs_after_fragment_number() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    let body = with(
        start_body("g"),
        "/amazonConnectParams/startSelectorType",
        json!("FRAGMENT_NUMBER"),
    );
    refused(&app, &key, &body, 400, "400-01", "afterFragmentNumber").await;
    let body = with(
        body,
        "/amazonConnectParams/afterFragmentNumber",
        json!("12ab"),
    );
    refused(&app, &key, &body, 400, "400-01", "afterFragmentNumber").await;
    let body = with(
        start_body("g"),
        "/amazonConnectParams/startSelectorType",
        json!("SERVER_TIMESTAMP"),
    );
    refused(&app, &key, &body, 400, "400-01", "startTimestamp").await;
}

#[tokio::test]
async fn body_over_the_limit_is_413_whether_declared_or_chunked() {
    let app = spawn_app_with_limit(4096).await;
    let (_, key) = app.tenant_with_key().await;
    let mut big = start_body("g");
    big["customerId"] = json!("x".repeat(5000));
    refused(&app, &key, &big, 413, "413-01", "4096").await;
    // Chunked: no Content-Length, so the limit must be enforced while reading.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..10).map(|_| Ok(vec![b' '; 1000])).collect();
    let stream = futures_util::stream::iter(chunks);
    let res = app
        .post_raw(
            "/mg-autotranscribe/v1/start-streaming",
            &key,
            reqwest::Body::wrap_stream(stream),
        )
        .await;
    assert_error(res, 413, "413-01").await;
    assert_eq!(app.conversation_count().await, 0);
}

async fn spawn_app_with_limit(limit: usize) -> TestApp {
    crate::helpers::spawn_app_with(|c| c.body_limit_bytes = limit).await
}

#[tokio::test]
async fn non_json_content_type_is_415() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    let res = app
        .http
        .post(app.url("/mg-autotranscribe/v1/start-streaming"))
        .header("x-api-key", &key)
        .header("content-type", "text/plain")
        .body(start_body("g").to_string())
        .send()
        .await
        .unwrap();
    assert_error(res, 415, "415-01").await;
    assert_eq!(app.conversation_count().await, 0);
}

#[tokio::test]
async fn missing_content_type_is_read_as_json() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    let res = app
        .http
        .post(app.url("/mg-autotranscribe/v1/start-streaming"))
        .header("x-api-key", &key)
        .body(start_body("no-ct").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

/// Found by scripts/contract-fuzz: a POST with neither body nor `Content-Type` (a bare
/// `curl -X POST`) was 415-01, undocumented for the File Exporter listings. A missing
/// type is read as JSON, so an empty body is 400-01 on every JSON route.
#[tokio::test]
async fn an_empty_body_without_content_type_is_400_01_not_415() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    for path in [
        "/mg-autotranscribe/v1/start-streaming",
        "/mg-autotranscribe/v1/stop-streaming",
        "/fileexporter/v1/static/listfeedversions",
        "/fileexporter/v1/static/getfeedfile",
    ] {
        let res = app
            .http
            .post(app.url(path))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        let msg = assert_error(res, 400, "400-01").await;
        assert!(msg.contains("empty"), "{path}: {msg}");
    }
    let res = app
        .http
        .post(app.url("/admin/v1/tenants"))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_error(res, 400, "400-01").await;
    assert_eq!(app.conversation_count().await, 0);
}

/// Found by scripts/contract-fuzz: the File Exporter listings answer 413 and 415 like
/// every JSON route, but their spec did not list them (`listfeeds` reads no body, so
/// only 413 applies to it).
#[tokio::test]
async fn file_exporter_listings_document_and_answer_413_and_415() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    let spec = crate::helpers::body(app.get("/openapi.json").await).await;
    let listings = spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| path.starts_with("/fileexporter/v1/static/"))
        .collect::<Vec<_>>();
    assert_eq!(listings.len(), 7);
    for (path, item) in listings {
        let responses = &item["post"]["responses"];
        assert!(responses["413"].is_object(), "{path} documents 413");
        let reads_body = !path.ends_with("/listfeeds");
        assert_eq!(responses["415"].is_object(), reads_body, "{path}: 415");
    }
    let res = app
        .http
        .post(app.url("/fileexporter/v1/static/listfeedversions"))
        .header("x-api-key", &key)
        .header("content-type", "text/plain")
        .body(r#"{"feed": "utterances", "version": "1"}"#)
        .send()
        .await
        .unwrap();
    assert_error(res, 415, "415-01").await;
    let big = format!(r#"{{"feed": "{}"}}"#, "u".repeat(70_000));
    let res = app
        .post_raw("/fileexporter/v1/static/listfeeds", &key, big)
        .await;
    assert_error(res, 413, "413-01").await;
}

#[tokio::test]
async fn messages_without_external_id_is_400_01() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    let res = app
        .http
        .get(app.url("/conversation/v1/conversation/messages"))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    let msg = assert_error(res, 400, "400-01").await;
    assert!(msg.contains("externalId"), "{msg}");
    let msg = assert_error(app.messages(&key, "bad guid!").await, 400, "400-01").await;
    assert!(msg.contains("guid") || msg.contains("externalId"), "{msg}");
}

#[tokio::test]
async fn admin_bad_input_is_rejected_and_not_stored() {
    let app = spawn_app().await;
    use reqwest::Method;
    let res = app
        .admin(Method::POST, "/tenants", Some(json!({"name": ""})))
        .await;
    assert_error(res, 400, "400-01").await;
    let res = app
        .admin(Method::POST, "/tenants", Some(json!({"title": "x"})))
        .await;
    assert_error(res, 400, "400-01").await;
    let res = app
        .admin(Method::GET, "/tenants/not-a-tenant/keys", None)
        .await;
    assert_error(res, 404, "404-01").await;
    let tenants = crate::helpers::body(app.admin(Method::GET, "/tenants", None).await).await;
    assert_eq!(tenants["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn every_route_refuses_a_body_over_the_limit_with_413_and_admin_creates_nothing() {
    let app = spawn_app_with_limit(4096).await;
    let big = json!({"name": "x".repeat(5000)});
    let res = app
        .admin(reqwest::Method::POST, "/tenants", Some(big))
        .await;
    assert_error(res, 413, "413-01").await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..10).map(|_| Ok(vec![b' '; 1000])).collect();
    let res = app
        .http
        .post(app.url("/admin/v1/tenants"))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .expect("request");
    assert_error(res, 413, "413-01").await;
    // The docs, the spec, metrics, health, feed downloads and unknown routes pass the
    // same stack.
    for path in [
        "/docs",
        "/openapi.json",
        "/metrics",
        "/health/live",
        "/fileexporter/v1/files/some-token",
        "/no-such-route",
    ] {
        let res = app
            .http
            .get(app.url(path))
            .body(vec![b' '; 5000])
            .send()
            .await
            .expect("request");
        assert_error(res, 413, "413-01").await;
    }
    let tenants = app.admin(reqwest::Method::GET, "/tenants", None).await;
    assert_eq!(crate::helpers::body(tenants).await["items"], json!([]));
}

#[tokio::test]
async fn a_body_that_stalls_past_the_request_timeout_is_503_02() {
    use futures_util::StreamExt;
    let app = crate::helpers::spawn_app_with(|c| c.request_timeout_ms = 300).await;
    let chunks = futures_util::stream::iter([b"{\"name\":".to_vec(), b"\"Acme\"}".to_vec()])
        .enumerate()
        .then(|(n, chunk)| async move {
            if n > 0 {
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            }
            Ok::<_, std::io::Error>(chunk)
        });
    let res = app
        .http
        .post(app.url("/admin/v1/tenants"))
        .bearer_auth(crate::helpers::ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await
        .expect("request");
    assert_error(res, 503, "503-02").await;
}
