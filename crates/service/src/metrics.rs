//! Prometheus metrics. One registry per running app (so tests can run several apps in
//! one process); modules record through the typed handles here.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts,
    Registry, TextEncoder,
};

/// The service's metric handles.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub http_requests: IntCounterVec,
    pub http_duration: HistogramVec,
    pub engine: EngineMetrics,
    pub webhook: WebhookMetrics,
    pub export: ExportMetrics,
    pub sessions: SessionMetrics,
}

/// The conversations this replica reads: how many, how their KVS reading recovers and
/// how their participants' streams end.
#[derive(Clone)]
pub struct SessionMetrics {
    /// Conversations this replica is transcribing right now (a session counts from its
    /// start or takeover until it ends in any way: stop, end of stream, hand back at
    /// shutdown, lost lease, failure).
    pub active: IntGauge,
    /// Times a KVS reader opened GetMedia again after an error or a closed stream.
    pub kvs_reconnects: IntCounter,
    /// Participant streams' ends by status ([`crate::status::StreamCode::label`]).
    pub stream_ends: IntCounterVec,
}

impl SessionMetrics {
    fn new() -> SessionMetrics {
        SessionMetrics {
            active: IntGauge::new(
                "active_conversations",
                "Conversations this replica is transcribing right now.",
            )
            .expect("valid metric"),
            kvs_reconnects: IntCounter::new(
                "kvs_reconnects_total",
                "Times the KVS reader reconnected to GetMedia after an error or a closed stream.",
            )
            .expect("valid metric"),
            stream_ends: IntCounterVec::new(
                Opts::new(
                    "stream_ends_total",
                    "Participant streams ended on this replica, by end status: ok (1000, \
                     stopped or ended normally), ended_by_source (1008), track_not_found \
                     (4040), stream_not_found (4041), access_denied (4043), internal \
                     (5000), engine_unavailable (5001), kvs_unavailable (5002).",
                ),
                &["status"],
            )
            .expect("valid metric"),
        }
    }

    fn register(&self, registry: &Registry) {
        for metric in [
            Box::new(self.active.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(self.kvs_reconnects.clone()),
            Box::new(self.stream_ends.clone()),
        ] {
            registry.register(metric).expect("unique metric");
        }
    }
}

/// Decrements [`SessionMetrics::active`] when dropped: held by a session's task, so
/// every way the task ends (including a panic or an abort) counts.
pub struct ActiveConversation(IntGauge);

impl ActiveConversation {
    pub fn new(gauge: &IntGauge) -> ActiveConversation {
        gauge.inc();
        ActiveConversation(gauge.clone())
    }
}

impl Drop for ActiveConversation {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// The File Exporter and the retention purge.
#[derive(Clone)]
pub struct ExportMetrics {
    /// Export runs by outcome: `complete`, `failed`.
    pub runs: IntCounterVec,
    /// Utterances written to feed files.
    pub rows: IntCounter,
    /// Rows purged by retention, by table: `messages`, `deliveries`, `conversations`,
    /// `feed_days`.
    pub purged: IntCounterVec,
}

impl ExportMetrics {
    fn new() -> ExportMetrics {
        ExportMetrics {
            runs: IntCounterVec::new(
                Opts::new("export_runs_total", "Feed export runs by outcome."),
                &["outcome"],
            )
            .expect("valid metric"),
            rows: IntCounter::new("export_rows_total", "Utterances written to feed files.")
                .expect("valid metric"),
            purged: IntCounterVec::new(
                Opts::new(
                    "retention_purged_total",
                    "Rows (or feed days) purged by retention.",
                ),
                &["what"],
            )
            .expect("valid metric"),
        }
    }

    fn register(&self, registry: &Registry) {
        for metric in [
            Box::new(self.runs.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(self.rows.clone()),
            Box::new(self.purged.clone()),
        ] {
            registry.register(metric).expect("unique metric");
        }
    }
}

/// Webhook delivery: outcomes, latency of delivered POSTs, and the lanes' backlog.
#[derive(Clone)]
pub struct WebhookMetrics {
    /// Deliveries by outcome: `delivered`, `failed`, `timeout`, `dropped`.
    pub outcomes: IntCounterVec,
    pub latency_seconds: Histogram,
    /// From the end of an utterance's speech (when the audio block holding its last
    /// voiced frame arrived from KVS) to the moment its webhook POST is sent. Only
    /// messages sent to a tenant's target are observed.
    pub end_to_end_seconds: Histogram,
    pub queue_depth: IntGauge,
    /// Delivery-log entries lost because the database fell far behind.
    pub log_overflow: IntCounter,
}

impl WebhookMetrics {
    fn new() -> WebhookMetrics {
        WebhookMetrics {
            outcomes: IntCounterVec::new(
                Opts::new("webhook_deliveries_total", "Webhook deliveries by outcome."),
                &["outcome"],
            )
            .expect("valid metric"),
            latency_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "webhook_delivery_seconds",
                    "Time from sending a webhook POST to its 2xx answer.",
                )
                .buckets(ENGINE_BUCKETS.to_vec()),
            )
            .expect("valid metric"),
            end_to_end_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "end_to_end_latency_seconds",
                    "Time from the end of an utterance's speech (arrival of the audio block \
                     holding its last speech) to the sending of its webhook POST.",
                )
                .buckets(END_TO_END_BUCKETS.to_vec()),
            )
            .expect("valid metric"),
            queue_depth: IntGauge::new(
                "webhook_queue_depth",
                "Messages waiting in the delivery lanes.",
            )
            .expect("valid metric"),
            log_overflow: IntCounter::new(
                "webhook_log_overflow_total",
                "Delivery-log entries not written because the log writer fell behind.",
            )
            .expect("valid metric"),
        }
    }

    fn register(&self, registry: &Registry) {
        for metric in [
            Box::new(self.outcomes.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(self.latency_seconds.clone()),
            Box::new(self.end_to_end_seconds.clone()),
            Box::new(self.queue_depth.clone()),
            Box::new(self.log_overflow.clone()),
        ] {
            registry.register(metric).expect("unique metric");
        }
    }
}

