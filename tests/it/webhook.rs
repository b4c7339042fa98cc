//! Real-time webhook delivery against real receivers on loopback: `webhook-sink` over
//! HTTP, TLS and mTLS with certificates made here, an OpenSSL server that only speaks
//! TLS 1.1, and a test OAuth2 token endpoint. Messages are published through the app's
//! real publisher; two tests run a whole emulated call through the pipeline.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use callscribe::ids::{ConversationId, MessageId, Role, StreamId, TenantId};
use callscribe::store::messages::NewMessage;
use callscribe::webhook::publish::Published;
use callscribe_devtools::sink::{Checks, Received, SinkTls};
use poem::http::StatusCode;
use poem::web::{Data, Form};
use poem::{EndpointExt, Request, Response, Route, handler, post};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use crate::helpers::{TestApp, body, spawn_app, spawn_app_with};

pub(crate) const SIGNING: &str = "whsec-0123456789abcdef";

/// A certificate authority made for one test.
pub(crate) struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, in PEM.
pub(crate) struct Leaf {
    pub(crate) cert_pem: String,
    pub(crate) key_pem: String,
}

impl Ca {
    pub(crate) fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        Ca {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    pub(crate) fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A certificate for `127.0.0.1` and `localhost` (server or client alike).
    pub(crate) fn leaf(&self) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }
}

/// A running `webhook-sink`; deliveries arrive on `received`.
pub(crate) struct Sink {
    pub(crate) url: String,
    received: mpsc::UnboundedReceiver<Received>,
    _stop: oneshot::Sender<()>,
}

pub(crate) fn spawn_sink(tls: Option<SinkTls>, checks: Checks) -> Sink {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!(
        "{scheme}://127.0.0.1:{}/hook",
        listener.local_addr().unwrap().port()
    );
    let (tx, received) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(callscribe_devtools::sink::serve(
        listener,
        tls,
        checks,
        tx,
        async {
            let _ = stopped.await;
        },
    ));
    Sink {
        url,
        received,
        _stop: stop,
    }
}

pub(crate) fn signed() -> Checks {
    Checks {
        signing_secret: Some(SIGNING.as_bytes().to_vec()),
        ..Checks::default()
    }
}

impl Sink {
    /// The next `n` deliveries (panics after a generous wait).
    pub(crate) async fn take(&mut self, n: usize) -> Vec<Received> {
        let mut got = Vec::new();
        while got.len() < n {
            match tokio::time::timeout(Duration::from_secs(30), self.received.recv()).await {
                Ok(Some(r)) => got.push(r),
                other => panic!("only {} of {n} deliveries arrived: {other:?}", got.len()),
            }
        }
        got
    }

    /// Nothing more arrives within `quiet`.
    async fn assert_quiet(&mut self, quiet: Duration) {
        if let Ok(Some(r)) = tokio::time::timeout(quiet, self.received.recv()).await {
            panic!("unexpected delivery {r:?}");
        }
    }
}

/// A target without auth beyond the signature.
pub(crate) fn plain(url: &str) -> Value {
    json!({"url": url, "auth": {"mode": "none"}})
}

/// A loopback port nothing listens on (connections are refused until someone binds it).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sets the tenant's target through the admin API.
pub(crate) async fn set_target(app: &TestApp, tenant: &str, target: Value) {
    let mut target = target;
    target["signingSecret"] = json!(SIGNING);
    let res = app
        .admin(
            Method::PUT,
            &format!("/tenants/{tenant}/webhook"),
            Some(target),
        )
        .await;
    assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
}

