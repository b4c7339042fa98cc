//! Typed configuration: built-in defaults, then `callscribe.toml`, then `CALLSCRIBE_*`
//! environment variables (highest precedence). Secrets are wrapped in [`Secret`] so a
//! `{:?}` of the config never prints them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use crate::audio::endpoint::EndpointSettings;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Whisper base's file in the models directory (what `callscribe fetch-model` writes).
pub const WHISPER_BASE_FILE: &str = "ggml-base-q8_0.bin";

/// A value that must never appear in logs or debug output.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    pub fn new(value: T) -> Self {
        Secret(value)
    }

    /// The secret itself; call only where it is used, never to log.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> std::fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

/// Everything `callscribe serve` can be told. Field names are the TOML keys; the
/// environment variable is `CALLSCRIBE_` + the name in upper case, with `__` between a
/// section and its key (`CALLSCRIBE_ENGINE__WORKERS=2`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    /// Address the API listens on.
    pub listen: SocketAddr,
    /// SQLite database, exports and model cache live here.
    pub data_dir: PathBuf,
    /// `sqlite://...` or `postgres://...`; default: SQLite file in `data_dir`.
    pub database_url: Option<Secret<String>>,
    /// Bearer token for `/admin/v1`; the admin API is disabled when unset.
    pub admin_token: Option<Secret<String>>,
    /// Whisper model file (ggml); default: the fetched model in `data_dir/models`.
    pub model: Option<PathBuf>,
    /// sha256 the model must have; the default model is always checked.
    pub model_sha256: Option<String>,
    /// The shared transcription engine (`[engine]`).
    pub engine: EngineConfig,
    /// How audio is cut into utterances (`[endpointing]`).
    pub endpointing: EndpointSettings,
    /// Real-time webhook delivery (`[webhook]`).
    pub webhook: WebhookConfig,
    /// The File Exporter's daily feeds (`[export]`).
    pub export: ExportConfig,
    /// How long stored data is kept (`[retention]`).
    pub retention: RetentionConfig,
    /// Replicas sharing one PostgreSQL (`[cluster]`).
    pub cluster: ClusterConfig,
    /// 32-byte key (64 hex chars) that encrypts stored webhook secrets; default: a key
    /// generated once into `data_dir/secret.key`.
    pub secret_key: Option<Secret<String>>,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// tracing filter, e.g. `info` or `callscribe=debug,info`.
    pub log_level: String,
    /// Largest accepted request body.
    pub body_limit_bytes: usize,
    /// A request taking longer than this is answered 503-02.
    pub request_timeout_ms: u64,
    /// Default per-key rate limit for apps that set none.
    pub rate_limit_per_second: u32,
    /// Default burst for apps that set none.
    pub rate_limit_burst: u32,
    /// How long shutdown waits for running work before giving up.
    pub shutdown_grace_seconds: u64,
    /// Memory for rendered message lists of repeated after-call reads (0 disables).
    pub messages_cache_bytes: usize,
    /// HTTPS for the service's own listener (`[tls]`); plain HTTP when unset.
    pub tls: TlsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            admin_token: None,
            model: None,
            model_sha256: None,
            engine: EngineConfig::default(),
            endpointing: EndpointSettings::default(),
            webhook: WebhookConfig::default(),
            export: ExportConfig::default(),
            retention: RetentionConfig::default(),
            cluster: ClusterConfig::default(),
            secret_key: None,
            log_format: LogFormat::Text,
            log_level: "info".into(),
            body_limit_bytes: 64 * 1024,
            request_timeout_ms: 10_000,
            rate_limit_per_second: 50,
            rate_limit_burst: 100,
            shutdown_grace_seconds: 10,
            messages_cache_bytes: 64 * 1024 * 1024,
            tls: TlsConfig::default(),
        }
    }
}

/// The speech models callscribe can transcribe with (`engine.model`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EngineModel {
    /// Whisper tiny.en through whisper.cpp: the `model` file (ggml).
    WhisperTinyEn,
    /// Moonshine base-en on ONNX Runtime (`data_dir/models/moonshine-base-en`), with
    /// Whisper tiny.en (the `model` file) decoding again what it fails on.
    #[default]
    MoonshineBaseEn,
    /// Whisper base (multilingual) through whisper.cpp (`whisper_base_model`, fetched when
    /// first needed): more accurate than tiny.en at about twice its CPU, and the engine of
    /// every non-English conversation.
    WhisperBase,
}

