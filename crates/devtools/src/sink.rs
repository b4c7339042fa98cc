//! `callscribe webhook-sink`: a small receiver that prints transcripts as they arrive (one
//! JSON line each, as the contract fixes, or readable lines with `--text`),
//! for the demo and for checking a setup end to end. It can serve TLS and mutual TLS,
//! require a shared secret or a bearer token, and verify the signature headers; a
//! delivery that fails a check is answered 401 and printed as refused.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use poem::listener::TcpAcceptor;
use poem::{EndpointExt, Request, Response, Route, Server, handler, http::StatusCode, post};
use tokio::sync::mpsc;

use callscribe::webhook::signing::{self, SignatureError};

#[derive(Debug, clap::Args)]
pub struct SinkArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: SocketAddr,
    /// Serve HTTPS with this certificate chain (PEM file).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM file).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates issued by this CA (PEM file): mutual TLS.
    #[arg(long, requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
    /// Require a shared secret, NAME=VALUE, in the header or query parameter NAME.
    #[arg(long)]
    pub secret: Option<String>,
    /// Require `Authorization: Bearer TOKEN`.
    #[arg(long)]
    pub bearer: Option<String>,
    /// Verify x-callscribe-signature with the target's signing secret.
    #[arg(long, env = "CALLSCRIBE_SINK_SIGNING_SECRET")]
    pub signing_secret: Option<String>,
    /// Print one readable line per delivery instead of the default JSON line.
    #[arg(long)]
    pub text: bool,
}

/// What a delivery must carry to be accepted.
#[derive(Debug, Clone, Default)]
pub struct Checks {
    /// (name, value), accepted in a header or a query parameter.
    pub secret: Option<(String, String)>,
    pub bearer: Option<String>,
    pub signing_secret: Option<Vec<u8>>,
}

/// PEM material for HTTPS.
#[derive(Debug, Clone)]
pub struct SinkTls {
    pub cert_pem: String,
    pub key_pem: String,
    pub client_ca_pem: Option<String>,
}

/// One POST as the sink saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub received_at: chrono::DateTime<chrono::Utc>,
    /// The same moment on the monotonic clock, for latency measurements.
    pub received_instant: std::time::Instant,
    pub message_id: Option<String>,
    /// `Err` when a check failed; the delivery was answered 401 (or 400 for bad JSON).
    pub verdict: Result<(), String>,
    pub query: Option<String>,
    pub body: serde_json::Value,
}

struct Sink {
    checks: Checks,
    out: mpsc::UnboundedSender<Received>,
}

#[handler]
async fn receive(req: &Request, body: Bytes, sink: poem::web::Data<&Arc<Sink>>) -> Response {
    let received_instant = std::time::Instant::now();
    let received_at = chrono::Utc::now();
    let parsed = serde_json::from_slice::<serde_json::Value>(&body);
    let verdict = check(&sink.checks, req, &body).and_then(|()| {
        parsed
            .as_ref()
            .map(|_| ())
            .map_err(|e| format!("body is not JSON: {e}"))
    });
    let status = match &verdict {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(_) if parsed.is_err() => StatusCode::BAD_REQUEST,
        Err(_) => StatusCode::UNAUTHORIZED,
    };
    let _ = sink.out.send(Received {
        received_at,
        received_instant,
        message_id: header(req, signing::MESSAGE_ID_HEADER).map(str::to_owned),
        verdict,
        query: req.uri().query().map(str::to_owned),
        body: parsed.unwrap_or_default(),
    });
    Response::builder().status(status).finish()
}

fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Secrets are compared in constant time, as a receiver should.
fn same(presented: &str, expected: &str) -> bool {
    callscribe::secrets::secrets_equal(presented.as_bytes(), expected.as_bytes())
}

fn check(checks: &Checks, req: &Request, body: &[u8]) -> Result<(), String> {
    let header = |name: &str| header(req, name);
    if let Some((name, value)) = &checks.secret {
        let in_query = req
            .uri()
            .query()
            .map(|q| url_pairs(q).any(|(k, v)| k == *name && same(&v, value)))
            .unwrap_or(false);
        if !header(name).is_some_and(|v| same(v, value)) && !in_query {
            return Err(format!("shared secret {name} missing or wrong"));
        }
    }
    if let Some(token) = &checks.bearer
        && !header("authorization").is_some_and(|v| same(v, &format!("Bearer {token}")))
    {
        return Err("bearer token missing or wrong".into());
    }
    if let Some(secret) = &checks.signing_secret {
        signing::verify(
            secret,
            header(signing::TIMESTAMP_HEADER),
            header(signing::SIGNATURE_HEADER),
            body,
            chrono::Utc::now().timestamp(),
        )
        .map_err(|e: SignatureError| e.to_string())?;
        check_standard_webhooks(secret, &header, body)?;
    }
    Ok(())
}

