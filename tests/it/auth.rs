//! API keys, tenancy and the per-key rate limit.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_error, body, spawn_app, spawn_app_with, start_body};

#[tokio::test]
async fn start_streaming_without_key_is_401() {
    let app = spawn_app().await;
    let res = app
        .http
        .post(app.url("/mg-autotranscribe/v1/start-streaming"))
        .json(&start_body("c-1"))
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "401-01").await;
    assert_eq!(app.conversation_count().await, 0);
}

#[tokio::test]
async fn malformed_and_unknown_keys_are_401() {
    let app = spawn_app().await;
    let (_, key) = app.tenant_with_key().await;
    let (key_id, _) = key.trim_start_matches("cs_").split_once('_').unwrap();
    for bad in [
        "",
        "nonsense",
        "cs_",
        "cs_zz_zz",
        &format!("cs_{key_id}_wrongsecret"),
        &format!("{key}x"),
    ] {
        let res = app.start(bad, &start_body("c-1")).await;
        let msg = assert_error(res, 401, "401-01").await;
        assert!(
            !msg.contains(key_id),
            "the message does not echo key material: {msg}"
        );
    }
    assert_eq!(app.conversation_count().await, 0);
}

#[tokio::test]
async fn revoked_key_is_401_and_other_keys_keep_working() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("Acme").await;
    let revoked = app.create_key(&tenant, "lambda").await;
    let kept = app.create_key(&tenant, "lambda").await;
    let key_id = revoked.split('_').nth(1).unwrap();
    let res = app
        .admin(
            Method::DELETE,
            &format!("/tenants/{tenant}/keys/{key_id}"),
            None,
        )
        .await;
    assert_eq!(res.status(), 204);
    assert_error(app.start(&revoked, &start_body("c-1")).await, 401, "401-01").await;
    assert_eq!(app.start(&kept, &start_body("c-1")).await.status(), 200);
    let keys = body(
        app.admin(Method::GET, &format!("/tenants/{tenant}/keys"), None)
            .await,
    )
    .await;
    let listed = keys["items"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    let entry = listed.iter().find(|k| k["keyId"] == key_id).unwrap();
    assert!(entry["revokedAt"].is_string());
    assert!(
        listed
            .iter()
            .all(|k| k.get("key").is_none() && k.get("secret").is_none()),
        "no secrets listed"
    );
}

#[tokio::test]
async fn another_tenants_conversation_is_404_not_403() {
    let app = spawn_app().await;
    let (_, key_a) = app.tenant_with_key().await;
    let (_, key_b) = app.tenant_with_key().await;
    assert_eq!(
        app.start(&key_a, &start_body("shared-guid")).await.status(),
        200
    );
    assert_error(app.messages(&key_b, "shared-guid").await, 404, "404-01").await;
    assert_error(app.stop(&key_b, "shared-guid").await, 404, "404-01").await;
    // The same Connect ContactId is a separate conversation in another tenant.
    assert_eq!(
        app.start(&key_b, &start_body("shared-guid")).await.status(),
        200
    );
    assert_eq!(app.conversation_count().await, 2);
    // And tenant A's conversation is still streaming (B's stop did not touch it).
    assert_error(
        app.start(&key_a, &start_body("shared-guid")).await,
        409,
        "409-01",
    )
    .await;
}

#[tokio::test]
async fn rate_limit_is_per_key_with_retry_after() {
    let app = spawn_app_with(|c| {
        c.rate_limit_per_second = 1;
        c.rate_limit_burst = 3;
    })
    .await;
    let (tenant, key) = app.tenant_with_key().await;
    let other = app.create_key(&tenant, "other-app").await;
    for i in 0..3 {
        assert_eq!(
            app.messages(&key, &format!("none-{i}")).await.status(),
            404,
            "within the burst"
        );
    }
    let res = app.start(&key, &start_body("limited")).await;
    let retry_after: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after), "Retry-After {retry_after}");
    assert_error(res, 429, "429-01").await;
    assert_eq!(
        app.conversation_count().await,
        0,
        "a limited start stores nothing"
    );
    assert_eq!(
        app.messages(&other, "none").await.status(),
        404,
        "another key has its own bucket"
    );
}

#[tokio::test]
async fn app_rate_limit_set_through_admin_api_applies_to_its_keys() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("Acme").await;
    let res = app
        .admin(
            Method::PUT,
            &format!("/tenants/{tenant}/apps/tight"),
            Some(json!({"ratePerSecond": 1, "burst": 1})),
        )
        .await;
    assert_eq!(res.status(), 200);
    let key = app.create_key(&tenant, "tight").await;
    assert_eq!(app.messages(&key, "x").await.status(), 404);
    assert_error(app.messages(&key, "x").await, 429, "429-01").await;
}

#[tokio::test]
async fn admin_api_needs_the_admin_token() {
    let app = spawn_app().await;
    let res = app
        .http
        .get(app.url("/admin/v1/tenants"))
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "401-01").await;
    let res = app
        .http
        .get(app.url("/admin/v1/tenants"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "401-01").await;
    let (_, key) = app.tenant_with_key().await;
    let res = app
        .http
        .get(app.url("/admin/v1/tenants"))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_error(res, 401, "401-01").await;
}

#[tokio::test]
async fn admin_api_is_disabled_without_a_configured_token() {
    let app = spawn_app_with(|c| c.admin_token = None).await;
    let res = app
        .http
        .get(app.url("/admin/v1/tenants"))
        .bearer_auth("anything")
        .send()
        .await
        .unwrap();
    let msg = assert_error(res, 401, "401-01").await;
    assert!(msg.contains("CALLSCRIBE_ADMIN_TOKEN"), "{msg}");
}