impl EngineModel {
    pub const ALL: [EngineModel; 3] = [
        EngineModel::MoonshineBaseEn,
        EngineModel::WhisperTinyEn,
        EngineModel::WhisperBase,
    ];

    /// The name in settings and the admin API.
    pub fn as_str(self) -> &'static str {
        match self {
            EngineModel::WhisperTinyEn => "whisper-tiny-en",
            EngineModel::MoonshineBaseEn => "moonshine-base-en",
            EngineModel::WhisperBase => "whisper-base",
        }
    }

    pub fn parse(name: &str) -> Option<EngineModel> {
        EngineModel::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// Busy calls one CPU core carries with this engine, as `scripts/bench-capacity`
    /// measured them on a 2-core machine. Moonshine: within the streaming latency targets
    /// (last spoken word's block to webhook POST p50 ≤ 350 ms, p95 ≤ 600 ms; 20 calls
    /// 324 / 580 ms, 30 calls 332 / 627 ms). The Whisper engines: at an engine queue wait
    /// p95 under 300 ms, measured before decoding while speaking (tiny.en 10 calls at 298
    /// ms; base 6 at 8, 8 at 661).
    pub fn busy_calls_per_core(self) -> usize {
        match self {
            EngineModel::MoonshineBaseEn => 10,
            EngineModel::WhisperTinyEn => 5,
            EngineModel::WhisperBase => 3,
        }
    }
}

/// The engine, its decode threads and their queue.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// Which model transcribes.
    pub model: EngineModel,
    /// Moonshine's files; default `moonshine-base-en` beside the Whisper `model`, or in
    /// `data_dir/models`.
    pub moonshine_dir: Option<PathBuf>,
    /// Whisper base's ggml file; default `ggml-base-q8_0.bin` beside the Whisper `model`,
    /// or in `data_dir/models`.
    pub whisper_base_model: Option<PathBuf>,
    /// Decode threads; 0 = one per core.
    pub workers: usize,
    /// CPU threads inside each decode (1 is fastest in total on a busy machine).
    pub threads_per_worker: usize,
    /// Utterances that may wait for a decode thread before submitters wait too.
    pub queue: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            model: EngineModel::default(),
            moonshine_dir: None,
            whisper_base_model: None,
            workers: 0,
            threads_per_worker: 1,
            queue: 64,
        }
    }
}

/// Per-tenant delivery lanes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookConfig {
    /// Messages a tenant's lane holds; when full, the oldest is dropped.
    pub queue: usize,
    /// POSTs in flight per tenant (each conversation still gets one at a time, in order).
    pub concurrency: usize,
    /// Re-read the stored target at least this often (changes made through another
    /// replica's admin API reach this one within it).
    pub reload_seconds: u64,
    /// Let targets and token endpoints reach loopback, private, link-local and other
    /// non-public addresses: the SSRF guard off. For a trusted single-tenant setup only.
    pub allow_private_addresses: bool,
    /// Non-public networks targets may reach all the same (`["10.20.0.0/16"]`), e.g. a
    /// receiver inside the VPC.
    pub allow_cidrs: Vec<crate::cidr::Cidr>,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            queue: 1000,
            concurrency: 8,
            reload_seconds: 30,
            allow_private_addresses: false,
            allow_cidrs: Vec::new(),
        }
    }
}

/// The File Exporter's daily job and its links.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExportConfig {
    /// Run the daily export and the retention purge in this process (replicas may all
    /// run them: a day is claimed by one run at a time).
    pub scheduled: bool,
    /// UTC time of day (`HH:MM`) at which the previous day is exported.
    pub daily_at: TimeOfDay,
    /// Where feed files are written; default `data_dir/exports`.
    pub dir: Option<PathBuf>,
    /// How long a `getfeedfile` link stays valid.
    pub link_ttl_seconds: u64,
    /// Base URL of the links (`https://callscribe.example.com`), for a service behind a
    /// proxy; default `http://` + the request's `Host`.
    pub public_url: Option<String>,
}

impl Default for ExportConfig {
    fn default() -> Self {
        ExportConfig {
            scheduled: true,
            daily_at: TimeOfDay(chrono::NaiveTime::from_hms_opt(2, 0, 0).unwrap_or_default()),
            dir: None,
            link_ttl_seconds: 900,
            public_url: None,
        }
    }
}