/// One utterance of `conversation`, published as the transcriber would.
pub(crate) fn publish(app: &TestApp, tenant: &str, conversation: &str, n: i64) -> String {
    let id = format!("msg-{conversation}-{n}");
    app.state.publisher.publish(Arc::new(Published {
        tenant_id: TenantId(tenant.to_owned()),
        external_conversation_id: format!("guid-{conversation}"),
        message: NewMessage {
            id: MessageId(id.clone()),
            conversation_id: ConversationId(conversation.to_owned()),
            stream_id: StreamId("stream-1".into()),
            role: Role::Customer,
            sender_external_id: "TT9833237".into(),
            start_ms: n * 1000,
            end_ms: n * 1000 + 800,
            text: format!("utterance {n}"),
            unredacted_text: None,
            tokens: None,
            created_at: chrono::Utc::now(),
        },
        speech_ended_at: Some(std::time::Instant::now()),
    }));
    id
}

/// The tenant's delivery log once it holds `n` entries, oldest first.
pub(crate) async fn delivery_log(app: &TestApp, tenant: &str, n: usize) -> Vec<Value> {
    let path = format!("/tenants/{tenant}/deliveries?limit=1000");
    for _ in 0..300 {
        let items = body(app.admin(Method::GET, &path, None).await).await["items"]
            .as_array()
            .unwrap()
            .clone();
        if items.len() >= n {
            return items.into_iter().rev().collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the delivery log never reached {n} entries");
}

fn ids(received: &[Received]) -> Vec<String> {
    received
        .iter()
        .map(|r| r.message_id.clone().unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn deliveries_are_signed_and_shaped_as_the_guide_shows() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("Acme").await;
    let mut sink = spawn_sink(None, signed());
    set_target(&app, &tenant, plain(&sink.url)).await;
    let sent: Vec<String> = (0..5).map(|n| publish(&app, &tenant, "c1", n)).collect();
    let got = sink.take(5).await;
    assert_eq!(ids(&got), sent, "in transcription order");
    for r in &got {
        assert_eq!(r.verdict, Ok(()), "signature verifies");
    }
    assert_eq!(
        got[2].body,
        json!({"type": "transcript", "externalConversationId": "guid-c1", "streamId": "stream-1",
            "sender": {"externalId": "TT9833237", "role": "customer"},
            "autotranscribeResponse": {"message": "transcript", "start": 2000, "end": 2800,
                "utterance": [{"text": "utterance 2"}]}})
    );
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains(r#"callscribe_webhook_deliveries_total{outcome="delivered"} 5"#),
        "{metrics}"
    );
    // Each POST's end-to-end latency, from its utterance's end of speech to the send.
    assert!(
        metrics.contains("callscribe_end_to_end_latency_seconds_count 5"),
        "{metrics}"
    );

    // A receiver holding another signing secret refuses them.
    let mut strict = spawn_sink(
        None,
        Checks {
            signing_secret: Some(b"some-other-secret".to_vec()),
            ..Checks::default()
        },
    );
    set_target(&app, &tenant, plain(&strict.url)).await;
    publish(&app, &tenant, "c1", 5);
    let refused = strict.take(1).await;
    assert!(
        refused[0]
            .verdict
            .as_ref()
            .unwrap_err()
            .contains("does not match")
    );
    let log = delivery_log(&app, &tenant, 1).await;
    assert_eq!(log[0]["outcome"], "failed");
    assert_eq!(log[0]["httpStatus"], 401);
}

#[tokio::test]
async fn a_custom_ca_target_is_trusted_with_that_ca_only() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("Acme").await;
    let ca = Ca::new("Acme hooks CA");
    let server = ca.leaf();
    let mut sink = spawn_sink(
        Some(SinkTls {
            cert_pem: server.cert_pem,
            key_pem: server.key_pem,
            client_ca_pem: None,
        }),
        signed(),
    );
    set_target(
        &app,
        &tenant,
        json!({"url": sink.url, "auth": {"mode": "customCa", "caPem": ca.pem()}}),
    )
    .await;
    let sent = publish(&app, &tenant, "c1", 0);
    assert_eq!(ids(&sink.take(1).await), [sent]);

    // Public roots (mode none) and another CA both refuse the certificate.
    set_target(&app, &tenant, plain(&sink.url)).await;
    publish(&app, &tenant, "c1", 1);
    let other = Ca::new("Someone else");
    set_target(
        &app,
        &tenant,
        json!({"url": sink.url, "auth": {"mode": "customCa", "caPem": other.pem()}}),
    )
    .await;
    publish(&app, &tenant, "c1", 2);
    let log = delivery_log(&app, &tenant, 2).await;
    for entry in &log {
        assert_eq!(entry["outcome"], "failed", "{entry}");
        let error = entry["error"].as_str().unwrap().to_lowercase();
        assert!(error.contains("certificate"), "{error}");
    }
    sink.assert_quiet(Duration::from_millis(300)).await;
}

/// `openssl s_server` speaking only TLS 1.1 (OpenSSL's own policy has to be lowered for
/// it to offer 1.1 at all), or `None` when openssl is not installed.
fn tls11_only_server(leaf: &Leaf) -> Option<(std::process::Child, u16, tempfile::TempDir)> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("cert.pem"), &leaf.cert_pem).unwrap();
    std::fs::write(dir.path().join("key.pem"), &leaf.key_pem).unwrap();
    let port = free_port();
    let child = std::process::Command::new("openssl")
        .current_dir(dir.path())
        .args([
            "s_server",
            "-quiet",
            "-www",
            "-tls1_1",
            "-cipher",
            "DEFAULT@SECLEVEL=0",
        ])
        .args(["-cert", "cert.pem", "-key", "key.pem", "-accept"])
        .arg(format!("127.0.0.1:{port}"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()?;
    Some((child, port, dir))
}

#[tokio::test]
async fn a_tls_1_1_only_target_is_refused() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("Acme").await;
    let ca = Ca::new("Legacy CA");
    let (mut server, port, _dir) = tls11_only_server(&ca.leaf()).expect("openssl is installed");
    // Wait for s_server to listen.
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    set_target(
        &app,
        &tenant,
        json!({"url": format!("https://127.0.0.1:{port}/"), "auth": {"mode": "customCa", "caPem": ca.pem()}}),
    )
    .await;
    publish(&app, &tenant, "c1", 0);
    let log = delivery_log(&app, &tenant, 1).await;
    server.kill().unwrap();
    assert_eq!(log[0]["outcome"], "failed");
    let error = log[0]["error"].as_str().unwrap().to_lowercase();
    assert!(
        error.contains("version") || error.contains("protocol"),
        "refused for its TLS version: {error}"
    );
}

#[tokio::test]
async fn an_mtls_target_accepts_only_the_right_client_certificate() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("Acme").await;
    let server_ca = Ca::new("Server CA");
    let client_ca = Ca::new("Client CA");
    let server = server_ca.leaf();
    let mut sink = spawn_sink(
        Some(SinkTls {
            cert_pem: server.cert_pem,
            key_pem: server.key_pem,
            client_ca_pem: Some(client_ca.pem()),
        }),
        signed(),
    );
    let url = sink.url.clone();
    let mtls = |client: &Leaf| {
        json!({"url": url, "auth": {"mode": "mtls", "clientCertPem": client.cert_pem,
            "clientKeyPem": client.key_pem, "caPem": server_ca.pem()}})
    };
    set_target(&app, &tenant, mtls(&client_ca.leaf())).await;
    let sent = publish(&app, &tenant, "c1", 0);
    assert_eq!(ids(&sink.take(1).await), [sent]);

    // A certificate from another CA, and none at all, are refused by the target.
    set_target(&app, &tenant, mtls(&Ca::new("Rogue CA").leaf())).await;
    publish(&app, &tenant, "c1", 1);
    set_target(
        &app,
        &tenant,
        json!({"url": sink.url, "auth": {"mode": "customCa", "caPem": server_ca.pem()}}),
    )
    .await;
    publish(&app, &tenant, "c1", 2);
    let log = delivery_log(&app, &tenant, 2).await;
    assert!(log.iter().all(|e| e["outcome"] == "failed"), "{log:?}");
    sink.assert_quiet(Duration::from_millis(300)).await;
}

