//! The audit log: mutating admin calls and API-key requests are recorded with their
//! operation, status and request id; the admin token, key ids and ContactIds only as
//! keyed hashes, and nothing personal or secret in the clear anywhere in the table.

use std::time::Duration;

use callscribe::audit::{Entry, Kind};
use callscribe::export::schedule::purge;
use reqwest::Method;
use sea_orm::EntityTrait;
use serde_json::{Value, json};

use crate::helpers::{TestApp, body, spawn_app, start_body};

const GUID: &str = "8c259fea-8764-4a92-adc4-73572e9cf016";

/// The audit log once it holds at least `n` records, oldest first.
async fn audit_log(app: &TestApp, query: &str, n: usize) -> Vec<Value> {
    for _ in 0..200 {
        let page = body(
            app.admin(Method::GET, &format!("/audit{query}"), None)
                .await,
        )
        .await;
        let items = page["items"].as_array().expect("items").clone();
        if items.len() >= n {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the audit log never reached {n} records");
}

fn find<'a>(records: &'a [Value], operation: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["operation"] == operation)
        .unwrap_or_else(|| panic!("no {operation} record in {records:#?}"))
}

#[tokio::test]
async fn admin_actions_and_key_use_are_audited_with_identifiers_hashed() {
    let app = spawn_app().await;
    let (tenant, key) = app.tenant_with_key().await;
    let key_id = key.split('_').nth(1).unwrap().to_owned();
    let secret = key.splitn(3, '_').nth(2).unwrap().to_owned();
    assert_eq!(app.start(&key, &start_body(GUID)).await.status(), 200);
    assert_eq!(app.stop(&key, GUID).await.status(), 200);
    assert_eq!(app.messages(&key, GUID).await.status(), 200);
    let revoke = app
        .admin(
            Method::DELETE,
            &format!("/tenants/{tenant}/keys/{key_id}"),
            None,
        )
        .await;
    assert_eq!(revoke.status(), 204);
    let refused = app
        .http
        .post(app.url("/admin/v1/tenants"))
        .bearer_auth("not-the-admin-token")
        .json(&json!({"name": "Mallory"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    let refused_id = refused.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();

    let records = audit_log(&app, "?limit=1000", 8).await;
    let created = find(&records, "createTenant");
    assert_eq!(created["kind"], "admin");
    assert_eq!(created["status"], 201);
    assert_eq!(created["tenantId"], tenant.as_str());
    assert_eq!(created["target"], format!("tenant:{tenant}"));
    let admin = created["actor"].as_str().unwrap();
    assert!(admin.starts_with("admin:") && admin.len() == 18, "{admin}");
    assert_eq!(find(&records, "putTenantAws")["target"], "setting:aws");

    let key_created = find(&records, "createApiKey");
    let hashed_key = key_created["target"].as_str().unwrap();
    assert!(hashed_key.starts_with("key:") && !hashed_key.contains(&key_id));
    assert_eq!(find(&records, "revokeApiKey")["target"], hashed_key);
    assert_eq!(find(&records, "revokeApiKey")["status"], 204);

    let start = find(&records, "startStreaming");
    assert_eq!(start["kind"], "apiKey");
    assert_eq!(
        start["actor"], hashed_key,
        "key use and key admin correlate"
    );
    assert_eq!(start["tenantId"], tenant.as_str());
    assert_eq!(start["status"], 200);
    let subject = start["subject"].as_str().unwrap();
    assert_eq!(subject.len(), 32);
    assert_eq!(find(&records, "stopStreaming")["subject"], subject);
    assert_eq!(
        find(&records, "getConversationMessages")["subject"],
        subject
    );
    assert!(start["requestId"].as_str().is_some_and(|id| !id.is_empty()));

    let mallory = records
        .iter()
        .find(|r| r["requestId"] == refused_id.as_str())
        .expect("the refused admin call is recorded");
    assert_eq!(mallory["status"], 401);
    assert_ne!(mallory["actor"], admin, "another token, another actor");

    // An operator holding the ContactId finds the call's records.
    let by_contact = audit_log(&app, &format!("?contactId={GUID}"), 3).await;
    assert_eq!(by_contact.len(), 3);
    assert!(by_contact.iter().all(|r| r["subject"] == subject));

    // Nothing personal or secret in the clear anywhere in the table.
    let rows = entity::audit_record::Entity::find()
        .all(app.state.store.db())
        .await
        .unwrap();
    let dump = format!("{rows:?}");
    for raw in [
        GUID,
        "TT9833237",
        "RE223444211993",
        key_id.as_str(),
        secret.as_str(),
        crate::helpers::ADMIN_TOKEN,
    ] {
        assert!(!dump.contains(raw), "`{raw}` is stored in the audit log");
    }
    app.shutdown().await;
}

#[tokio::test]
async fn the_audit_log_pages_by_cursor_and_filters_by_time() {
    let app = spawn_app().await;
    for n in 0..5 {
        app.create_tenant(&format!("Tenant {n}")).await;
    }
    // 5 tenants, each created then pointed at the KVS emulator: 10 records.
    let all = audit_log(&app, "?limit=1000", 10).await;
    let first = body(app.admin(Method::GET, "/audit?limit=4", None).await).await;
    assert_eq!(first["items"].as_array().unwrap().len(), 4);
    let after = first["nextAfter"]
        .as_i64()
        .expect("a full page has a cursor");
    let second = body(
        app.admin(
            Method::GET,
            &format!("/audit?limit=100&after={after}"),
            None,
        )
        .await,
    )
    .await;
    let ids = |v: &[Value]| {
        v.iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect::<Vec<_>>()
    };
    let mut paged = ids(first["items"].as_array().unwrap());
    paged.extend(ids(second["items"].as_array().unwrap()));
    assert_eq!(paged, ids(&all), "no record skipped or repeated");
    assert!(
        second.get("nextAfter").is_none(),
        "the last page has no cursor"
    );

    let future = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let none = body(
        app.admin(Method::GET, &format!("/audit?since={future}"), None)
            .await,
    )
    .await;
    assert_eq!(none["items"], json!([]));
    let bad = app.admin(Method::GET, "/audit?since=yesterday", None).await;
    crate::helpers::assert_error(bad, 400, "400-01").await;
}

#[tokio::test]
async fn audit_records_past_retention_are_purged() {
    // Without the scheduled task, which could purge them first.
    let app = crate::helpers::spawn_app_with(|c| c.export.scheduled = false).await;
    let now = chrono::Utc::now();
    let entry = |days: i64| Entry {
        at: now - chrono::Duration::days(days),
        kind: Kind::Admin,
        actor: "admin:000000000000".into(),
        operation: "createTenant".into(),
        tenant_id: None,
        target: None,
        subject: None,
        status: 201,
        request_id: format!("req-{days}"),
    };
    app.state
        .store
        .record_audit(&[entry(91), entry(100), entry(89)])
        .await
        .unwrap();
    let purged = purge(&app.state.maintenance(), now).await.unwrap();
    assert_eq!(purged.audit, 2, "older than retention.audit_days (90)");
    let left: Vec<String> = entity::audit_record::Entity::find()
        .all(app.state.store.db())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.request_id)
        .collect();
    assert_eq!(left, ["req-89"]);
}
