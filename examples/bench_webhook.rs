//! Webhook publisher throughput for `scripts/bench-webhook`: publishes M messages spread
//! over C conversations, all at once, through the service's real publisher to a local
//! `webhook-sink` serving TLS with a certificate from a CA made here (target mode
//! `customCa`, signatures verified by the sink), and prints messages per second until
//! the last one arrived, with p50/p95/max from publish to receipt.
//!
//!   bench_webhook [--messages M] [--conversations C] [--concurrency K]

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use callscribe::config::{Config, Secret};
use callscribe::ids::{ConversationId, MessageId, Role, StreamId, TenantId};
use callscribe::service::webhook_targets::TargetRequest;
use callscribe::store::messages::NewMessage;
use callscribe::webhook::publish::Published;
use callscribe::webhook::target::{AuthPublic, AuthSecret};
use callscribe_devtools::sink::{Checks, SinkTls};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio::sync::{mpsc, oneshot};

const SIGNING: &str = "bench-signing-secret-0123";

fn flag(name: &str, default: usize) -> anyhow::Result<usize> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => args
            .get(i + 1)
            .with_context(|| format!("{name} needs a value"))?
            .parse()
            .with_context(|| format!("{name} must be a number")),
        None => Ok(default),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let messages = flag("--messages", 20_000)?;
    let conversations = flag("--conversations", 50)?.max(1);
    let concurrency = flag("--concurrency", 8)?;

    // A CA and the receiver's certificate.
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate()?)?;
    let server_key = KeyPair::generate()?;
    let server_cert =
        CertificateParams::new(vec!["127.0.0.1".to_owned()])?.signed_by(&server_key, &ca)?;

    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("https://127.0.0.1:{}/hook", listener.local_addr()?.port());
    let (tx, mut received) = mpsc::unbounded_channel();
    let (_stop, stopped) = oneshot::channel::<()>();
    let tls = SinkTls {
        cert_pem: server_cert.pem(),
        key_pem: server_key.serialize_pem(),
        client_ca_pem: None,
    };
    let checks = Checks {
        signing_secret: Some(SIGNING.as_bytes().to_vec()),
        ..Checks::default()
    };
    tokio::spawn(callscribe_devtools::sink::serve(
        listener,
        Some(tls),
        checks,
        tx,
        async {
            let _ = stopped.await;
        },
    ));

    let data = tempfile::tempdir()?;
    let mut config = Config {
        data_dir: data.path().to_path_buf(),
        secret_key: Some(Secret::new("22".repeat(32))),
        ..Config::default()
    };
    config.webhook.queue = messages;
    config.webhook.concurrency = concurrency;
    // The sink is on loopback, which the SSRF guard refuses by default.
    config.webhook.allow_cidrs = vec!["127.0.0.0/8".parse()?];
    let state = callscribe::build_tool_state(config).await?;
    let tenant = TenantId(state.store.create_tenant("bench").await?.id);
    let target = TargetRequest {
        url,
        auth: AuthPublic::CustomCa { ca_pem: ca.pem() },
        secrets: AuthSecret {
            signing_secret: Some(SIGNING.into()),
            ..AuthSecret::default()
        },
        timeout_ms: Some(5000),
    };
    state.webhook_targets.set(&tenant, &target).await?;

    let message = |n: usize| {
        Arc::new(Published {
            tenant_id: tenant.clone(),
            external_conversation_id: format!("guid-{}", n % conversations),
            message: NewMessage {
                id: MessageId(format!("m{n}")),
                conversation_id: ConversationId(format!("c{}", n % conversations)),
                stream_id: StreamId("s".into()),
                role: Role::Customer,
                sender_external_id: "C1".into(),
                start_ms: n as i64 * 1000,
                end_ms: n as i64 * 1000 + 900,
                text: "I need help upgrading my streaming package and my PIN number is ####".into(),
                unredacted_text: None,
                tokens: None,
                created_at: chrono::Utc::now(),
            },
            speech_ended_at: None,
        })
    };
    // Warm up: TLS handshakes and pooled connections.
    for n in 0..conversations {
        state.publisher.publish(message(n));
    }
    for _ in 0..conversations {
        received.recv().await.context("sink stopped")?;
    }

    let started = Instant::now();
    let mut sent_at = Vec::with_capacity(messages);
    for n in 0..messages {
        sent_at.push(Instant::now());
        state.publisher.publish(message(conversations + n));
    }
    let mut latencies = Vec::with_capacity(messages);
    let mut refused = 0;
    for _ in 0..messages {
        let r = tokio::time::timeout(Duration::from_secs(60), received.recv())
            .await
            .context("deliveries stopped arriving")?
            .context("sink stopped")?;
        refused += usize::from(r.verdict.is_err());
        let n: usize = r.message_id.as_deref().unwrap_or("m0")[1..].parse()?;
        latencies.push(sent_at[n - conversations].elapsed());
    }
    let elapsed = started.elapsed();
    ensure!(
        refused == 0,
        "{refused} deliveries failed the sink's checks"
    );
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize].as_secs_f64() * 1000.0;
    println!(
        "{messages} messages, {conversations} conversations, concurrency {concurrency}: \
         {:.0} messages/s; publish-to-receipt p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
        messages as f64 / elapsed.as_secs_f64(),
        at(0.5),
        at(0.95),
        at(1.0),
    );
    Ok(())
}