/// A UTC time of day, written `HH:MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeOfDay(pub chrono::NaiveTime);

impl Serialize for TimeOfDay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0.format("%H:%M").to_string())
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        chrono::NaiveTime::parse_from_str(&text, "%H:%M")
            .map(TimeOfDay)
            .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a time HH:MM")))
    }
}

/// What is purged, and when. Purges run in small batches so the API keeps its database.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Messages (and the delivery log, and stopped conversations) older than this are
    /// purged, once their day has been exported.
    pub messages_days: u32,
    /// Feed files of days older than this are deleted.
    pub feed_days: u32,
    /// How often the purge runs (it also runs after each daily export).
    pub purge_interval_seconds: u64,
    /// Rows deleted per statement.
    pub batch_rows: u64,
    /// Audit records older than this are purged.
    pub audit_days: u32,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            messages_days: 7,
            feed_days: 30,
            purge_interval_seconds: 3600,
            batch_rows: 1000,
            audit_days: 90,
        }
    }
}

/// Leases on conversations: each streaming conversation is read by one replica, which
/// renews its lease; when a replica dies, another takes its conversations over.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// A lease not renewed for this long is taken over by another replica (the gap a
    /// crashed replica's calls see before they resume).
    pub lease_seconds: u64,
    /// How often leases are renewed, resume positions recorded, stops made through
    /// other replicas noticed, and expired leases claimed.
    pub tick_ms: u64,
    /// Conversations this replica transcribes at once; a start beyond it is refused
    /// (503-01) and expired leases are only claimed below it. 0 = the default engine's
    /// measured busy-call capacity per CPU core ([`EngineModel::busy_calls_per_core`]:
    /// 10 for Moonshine).
    pub max_conversations: usize,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            lease_seconds: 10,
            tick_ms: 1000,
            max_conversations: 0,
        }
    }
}

impl ClusterConfig {
    /// The configured limit, or `engine`'s busy-call capacity per core.
    pub fn conversation_limit(&self, engine: EngineModel) -> usize {
        match self.max_conversations {
            0 => {
                let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
                engine.busy_calls_per_core() * cores
            }
            n => n,
        }
    }
}

/// HTTPS on the API listener, from PEM files read at start. Set `cert_file` and
/// `key_file` to serve HTTPS only; add `client_ca_file` to require client certificates
/// signed by that CA (mutual TLS).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain (PEM), leaf first.
    pub cert_file: Option<PathBuf>,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// CA bundle (PEM) client certificates must chain to; unset: no client certificates.
    pub client_ca_file: Option<PathBuf>,
}

/// Settings taken from the environment exactly as written: figment reads a value
/// like "0123…" as a number, which loses leading zeros and digits past a u128, and
/// then refuses it as a string.
const VERBATIM: &[&str] = &["admin_token", "secret_key", "database_url"];

/// The configuration could not be read.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

