//! Load generator for `scripts/bench-api.sh`: measures a running callscribe over HTTP.
//!
//! Open loop at a fixed rate (latency counted from each request's *scheduled* time, so a
//! stalled server cannot hide queueing), then closed loop for peak throughput. Scenarios:
//! start+stop of fresh conversations, and reads of a conversation holding 1,000 messages
//! (seeded through the store function the pipeline uses). Starts read from an in-process
//! KVS emulator, so start-streaming's stream check and reader are part of the figures.
//! Failures are counted by what they were: the contract's error code (429-01 the key's rate
//! limit, 503-01 the replica's conversation limit or a draining replica, 503-02 a request
//! that timed out in the service, ...) or what the client saw (connect, transport).

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use callscribe::ids::{ConversationId, MessageId, Role, StreamId, TenantId};
use callscribe::store::Store;
use callscribe::store::messages::NewMessage;
use callscribe_devtools::emulator::{
    Emulator, EmulatorConfig, EmulatorHandle, Faults, StreamMedia, StreamSpec, stream_arn,
};
use serde_json::{Value, json};
use tokio::sync::Mutex;

struct Args {
    url: String,
    admin_token: String,
    database_url: String,
    rate: u32,
    seconds: u64,
    label: String,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        url: "http://127.0.0.1:8080".into(),
        admin_token: String::new(),
        database_url: String::new(),
        rate: 500,
        seconds: 10,
        label: "callscribe".into(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => args.url = value,
            "--admin-token" => args.admin_token = value,
            "--database-url" => args.database_url = value,
            "--rate" => args.rate = value.parse()?,
            "--seconds" => args.seconds = value.parse()?,
            "--label" => args.label = value,
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    ensure!(
        !args.admin_token.is_empty() && !args.database_url.is_empty(),
        "--admin-token and --database-url are required"
    );
    Ok(args)
}

/// KVS streams the calls of the benchmark are spread over (KVS allows 3 readers each).
const STREAMS: usize = 16;

/// A start body for call `i`, on one of the emulator's streams.
fn start_body(guid: &str, i: u64) -> Value {
    let arn = stream_arn(&format!("bench-{}", i as usize % STREAMS));
    json!({"namespace": "amazonconnect", "guid": guid, "customerId": "TT9833237", "agentId": "RE223444211993",
        "autotranscribeParams": {"language": "en-US"},
        "amazonConnectParams": {"streamArn": arn, "startSelectorType": "NOW"}})
}

/// An in-process KVS emulator with [`STREAMS`] minute-long calls of low noise.
fn spawn_kvs() -> anyhow::Result<EmulatorHandle> {
    let noise: Vec<i16> = (0..60 * 8000)
        .map(|i: i32| ((i * 7919) % 200 - 100) as i16)
        .collect();
    let streams = (0..STREAMS)
        .map(|n| StreamSpec {
            name: format!("bench-{n}"),
            media: StreamMedia {
                customer: noise.clone(),
                agent: Some(noise.clone()),
                contact_id: "bench".into(),
                switch_contact_at_ms: None,
                next_contact_id: "bench-next".into(),
                start_epoch_ms: chrono::Utc::now().timestamp_millis(),
            },
            faults: Faults::default(),
        })
        .collect();
    let config = EmulatorConfig {
        streams,
        ..EmulatorConfig::default()
    };
    Ok(Emulator::new(config).spawn(std::net::TcpListener::bind("127.0.0.1:0")?)?)
}

/// Starts `guid` and stores 1,000 realistic utterances in it.
async fn seed_messages(
    http: &reqwest::Client,
    a: &Args,
    tenant: &str,
    key: &str,
    guid: &str,
) -> anyhow::Result<()> {
    let started: Value = http
        .post(format!("{}/mg-autotranscribe/v1/start-streaming", a.url))
        .header("x-api-key", key)
        .json(&start_body(guid, 0))
        .send()
        .await?
        .json()
        .await?;
    let stream = StreamId(
        started["autotranscribeResponse"]["customer"]["streamId"]
            .as_str()
            .context("streamId")?
            .into(),
    );
    let store = Store::connect(&a.database_url).await?;
    let conv = store
        .conversation_by_external_id(&TenantId(tenant.into()), guid)
        .await?
        .context("conversation")?;
    for i in 0..1000i64 {
        store
            .append_message(&NewMessage {
                id: MessageId::generate(),
                conversation_id: ConversationId(conv.id.clone()),
                stream_id: stream.clone(),
                role: Role::Customer,
                sender_external_id: "TT9833237".into(),
                start_ms: i * 4000,
                end_ms: i * 4000 + 3568,
                text: format!(
                    "I need help upgrading my streaming package and my PIN number is #### ({i})"
                ),
                unredacted_text: None,
                tokens: None,
                created_at: chrono::Utc::now(),
            })
            .await?;
    }
    store.close().await;
    Ok(())
}

#[derive(Default)]
struct Samples {
    latencies_ms: Vec<f64>,
    /// Failed requests by what they were (see [`Failed`]).
    failures: BTreeMap<String, u64>,
}

impl Samples {
    fn record(&mut self, result: Result<Vec<f64>, Failed>) {
        match result {
            Ok(steps) => self.latencies_ms.extend(steps),
            Err(Failed(why)) => *self.failures.entry(why).or_default() += 1,
        }
    }

