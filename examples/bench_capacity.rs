//! Load driver for `scripts/bench-capacity`: how many concurrent real-time calls one
//! callscribe process sustains, and how late their transcripts arrive. It plays N
//! two-party calls of real recorded speech (tests/fixtures/speech) from an in-process
//! KVS emulator at real time, starts them all against a running service whose webhook
//! points at an in-process `webhook-sink`, and after the run prints the engine's queue
//! wait (p50/p95 from the service's own histogram), decode time, utterance outcomes,
//! the end-to-end latency of every delivered message (from the moment the emulator
//! sent the fragment holding the utterance's last speech sample to the moment the sink
//! had the POST), undelivered messages, and the service process's peak RSS.
//!
//! With `--calls-from DIR` it plays the stereo WAVs in DIR instead (one call each, all at
//! once), with redaction off, and `--hypotheses FILE` writes every delivered message as
//! a JSON line `{"file": "DIR/NAME.wav.customer", "text", "start", "end", "post_ms"}` in
//! stream order, for `scripts/wer.py` and `scripts/bench_turns.py` (`post_ms`: when the
//! sink had the POST, in media ms from the start of the streams). `--pacing block` sends
//! each 64 ms block as it is spoken instead of whole ~1 s fragments. A second line gives
//! where the latency goes: tentative finals (no decode after the endpoint) against
//! finals decoded at the endpoint, speculative decodes made and dropped, messages held
//! for their fragment's ContactId (count, p50/p95 wait), and webhook delivery p50/p95.
//!
//! `--viewers K` opens K live streams (`GET /conversation/v1/conversation/live`, as the
//! console reads them) on every call as it starts, reads every event, and adds a line:
//! how many utterance events the viewers got, and when each arrived against the webhook
//! POST of the same utterance (p50/p95; negative when the viewer had it first).

mod support;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use callscribe_devtools::emulator::{
    Emulator, EmulatorConfig, EmulatorHandle, Faults, Pacing, StreamMedia, StreamSpec, stream_arn,
    wav,
};
use callscribe_devtools::sink::{self, Checks, Received};
use futures_util::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;

const SIGNING: &str = "bench-signing-secret-0123";

struct Args {
    url: String,
    admin_token: String,
    calls: usize,
    seconds: u64,
    pid: u32,
    /// Silence between turns (1 s: busy calls; the soak uses quieter ones).
    gap_ms: usize,
    /// Print the service's RSS every this many seconds and its growth after warm-up
    /// (0: peak only).
    rss_every: u64,
    /// Stereo WAVs to play instead of the built-in call (sorted by name).
    calls_from: Option<PathBuf>,
    /// Where to write the delivered messages as JSON lines.
    hypotheses: Option<PathBuf>,
    /// How the emulator sends the audio: whole fragments or 64 ms blocks.
    pacing: Pacing,
    /// Live streams opened on each call.
    viewers: usize,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        url: "http://127.0.0.1:8080".into(),
        admin_token: String::new(),
        calls: 10,
        seconds: 60,
        pid: 0,
        gap_ms: 1000,
        rss_every: 0,
        calls_from: None,
        hypotheses: None,
        pacing: Pacing::Fragment,
        viewers: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().with_context(|| format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--url" => args.url = value,
            "--admin-token" => args.admin_token = value,
            "--calls" => args.calls = value.parse()?,
            "--seconds" => args.seconds = value.parse()?,
            "--pid" => args.pid = value.parse()?,
            "--gap-ms" => args.gap_ms = value.parse()?,
            "--rss-every" => args.rss_every = value.parse()?,
            "--calls-from" => args.calls_from = Some(value.into()),
            "--hypotheses" => args.hypotheses = Some(value.into()),
            "--viewers" => args.viewers = value.parse()?,
            "--pacing" => {
                args.pacing = clap::ValueEnum::from_str(&value, true)
                    .map_err(|e| anyhow::anyhow!("--pacing: {e}"))?;
            }
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    ensure!(!args.admin_token.is_empty(), "--admin-token is required");
    ensure!(args.pid != 0, "--pid of the service is required");
    Ok(args)
}

const RATE: usize = 8000;

/// One conversation's worth of turns, repeated to fill the call: the agent's prompt,
/// the customer's answer, and so on, with `gap_ms` of silence between turns.
fn call_tracks(seconds: u64, rotate_ms: usize, gap_ms: usize) -> anyhow::Result<CallTracks> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/speech");
    let clip =
        |name: &str| -> anyhow::Result<Vec<i16>> { Ok(wav::read_tracks(&dir.join(name))?.0) };
    let turns = [
        (true, clip("allison-privacy-prompt.wav")?),
        (false, clip("jfk-8k.wav")?),
        (true, clip("allison-queue-youarenext.wav")?),
        (false, clip("allison-auth-thankyou.wav")?),
        (true, clip("allison-vm-sorry.wav")?),
    ];
    let total = seconds as usize * RATE;
    let (mut customer, mut agent) = (vec![0i16; total], vec![0i16; total]);
    let mut at = 0;
    'fill: loop {
        for (is_agent, audio) in &turns {
            if at + audio.len() > total {
                break 'fill;
            }
            let track = if *is_agent { &mut agent } else { &mut customer };
            track[at..at + audio.len()].copy_from_slice(audio);
            at += audio.len() + gap_ms * RATE / 1000;
        }
    }
    // Calls start together; rotating each one keeps their turns from lining up.
    let shift = (rotate_ms * RATE / 1000) % total;
    customer.rotate_left(shift);
    agent.rotate_left(shift);
    Ok((customer, agent))
}

