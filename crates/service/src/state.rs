//! What the HTTP layer shares: one `Arc<AppState>` per running app. The services are built
//! here, once, each with the narrow dependencies it needs; the handlers reach them through
//! this state, and the background loops get their own handles ([`AppState::maintenance`],
//! the [`Calls`] service for the lease keeper).

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::api::rate_limit::{RateLimiters, StreamPermits};
use crate::config::Config;
use crate::export::job::Exporter;
use crate::export::link::LinkSigner;
use crate::export::schedule::Maintenance;
use crate::export::storage::LocalDir;
use crate::metrics::Metrics;
use crate::secrets::Sealer;
use crate::service::calls::Calls;
use crate::service::session::SessionDeps;
use crate::service::transcriber::Transcribing;
use crate::service::transcript_cache::TranscriptCache;
use crate::service::webhook_targets::WebhookTargets;
use crate::store::Store;
use crate::store::leases::LeaseHolder;
use crate::transcribe::pool::EnginePool;
use crate::webhook::guard::AddressPolicy;
use crate::webhook::publish::Publisher;
use crate::webhook::publisher::WebhookPublisher;

pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub sealer: Sealer,
    pub limiters: RateLimiters,
    /// The live streams each key holds open.
    pub live_streams: Arc<StreamPermits>,
    pub metrics: Metrics,
    /// Start, stop and resume calls on this replica.
    pub calls: Arc<Calls>,
    /// Rendered message lists for repeated after-call reads.
    pub transcripts: Arc<TranscriptCache>,
    /// Where finished utterances go in real time: [`AppState::webhooks`], behind the
    /// seam the transcriber knows (tests and the demo subscribe to it).
    pub publisher: Arc<dyn Publisher>,
    /// The webhook delivery lanes (the admin API tells them when a target changes).
    pub webhooks: Arc<WebhookPublisher>,
    /// The tenants' webhook targets and their rules.
    pub webhook_targets: WebhookTargets,
    /// Writes the daily feeds and reads their files back.
    pub exporter: Exporter,
    /// Signs and checks the feed files' download links.
    pub links: LinkSigner,
    /// The decode threads; `None` in tools that never transcribe.
    pub engine: Option<Arc<EnginePool>>,
    /// Cancelled when shutdown begins: readiness fails and new starts are refused.
    pub shutdown: CancellationToken,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    /// Builds the services; `engine` is `None` in tools that never transcribe (audio is
    /// then measured only).
    pub fn new(
        config: Config,
        store: Store,
        sealer: Sealer,
        metrics: Metrics,
        engine: Option<Arc<EnginePool>>,
    ) -> AppState {
        let webhooks = Arc::new(WebhookPublisher::start(
            store.clone(),
            sealer.clone(),
            config.webhook.clone(),
            metrics.webhook.clone(),
        ));
        let publisher: Arc<dyn Publisher> = webhooks.clone();
        let feeds = LocalDir::new(config.export_dir());
        let exporter = Exporter::new(
            store.clone(),
            Arc::new(feeds.clone()),
            feeds.staging_dir(),
            metrics.export.clone(),
        );
        let shutdown = CancellationToken::new();
        let session_deps = SessionDeps {
            store: store.clone(),
            transcribing: engine.clone().map(|engine| Transcribing {
                store: store.clone(),
                engine,
                publisher: publisher.clone(),
                metrics: metrics.engine.clone(),
            }),
            endpointing: config.endpointing.clone(),
            metrics: metrics.sessions.clone(),
        };
        let holder = LeaseHolder {
            replica_id: uuid::Uuid::now_v7().to_string(),
            ttl: chrono::Duration::seconds(
                i64::try_from(config.cluster.lease_seconds).unwrap_or(10),
            ),
        };
        let calls = Arc::new(Calls::new(
            store.clone(),
            session_deps,
            holder,
            config.cluster.conversation_limit(config.engine.model),
            shutdown.clone(),
        ));
        let webhook_targets = WebhookTargets::new(
            store.clone(),
            sealer.clone(),
            AddressPolicy::from_config(&config.webhook),
            webhooks.clone(),
        );
        AppState {
            engine,
            webhook_targets,
            exporter,
            links: LinkSigner::new(&sealer),
            limiters: RateLimiters::new(config.rate_limit_per_second, config.rate_limit_burst),
            live_streams: Arc::default(),
            metrics,
            calls,
            publisher,
            webhooks,
            transcripts: Arc::new(TranscriptCache::new(config.messages_cache_bytes)),
            shutdown,
            config,
            store,
            sealer,
        }
    }

    /// The daily export and retention purge's handle.
    pub fn maintenance(&self) -> Maintenance {
        Maintenance {
            store: self.store.clone(),
            exporter: self.exporter.clone(),
            transcripts: self.transcripts.clone(),
            metrics: self.metrics.export.clone(),
            export: self.config.export.clone(),
            retention: self.config.retention.clone(),
            shutdown: self.shutdown.clone(),
        }
    }

    pub fn is_draining(&self) -> bool {
        self.shutdown.is_cancelled()
    }
}
