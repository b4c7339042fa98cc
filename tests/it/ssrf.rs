//! The SSRF guard with its default settings (the other tests allow loopback): targets
//! and token endpoints at non-public addresses are refused when stored, and names that
//! resolve to them are refused when connecting, without a request reaching them.
//! Nothing here connects anywhere but loopback.

use std::time::Duration;

use callscribe::ids::TenantId;
use callscribe::store::webhooks::TargetRecord;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app_with};
use crate::webhook::{SIGNING, delivery_log, plain, publish, set_target, spawn_target};

async fn guarded_app() -> TestApp {
    spawn_app_with(|c| c.webhook.allow_cidrs.clear()).await
}

async fn put_target(app: &TestApp, tenant: &str, mut target: Value) -> reqwest::Response {
    target["signingSecret"] = json!(SIGNING);
    app.admin(
        Method::PUT,
        &format!("/tenants/{tenant}/webhook"),
        Some(target),
    )
    .await
}

#[tokio::test]
async fn storing_a_target_at_a_non_public_address_is_400_naming_the_field_and_why() {
    let app = guarded_app().await;
    let tenant = app.create_tenant("Acme").await;
    for (url, why) in [
        ("http://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        (
            "http://[::ffff:127.0.0.1]/hook",
            "::ffff:127.0.0.1 is a loopback",
        ),
        ("http://[::1]:8080/hook", "::1 is a loopback address"),
        ("https://10.1.2.3/hook", "private (RFC 1918)"),
        ("http://100.64.0.7/hook", "CGNAT"),
        ("http://[fd00::1]/hook", "unique local"),
        ("http://2130706433/hook", "127.0.0.1 is a loopback address"),
    ] {
        let res = put_target(&app, &tenant, plain(url)).await;
        let message = assert_error(res, 400, "400-01").await;
        assert!(
            message.contains("field `url`") && message.contains(why),
            "{url}: {message}"
        );
    }
    let oauth = json!({"url": "https://hooks.example.com/transcripts", "auth": {
        "mode": "oauth2", "tokenUrl": "http://169.254.169.254/token",
        "clientId": "callscribe", "clientSecret": "s3cret"}});
    let message = assert_error(put_target(&app, &tenant, oauth).await, 400, "400-01").await;
    assert!(
        message.contains("field `auth.tokenUrl`") && message.contains("link-local"),
        "{message}"
    );
    let stored = app
        .admin(Method::GET, &format!("/tenants/{tenant}/webhook"), None)
        .await;
    assert_eq!(stored.status(), 404, "nothing was stored");
}

#[tokio::test]
async fn a_name_resolving_to_loopback_is_refused_when_delivering_and_nothing_reaches_it() {
    let app = guarded_app().await;
    let tenant = app.create_tenant("Acme").await;
    let (url, seen) = spawn_target(200, Duration::ZERO);
    let by_name = url.replace("127.0.0.1", "localhost");
    // A name is accepted when stored: its DNS answer is what counts, at each connection.
    set_target(&app, &tenant, plain(&by_name)).await;
    let id = publish(&app, &tenant, "c1", 0);
    let log = delivery_log(&app, &tenant, 1).await;
    assert_eq!(log[0]["messageId"], id.as_str());
    assert_eq!(log[0]["outcome"], "failed");
    let error = log[0]["error"].as_str().unwrap();
    assert!(
        error.contains("localhost resolves only to addresses callscribe does not call")
            && error.contains("127.0.0.1: a loopback address"),
        "{error}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        seen.lock().unwrap().is_empty(),
        "no POST reached the target"
    );
}

#[tokio::test]
async fn a_stored_literal_address_the_guard_refuses_is_logged_with_each_message() {
    // As left by an older version or another replica with other settings.
    let app = guarded_app().await;
    let tenant = app.create_tenant("Acme").await;
    let (url, seen) = spawn_target(200, Duration::ZERO);
    let record = TargetRecord {
        url,
        auth_mode: "none".into(),
        auth_public: r#"{"mode":"none"}"#.into(),
        auth_sealed: Some(
            app.state
                .sealer
                .seal(&json!({"signingSecret": SIGNING}).to_string()),
        ),
        timeout_ms: 2000,
    };
    app.state
        .store
        .put_webhook(&TenantId(tenant.clone()), &record)
        .await
        .unwrap();
    publish(&app, &tenant, "c1", 0);
    publish(&app, &tenant, "c1", 1);
    let log = delivery_log(&app, &tenant, 2).await;
    for entry in &log {
        assert_eq!(entry["outcome"], "failed");
        let error = entry["error"].as_str().unwrap();
        assert!(
            error.contains("the webhook url is refused: 127.0.0.1 is a loopback address"),
            "{error}"
        );
    }
    assert!(
        seen.lock().unwrap().is_empty(),
        "no POST reached the target"
    );
}

#[tokio::test]
async fn an_allowed_network_is_delivered_to() {
    let app = spawn_app_with(|c| {
        c.webhook.allow_cidrs = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await;
    let tenant = app.create_tenant("Acme").await;
    let (url, seen) = spawn_target(200, Duration::ZERO);
    // localhost also resolves to ::1, which stays refused; 127.0.0.1 is used.
    set_target(&app, &tenant, plain(&url.replace("127.0.0.1", "localhost"))).await;
    let id = publish(&app, &tenant, "c1", 0);
    for _ in 0..200 {
        if !seen.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(*seen.lock().unwrap(), vec![id]);
}