/// A call's two tracks: the customer's and the agent's samples.
type CallTracks = (Vec<i16>, Vec<i16>);

/// Every stereo WAV in `dir`, sorted by path, with its tracks.
fn recorded_calls(dir: &Path) -> anyhow::Result<(Vec<PathBuf>, Vec<CallTracks>)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    paths.retain(|p| p.extension().is_some_and(|e| e == "wav"));
    paths.sort();
    let tracks = paths
        .iter()
        .map(|path| {
            let (customer, agent) = wav::read_tracks(path)?;
            let agent = agent.with_context(|| format!("{} is not stereo", path.display()))?;
            Ok((customer, agent))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok((paths, tracks))
}

fn spawn_kvs(tracks: Vec<CallTracks>, pacing: Pacing) -> anyhow::Result<EmulatorHandle> {
    let mut streams = Vec::new();
    for (n, (customer, agent)) in tracks.into_iter().enumerate() {
        streams.push(StreamSpec {
            name: format!("call-{n}"),
            media: StreamMedia {
                customer,
                agent: Some(agent),
                contact_id: format!("contact-{n}"),
                switch_contact_at_ms: None,
                next_contact_id: "next".into(),
                start_epoch_ms: chrono::Utc::now().timestamp_millis(),
            },
            faults: Faults::default(),
        });
    }
    let config = EmulatorConfig {
        streams,
        speed: 1.0,
        idle_end: Duration::from_secs(2),
        pacing,
    };
    Ok(Emulator::new(config).spawn(std::net::TcpListener::bind("127.0.0.1:0")?)?)
}

/// VmRSS of a process, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// A histogram from Prometheus text: cumulative (upper bound, count) pairs, and the sum.
fn histogram(metrics: &str, name: &str) -> (Vec<(f64, f64)>, f64) {
    let mut buckets = Vec::new();
    let mut sum = 0.0;
    for line in metrics.lines() {
        if let Some(rest) = line.strip_prefix(&format!("callscribe_{name}_bucket{{le=\"")) {
            let (le, count) = rest.split_once("\"} ").unwrap_or(("0", "0"));
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().unwrap_or(0.0)
            };
            buckets.push((le, count.parse().unwrap_or(0.0)));
        } else if let Some(v) = line.strip_prefix(&format!("callscribe_{name}_sum ")) {
            sum = v.parse().unwrap_or(0.0);
        }
    }
    (buckets, sum)
}

