//! callscribe: self-hostable real-time call transcription for Amazon Connect.
//!
//! [`run`] serves the app on a given listener until a shutdown future resolves, so
//! tests start it on port 0 and `callscribe serve` on the configured address.

// The API endpoint's middleware stack is a deeply nested type; its layout needs more
// query depth than the default in release builds.
#![recursion_limit = "256"]

pub mod api;
pub mod audio;
pub mod audit;
pub mod cidr;
pub mod config;
pub mod error;
pub mod export;
pub mod ids;
pub mod kvs;
pub mod metrics;
pub mod redact;
pub mod secrets;
pub mod service;
pub mod state;
pub mod status;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod transcribe;
pub mod webhook;
pub mod wire;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use poem::listener::{Acceptor, TcpAcceptor};
use poem::{EndpointExt, Server};

use crate::config::Config;
use crate::metrics::{EngineMetrics, Metrics};
use crate::secrets::Sealer;
use crate::state::{AppState, SharedState};
use crate::store::Store;
use crate::transcribe::engines::{Engines, FetchModel};
use crate::transcribe::pool::EnginePool;

pub use crate::tls::install_crypto_provider;

/// Everything `serve` needs: [`build_tool_state`] plus the transcription engines (the
/// default model is verified and loaded here, so a missing model stops start-up; `fetch`
/// brings the others when first needed).
pub async fn build_state(config: Config, fetch: Option<FetchModel>) -> anyhow::Result<SharedState> {
    let engines = Engines::configured(&config, fetch).await?;
    build_state_with_engines(config, Arc::new(engines)).await
}

/// The app transcribing with `engines` (tests and tools bring their own).
pub async fn build_state_with_engines(
    config: Config,
    engines: Arc<Engines>,
) -> anyhow::Result<SharedState> {
    let metrics = Metrics::new();
    let pool = start_engine_pool(&config, engines, &metrics.engine)?;
    build_state_with(config, metrics, Some(pool)).await
}

/// The state for tools that never transcribe (migrate, admin, openapi): no model needed.
pub async fn build_tool_state(config: Config) -> anyhow::Result<SharedState> {
    build_state_with(config, Metrics::new(), None).await
}

/// Starts the decode threads the app's conversations share.
fn start_engine_pool(
    config: &Config,
    engines: Arc<Engines>,
    metrics: &EngineMetrics,
) -> anyhow::Result<Arc<EnginePool>> {
    let pool = EnginePool::start(
        engines,
        config.engine.workers,
        config.engine.queue,
        metrics.clone(),
    )?;
    tracing::info!(
        engine = pool.describe(),
        workers = pool.workers(),
        "transcription engine ready"
    );
    Ok(Arc::new(pool))
}

/// Connects the store, applies migrations and builds the shared state.
async fn build_state_with(
    config: Config,
    metrics: Metrics,
    engine: Option<Arc<EnginePool>>,
) -> anyhow::Result<SharedState> {
    install_crypto_provider();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create data dir {}", config.data_dir.display()))?;
    let store = Store::connect(&config.database_url())
        .await
        .context("cannot connect to the database")?;
    store.migrate().await.context("database migration failed")?;
    let sealer = match &config.secret_key {
        Some(key) => Sealer::from_hex(key.expose())?,
        None => Sealer::from_key_file(&config.data_dir.join("secret.key"))?,
    };
    Ok(Arc::new(AppState::new(
        config, store, sealer, metrics, engine,
    )))
}

/// Serves the API on `listener` until `shutdown` resolves, then drains: readiness
/// fails, new starts are refused, in-flight requests get the configured grace period.
/// With `[tls]` configured the listener speaks HTTPS only (mutual TLS with
/// `client_ca_file`); the decision is made here from `state.config`, so every caller,
/// tests included, gets the same server.
pub async fn run(
    state: SharedState,
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // The body is compiled once, here: were it generic over `shutdown`, every caller's
    // crate (the test binary) would instantiate the whole server's future types again.
    run_boxed(state, listener, Box::pin(shutdown)).await
}

async fn run_boxed(
    state: SharedState,
    listener: std::net::TcpListener,
    shutdown: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
) -> anyhow::Result<()> {
    let tls = tls::listener_config(&state.config.tls).context("cannot set up [tls]")?;
    listener.set_nonblocking(true)?;
    let acceptor = TcpAcceptor::from_std(listener)?;
    let local = acceptor.local_addr();
    tracing::info!(addr = ?local.first(), https = tls.is_some(), "callscribe listening");
    let grace = Duration::from_secs(state.config.shutdown_grace_seconds);
    let token = state.shutdown.clone();
    let signal = Box::pin(async move {
        shutdown.await;
        tracing::info!("shutdown requested: draining");
        token.cancel();
    });
    let maintenance = state
        .config
        .export
        .scheduled
        .then(|| tokio::spawn(export::schedule::run(state.maintenance())));
    let keeper_settings = service::keeper::KeeperSettings {
        tick: Duration::from_millis(state.config.cluster.tick_ms),
        lease: Duration::from_secs(state.config.cluster.lease_seconds),
    };
    let keeper = tokio::spawn(service::keeper::run(state.calls.clone(), keeper_settings));
    let audit = audit::AuditLog::start(state.store.clone(), &state.sealer);
    // Boxed: one endpoint type for both acceptors instead of its (very long) concrete type.
    let app = api::app(state.clone(), audit.clone())
        .map_to_response()
        .boxed();
    match tls {
        Some(config) => {
            let acceptor = tls::TlsAcceptor::new(acceptor, config);
            serve(acceptor, app, signal, grace, &state).await?;
        }
        None => serve(acceptor, app, signal, grace, &state).await?,
    }
    audit.close().await;
    // Hand the calls back (another replica resumes them where their tracks were
    // committed), then deliver what was transcribed.
    let _ = keeper.await;
    state.calls.sessions().hand_back_all(grace).await;
    state.webhooks.drain(grace).await;
    if let Some(task) = maintenance {
        let _ = task.await;
    }
    state.store.clone().close().await;
    tracing::info!("callscribe stopped");
    Ok(())
}

/// The HTTP server over either acceptor. A connection that sends and receives nothing
/// for 5 s longer than the request timeout is closed, so a client that opens
/// connections and never finishes its headers cannot hold them (the per-request timeout
/// starts only once the headers are in); the margin lets a timed-out request's 503-02
/// go out first.
async fn serve<A: Acceptor + 'static>(
    acceptor: A,
    app: poem::endpoint::BoxEndpoint<'static>,
    signal: std::pin::Pin<Box<dyn Future<Output = ()> + Send>>,
    grace: Duration,
    state: &SharedState,
) -> std::io::Result<()> {
    let idle = Duration::from_millis(state.config.request_timeout_ms.saturating_add(5000));
    Server::new_with_acceptor(acceptor)
        .idle_timeout(idle)
        .run_with_graceful_shutdown(app, signal, Some(grace))
        .await
}

/// Resolves on ctrl-c or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
