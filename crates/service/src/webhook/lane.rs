//! One tenant's delivery lane: a bounded queue in transcription order and the task that
//! posts from it. Messages of one conversation go one at a time, in order; different
//! conversations go in parallel up to the configured concurrency, so one long call or
//! a slow answer does not hold up the others. When the queue is full the oldest
//! pending message is dropped. There are no retries.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::body;
use super::connection::{Connection, RequestAuth};
use super::guard::AddressPolicy;
use crate::config::WebhookConfig;
use crate::ids::{ConversationId, TenantId};
use crate::metrics::WebhookMetrics;
use crate::secrets::Sealer;
use crate::store::Store;
use crate::store::deliveries::DeliveryFailure;
use crate::webhook::publish::Published;

/// How deep [`Lane::next`] looks for a message it may send now.
const SCAN_LIMIT: usize = 256;

/// What every lane shares.
pub struct LaneDeps {
    pub store: Store,
    pub sealer: Sealer,
    pub settings: WebhookConfig,
    /// Which addresses targets may reach (the SSRF guard).
    pub policy: AddressPolicy,
    pub metrics: WebhookMetrics,
    pub failures: mpsc::Sender<DeliveryFailure>,
    /// Cancelled once the publisher has drained at shutdown.
    pub closed: CancellationToken,
}

pub struct Lane {
    tenant: TenantId,
    queue: Mutex<VecDeque<Arc<Published>>>,
    /// Messages taken from the queue and not yet answered.
    in_flight: std::sync::atomic::AtomicUsize,
    wake: Notify,
    /// Set when the admin API changed the target: reload before the next message.
    stale: AtomicBool,
    deps: Arc<LaneDeps>,
}

impl Lane {
    /// Creates the lane and starts its task.
    pub fn start(tenant: TenantId, deps: Arc<LaneDeps>) -> Arc<Lane> {
        let lane = Arc::new(Lane {
            tenant,
            queue: Mutex::new(VecDeque::new()),
            in_flight: Default::default(),
            wake: Notify::new(),
            stale: AtomicBool::new(false),
            deps,
        });
        tokio::spawn(lane.clone().run());
        lane
    }

    /// Queues a message; never waits. A full queue drops its oldest message.
    pub fn push(&self, message: Arc<Published>) {
        let dropped = {
            let mut queue = self.lock();
            let dropped = (queue.len() >= self.deps.settings.queue.max(1))
                .then(|| queue.pop_front())
                .flatten();
            queue.push_back(message);
            dropped
        };
        match dropped {
            Some(old) => self.report(&old, "dropped", None, Some("queue full".into()), None),
            None => self.deps.metrics.queue_depth.inc(),
        }
        self.wake.notify_one();
    }

