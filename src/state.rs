//! What every request handler and worker shares: one `Arc<AppState>` per running app.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::api::rate_limit::RateLimiters;
use crate::config::Config;
use crate::kvs::client::SdkConfigs;
use crate::metrics::Metrics;
use crate::secrets::Sealer;
use crate::service::session::Sessions;
use crate::service::transcript_cache::TranscriptCache;
use crate::store::Store;

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
    /// Cancelled when shutdown begins: readiness fails and new starts are refused.
    pub shutdown: CancellationToken,
}

pub type SharedState = Arc<AppState>;

impl AppState {
    pub fn new(config: Config, store: Store, sealer: Sealer) -> AppState {
        AppState {
            limiters: RateLimiters::new(config.rate_limit_per_second, config.rate_limit_burst),
            metrics: Metrics::new(),
            sessions: Sessions::default(),
            sdk_configs: SdkConfigs::default(),
            transcripts: TranscriptCache::new(config.messages_cache_bytes),
            shutdown: CancellationToken::new(),
            config,
            store,
            sealer,
        }
    }

    pub fn is_draining(&self) -> bool {
        self.shutdown.is_cancelled()
    }
}