#[tokio::test]
async fn a_shared_secret_travels_in_a_header_or_the_query() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("Acme").await;
    let mut sink = spawn_sink(
        None,
        Checks {
            secret: Some(("x-hook-token".into(), "open sesame".into())),
            ..signed()
        },
    );
    let url = sink.url.clone();
    let secret = |location: &str, value: &str| json!({"url": url, "auth": {"mode": "secret", "name": "x-hook-token", "in": location, "value": value}});
    set_target(&app, &tenant, secret("header", "open sesame")).await;
    publish(&app, &tenant, "c1", 0);
    let got = sink.take(1).await;
    assert_eq!(got[0].verdict, Ok(()));
    assert_eq!(got[0].query, None, "not in the URL in header mode");

    set_target(&app, &tenant, secret("query", "open sesame")).await;
    publish(&app, &tenant, "c1", 1);
    let got = sink.take(1).await;
    assert_eq!(got[0].verdict, Ok(()));
    assert_eq!(got[0].query.as_deref(), Some("x-hook-token=open+sesame"));

    set_target(&app, &tenant, secret("header", "wrong")).await;
    publish(&app, &tenant, "c1", 2);
    assert!(sink.take(1).await[0].verdict.is_err());
    let log = delivery_log(&app, &tenant, 1).await;
    assert_eq!(log[0]["httpStatus"], 401);

    // A connection error names no URL, which in query mode would carry the secret.
    let port = free_port();
    let dead = json!({"url": format!("http://127.0.0.1:{port}/hook"), "auth": {"mode": "secret",
        "name": "x-hook-token", "in": "query", "value": "open sesame"}});
    set_target(&app, &tenant, dead).await;
    publish(&app, &tenant, "c1", 3);
    let log = delivery_log(&app, &tenant, 2).await;
    let error = log[1]["error"].as_str().unwrap();
    assert!(!error.contains("sesame"), "{error}");
}

