//! The service's [`Publisher`]: every message goes to local observers and to its
//! tenant's delivery lane; failures go to the delivery log through one writer task, so
//! a slow database never slows delivery and a slow target never slows transcription.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use super::guard::AddressPolicy;
use super::lane::{Lane, LaneDeps};
use crate::config::WebhookConfig;
use crate::ids::TenantId;
use crate::metrics::WebhookMetrics;
use crate::secrets::Sealer;
use crate::store::Store;
use crate::store::deliveries::DeliveryFailure;
use crate::webhook::publish::{Published, Publisher};

/// Delivery-log entries waiting for the database before new ones are only counted.
const LOG_BACKLOG: usize = 10_000;

pub struct WebhookPublisher {
    deps: Arc<LaneDeps>,
    lanes: Mutex<HashMap<TenantId, Arc<Lane>>>,
    observers: broadcast::Sender<Arc<Published>>,
}

impl WebhookPublisher {
    /// Starts the delivery-log writer; lanes start with each tenant's first message.
    pub fn start(
        store: Store,
        sealer: Sealer,
        settings: WebhookConfig,
        metrics: WebhookMetrics,
    ) -> WebhookPublisher {
        let (failures, log) = mpsc::channel(LOG_BACKLOG);
        tokio::spawn(write_delivery_log(store.clone(), log));
        WebhookPublisher {
            deps: Arc::new(LaneDeps {
                store,
                sealer,
                policy: AddressPolicy::from_config(&settings),
                settings,
                metrics,
                failures,
                closed: CancellationToken::new(),
            }),
            lanes: Mutex::default(),
            observers: broadcast::channel(1024).0,
        }
    }

    /// The tenant's target was set or removed through the admin API.
    pub fn target_changed(&self, tenant: &TenantId) {
        if let Some(lane) = self.lanes().get(tenant) {
            lane.target_changed();
        }
    }

    /// Waits until every queued message has been answered, at most `deadline`, then
    /// stops the lanes. Called once at shutdown, after the last utterances are flushed.
    pub async fn drain(&self, deadline: Duration) {
        let until = Instant::now() + deadline;
        while Instant::now() < until && self.lanes().values().any(|l| l.pending() > 0) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.deps.closed.cancel();
    }

    fn lanes(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, Arc<Lane>>> {
        self.lanes.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Publisher for WebhookPublisher {
    fn publish(&self, message: Arc<Published>) {
        // No observer is not an error.
        let _ = self.observers.send(message.clone());
        let lane = self
            .lanes()
            .entry(message.tenant_id.clone())
            .or_insert_with(|| Lane::start(message.tenant_id.clone(), self.deps.clone()))
            .clone();
        lane.push(message);
    }

    fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.observers.subscribe()
    }
}

async fn write_delivery_log(store: Store, mut log: mpsc::Receiver<DeliveryFailure>) {
    while let Some(failure) = log.recv().await {
        if let Err(e) = store.record_delivery_failure(&failure).await {
            tracing::error!(error = %e, message = %failure.message_id.0, "cannot write the delivery log");
        }
    }
}
