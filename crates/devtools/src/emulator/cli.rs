//! `callscribe kvs-emulator --listen ADDR --stream NAME=FILE.wav [...]`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use super::{Emulator, EmulatorConfig, Faults, Pacing, StreamMedia, StreamSpec, wav};

#[derive(Debug, Args)]
pub struct EmulatorArgs {
    /// Address to serve on.
    #[arg(long, default_value = "127.0.0.1:4567")]
    pub listen: std::net::SocketAddr,
    /// `NAME=call.wav` (stereo: left customer, right agent; mono: customer only) or
    /// `NAME=customer.wav+agent.wav`. Repeat for more streams.
    #[arg(long = "stream", required = true)]
    pub streams: Vec<String>,
    /// Media seconds per wall second (1 = real time).
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// `fragment`: each ~1 s fragment once complete; `block`: each 64 ms block as it
    /// is spoken, as a live producer streams.
    #[arg(long, value_enum, default_value_t = Pacing::Fragment)]
    pub pacing: Pacing,
    /// ContactId tagged on the fragments (default: a fresh UUID per stream, printed).
    #[arg(long)]
    pub contact_id: Option<String>,
    /// Seconds of silence a GetMedia response waits after the last fragment.
    #[arg(long, default_value_t = 2.0)]
    pub idle_end_seconds: f64,
    /// TOML file of faults per stream: `[faults.NAME]` tables of `Faults` fields.
    #[arg(long)]
    pub faults: Option<PathBuf>,
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FaultsFile {
    #[serde(default)]
    faults: std::collections::HashMap<String, Faults>,
}

fn media_from(source: &str, contact_id: String) -> anyhow::Result<StreamMedia> {
    let (customer, agent) = match source.split_once('+') {
        Some((c, a)) => wav::read_pair(Path::new(c), Path::new(a))?,
        None => wav::read_tracks(Path::new(source))?,
    };
    Ok(StreamMedia {
        customer,
        agent,
        next_contact_id: uuid::Uuid::new_v4().to_string(),
        contact_id,
        switch_contact_at_ms: None,
        start_epoch_ms: chrono::Utc::now().timestamp_millis(),
    })
}

pub async fn run(args: EmulatorArgs) -> anyhow::Result<()> {
    let mut faults = match &args.faults {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            toml::from_str::<FaultsFile>(&text)
                .with_context(|| format!("invalid faults file {}", path.display()))?
                .faults
        }
        None => Default::default(),
    };
    let mut streams = Vec::new();
    for spec in &args.streams {
        let (name, source) = spec
            .split_once('=')
            .context("--stream takes NAME=FILE.wav")?;
        anyhow::ensure!(
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)),
            "stream name `{name}` must be 1-256 characters of [a-zA-Z0-9_.-]"
        );
        let contact = args
            .contact_id
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        let mut media = media_from(source, contact)?;
        let stream_faults = faults.remove(name).unwrap_or_default();
        media.switch_contact_at_ms = stream_faults.switch_contact_at_ms;
        streams.push(StreamSpec {
            name: name.to_owned(),
            media,
            faults: stream_faults,
        });
    }
    anyhow::ensure!(
        faults.is_empty(),
        "faults for unknown streams: {:?}",
        faults.keys().collect::<Vec<_>>()
    );
    let listener = std::net::TcpListener::bind(args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    for s in &streams {
        let seconds = s.media.fragment_count() as f64 * super::media::FRAGMENT_MS as f64 / 1000.0;
        let tracks = if s.media.agent.is_some() {
            "customer+agent"
        } else {
            "customer only"
        };
        println!(
            "stream {} ({tracks}, {seconds:.0} s, ContactId {})\n  arn {}",
            s.name,
            s.media.contact_id,
            s.arn()
        );
    }
    let config = EmulatorConfig {
        streams,
        speed: args.speed,
        pacing: args.pacing,
        idle_end: Duration::from_secs_f64(args.idle_end_seconds),
    };
    let handle = Emulator::new(config).spawn(listener)?;
    println!(
        "KVS emulator on {} (endpoint_url for the AWS SDK; any credentials)",
        handle.url
    );
    callscribe::shutdown_signal().await;
    handle.stop().await;
    Ok(())
}