const END_TO_END_BUCKETS: &[f64] = &[0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0];

/// The transcription engine's load: how many utterances wait, how long they wait and
/// how long a decode takes.
#[derive(Clone)]
pub struct EngineMetrics {
    pub queue_depth: IntGauge,
    pub wait_seconds: Histogram,
    pub decode_seconds: Histogram,
    /// Utterances by outcome: `message`, `not_speech`, `failed`, `unconfirmed`.
    pub utterances: IntCounterVec,
    /// Utterances the fallback engine decoded again.
    pub fallbacks: IntCounter,
    /// Decodes by engine (`engine.model`'s names).
    pub decodes: IntCounterVec,
    /// How long a decoded utterance waited for the tags confirming that its audio is
    /// the contact's (only utterances that had to wait).
    pub confirmation_wait_seconds: Histogram,
    /// Speculative decodes (utterances in progress) by urgency (`tentative`, `partial`)
    /// and outcome (`decoded`, `dropped` under load).
    pub speculations: IntCounterVec,
    /// Complete utterances by where their transcript came from: `tentative` (decoded at
    /// the first pause, before the endpoint) or `endpoint` (decoded after it).
    pub finals: IntCounterVec,
    /// How long messages were held because their utterance ended inside a number to
    /// redact (until the speaker's next utterance, at most [`crate::redact::HOLD_FOR`]).
    pub redaction_hold_seconds: Histogram,
}

const ENGINE_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0,
];

impl EngineMetrics {
    fn new() -> EngineMetrics {
        let histogram = |name: &str, help: &str| {
            Histogram::with_opts(HistogramOpts::new(name, help).buckets(ENGINE_BUCKETS.to_vec()))
                .expect("valid metric")
        };
        EngineMetrics {
            queue_depth: IntGauge::new(
                "engine_queue_depth",
                "Utterances waiting for a decode thread.",
            )
            .expect("valid metric"),
            wait_seconds: histogram(
                "engine_wait_seconds",
                "Time a complete utterance waits for a decode thread.",
            ),
            decode_seconds: histogram("engine_decode_seconds", "Decode time per utterance."),
            utterances: IntCounterVec::new(
                Opts::new("utterances_total", "Utterances by outcome."),
                &["outcome"],
            )
            .expect("valid metric"),
            fallbacks: IntCounter::new(
                "engine_fallbacks_total",
                "Utterances decoded again by the fallback engine.",
            )
            .expect("valid metric"),
            decodes: IntCounterVec::new(
                Opts::new("engine_decodes_total", "Decodes by speech engine."),
                &["model"],
            )
            .expect("valid metric"),
            confirmation_wait_seconds: histogram(
                "confirmation_wait_seconds",
                "Time a decoded utterance waited for its fragment's ContactId tag.",
            ),
            speculations: IntCounterVec::new(
                Opts::new(
                    "engine_speculations_total",
                    "Speculative decodes of utterances in progress by urgency and outcome.",
                ),
                &["urgency", "outcome"],
            )
            .expect("valid metric"),
            finals: IntCounterVec::new(
                Opts::new(
                    "engine_finals_total",
                    "Complete utterances by where their transcript came from.",
                ),
                &["source"],
            )
            .expect("valid metric"),
            redaction_hold_seconds: histogram(
                "redaction_hold_seconds",
                "Time a message was held because its utterance ended inside a number to redact.",
            ),
        }
    }

    fn register(&self, registry: &Registry) {
        for metric in [
            Box::new(self.queue_depth.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(self.wait_seconds.clone()),
            Box::new(self.decode_seconds.clone()),
            Box::new(self.utterances.clone()),
            Box::new(self.fallbacks.clone()),
            Box::new(self.decodes.clone()),
            Box::new(self.confirmation_wait_seconds.clone()),
            Box::new(self.speculations.clone()),
            Box::new(self.finals.clone()),
            Box::new(self.redaction_hold_seconds.clone()),
        ] {
            registry.register(metric).expect("unique metric");
        }
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("callscribe".into()), None).unwrap_or_default();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by operation, method and status.",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "http_request_duration_seconds",
                "HTTP request latency by operation and status.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
            ]),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(http_requests.clone()))
            .expect("unique metric");
        registry
            .register(Box::new(http_duration.clone()))
            .expect("unique metric");
        let engine = EngineMetrics::new();
        engine.register(&registry);
        let webhook = WebhookMetrics::new();
        webhook.register(&registry);
        let export = ExportMetrics::new();
        export.register(&registry);
        let sessions = SessionMetrics::new();
        sessions.register(&registry);
        Metrics {
            registry,
            http_requests,
            http_duration,
            engine,
            webhook,
            export,
            sessions,
        }
    }

    /// Records one finished request.
    pub fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let status = status.to_string();
        let labels = [route, method, status.as_str()];
        self.http_requests.with_label_values(&labels).inc();
        self.http_duration
            .with_label_values(&labels)
            .observe(seconds);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
