//! The admin API and CLI: tenants, keys, apps, AWS settings, webhook targets (secrets
//! go in and never come out) and the delivery log.

use callscribe::ids::{MessageId, TenantId};
use callscribe::store::deliveries::DeliveryFailure;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{assert_error, body, spawn_app, start_body};

#[tokio::test]
async fn tenants_are_created_listed_and_read() {
    let app = spawn_app().await;
    let id = app.create_tenant("  Acme Telecom ").await;
    let t = body(
        app.admin(Method::GET, &format!("/tenants/{id}"), None)
            .await,
    )
    .await;
    assert_eq!(t["name"], "Acme Telecom", "name is trimmed");
    assert!(t["createdAt"].is_string());
    let list = body(app.admin(Method::GET, "/tenants", None).await).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_error(
        app.admin(Method::GET, "/tenants/unknown", None).await,
        404,
        "404-01",
    )
    .await;
}

#[tokio::test]
async fn key_is_shown_once_and_stored_only_as_a_hash() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("Acme").await;
    let res = app
        .admin(
            Method::POST,
            &format!("/tenants/{tenant}/keys"),
            Some(json!({"app": "lambda"})),
        )
        .await;
    let created = body(res).await;
    let key = created["key"].as_str().unwrap();
    let key_id = created["keyId"].as_str().unwrap();
    assert!(key.starts_with(&format!("cs_{key_id}_")), "{key}");
    let secret = key.splitn(3, '_').nth(2).unwrap();
    use sea_orm::EntityTrait;
    let rows = entity::api_key::Entity::find()
        .all(app.state.store.db())
        .await
        .unwrap();
    let dump = format!("{rows:?}");
    assert!(!dump.contains(secret), "the secret is not stored");
    let apps = body(
        app.admin(Method::GET, &format!("/tenants/{tenant}/apps"), None)
            .await,
    )
    .await;
    assert_eq!(
        apps["items"][0]["name"], "lambda",
        "the app was created with the key"
    );
    assert_error(
        app.admin(
            Method::DELETE,
            &format!("/tenants/{tenant}/keys/nokey"),
            None,
        )
        .await,
        404,
        "404-01",
    )
    .await;
}

/// Found by scripts/contract-fuzz: unset AWS settings were answered as `null`, which
/// the spec (plain strings) does not allow; they are left out instead.
#[tokio::test]
async fn unset_aws_settings_are_left_out_not_null() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("Acme").await;
    let path = format!("/tenants/{tenant}/aws");
    let res = app.admin(Method::PUT, &path, Some(json!({}))).await;
    assert_eq!(res.status(), 200);
    assert_eq!(body(res).await, json!({}));
    assert_eq!(
        body(app.admin(Method::GET, &path, None).await).await,
        json!({})
    );
    let region = json!({"region": "eu-west-1"});
    let res = app.admin(Method::PUT, &path, Some(region.clone())).await;
    assert_eq!(body(res).await, region);
}

#[tokio::test]
async fn aws_settings_round_trip_and_are_validated() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("Acme").await;
    let path = format!("/tenants/{tenant}/aws");
    let settings = json!({"roleArn": "arn:aws:iam::123456789012:role/callscribe-kvs-read",
        "externalId": "acme-42", "region": "us-east-1", "endpointUrl": "http://127.0.0.1:4567"});
    assert_eq!(
        app.admin(Method::PUT, &path, Some(settings.clone()))
            .await
            .status(),
        200
    );
    assert_eq!(
        body(app.admin(Method::GET, &path, None).await).await,
        settings
    );
    let bad = json!({"roleArn": "arn:aws:s3:::bucket"});
    assert_error(
        app.admin(Method::PUT, &path, Some(bad)).await,
        400,
        "400-01",
    )
    .await;
    let bad = json!({"endpointUrl": "ftp://x"});
    assert_error(
        app.admin(Method::PUT, &path, Some(bad)).await,
        400,
        "400-01",
    )
    .await;
    assert_eq!(
        body(app.admin(Method::GET, &path, None).await).await,
        settings,
        "refused updates change nothing"
    );
}

/// Every column of the tenant's webhook row, as text.
async fn stored_webhook_row(app: &crate::helpers::TestApp) -> String {
    use sea_orm::EntityTrait;
    format!(
        "{:?}",
        entity::webhook_target::Entity::find()
            .all(app.state.store.db())
            .await
            .unwrap()
    )
}