    fn errors(&self) -> u64 {
        self.failures.values().sum()
    }
}

/// Why a request failed: the contract's error code from the body (`429-01`, `503-01`,
/// `503-02`, ...), the bare status when the body has none, or the client's own failure.
#[derive(Debug)]
struct Failed(String);

impl Failed {
    fn client(e: &reqwest::Error) -> Failed {
        Failed(
            if e.is_timeout() {
                "client timeout"
            } else if e.is_connect() {
                "connect"
            } else {
                "transport"
            }
            .into(),
        )
    }
}

fn report(label: &str, scenario: &str, s: &Samples, elapsed: Duration) {
    let mut l = s.latencies_ms.clone();
    l.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        if l.is_empty() {
            f64::NAN
        } else {
            l[((l.len() - 1) as f64 * p).round() as usize]
        }
    };
    println!(
        "{label:<16} {scenario:<34} {:>7} {:>6} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
        l.len(),
        s.errors(),
        l.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50),
        pct(0.90),
        pct(0.99),
        l.last().copied().unwrap_or(f64::NAN)
    );
    if !s.failures.is_empty() {
        let named: Vec<String> = s
            .failures
            .iter()
            .map(|(why, n)| format!("{why} x{n}"))
            .collect();
        println!("{:<16} {:<34} failed: {}", "", "", named.join(", "));
    }
}

type Op = Arc<
    dyn Fn(u64) -> futures_util::future::BoxFuture<'static, Result<Vec<f64>, Failed>> + Send + Sync,
>;