/// A token endpoint and a target that accepts only its current, unexpired tokens.
#[derive(Default)]
struct OAuthServer {
    token_requests: AtomicUsize,
    /// Issued token → still valid.
    tokens: Mutex<HashMap<String, bool>>,
    accepted: Mutex<Vec<String>>,
}

#[handler]
async fn token_endpoint(
    req: &Request,
    form: Form<HashMap<String, String>>,
    s: Data<&Arc<OAuthServer>>,
) -> Response {
    use base64::Engine;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("callscribe:client-pass")
    );
    let authorized = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        == Some(expected.as_str());
    if !authorized || form.0.get("grant_type").map(String::as_str) != Some("client_credentials") {
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .content_type("application/json")
            .body(r#"{"error":"invalid_client"}"#);
    }
    let n = s.token_requests.fetch_add(1, Ordering::SeqCst) + 1;
    let token = format!("token-{n}");
    s.tokens.lock().unwrap().insert(token.clone(), true);
    Response::builder().content_type("application/json").body(
        json!({"access_token": token, "token_type": "bearer", "expires_in": 31,
            "scope": form.0.get("scope")})
        .to_string(),
    )
}

#[handler]
async fn oauth_target(req: &Request, s: Data<&Arc<OAuthServer>>) -> StatusCode {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned();
    if s.tokens.lock().unwrap().get(&token) == Some(&true) {
        s.accepted.lock().unwrap().push(token);
        StatusCode::NO_CONTENT
    } else {
        StatusCode::UNAUTHORIZED
    }
}

fn spawn_oauth_server() -> (String, Arc<OAuthServer>) {
    let state = Arc::new(OAuthServer::default());
    let app = Route::new()
        .at("/token", post(token_endpoint))
        .at("/hook", post(oauth_target))
        .data(state.clone());
    (serve_http(app), state)
}

