//! The command line: `serve`, `migrate`, `openapi`, `admin`, `kvs-emulator`,
//! `transcribe`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::Config;
use crate::ids::TenantId;

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
    KvsEmulator(crate::kvs::emulator::cli::EmulatorArgs),
    /// Transcribe WAV files with the service's audio path and print the utterances.
    Transcribe(crate::transcribe::files::TranscribeArgs),
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create a tenant and print its id.
    TenantCreate { name: String },
    /// List tenants.
    TenantList,
    /// Create an app, or set its per-key rate limit (unset: the server default).
    AppSet {
        #[arg(long)]
        tenant: String,
        app: String,
        /// Requests per second per key.
        #[arg(long)]
        rate: Option<u32>,
        /// Burst per key.
        #[arg(long)]
        burst: Option<u32>,
    },
    /// Create an API key (printed once) for an app of a tenant.
    KeyCreate(KeyArgs),
    /// List a tenant's keys.
    KeyList {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a key.
    KeyRevoke {
        #[arg(long)]
        tenant: String,
        key_id: String,
    },
}

#[derive(Debug, Args)]
pub struct KeyArgs {
    #[arg(long)]
    pub tenant: String,
    #[arg(long, default_value = "default")]
    pub app: String,
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    crate::telemetry::init(&config);
    match cli.command {
        Command::Serve => {
            let state = crate::build_state(config).await?;
            let listener = std::net::TcpListener::bind(state.config.listen)
                .with_context(|| format!("cannot listen on {}", state.config.listen))?;
            crate::run(state, listener, crate::shutdown_signal()).await
        }
        Command::Migrate => {
            crate::build_tool_state(config).await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Openapi { output } => {
            let state = crate::build_tool_state(Config {
                data_dir: std::env::temp_dir().join("callscribe-openapi"),
                database_url: None,
                ..config
            })
            .await?;
            let spec = crate::api::spec_json(state);
            match output {
                Some(path) => std::fs::write(&path, spec + "\n")
                    .with_context(|| format!("cannot write {}", path.display())),
                None => {
                    println!("{spec}");
                    Ok(())
                }
            }
        }
        Command::Admin(cmd) => admin(config, cmd).await,
        Command::KvsEmulator(args) => crate::kvs::emulator::cli::run(args).await,
        Command::Transcribe(args) => {
            tokio::task::spawn_blocking(move || crate::transcribe::files::run(&config, &args))
                .await?
        }
    }
}

async fn admin(config: Config, cmd: AdminCommand) -> anyhow::Result<()> {
    let state = crate::build_tool_state(config).await?;
    let store = &state.store;
    match cmd {
        AdminCommand::TenantCreate { name } => {
            let t = store.create_tenant(&name).await?;
            println!("{}", t.id);
        }
        AdminCommand::TenantList => {
            for t in store.list_tenants().await? {
                println!("{}\t{}\t{}", t.id, t.name, t.created_at.to_rfc3339());
            }
        }
        AdminCommand::AppSet {
            tenant,
            app,
            rate,
            burst,
        } => {
            let tenant = existing_tenant(&state, &tenant).await?;
            anyhow::ensure!(
                !app.trim().is_empty() && app.len() <= 100,
                "app must be 1-100 characters"
            );
            anyhow::ensure!(
                rate != Some(0) && burst != Some(0),
                "rate and burst must be at least 1"
            );
            let limit = crate::store::tenants::RateLimit {
                per_second: rate,
                burst,
            };
            let saved = store.set_app_limit(&tenant, app.trim(), limit).await?;
            let show = |v: Option<i32>| v.map_or_else(|| "default".to_owned(), |v| v.to_string());
            println!(
                "{}\trate={}\tburst={}",
                saved.name,
                show(saved.rate_per_second),
                show(saved.rate_burst)
            );
        }
        AdminCommand::KeyCreate(args) => {
            let tenant = existing_tenant(&state, &args.tenant).await?;
            let key = store.create_key(&tenant, &args.app).await?;
            eprintln!("key id {} (the key below is shown only once)", key.key_id);
            println!("{}", key.key);
        }
        AdminCommand::KeyList { tenant } => {
            let tenant = existing_tenant(&state, &tenant).await?;
            for k in store.list_keys(&tenant).await? {
                let revoked = k
                    .revoked_at
                    .map(|t| format!("revoked {}", t.to_rfc3339()))
                    .unwrap_or_else(|| "active".into());
                println!(
                    "{}\t{}\t{}\t{}",
                    k.key_id,
                    k.app,
                    k.created_at.to_rfc3339(),
                    revoked
                );
            }
        }
        AdminCommand::KeyRevoke { tenant, key_id } => {
            let tenant = existing_tenant(&state, &tenant).await?;
            anyhow::ensure!(
                store.revoke_key(&tenant, &key_id).await?,
                "tenant has no key {key_id}"
            );
            println!("revoked {key_id}");
        }
    }
    Ok(())
}

async fn existing_tenant(state: &crate::state::AppState, id: &str) -> anyhow::Result<TenantId> {
    let tenant = TenantId(id.to_owned());
    anyhow::ensure!(
        state.store.tenant(&tenant).await?.is_some(),
        "no tenant {id}"
    );
    Ok(tenant)
}