/// Fires `op(i)` at `rate` per second for `seconds`; each op's latency counts from its slot.
async fn open_loop(rate: u32, seconds: u64, op: Op) -> (Samples, Duration) {
    let samples = Arc::new(Mutex::new(Samples::default()));
    let total = u64::from(rate) * seconds;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let began = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let slot = began + interval * i as u32;
        tokio::time::sleep_until(slot.into()).await;
        let (op, samples) = (op.clone(), samples.clone());
        tasks.push(tokio::spawn(async move {
            let result = op(i).await;
            // Each step's latency; the first one also carries any wait behind its slot.
            let result = result.map(|steps| {
                let late = slot.elapsed().as_secs_f64() * 1000.0 - steps.iter().sum::<f64>();
                let mut steps = steps;
                if let Some(first) = steps.first_mut() {
                    *first += late.max(0.0);
                }
                steps
            });
            samples.lock().await.record(result);
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = began.elapsed();
    (
        Arc::try_unwrap(samples)
            .ok()
            .expect("all tasks done")
            .into_inner(),
        elapsed,
    )
}

/// `concurrency` workers issue `op` back to back for `seconds`.
async fn closed_loop(concurrency: u64, seconds: u64, op: Op) -> (Samples, Duration) {
    let samples = Arc::new(Mutex::new(Samples::default()));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let began = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|w| {
            let (op, samples) = (op.clone(), samples.clone());
            tokio::spawn(async move {
                let mut i = 0;
                while Instant::now() < deadline {
                    let result = op(1_000_000_000 + w * 10_000_000 + i).await;
                    i += 1;
                    samples.lock().await.record(result);
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    let elapsed = began.elapsed();
    (
        Arc::try_unwrap(samples)
            .ok()
            .expect("all workers done")
            .into_inner(),
        elapsed,
    )
}

async fn timed(req: reqwest::RequestBuilder) -> Result<f64, Failed> {
    let t = Instant::now();
    let res = req.send().await.map_err(|e| Failed::client(&e))?;
    let status = res.status();
    let body = res.bytes().await.map_err(|e| Failed::client(&e))?;
    if !status.is_success() {
        let code = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|b| b["error"]["code"].as_str().map(str::to_owned));
        return Err(Failed(
            code.unwrap_or_else(|| format!("HTTP {}", status.as_u16())),
        ));
    }
    Ok(t.elapsed().as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    callscribe::install_crypto_provider();
    let a = Arc::new(parse_args()?);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let kvs = spawn_kvs()?;
    let (tenant, key) = support::provision(&http, &a.url, &a.admin_token, &kvs.url).await?;
    seed_messages(&http, &a, &tenant, &key, "bench-read").await?;
    let run = uuid::Uuid::new_v4().simple().to_string();

    let start_stop: Op = {
        let (http, a, key, run) = (http.clone(), a.clone(), key.clone(), run.clone());
        Arc::new(move |i| {
            let (http, a, key, run) = (http.clone(), a.clone(), key.clone(), run.clone());
            Box::pin(async move {
                let guid = format!("bench-{run}-{i}");
                let start = timed(
                    http.post(format!("{}/mg-autotranscribe/v1/start-streaming", a.url))
                        .header("x-api-key", &key)
                        .json(&start_body(&guid, i)),
                )
                .await?;
                let stop = timed(
                    http.post(format!("{}/mg-autotranscribe/v1/stop-streaming", a.url))
                        .header("x-api-key", &key)
                        .json(&json!({"namespace": "amazonconnect", "guid": guid})),
                )
                .await?;
                Ok(vec![start, stop])
            })
        })
    };
    let read: Op = {
        let (http, a, key) = (http.clone(), a.clone(), key.clone());
        Arc::new(move |_| {
            let (http, a, key) = (http.clone(), a.clone(), key.clone());
            Box::pin(async move {
                let url = format!(
                    "{}/conversation/v1/conversation/messages?externalId=bench-read",
                    a.url
                );
                Ok(vec![timed(http.get(url).header("x-api-key", &key)).await?])
            })
        })
    };

    // Warm up connections and caches.
    let _ = closed_loop(8, 1, read.clone()).await;
    let (pairs, requests) = (a.rate / 2, a.rate);
    let (s, d) = open_loop(pairs, a.seconds, start_stop.clone()).await;
    report(
        &a.label,
        &format!("start+stop @{requests} req/s (open)"),
        &s,
        d,
    );
    let (s, d) = open_loop(a.rate, a.seconds, read.clone()).await;
    report(
        &a.label,
        &format!("messages(1000) @{} req/s (open)", a.rate),
        &s,
        d,
    );
    let (s, d) = closed_loop(16, a.seconds.min(5), start_stop).await;
    report(&a.label, "start+stop, 16 conns (closed)", &s, d);
    let (s, d) = closed_loop(16, a.seconds.min(5), read).await;
    report(&a.label, "messages(1000), 16 conns (closed)", &s, d);
    Ok(())
}