/// Serves `app` on a loopback port; returns its `http://127.0.0.1:PORT`.
fn serve_http(app: impl poem::Endpoint + 'static) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    listener.set_nonblocking(true).unwrap();
    let acceptor = poem::listener::TcpAcceptor::from_std(listener).unwrap();
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(app));
    base
}

#[tokio::test]
async fn oauth2_tokens_are_cached_refreshed_and_renewed_after_a_401() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("Acme").await;
    let (base, server) = spawn_oauth_server();
    let oauth = |secret: &str| {
        json!({"url": format!("{base}/hook"), "auth": {"mode": "oauth2", "tokenUrl": format!("{base}/token"),
            "clientId": "callscribe", "clientSecret": secret, "scopes": ["transcripts.write"]}})
    };
    set_target(&app, &tenant, oauth("client-pass")).await;
    let delivered = |n: usize| {
        let server = server.clone();
        async move {
            for _ in 0..200 {
                if server.accepted.lock().unwrap().len() >= n {
                    return server.accepted.lock().unwrap().clone();
                }
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            panic!("fewer than {n} deliveries accepted");
        }
    };
    for n in 0..4 {
        publish(&app, &tenant, &format!("c{n}"), n);
    }
    assert_eq!(delivered(4).await, vec!["token-1"; 4], "one token, cached");
    assert_eq!(
        server.token_requests.load(Ordering::SeqCst),
        1,
        "one refresh at a time"
    );

    // expires_in 31 s minus the 30 s margin: the next message after a second refreshes.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    publish(&app, &tenant, "c9", 9);
    assert_eq!(delivered(5).await[4], "token-2");

    // The target stops accepting the token: that message fails (logged, no retry) and
    // the next one fetches a new token.
    server
        .tokens
        .lock()
        .unwrap()
        .insert("token-2".into(), false);
    publish(&app, &tenant, "c10", 10);
    let log = delivery_log(&app, &tenant, 1).await;
    assert_eq!(log[0]["httpStatus"], 401);
    publish(&app, &tenant, "c11", 11);
    assert_eq!(delivered(6).await[5], "token-3");

    // A wrong client secret: logged as a failed token request, message dropped.
    set_target(&app, &tenant, oauth("not-the-pass")).await;
    publish(&app, &tenant, "c12", 12);
    let log = delivery_log(&app, &tenant, 2).await;
    assert_eq!(log[1]["outcome"], "failed");
    assert!(
        log[1]["error"]
            .as_str()
            .unwrap()
            .contains("OAuth2 token request failed"),
        "{log:?}"
    );
    let text = log[1]["error"].as_str().unwrap();
    assert!(
        !text.contains("not-the-pass"),
        "the secret never reaches the log"
    );
}

/// A test target's answer and what it saw (message ids, in arrival order).
type Answering = (u16, Duration, Arc<Mutex<Vec<String>>>);