/// The Standard Webhooks headers sent beside ours: the same id and timestamp, and a
/// `webhook-signature` made with the key the standard derives from the signing secret.
fn check_standard_webhooks<'a>(
    secret: &[u8],
    header: &impl Fn(&str) -> Option<&'a str>,
    body: &[u8],
) -> Result<(), String> {
    let id = header(signing::STANDARD_ID_HEADER).ok_or("webhook-id missing")?;
    let timestamp =
        header(signing::STANDARD_TIMESTAMP_HEADER).ok_or("webhook-timestamp missing")?;
    if Some(id) != header(signing::MESSAGE_ID_HEADER)
        || Some(timestamp) != header(signing::TIMESTAMP_HEADER)
    {
        return Err("webhook-id or webhook-timestamp differs from ours".into());
    }
    let timestamp: i64 = timestamp
        .parse()
        .map_err(|_| "webhook-timestamp malformed")?;
    let expected = signing::standard_signature(&signing::standard_key(secret), id, timestamp, body);
    let given = header(signing::STANDARD_SIGNATURE_HEADER).ok_or("webhook-signature missing")?;
    if !callscribe::secrets::secrets_equal(given.as_bytes(), expected.as_bytes()) {
        return Err("webhook-signature does not match the body".into());
    }
    Ok(())
}

fn url_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    reqwest::Url::parse(&format!("http://q/?{query}"))
        .map(|u| u.query_pairs().into_owned().collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
}

/// Serves the sink on `listener` until `shutdown` resolves; every POST (to any path) is
/// sent to `out`.
pub async fn serve(
    listener: std::net::TcpListener,
    tls: Option<SinkTls>,
    checks: Checks,
    out: mpsc::UnboundedSender<Received>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    callscribe::install_crypto_provider();
    listener.set_nonblocking(true)?;
    let app = Route::new()
        .at("/*path", post(receive))
        .at("/", post(receive))
        .data(Arc::new(Sink { checks, out }));
    let acceptor = TcpAcceptor::from_std(listener)?;
    match tls {
        None => {
            Server::new_with_acceptor(acceptor)
                .run_with_graceful_shutdown(app, shutdown, None)
                .await
        }
        Some(tls) => {
            let config = callscribe::tls::server_config(
                &tls.cert_pem,
                &tls.key_pem,
                tls.client_ca_pem.as_deref(),
            )
            .map_err(std::io::Error::other)?;
            Server::new_with_acceptor(callscribe::tls::TlsAcceptor::new(acceptor, config))
                .run_with_graceful_shutdown(app, shutdown, None)
                .await
        }
    }
}

/// `callscribe webhook-sink`.
pub async fn run(args: SinkArgs) -> anyhow::Result<()> {
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(SinkTls {
            cert_pem: read(cert)?,
            key_pem: read(key)?,
            client_ca_pem: args.client_ca.as_ref().map(read).transpose()?,
        }),
        _ => None,
    };
    let secret = args
        .secret
        .as_deref()
        .map(|s| {
            s.split_once('=')
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .context("--secret must be NAME=VALUE")
        })
        .transpose()?;
    let checks = Checks {
        secret,
        bearer: args.bearer.clone(),
        signing_secret: args.signing_secret.map(String::into_bytes),
    };
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!(
        "webhook-sink: receiving on {scheme}://{}/",
        listener.local_addr()?
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    let server = tokio::spawn(serve(
        listener,
        tls,
        checks,
        tx,
        callscribe::shutdown_signal(),
    ));
    while let Some(r) = rx.recv().await {
        if args.text {
            println!("{}", describe(&r));
        } else {
            println!("{}", jsonl(&r));
        }
    }
    server.await??;
    Ok(())
}

fn jsonl(r: &Received) -> serde_json::Value {
    serde_json::json!({
        "receivedAt": r.received_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "messageId": r.message_id,
        "accepted": r.verdict.is_ok(),
        "error": r.verdict.as_ref().err(),
        "body": r.body,
    })
}

/// `10:00:03.968 customer TT9833237 0.40–3.97 s  I need help …`
fn describe(r: &Received) -> String {
    let time = r.received_at.format("%H:%M:%S%.3f");
    if let Err(e) = &r.verdict {
        return format!(
            "{time} REFUSED {}: {e}",
            r.message_id.as_deref().unwrap_or("-")
        );
    }
    let b = &r.body;
    let response = &b["autotranscribeResponse"];
    let ms = |v: &serde_json::Value| v.as_f64().unwrap_or_default() / 1000.0;
    format!(
        "{time} {} {} {:.2}–{:.2} s  {}",
        b["sender"]["role"].as_str().unwrap_or("?"),
        b["sender"]["externalId"].as_str().unwrap_or("?"),
        ms(&response["start"]),
        ms(&response["end"]),
        response["utterance"][0]["text"].as_str().unwrap_or(""),
    )
}
