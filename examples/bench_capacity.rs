//! Load driver for `scripts/bench-capacity`: how many concurrent real-time calls one
//! callscribe process sustains. It plays N two-party calls of real recorded speech
//! (tests/fixtures/speech) from an in-process KVS emulator at real time, starts them
//! all against a running service, and after the run prints the engine's queue wait
//! (p50/p95 from the service's own histogram), decode time, utterance outcomes and the
//! service process's peak RSS.

mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use callscribe::kvs::emulator::{
    Emulator, EmulatorConfig, EmulatorHandle, Faults, StreamMedia, StreamSpec, stream_arn, wav,
};
use serde_json::{Value, json};

struct Args {
    url: String,
    admin_token: String,
    calls: usize,
    seconds: u64,
    pid: u32,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut args = Args {
        url: "http://127.0.0.1:8080".into(),
        admin_token: String::new(),
        calls: 10,
        seconds: 60,
        pid: 0,
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
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    ensure!(!args.admin_token.is_empty(), "--admin-token is required");
    ensure!(args.pid != 0, "--pid of the service is required");
    Ok(args)
}

const RATE: usize = 8000;

/// One conversation's worth of turns, repeated to fill the call: the agent's prompt,
/// the customer's answer, and so on, with a second of silence between turns.
fn call_tracks(seconds: u64, rotate_ms: usize) -> anyhow::Result<(Vec<i16>, Vec<i16>)> {
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
            at += audio.len() + RATE;
        }
    }
    // Calls start together; rotating each one keeps their turns from lining up.
    let shift = (rotate_ms * RATE / 1000) % total;
    customer.rotate_left(shift);
    agent.rotate_left(shift);
    Ok((customer, agent))
}

fn spawn_kvs(calls: usize, seconds: u64) -> anyhow::Result<EmulatorHandle> {
    let mut streams = Vec::new();
    for n in 0..calls {
        let (customer, agent) = call_tracks(seconds, n * 2_345)?;
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let a = parse_args()?;
    let kvs = spawn_kvs(a.calls, a.seconds)?;
    let http = reqwest::Client::new();
    let (_, key) = support::provision(&http, &a.url, &a.admin_token, &kvs.url).await?;
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
    let mut peak_rss: f64 = 0.0;
    while started.elapsed() < Duration::from_secs(a.seconds + 3) {
        peak_rss = peak_rss.max(rss_mib(a.pid));
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
    println!(
        "{:>5} {:>8} {:>9} {:>11.0} {:>11.0} {:>10.2} {:>12.0} {:>11.3} {:>10} {:>10.0}",
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
        peak_rss,
    );
    Ok(())
}