/// Quantile by linear interpolation inside the bucket (as Prometheus' histogram_quantile).
fn quantile(buckets: &[(f64, f64)], q: f64) -> f64 {
    let total = buckets.last().map_or(0.0, |b| b.1);
    if total == 0.0 {
        return 0.0;
    }
    let rank = q * total;
    let mut prev = (0.0, 0.0);
    for &(le, count) in buckets {
        if count >= rank {
            if le.is_infinite() {
                return prev.0;
            }
            let within = (rank - prev.1) / (count - prev.1).max(1.0);
            return prev.0 + (le - prev.0) * within;
        }
        prev = (le, count);
    }
    prev.0
}

/// The value at quantile `q` of sorted values (0 when there are none).
fn sorted_quantile(sorted: &[f64], q: f64) -> f64 {
    sorted
        .get(((sorted.len().max(1) - 1) as f64 * q) as usize)
        .copied()
        .unwrap_or(0.0)
}

fn share_within(buckets: &[(f64, f64)], bound: f64) -> f64 {
    let total = buckets.last().map_or(0.0, |b| b.1);
    let within = buckets
        .iter()
        .find(|b| (b.0 - bound).abs() < 1e-9)
        .map_or(0.0, |b| b.1);
    if total == 0.0 { 1.0 } else { within / total }
}

fn counter(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(series))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The in-process receiver: every delivery, signature checked.
fn spawn_sink() -> anyhow::Result<(String, mpsc::UnboundedReceiver<Received>)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://127.0.0.1:{}/hook", listener.local_addr()?.port());
    let (tx, rx) = mpsc::unbounded_channel();
    let checks = Checks {
        signing_secret: Some(SIGNING.as_bytes().to_vec()),
        ..Checks::default()
    };
    tokio::spawn(sink::serve(
        listener,
        None,
        checks,
        tx,
        std::future::pending(),
    ));
    Ok((url, rx))
}