#[tokio::test]
async fn webhook_secrets_are_write_only_and_encrypted_at_rest() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("Acme").await;
    let path = format!("/tenants/{tenant}/webhook");
    let mut target = json!({"url": "https://hooks.example.com/transcripts",
        "auth": {"mode": "secret", "name": "x-hook-token", "in": "header", "value": "s3cr3t-t0ken"},
        "timeoutMs": 1500});
    // The first PUT needs a signing secret.
    let res = app.admin(Method::PUT, &path, Some(target.clone())).await;
    assert!(
        assert_error(res, 400, "400-01")
            .await
            .contains("signingSecret")
    );
    target["signingSecret"] = json!("signing-s3cr3t-0123");
    let res = app.admin(Method::PUT, &path, Some(target)).await;
    assert_eq!(res.status(), 200);
    let shown = body(res).await;
    assert_eq!(
        shown,
        json!({"url": "https://hooks.example.com/transcripts",
        "auth": {"mode": "secret", "name": "x-hook-token", "in": "header"}, "timeoutMs": 1500})
    );
    assert_eq!(body(app.admin(Method::GET, &path, None).await).await, shown);
    let row = stored_webhook_row(&app).await;
    assert!(
        !row.contains("s3cr3t-t0ken") && !row.contains("signing-s3cr3t"),
        "secrets sealed at rest"
    );

    // Changing the URL without re-sending the secret keeps it.
    let moved = json!({"url": "https://hooks.example.com/v2", "auth": {"mode": "secret", "name": "x-hook-token", "in": "query"}});
    assert_eq!(
        app.admin(Method::PUT, &path, Some(moved)).await.status(),
        200
    );
    let row = entity_row(&app).await;
    let opened = app
        .state
        .sealer
        .open(row.auth_sealed.as_deref().unwrap())
        .unwrap();
    assert!(
        opened.contains("s3cr3t-t0ken") && opened.contains("signing-s3cr3t-0123"),
        "kept secrets decrypt"
    );
}

async fn entity_row(app: &crate::helpers::TestApp) -> entity::webhook_target::Model {
    use sea_orm::EntityTrait;
    entity::webhook_target::Entity::find()
        .one(app.state.store.db())
        .await
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn webhook_auth_modes_are_validated() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("Acme").await;
    let path = format!("/tenants/{tenant}/webhook");
    let put = |target: Value| app.admin(Method::PUT, &path, Some(target));
    let cases = [
        json!({"url": "not a url", "auth": {"mode": "none"}}),
        json!({"url": "https://h.example", "auth": {"mode": "carrier-pigeon"}}),
        json!({"url": "https://h.example", "auth": {"mode": "secret", "name": "x", "in": "header"}}),
        json!({"url": "http://h.example", "auth": {"mode": "customCa", "caPem": "x"}}),
        json!({"url": "https://h.example", "auth": {"mode": "customCa", "caPem": "not a pem"}}),
        json!({"url": "https://h.example", "auth": {"mode": "oauth2", "tokenUrl": "https://t.example", "clientId": "c"}}),
        json!({"url": "https://h.example", "auth": {"mode": "none"}, "timeoutMs": 5}),
    ];
    for mut target in cases {
        target["signingSecret"] = json!("0123456789abcdef");
        assert_error(put(target.clone()).await, 400, "400-01").await;
    }
    let short_key =
        json!({"url": "https://h.example", "auth": {"mode": "none"}, "signingSecret": "short"});
    assert_error(put(short_key).await, 400, "400-01").await;
    assert_error(app.admin(Method::GET, &path, None).await, 404, "404-01").await;
}