impl Config {
    /// Defaults, then the TOML file (if it exists), then `CALLSCRIBE_*` variables.
    pub fn load(toml_path: Option<&Path>) -> Result<Config, ConfigError> {
        let path = toml_path
            .map(Path::to_path_buf)
            .unwrap_or_else(|| "callscribe.toml".into());
        let mut figment = Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(path))
            .merge(
                Env::prefixed("CALLSCRIBE_")
                    .ignore(&["config"])
                    .ignore(VERBATIM)
                    .split("__"),
            );
        for key in VERBATIM {
            if let Ok(value) = std::env::var(format!("CALLSCRIBE_{}", key.to_uppercase())) {
                figment = figment.merge(Serialized::default(key, value));
            }
        }
        figment.extract().map_err(|e| ConfigError(Box::new(e)))
    }

    /// Where feed files are written.
    pub fn export_dir(&self) -> PathBuf {
        self.export
            .dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("exports"))
    }

    /// Where Moonshine's files are: `engine.moonshine_dir`; else `moonshine-base-en` in the
    /// models directory, the configured Whisper `model`'s (the fetch puts both models in one
    /// directory) or `data_dir/models`.
    pub fn moonshine_dir(&self) -> PathBuf {
        match &self.engine.moonshine_dir {
            Some(dir) => dir.clone(),
            None => self.models_dir().join("moonshine-base-en"),
        }
    }

    /// Where Whisper base's file is: `engine.whisper_base_model`, else in the models
    /// directory (as for [`Config::moonshine_dir`]).
    pub fn whisper_base_model(&self) -> PathBuf {
        match &self.engine.whisper_base_model {
            Some(path) => path.clone(),
            None => self.models_dir().join(WHISPER_BASE_FILE),
        }
    }

    /// The directory `callscribe fetch-model` fills: the configured Whisper `model`'s, or
    /// `data_dir/models`.
    pub fn models_dir(&self) -> PathBuf {
        match self.model.as_deref().and_then(Path::parent) {
            Some(dir) => dir.to_path_buf(),
            None => self.data_dir.join("models"),
        }
    }

    /// The database URL to connect to; SQLite in the data dir when none is configured.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.expose().clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("callscribe.db").display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_conversation_limit_follows_the_engine_and_a_set_one_wins() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let auto = ClusterConfig::default();
        assert_eq!(
            auto.conversation_limit(EngineModel::MoonshineBaseEn),
            10 * cores
        );
        assert_eq!(
            auto.conversation_limit(EngineModel::WhisperTinyEn),
            5 * cores
        );
        let set = ClusterConfig {
            max_conversations: 7,
            ..ClusterConfig::default()
        };
        assert_eq!(set.conversation_limit(EngineModel::WhisperBase), 7);
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail fixes the closure's error type
    fn export_time_is_hh_mm() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("CALLSCRIBE_EXPORT__DAILY_AT", "03:30");
            let cfg = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(cfg.export.daily_at.0.to_string(), "03:30:00");
            jail.set_env("CALLSCRIBE_EXPORT__DAILY_AT", "25:00");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("not a time HH:MM"), "{err}");
            Ok(())
        });
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail fixes the closure's error type
    fn secrets_of_digits_only_are_read_as_written() {
        figment::Jail::expect_with(|jail| {
            let key = "0".repeat(8) + &"1234567890".repeat(5) + "123456";
            jail.set_env("CALLSCRIBE_SECRET_KEY", &key);
            jail.set_env("CALLSCRIBE_ADMIN_TOKEN", "000123");
            let cfg = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(
                cfg.secret_key.as_ref().map(|s| s.expose().as_str()),
                Some(key.as_str())
            );
            assert_eq!(
                cfg.admin_token.as_ref().map(|s| s.expose().as_str()),
                Some("000123")
            );
            Ok(())
        });
    }

    #[test]
    fn secrets_never_print() {
        let cfg = Config {
            admin_token: Some(Secret::new("hunter2".into())),
            database_url: Some(Secret::new("postgres://u:pw@h/db".into())),
            ..Config::default()
        };
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("pw@h"),
            "{shown}"
        );
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment::Jail fixes the closure's error type
    fn environment_overrides_file_and_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "callscribe.toml",
                "listen = \"127.0.0.1:9000\"\nlog_level = \"debug\"",
            )?;
            jail.set_env("CALLSCRIBE_LISTEN", "127.0.0.1:9100");
            jail.set_env("CALLSCRIBE_ENDPOINTING__HANGOVER_MS", "450");
            jail.set_env("CALLSCRIBE_RETENTION__FEED_DAYS", "9");
            jail.set_env(
                "CALLSCRIBE_WEBHOOK__ALLOW_CIDRS",
                "[\"10.20.0.0/16\", \"::1\"]",
            );
            let cfg = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(cfg.listen.port(), 9100);
            assert_eq!(cfg.log_level, "debug");
            assert_eq!(cfg.body_limit_bytes, 64 * 1024);
            assert_eq!(cfg.endpointing.hangover_ms, 450);
            assert_eq!(cfg.retention.feed_days, 9);
            assert_eq!(cfg.engine.queue, 64);
            assert_eq!(cfg.export.daily_at.0.to_string(), "02:00:00");
            let cidrs: Vec<String> = cfg
                .webhook
                .allow_cidrs
                .iter()
                .map(|c| c.to_string())
                .collect();
            assert_eq!(cidrs, ["10.20.0.0/16", "::1/128"]);
            assert!(!cfg.webhook.allow_private_addresses);
            Ok(())
        });
    }
}