    /// The stored target changed: use the new settings from the next message on.
    pub fn target_changed(&self) {
        self.stale.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// Messages queued or being posted.
    pub fn pending(&self) -> usize {
        self.lock().len() + self.in_flight.load(Ordering::Acquire)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Arc<Published>>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The oldest message whose conversation has nothing in flight, among the oldest
    /// [`SCAN_LIMIT`] (a deep backlog of one busy conversation would otherwise be scanned
    /// again after every answer).
    fn next(&self, busy: &HashSet<ConversationId>) -> Option<Arc<Published>> {
        let mut queue = self.lock();
        let at = queue
            .iter()
            .take(SCAN_LIMIT)
            .position(|m| !busy.contains(&m.message.conversation_id))?;
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.deps.metrics.queue_depth.dec();
        queue.remove(at)
    }

    async fn run(self: Arc<Lane>) {
        let mut target = self.load().await;
        let mut loaded_at = Instant::now();
        let mut busy: HashSet<ConversationId> = HashSet::new();
        let mut posts: JoinSet<ConversationId> = JoinSet::new();
        let reload_after = Duration::from_secs(self.deps.settings.reload_seconds);
        loop {
            if self.stale.swap(false, Ordering::AcqRel) || loaded_at.elapsed() > reload_after {
                target = self.load().await;
                loaded_at = Instant::now();
            }
            while posts.len() < self.deps.settings.concurrency.max(1) {
                let Some(message) = self.next(&busy) else {
                    break;
                };
                match &target {
                    Target::Ready(connection) => {
                        busy.insert(message.message.conversation_id.clone());
                        posts.spawn(self.clone().post(connection.clone(), message));
                    }
                    Target::None => self.finish(),
                    Target::Unusable(error) => {
                        self.finish();
                        self.report(&message, "failed", None, Some(error.clone()), None);
                    }
                }
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                Some(done) = posts.join_next() => {
                    if let Ok(conversation) = done {
                        busy.remove(&conversation);
                    }
                }
                _ = tokio::time::sleep(reload_after) => {}
                _ = self.deps.closed.cancelled() => return,
            }
        }
    }

    async fn load(&self) -> Target {
        match self.deps.store.webhook(&self.tenant).await {
            Ok(None) => Target::None,
            Ok(Some(stored)) => {
                match Connection::from_stored(&stored, &self.deps.sealer, &self.deps.policy) {
                    Ok(c) => Target::Ready(Arc::new(c)),
                    Err(e) => Target::Unusable(e.to_string()),
                }
            }
            Err(e) => Target::Unusable(format!("cannot read the webhook target: {e}")),
        }
    }

    /// Posts one message and records how it went.
    async fn post(
        self: Arc<Lane>,
        connection: Arc<Connection>,
        message: Arc<Published>,
    ) -> ConversationId {
        let started = Instant::now();
        let outcome = match connection
            .request(&message.message.id.0, body::render(&message))
            .await
        {
            Err(error) => Err(("failed", None, error)),
            Ok(request) => match self.send(&connection, request, &message).await {
                Ok(response) if response.status().is_success() => Ok(()),
                Ok(response) => {
                    let status = response.status();
                    if status == reqwest::StatusCode::UNAUTHORIZED
                        && let RequestAuth::Bearer(source) = &connection.auth
                    {
                        source.invalidate().await;
                    }
                    let reason = status.canonical_reason().unwrap_or("error");
                    Err((
                        "failed",
                        Some(status.as_u16()),
                        format!("HTTP {} {reason}", status.as_u16()),
                    ))
                }
                Err(e) if e.is_timeout() => Err((
                    "timeout",
                    None,
                    format!("no answer within {} ms", connection.timeout.as_millis()),
                )),
                // Without the URL: in `secret` mode its query may hold the secret.
                Err(e) => Err(("failed", None, super::error_chain(&e.without_url()))),
            },
        };
        let latency = started.elapsed();
        self.finish();
        match outcome {
            Ok(()) => {
                self.deps
                    .metrics
                    .outcomes
                    .with_label_values(&["delivered"])
                    .inc();
                self.deps
                    .metrics
                    .latency_seconds
                    .observe(latency.as_secs_f64());
            }
            Err((kind, status, error)) => {
                self.report(&message, kind, status, Some(error), Some(latency))
            }
        }
        message.message.conversation_id.clone()
    }

    /// Sends the POST, observing the end-to-end latency of its utterance as it goes.
    async fn send(
        &self,
        connection: &Connection,
        request: reqwest::Request,
        message: &Published,
    ) -> reqwest::Result<reqwest::Response> {
        if let Some(ended) = message.speech_ended_at {
            self.deps
                .metrics
                .end_to_end_seconds
                .observe(ended.elapsed().as_secs_f64());
        }
        connection.http.execute(request).await
    }

    fn finish(&self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// Counts a failure and hands it to the delivery log (dropping the log entry, never
    /// waiting, if the log writer is far behind).
    fn report(
        &self,
        message: &Published,
        outcome: &'static str,
        http_status: Option<u16>,
        error: Option<String>,
        latency: Option<Duration>,
    ) {
        self.deps
            .metrics
            .outcomes
            .with_label_values(&[outcome])
            .inc();
        tracing::warn!(
            tenant = %self.tenant.0, message = %message.message.id.0, outcome,
            status = ?http_status, error = error.as_deref().unwrap_or(""),
            "webhook delivery failed"
        );
        let failure = DeliveryFailure {
            tenant_id: self.tenant.clone(),
            message_id: message.message.id.clone(),
            at: chrono::Utc::now(),
            outcome,
            http_status,
            error,
            latency_ms: latency.map(|l| l.as_millis() as i64),
        };
        if self.deps.failures.try_send(failure).is_err() {
            self.deps.metrics.log_overflow.inc();
        }
    }
}

enum Target {
    /// The tenant has no webhook: messages are only stored and exported.
    None,
    Ready(Arc<Connection>),
    Unusable(String),
}
