//! What every request handler and worker shares: one `Arc<AppState>` per running app.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::api::rate_limit::RateLimiters;
use crate::config::Config;
use crate::export::job::Exporter;
use crate::export::link::LinkSigner;
use crate::export::storage::LocalDir;
use crate::kvs::client::SdkConfigs;
use crate::metrics::Metrics;
use crate::secrets::Sealer;
use crate::service::session::SessionDeps;
use crate::service::sessions::Sessions;
use crate::service::transcriber::Transcribing;
use crate::service::transcript_cache::TranscriptCache;
use crate::store::Store;
use crate::store::leases::LeaseHolder;
use crate::transcribe::pool::EnginePool;
use crate::webhook::publish::Publisher;
use crate::webhook::publisher::WebhookPublisher;

pub struct AppState {
    pub config: Config,
    pub store: Store,
    pub sealer: Sealer,
    pub limiters: RateLimiters,
    pub metrics: Metrics,
    /// AWS SDK configurations by KVS target, shared by every conversation.
    pub sdk_configs: SdkConfigs,
    /// The conversations being read in this process.
    pub sessions: Sessions,
    /// Rendered message lists for repeated after-call reads.
    pub transcripts: TranscriptCache,
    /// The shared transcription engine; `None` in tools that never transcribe.
    pub engine: Option<Arc<EnginePool>>,
    /// Where finished utterances go in real time: [`AppState::webhooks`], behind the
    /// seam the transcriber knows.
    pub publisher: Arc<dyn Publisher>,
    /// The webhook delivery lanes (the admin API tells them when a target changes).
    pub webhooks: Arc<WebhookPublisher>,
    /// Writes the daily feeds and reads their files back.
    pub exporter: Exporter,
    /// Signs and checks the feed files' download links.
    pub links: LinkSigner,
    /// Cancelled when shutdown begins: readiness fails and new starts are refused.
    pub shutdown: CancellationToken,
    /// This replica as the owner of conversation leases (a fresh id per process).
    pub holder: LeaseHolder,
}

pub type SharedState = Arc<AppState>;

impl AppState {
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
        let feeds = LocalDir::new(config.export_dir());
        let exporter = Exporter::new(
            store.clone(),
            Arc::new(feeds.clone()),
            feeds.staging_dir(),
            metrics.export.clone(),
        );
        AppState {
            exporter,
            links: LinkSigner::new(&sealer),
            limiters: RateLimiters::new(config.rate_limit_per_second, config.rate_limit_burst),
            metrics,
            engine,
            publisher: webhooks.clone(),
            webhooks,
            sessions: Sessions::default(),
            sdk_configs: SdkConfigs::default(),
            transcripts: TranscriptCache::new(config.messages_cache_bytes),
            shutdown: CancellationToken::new(),
            holder: LeaseHolder {
                replica_id: uuid::Uuid::now_v7().to_string(),
                ttl: chrono::Duration::seconds(
                    i64::try_from(config.cluster.lease_seconds).unwrap_or(10),
                ),
            },
            config,
            store,
            sealer,
        }
    }

    /// What a new conversation's session needs.
    pub fn session_deps(&self) -> SessionDeps {
        SessionDeps {
            store: self.store.clone(),
            transcribing: self.engine.as_ref().map(|engine| Transcribing {
                store: self.store.clone(),
                engine: engine.clone(),
                publisher: self.publisher.clone(),
                metrics: self.metrics.engine.clone(),
            }),
            endpointing: self.config.endpointing.clone(),
        }
    }

    /// Conversations this replica transcribes at once.
    pub fn max_conversations(&self) -> usize {
        self.config.cluster.conversation_limit()
    }

    pub fn is_draining(&self) -> bool {
        self.shutdown.is_cancelled()
    }
}