/// Receipt time minus the moment the emulator sent the fragment holding the
/// utterance's end (`end` counts from the start of the participant's stream, which is
/// the start of fragment 0).
fn end_to_end_ms(kvs: &EmulatorHandle, r: &Received) -> Option<f64> {
    let end_ms = r.body["autotranscribeResponse"]["end"].as_i64()?;
    let sent = kvs.sent_at(end_ms.max(1) - 1);
    let received = r.received_instant;
    Some(received.checked_duration_since(sent)?.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut a = parse_args()?;
    let http = reqwest::Client::new();
    let (sink_url, mut received) = spawn_sink()?;
    let (files, tracks) = match &a.calls_from {
        Some(dir) => {
            let (files, tracks) = recorded_calls(dir)?;
            ensure!(!files.is_empty(), "no WAV files in {}", dir.display());
            a.calls = files.len();
            let longest = tracks
                .iter()
                .map(|(customer, agent)| customer.len().max(agent.len()));
            a.seconds = longest.max().unwrap_or(0).div_ceil(RATE) as u64;
            (files, tracks)
        }
        None => (
            Vec::new(),
            (0..a.calls)
                .map(|n| call_tracks(a.seconds, n * 2_345, a.gap_ms))
                .collect::<anyhow::Result<_>>()?,
        ),
    };
    let kvs = spawn_kvs(tracks, a.pacing)?;
    let (tenant, key) = support::provision(&http, &a.url, &a.admin_token, &kvs.url).await?;
    if a.calls_from.is_some() {
        // Word error rates are scored on what was said, not on masked digits.
        http.put(format!("{}/admin/v1/tenants/{tenant}/redaction", a.url))
            .bearer_auth(&a.admin_token)
            .json(&json!({"entities": []}))
            .send()
            .await?
            .error_for_status()?;
    }
    http.put(format!("{}/admin/v1/tenants/{tenant}/webhook", a.url))
        .bearer_auth(&a.admin_token)
        .json(&json!({"url": sink_url, "auth": {"mode": "none"}, "signingSecret": SIGNING}))
        .send()
        .await?
        .error_for_status()?;
    let started = Instant::now();
    for n in 0..a.calls {
        let body = json!({"namespace": "amazonconnect", "guid": format!("contact-{n}"),
            "customerId": "C1", "agentId": "A1",
            "amazonConnectParams": {"streamArn": stream_arn(&format!("call-{n}")), "startSelectorType": "EARLIEST"}});
        let res = http
            .post(format!("{}/mg-autotranscribe/v1/start-streaming", a.url))
            .header("x-api-key", &key)
            .json(&body)
            .send()
            .await?;
        ensure!(
            res.status().is_success(),
            "start {n}: {}",
            res.text().await?
        );
    }
    let seen = Seen::default();
    let viewers = spawn_viewers(&http, &a, &tenant, &key, &seen).await?;
    let mut peak_rss: f64 = 0.0;
    let mut samples: Vec<(u64, f64)> = Vec::new();
    while started.elapsed() < Duration::from_secs(a.seconds + 3) {
        let rss = rss_mib(a.pid);
        peak_rss = peak_rss.max(rss);
        let at = started.elapsed().as_secs();
        if a.rss_every > 0 && samples.last().is_none_or(|s| at >= s.0 + a.rss_every) {
            samples.push((at, rss));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut transcripts = 0;
    for n in 0..a.calls {
        let res: Value = http
            .post(format!("{}/mg-autotranscribe/v1/stop-streaming", a.url))
            .header("x-api-key", &key)
            .json(&json!({"namespace": "amazonconnect", "guid": format!("contact-{n}")}))
            .send()
            .await?
            .json()
            .await?;
        for who in ["customer", "agent"] {
            transcripts += res["autotranscribeResponse"][who]["summary"]["transcripts"]
                .as_i64()
                .unwrap_or(0);
        }
    }
    peak_rss = peak_rss.max(rss_mib(a.pid));
    // Deliveries still in flight after the stops.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut latencies_ms = Vec::new();
    let mut heard = Vec::new();
    while let Ok(r) = received.try_recv() {
        if let Some(ms) = end_to_end_ms(&kvs, &r) {
            latencies_ms.push(ms);
        }
        heard.push(r);
    }
    for viewer in viewers {
        viewer.abort();
    }
    let viewed = std::mem::take(&mut *seen.lock().unwrap());
    let viewers_line = (a.viewers > 0).then(|| viewers_report(&a, &viewed, &heard));
    if let Some(out) = &a.hypotheses {
        write_hypotheses(out, &files, heard, &kvs)?;
    }
    let delivered = latencies_ms.len();
    latencies_ms.sort_by(f64::total_cmp);
    let at = |q: f64| sorted_quantile(&latencies_ms, q);
    let metrics = http
        .get(format!("{}/metrics", a.url))
        .send()
        .await?
        .text()
        .await?;
    let (wait, _) = histogram(&metrics, "engine_wait_seconds");
    let (decode, decode_sum) = histogram(&metrics, "engine_decode_seconds");
    let decodes = decode.last().map_or(0.0, |b| b.1);
    let audio_s = a.calls as f64 * a.seconds as f64 * 2.0;
    let undelivered = ["dropped", "failed", "timeout"]
        .iter()
        .map(|o| {
            counter(
                &metrics,
                &format!("callscribe_webhook_deliveries_total{{outcome=\"{o}\"}}"),
            )
        })
        .sum::<f64>();
    println!(
        "{:>5} {:>8} {:>9} {:>11.0} {:>11.0} {:>10.2} {:>12.0} {:>11.3} {:>10} {:>8.0} {:>8.0} {:>8.0} {:>11} {:>10.0}",
        a.calls,
        decodes,
        transcripts,
        quantile(&wait, 0.5) * 1000.0,
        quantile(&wait, 0.95) * 1000.0,
        share_within(&wait, 0.3),
        decode_sum / decodes.max(1.0) * 1000.0,
        decode_sum / audio_s,
        counter(
            &metrics,
            "callscribe_utterances_total{outcome=\"not_speech\"}"
        ),
        at(0.5),
        at(0.95),
        at(1.0),
        undelivered,
        peak_rss,
    );
    print_floor(&metrics);
    if let Some(line) = viewers_line {
        println!("{line}");
    }
    if a.rss_every > 0 {
        print_rss(&samples, a.seconds, transcripts, delivered);
    }
    Ok(())
}

/// Where the latency goes, from the service's own metrics.
fn print_floor(metrics: &str) {
    let count = |series: &str| counter(metrics, &format!("callscribe_{series}"));
    let (held, _) = histogram(metrics, "confirmation_wait_seconds");
    let (redaction_held, _) = histogram(metrics, "redaction_hold_seconds");
    let (delivery, _) = histogram(metrics, "webhook_delivery_seconds");
    let speculation = |urgency: &str, outcome: &str| {
        count(&format!(
            "engine_speculations_total{{outcome=\"{outcome}\",urgency=\"{urgency}\"}}"
        ))
    };
    println!(
        "      finals: {} tentative, {} decoded at the endpoint; speculation: tentative {}/{} partial {}/{} (decoded/dropped); held for ContactId: {} (p50 {:.0} ms, p95 {:.0} ms); held for the rest of a number: {} (p50 {:.0} ms, max {:.0} ms); delivery p50 {:.0} ms p95 {:.0} ms",
        count("engine_finals_total{source=\"tentative\"}"),
        count("engine_finals_total{source=\"endpoint\"}"),
        speculation("tentative", "decoded"),
        speculation("tentative", "dropped"),
        speculation("partial", "decoded"),
        speculation("partial", "dropped"),
        held.last().map_or(0.0, |b| b.1),
        quantile(&held, 0.5) * 1000.0,
        quantile(&held, 0.95) * 1000.0,
        redaction_held.last().map_or(0.0, |b| b.1),
        quantile(&redaction_held, 0.5) * 1000.0,
        quantile(&redaction_held, 1.0) * 1000.0,
        quantile(&delivery, 0.5) * 1000.0,
        quantile(&delivery, 0.95) * 1000.0,
    );
}

/// When each viewer got each utterance event: (message id, moment).
type Seen = Arc<Mutex<Vec<(String, Instant)>>>;

/// Opens `--viewers` live streams on each call (a key holds 20, so more keys as needed),
/// each read to its end by a task.
async fn spawn_viewers(
    http: &reqwest::Client,
    a: &Args,
    tenant: &str,
    key: &str,
    seen: &Seen,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut keys = vec![key.to_owned()];
    let mut viewers = Vec::new();
    for n in 0..a.calls * a.viewers {
        if n / 20 >= keys.len() {
            keys.push(support::create_key(http, &a.url, &a.admin_token, tenant).await?);
        }
        let call = format!("contact-{}", n / a.viewers);
        let res = http
            .get(format!("{}/conversation/v1/conversation/live", a.url))
            .query(&[("externalId", &call)])
            .header("x-api-key", &keys[n / 20])
            .send()
            .await?;
        ensure!(
            res.status().is_success(),
            "viewer of {call}: {}",
            res.status()
        );
        viewers.push(tokio::spawn(read_utterances(res, seen.clone())));
    }
    Ok(viewers)
}

/// Reads a live stream as a browser would, noting when each utterance event arrived.
async fn read_utterances(res: reqwest::Response, seen: Seen) {
    let mut body = res.bytes_stream();
    let mut buffer: Vec<u8> = Vec::new();
    while let Some(Ok(chunk)) = body.next().await {
        let now = Instant::now();
        buffer.extend_from_slice(&chunk);
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = buffer.drain(..end + 2).collect();
            let block = String::from_utf8_lossy(&block);
            if !block.lines().any(|l| l == "event: utterance") {
                continue;
            }
            let data: String = block
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .collect();
            let id = serde_json::from_str::<Value>(&data)
                .ok()
                .and_then(|v| v["messageId"].as_str().map(str::to_owned));
            if let Some(id) = id {
                seen.lock().unwrap().push((id, now));
            }
        }
    }
}

/// The viewers' line: utterance events got against those expected, and their arrival
/// against the webhook POST of the same message.
fn viewers_report(a: &Args, viewed: &[(String, Instant)], heard: &[Received]) -> String {
    let posted: std::collections::HashMap<&str, Instant> = heard
        .iter()
        .filter_map(|r| Some((r.message_id.as_deref()?, r.received_instant)))
        .collect();
    let mut after_post_ms: Vec<f64> = viewed
        .iter()
        .filter_map(|(id, at)| {
            let post = *posted.get(id.as_str())?;
            Some(match at.checked_duration_since(post) {
                Some(later) => later.as_secs_f64() * 1000.0,
                None => -(post - *at).as_secs_f64() * 1000.0,
            })
        })
        .collect();
    after_post_ms.sort_by(f64::total_cmp);
    let at = |q: f64| sorted_quantile(&after_post_ms, q);
    format!(
        "      viewers: {} per call ({} streams) got {} of {} utterance events; after the webhook POST p50 {:.1} ms p95 {:.1} ms max {:.1} ms (negative: the viewer had it first)",
        a.viewers,
        a.viewers * a.calls,
        viewed.len(),
        posted.len() * a.viewers,
        at(0.5),
        at(0.95),
        at(1.0),
    )
}

/// The delivered messages as `{"file": "CALL.wav.<role>", "text"}` lines, in stream order
/// per participant (`scripts/wer.py` joins a file's lines in order).
fn write_hypotheses(
    out: &Path,
    files: &[PathBuf],
    messages: Vec<Received>,
    kvs: &EmulatorHandle,
) -> anyhow::Result<()> {
    let mut lines: Vec<(String, i64, Value)> = messages
        .iter()
        .filter_map(|r| {
            let m = &r.body;
            let n: usize = m["externalConversationId"]
                .as_str()?
                .strip_prefix("contact-")?
                .parse()
                .ok()?;
            let file = format!(
                "{}.{}",
                files.get(n)?.display(),
                m["sender"]["role"].as_str()?
            );
            let response = &m["autotranscribeResponse"];
            let text = response["utterance"][0]["text"].as_str()?.to_owned();
            let (start, end) = (response["start"].as_i64()?, response["end"].as_i64()?);
            let post_ms = kvs.media_ms_at(r.received_instant).round();
            let line =
                json!({"file": file, "text": text, "start": start, "end": end, "post_ms": post_ms});
            Some((file, start, line))
        })
        .collect();
    lines.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let mut body = String::new();
    for (_, _, line) in lines {
        body.push_str(&line.to_string());
        body.push('\n');
    }
    std::fs::write(out, body).with_context(|| format!("cannot write {}", out.display()))
}

/// The soak's report: the RSS series, its growth after warm-up (the first sixth of the
/// run, at most 5 minutes), and messages stored against messages delivered.
fn print_rss(samples: &[(u64, f64)], seconds: u64, stored: i64, delivered: usize) {
    println!("rss_mib every sample (seconds: MiB):");
    for chunk in samples.chunks(10) {
        let line: Vec<String> = chunk.iter().map(|(t, r)| format!("{t}:{r:.0}")).collect();
        println!("  {}", line.join(" "));
    }
    let warm_up = (seconds / 6).min(300);
    let Some(base) = samples.iter().find(|s| s.0 >= warm_up).map(|s| s.1) else {
        return;
    };
    let after = samples.iter().filter(|s| s.0 >= warm_up).map(|s| s.1);
    let (max, last) = after.fold((base, base), |(m, _), r| (m.max(r), r));
    println!(
        "after warm-up ({warm_up} s): {base:.0} MiB, max {max:.0} MiB (+{:.1}%), last {last:.0} MiB (+{:.1}%)",
        (max / base - 1.0) * 100.0,
        (last / base - 1.0) * 100.0
    );
    println!("messages stored {stored}, delivered to the sink {delivered}");
}