#[tokio::test]
async fn webhook_with_pem_material_is_accepted_without_echoing_the_key() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("Acme").await;
    let path = format!("/tenants/{tenant}/webhook");
    let cert = rcgen::generate_simple_self_signed(vec!["hooks.example.com".into()]).unwrap();
    let (cert_pem, key_pem) = (cert.cert.pem(), cert.signing_key.serialize_pem());
    let target = json!({"url": "https://hooks.example.com/t", "signingSecret": "0123456789abcdef",
        "auth": {"mode": "mtls", "clientCertPem": cert_pem, "clientKeyPem": key_pem, "caPem": cert_pem}});
    let shown = body(app.admin(Method::PUT, &path, Some(target)).await).await;
    assert_eq!(shown["auth"]["mode"], "mtls");
    assert!(shown["auth"].get("clientKeyPem").is_none());
    assert!(
        !stored_webhook_row(&app).await.contains("PRIVATE KEY"),
        "key sealed at rest"
    );
    let ca = json!({"url": "https://hooks.example.com/t", "auth": {"mode": "customCa", "caPem": cert_pem}});
    assert_eq!(app.admin(Method::PUT, &path, Some(ca)).await.status(), 200);
    let oauth = json!({"url": "https://hooks.example.com/t", "auth": {"mode": "oauth2",
        "tokenUrl": "https://auth.example.com/token", "clientId": "cs", "clientSecret": "oauth-pass", "scopes": ["transcripts"]}});
    let shown = body(app.admin(Method::PUT, &path, Some(oauth)).await).await;
    assert!(shown["auth"].get("clientSecret").is_none());
    assert_eq!(shown["auth"]["scopes"], json!(["transcripts"]));
    assert_eq!(app.admin(Method::DELETE, &path, None).await.status(), 204);
    assert_error(app.admin(Method::DELETE, &path, None).await, 404, "404-01").await;
}

#[tokio::test]
async fn delivery_log_is_newest_first_and_per_tenant() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("Acme").await;
    let other = app.create_tenant("Other").await;
    for (i, who) in [(0, &tenant), (1, &tenant), (2, &other)] {
        let failure = DeliveryFailure {
            tenant_id: TenantId(who.clone()),
            message_id: MessageId(format!("m{i}")),
            at: chrono::Utc::now() + chrono::Duration::seconds(i),
            outcome: "timeout",
            http_status: None,
            error: Some("timed out after 2000 ms".into()),
            latency_ms: Some(2000),
        };
        app.state
            .store
            .record_delivery_failure(&failure)
            .await
            .unwrap();
    }
    let log = body(
        app.admin(Method::GET, &format!("/tenants/{tenant}/deliveries"), None)
            .await,
    )
    .await;
    let ids: Vec<&str> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["messageId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["m1", "m0"]);
    assert_eq!(log["items"][0]["outcome"], "timeout");
    let res = app
        .admin(
            Method::GET,
            &format!("/tenants/{tenant}/deliveries?limit=0"),
            None,
        )
        .await;
    assert_error(res, 400, "400-01").await;
}

#[tokio::test]
async fn cli_creates_tenants_and_keys_that_the_server_accepts() {
    let app = spawn_app().await;
    // `callscribe admin ...` on the app's own database; the key it prints must work.
    let cli = |args: &[&str]| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_callscribe"));
        cmd.args(["admin"])
            .args(args)
            .env("CALLSCRIBE_DATA_DIR", app.data_dir())
            .env("CALLSCRIBE_SECRET_KEY", "11".repeat(32));
        if let Some(url) = &app.state.config.database_url {
            cmd.env("CALLSCRIBE_DATABASE_URL", url.expose());
        }
        let out = cmd.output().expect("run callscribe");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let tenant = cli(&["tenant-create", "From CLI"]);
    app.point_tenant_at(&tenant, &app.kvs.url).await;
    cli(&[
        "app-set", "--tenant", &tenant, "ops", "--rate", "1000", "--burst", "2000",
    ]);
    let apps = body(
        app.admin(Method::GET, &format!("/tenants/{tenant}/apps"), None)
            .await,
    )
    .await;
    assert_eq!(
        apps["items"],
        json!([{"name": "ops", "ratePerSecond": 1000, "burst": 2000}])
    );
    let key = cli(&["key-create", "--tenant", &tenant, "--app", "ops"]);
    assert!(key.starts_with("cs_"));
    assert_eq!(app.start(&key, &start_body("cli-guid")).await.status(), 200);
    let listed = cli(&["key-list", "--tenant", &tenant]);
    let key_id = key.split('_').nth(1).unwrap();
    assert!(
        listed.contains(key_id) && listed.contains("active") && !listed.contains(&key),
        "{listed}"
    );
    cli(&["key-revoke", "--tenant", &tenant, key_id]);
    assert_error(
        app.start(&key, &start_body("cli-guid-2")).await,
        401,
        "401-01",
    )
    .await;
}
