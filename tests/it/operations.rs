//! Health, metrics, request ids, unknown routes and graceful shutdown.

use crate::helpers::{assert_error, body, spawn_app, start_body};

#[tokio::test]
async fn health_endpoints_answer() {
    let app = spawn_app().await;
    let live = app.get("/health/live").await;
    assert_eq!(live.status(), 200);
    let ready = body(app.get("/health/ready").await).await;
    assert_eq!(ready["status"], "ready", "{ready}");
}

#[tokio::test]
async fn readiness_fails_while_draining() {
    let app = spawn_app().await;
    app.state.shutdown.cancel();
    let res = app.get("/health/ready").await;
    assert_error(res, 503, "503-01").await;
    assert_eq!(app.get("/health/live").await.status(), 200);
}

#[tokio::test]
async fn metrics_count_requests_by_operation_and_status() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    app.start(&key, &start_body("c-metrics")).await;
    app.start(&key, &start_body("c-metrics")).await;
    let text = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let line = |status: &str| {
        text.lines()
            .find(|l| {
                l.starts_with("callscribe_http_requests_total{")
                    && l.contains("route=\"startStreaming\"")
                    && l.contains(&format!("status=\"{status}\""))
            })
            .map(|l| l.rsplit(' ').next().unwrap().to_owned())
    };
    assert_eq!(line("200").as_deref(), Some("1"), "{text}");
    assert_eq!(line("409").as_deref(), Some("1"), "{text}");
    assert!(
        text.contains("callscribe_http_request_duration_seconds_bucket{"),
        "latency histogram"
    );
}

#[tokio::test]
async fn request_id_is_generated_or_echoed() {
    let app = spawn_app().await;
    let res = app.get("/health/live").await;
    let generated = res.headers()["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(generated).is_ok());
    let res = app
        .http
        .get(app.url("/health/live"))
        .header("x-request-id", "lambda-req-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "lambda-req-42");
    let res = app
        .http
        .get(app.url("/nope"))
        .header("x-request-id", "lambda-req-43")
        .send()
        .await
        .unwrap();
    let b = body(res).await;
    assert_eq!(b["error"]["requestId"], "lambda-req-43");
}

#[tokio::test]
async fn unknown_route_and_wrong_method_use_the_error_body() {
    let app = spawn_app().await;
    assert_error(app.get("/mg-autotranscribe/v2/start").await, 404, "404-02").await;
    let res = app
        .http
        .get(app.url("/mg-autotranscribe/v1/start-streaming"))
        .send()
        .await
        .unwrap();
    assert_error(res, 405, "405-01").await;
}

#[tokio::test]
async fn graceful_shutdown_finishes_and_frees_the_port() {
    let app = spawn_app().await;
    let addr = app.addr;
    assert_eq!(app.get("/health/live").await.status(), 200);
    tokio::time::timeout(std::time::Duration::from_secs(15), app.shutdown())
        .await
        .expect("shut down in time");
    assert!(std::net::TcpListener::bind(addr).is_ok(), "port released");
}
