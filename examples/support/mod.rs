//! What the benchmark drivers share: provisioning through the admin API.

use anyhow::Context;
use serde_json::{Value, json};

/// Creates a tenant reading KVS at `kvs_url` and a key whose rate limit is effectively
/// unlimited, so a benchmark measures the service, not the limiter. Returns (tenant id,
/// key).
pub async fn provision(
    http: &reqwest::Client,
    url: &str,
    admin_token: &str,
    kvs_url: &str,
) -> anyhow::Result<(String, String)> {
    let admin = |m: reqwest::Method, p: &str| {
        http.request(m, format!("{url}/admin/v1{p}"))
            .bearer_auth(admin_token)
    };
    let tenant: Value = admin(reqwest::Method::POST, "/tenants")
        .json(&json!({"name": "bench"}))
        .send()
        .await?
        .json()
        .await?;
    let tenant = tenant["id"].as_str().context("tenant id")?.to_owned();
    admin(
        reqwest::Method::PUT,
        &format!("/tenants/{tenant}/apps/bench"),
    )
    .json(&json!({"ratePerSecond": 100000, "burst": 100000}))
    .send()
    .await?
    .error_for_status()?;
    let key = create_key(http, url, admin_token, &tenant).await?;
    admin(reqwest::Method::PUT, &format!("/tenants/{tenant}/aws"))
        .json(&json!({"endpointUrl": kvs_url}))
        .send()
        .await?
        .error_for_status()?;
    Ok((tenant, key))
}

/// One more key of the tenant's "bench" app.
pub async fn create_key(
    http: &reqwest::Client,
    url: &str,
    admin_token: &str,
    tenant: &str,
) -> anyhow::Result<String> {
    let key: Value = http
        .post(format!("{url}/admin/v1/tenants/{tenant}/keys"))
        .bearer_auth(admin_token)
        .json(&json!({"app": "bench"}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(key["key"].as_str().context("key")?.to_owned())
}
