//! The service's own listener over HTTPS (`[tls]`), with certificates made here: HTTPS
//! works for a client trusting the CA, plain HTTP does not, and with `client_ca_file`
//! only clients presenting a certificate from that CA are served.

use std::path::{Path, PathBuf};

use reqwest::{Certificate, Identity};

use crate::helpers::{ADMIN_TOKEN, TestApp, spawn_app_with};
use crate::webhook::{Ca, Leaf};

fn write(dir: &Path, name: &str, pem: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, pem).unwrap();
    path
}

/// The app serving HTTPS with `server`'s certificate, and mTLS when `client_ca` is given.
async fn spawn_https(dir: &Path, server: &Leaf, client_ca: Option<&Ca>) -> TestApp {
    let cert = write(dir, "cert.pem", &server.cert_pem);
    let key = write(dir, "key.pem", &server.key_pem);
    let client_ca = client_ca.map(|ca| write(dir, "client-ca.pem", &ca.pem()));
    spawn_app_with(|c| {
        c.tls.cert_file = Some(cert);
        c.tls.key_file = Some(key);
        c.tls.client_ca_file = client_ca;
    })
    .await
}

fn https_client(ca: &Ca, identity: Option<&Leaf>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([Certificate::from_pem(ca.pem().as_bytes()).unwrap()]);
    if let Some(leaf) = identity {
        let pem = format!("{}\n{}", leaf.cert_pem, leaf.key_pem);
        builder = builder.identity(Identity::from_pem(pem.as_bytes()).unwrap());
    }
    builder.build().unwrap()
}

#[tokio::test]
async fn with_tls_configured_the_api_answers_https_and_refuses_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Service CA");
    let app = spawn_https(dir.path(), &ca.leaf(), None).await;
    let port = app.addr.port();
    let client = https_client(&ca, None);

    let res = client
        .get(format!("https://localhost:{port}/health/live"))
        .send()
        .await
        .expect("HTTPS request");
    assert_eq!(res.status(), 200);
    let res = client
        .post(format!("https://127.0.0.1:{port}/admin/v1/tenants"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&serde_json::json!({"name": "Acme"}))
        .send()
        .await
        .expect("HTTPS admin request");
    assert_eq!(res.status(), 201);

    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/health/live"))
        .send()
        .await;
    assert!(plain.is_err(), "plain HTTP must not be served: {plain:?}");
    let untrusting = reqwest::Client::new()
        .get(format!("https://localhost:{port}/health/live"))
        .send()
        .await;
    assert!(untrusting.is_err(), "a client not trusting the CA fails");
    app.shutdown().await;
}

#[tokio::test]
async fn with_a_client_ca_only_clients_holding_its_certificates_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let server_ca = Ca::new("Service CA");
    let client_ca = Ca::new("Client CA");
    let app = spawn_https(dir.path(), &server_ca.leaf(), Some(&client_ca)).await;
    let url = format!("https://localhost:{}/health/live", app.addr.port());

    let res = https_client(&server_ca, Some(&client_ca.leaf()))
        .get(&url)
        .send()
        .await
        .expect("mTLS request");
    assert_eq!(res.status(), 200);
    for client in [
        https_client(&server_ca, None),
        https_client(&server_ca, Some(&Ca::new("Rogue CA").leaf())),
    ] {
        let refused = client.get(&url).send().await;
        assert!(refused.is_err(), "{refused:?}");
    }
    app.shutdown().await;
}