/// A target that answers with `status` after `delay`.
pub(crate) fn spawn_target(status: u16, delay: Duration) -> (String, Arc<Mutex<Vec<String>>>) {
    #[handler]
    async fn answer(req: &Request, s: Data<&Answering>) -> StatusCode {
        let (status, delay, seen) = &*s;
        let id = req
            .headers()
            .get("x-callscribe-message-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        seen.lock().unwrap().push(id);
        tokio::time::sleep(*delay).await;
        StatusCode::from_u16(*status).unwrap()
    }
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = Route::new()
        .at("/hook", post(answer))
        .data((status, delay, seen.clone()));
    (format!("{}/hook", serve_http(app)), seen)
}

#[tokio::test]
async fn a_failing_target_is_logged_and_never_retried() {
    let app = spawn_app().await;
    let tenant = app.create_tenant("Acme").await;
    let (url, seen) = spawn_target(500, Duration::ZERO);
    set_target(&app, &tenant, plain(&url)).await;
    let sent: Vec<String> = (0..3).map(|n| publish(&app, &tenant, "c1", n)).collect();
    let log = delivery_log(&app, &tenant, 3).await;
    for (entry, id) in log.iter().zip(&sent) {
        assert_eq!(entry["messageId"], id.as_str());
        assert_eq!(entry["outcome"], "failed");
        assert_eq!(entry["httpStatus"], 500);
        assert!(entry["latencyMs"].as_i64().is_some());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(*seen.lock().unwrap(), sent, "each posted once: no retries");
}

#[tokio::test]
async fn a_slow_target_loses_the_oldest_messages_and_keeps_the_order_of_the_rest() {
    let app = spawn_app_with(|c| {
        c.webhook.queue = 3;
        c.webhook.concurrency = 1;
    })
    .await;
    let tenant = app.create_tenant("Acme").await;
    let (url, seen) = spawn_target(204, Duration::from_millis(400));
    set_target(
        &app,
        &tenant,
        json!({"url": url, "auth": {"mode": "none"}, "timeoutMs": 2000}),
    )
    .await;
    let mut sent = vec![publish(&app, &tenant, "c1", 0)];
    while seen.lock().unwrap().is_empty() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // While the first is answered slowly, seven more arrive: the queue holds three, so
    // the four oldest are dropped.
    sent.extend((1..8).map(|n| publish(&app, &tenant, "c1", n)));
    let log = delivery_log(&app, &tenant, 4).await;
    let dropped: Vec<&str> = log
        .iter()
        .map(|e| e["messageId"].as_str().unwrap())
        .collect();
    assert_eq!(dropped, &sent[1..5]);
    assert!(log.iter().all(|e| e["outcome"] == "dropped"));
    for _ in 0..100 {
        if seen.lock().unwrap().len() == 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let posted = seen.lock().unwrap().clone();
    assert_eq!(posted, [&sent[0..1], &sent[5..8]].concat(), "order kept");

    // A target slower than its timeout: logged as a timeout.
    let (url, _) = spawn_target(204, Duration::from_secs(5));
    set_target(
        &app,
        &tenant,
        json!({"url": url, "auth": {"mode": "none"}, "timeoutMs": 200}),
    )
    .await;
    publish(&app, &tenant, "c1", 9);
    let log = delivery_log(&app, &tenant, 5).await;
    assert_eq!(log[4]["outcome"], "timeout");
}

#[tokio::test]
async fn a_dead_target_blocks_nothing_and_other_tenants_are_served() {
    let app = spawn_app().await;
    let dead = app.create_tenant("Dead").await;
    let live = app.create_tenant("Live").await;
    let port = free_port();
    set_target(&app, &dead, plain(&format!("http://127.0.0.1:{port}/"))).await;
    let mut sink = spawn_sink(None, signed());
    set_target(&app, &live, plain(&sink.url)).await;
    for n in 0..200 {
        publish(&app, &dead, &format!("d{}", n % 10), n);
    }
    let sent = publish(&app, &live, "l1", 0);
    assert_eq!(ids(&sink.take(1).await), [sent]);
    let log = delivery_log(&app, &dead, 200).await;
    assert!(
        log.iter()
            .all(|e| e["outcome"] == "failed" || e["outcome"] == "dropped")
    );
    assert!(
        log.iter()
            .any(|e| e["error"].as_str().unwrap_or_default().contains("onnect")),
        "connection refused is logged: {:?}",
        log[0]
    );
}

#[tokio::test]
async fn a_call_reaches_the_sink_and_stays_retrievable_when_the_target_fails() {
    use crate::transcription::{CALL_END_WAIT, start_call_as, two_party_call};
    let app = spawn_app().await;
    let (tenant, key) = app.tenant_with_key().await;
    let mut sink = spawn_sink(None, signed());
    set_target(&app, &tenant, plain(&sink.url)).await;
    let (customer, agent) = two_party_call();
    let _kvs = start_call_as(
        &app,
        &tenant,
        &key,
        customer.clone(),
        agent.clone(),
        8.0,
        false,
    )
    .await;
    app.streams_ended(CALL_END_WAIT).await;
    let stopped = body(app.stop(&key, crate::kvs_emulator::CONTACT).await).await;
    let items = body(app.messages(&key, crate::kvs_emulator::CONTACT).await).await["items"]
        .as_array()
        .unwrap()
        .clone();
    let got = sink.take(items.len()).await;
    assert!(items.len() >= 6, "{stopped}");
    let by_id: HashMap<String, &Value> = items
        .iter()
        .map(|m| (m["messageId"].as_str().unwrap().to_owned(), m))
        .collect();
    for r in &got {
        assert_eq!(r.verdict, Ok(()));
        let stored = by_id[r.message_id.as_deref().unwrap()];
        let posted = &r.body;
        assert_eq!(
            posted["externalConversationId"],
            crate::kvs_emulator::CONTACT
        );
        assert_eq!(posted["sender"]["role"], stored["sender"]["role"]);
        assert_eq!(posted["autotranscribeResponse"]["start"], stored["start"]);
        assert_eq!(
            posted["autotranscribeResponse"]["utterance"][0]["text"],
            stored["text"]
        );
    }

    // Same call, target failing: every message is still stored and logged as failed.
    let app = spawn_app().await;
    let (tenant, key) = app.tenant_with_key().await;
    let (url, _) = spawn_target(503, Duration::ZERO);
    set_target(&app, &tenant, plain(&url)).await;
    let _kvs = start_call_as(&app, &tenant, &key, customer, agent, 8.0, false).await;
    app.streams_ended(CALL_END_WAIT).await;
    body(app.stop(&key, crate::kvs_emulator::CONTACT).await).await;
    let stored = body(app.messages(&key, crate::kvs_emulator::CONTACT).await).await["items"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(stored, items.len(), "the same utterances are stored");
    let log = delivery_log(&app, &tenant, stored).await;
    assert!(log.iter().all(|e| e["httpStatus"] == 503));
}

#[tokio::test]
async fn shutdown_hands_the_call_back_and_the_restarted_service_says_the_utterance_whole() {
    use crate::transcription::{CALL_END_WAIT, start_call_as};
    let app = crate::helpers::spawn_speech_app().await;
    let (tenant, key) = app.tenant_with_key().await;
    let mut sink = spawn_sink(None, signed());
    set_target(&app, &tenant, plain(&sink.url)).await;
    let jfk = crate::transcription::fixture("jfk-8k.wav");
    let agent = vec![0i16; jfk.len()];
    let _kvs = start_call_as(&app, &tenant, &key, jfk, agent, 1.0, false).await;
    // Real time: 1.8 s in, JFK is in the middle of his first sentence (voiced to ~2.3 s).
    tokio::time::sleep(Duration::from_millis(1800)).await;
    let app = app.restart().await;
    let got = sink.take(1).await;
    let response = &got[0].body["autotranscribeResponse"];
    assert!(response["start"].as_i64().unwrap() < 1000, "{response}");
    let text = response["utterance"][0]["text"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(text.contains("fellow"), "the first sentence whole: {text}");
    app.streams_ended(CALL_END_WAIT).await;
    let stopped = body(app.stop(&key, crate::kvs_emulator::CONTACT).await).await;
    let items = app.message_items(&key, crate::kvs_emulator::CONTACT).await;
    let said = crate::helpers::spans(&items, "customer");
    assert!(said.len() >= 3, "JFK's sentences: {items:?}");
    crate::helpers::assert_said_once(&items, "customer", "after the restart");
    let customer = &stopped["autotranscribeResponse"]["customer"]["summary"];
    assert_eq!(customer["transcripts"], said.len(), "{stopped}");
}
