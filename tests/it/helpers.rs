//! `spawn_app`: the real service on port 0 with a fresh database, plus small request
//! helpers so tests read as the calls a Connect Lambda or an operator would make.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use callscribe::config::{Config, Secret};
use callscribe::state::SharedState;
use callscribe::transcribe::Engine;
use callscribe::transcribe::engines::Engines;
use callscribe::transcribe::scripted::ScriptedEngine;
use callscribe_devtools::emulator::{EmulatorHandle, Faults, KvsFailure};
use reqwest::{Response, StatusCode};
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use crate::kvs_emulator::{spawn_emulator, stream};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";
pub const STREAM_ARN: &str =
    "arn:aws:kinesisvideo:us-east-1:000000000000:stream/connect-contact-1/1696422764859";
/// A stream whose GetDataEndpoint always answers NotAuthorized.
pub const DENIED_STREAM_ARN: &str = "arn:aws:kinesisvideo:us-east-1:000000000000:stream/denied/0";

/// A running app and what tests need to talk to it.
pub struct TestApp {
    pub addr: SocketAddr,
    /// The KVS emulator every tenant created by the helpers reads from.
    pub kvs: EmulatorHandle,
    pub state: SharedState,
    pub http: reqwest::Client,
    /// What the app transcribes with (kept for [`TestApp::restart`]).
    engines: Arc<Engines>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// Which database the tests run against, from `CALLSCRIBE_TEST_BACKEND`.
pub fn postgres_selected() -> bool {
    std::env::var("CALLSCRIBE_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// A new, empty PostgreSQL database on the machine's server; `scripts/test` drops them.
pub async fn fresh_postgres_url() -> String {
    let server = std::env::var("CALLSCRIBE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let name = format!("cs_test_{}", uuid::Uuid::new_v4().simple());
    let admin = Database::connect(format!("{server}/postgres"))
        .await
        .expect("connect to PostgreSQL");
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    admin.close().await.ok();
    format!("{server}/{name}")
}

/// The model `scripts/fetch-model` stores in the repository's data dir (the test
/// command runs it first).
pub fn model_path() -> PathBuf {
    let data = std::env::var("CALLSCRIBE_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data"));
    data.join("models")
        .join(callscribe::transcribe::model::DEFAULT_MODEL_FILE)
}

/// The app transcribing with a [`ScriptedEngine`]: every utterance becomes the
/// script's next line at once, so the tests of everything but recognition pay nothing
/// for a model.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// [`spawn_app`] with its config adjusted by `tweak`.
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn(Arc::new(ScriptedEngine::default()), tweak).await
}

/// The app transcribing with the real model, for the tests that check what was said.
pub async fn spawn_speech_app() -> TestApp {
    spawn_speech_app_with(|_| {}).await
}

/// [`spawn_speech_app`] with its config adjusted by `tweak`.
pub async fn spawn_speech_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn(speech_engine(), tweak).await
}

/// The app as `serve` runs it: Moonshine base-en by default (Whisper tiny.en its
/// fallback), Whisper base for Spanish and for tenants that choose it, all from the
/// models `scripts/fetch-model --whisper-base` fetches (loaded once per test process;
/// nothing is fetched here).
pub async fn spawn_moonshine_app() -> TestApp {
    static ENGINES: tokio::sync::OnceCell<Arc<Engines>> = tokio::sync::OnceCell::const_new();
    let engines = ENGINES
        .get_or_init(|| async {
            let config = Config {
                model: Some(model_path()),
                ..Config::default()
            };
            let engines = Engines::configured(&config, None)
                .await
                .expect("Moonshine and Whisper tiny.en (scripts/fetch-model)");
            Arc::new(engines)
        })
        .await
        .clone();
    spawn_with(engines, |_| {}).await
}

/// The real model, loaded (and its sha256 checked) once per test process.
pub fn speech_engine() -> Arc<dyn Engine> {
    static WHISPER: OnceLock<Arc<dyn Engine>> = OnceLock::new();
    WHISPER
        .get_or_init(|| {
            let config = Config {
                model: Some(model_path()),
                model_sha256: Some(callscribe::transcribe::model::DEFAULT_MODEL_SHA256.into()),
                ..Config::default()
            };
            let spec = callscribe::transcribe::engines::whisper_tiny_spec(&config);
            let engine = callscribe::transcribe::whisper::WhisperEngine::load(&spec, 1)
                .expect("the speech model (scripts/fetch-model)");
            Arc::new(engine)
        })
        .clone()
}

/// Starts the app with test defaults, adjusted by `tweak`, transcribing with `engine`.
async fn spawn(engine: Arc<dyn Engine>, tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_with(Arc::new(Engines::fixed(engine)), tweak).await
}

/// [`spawn`] with a set of engines.
async fn spawn_with(engines: Arc<Engines>, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        admin_token: Some(Secret::new(ADMIN_TOKEN.into())),
        secret_key: Some(Secret::new("11".repeat(32))),
        ..Config::default()
    };
    // The tests' webhook targets, sinks and token endpoints live on loopback, which the
    // SSRF guard refuses by default; tests of the guard clear this.
    config.webhook.allow_cidrs = vec![
        "127.0.0.0/8".parse().expect("cidr"),
        "::1/128".parse().expect("cidr"),
    ];
    if postgres_selected() {
        config.database_url = Some(Secret::new(fresh_postgres_url().await));
    }
    tweak(&mut config);
    let denied = Faults {
        data_endpoint_failures: vec![KvsFailure::NotAuthorized; 100],
        ..Faults::default()
    };
    let kvs = spawn_emulator(
        vec![
            stream("connect-contact-1", 120, Faults::default()),
            stream("denied", 5, denied),
        ],
        1.0,
    );
    serve(config, engines, kvs, dir).await
}

/// Runs the app on port 0 with `config`.
async fn serve(
    config: Config,
    engines: Arc<Engines>,
    kvs: EmulatorHandle,
    dir: tempfile::TempDir,
) -> TestApp {
    let state = callscribe::build_state_with_engines(config, engines.clone())
        .await
        .expect("build state");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(callscribe::run(state.clone(), listener, async {
        let _ = stopped.await;
    }));
    TestApp {
        addr,
        kvs,
        state,
        http: reqwest::Client::new(),
        engines,
        stop: Some(stop),
        server: Some(server),
        _dir: dir,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// GET `path` without credentials.
    pub async fn get(&self, path: &str) -> Response {
        self.http.get(self.url(path)).send().await.expect("request")
    }

    pub fn data_dir(&self) -> PathBuf {
        self._dir.path().to_path_buf()
    }

    /// Asks the server to shut down and waits until it has.
    pub async fn shutdown(mut self) {
        self.stop_serving().await;
    }

    async fn stop_serving(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.expect("server task").expect("server result");
        }
    }

    /// Shuts the app down gracefully and starts it again on the same database and data
    /// directory (a new process, as a restart or a replica replacing this one).
    pub async fn restart(mut self) -> TestApp {
        self.stop_serving().await;
        let TestApp {
            state,
            kvs,
            engines,
            _dir,
            ..
        } = self;
        let config = state.config.clone();
        drop(state);
        serve(config, engines, kvs, _dir).await
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Response {
        let mut req = self
            .http
            .request(method, self.url(&format!("/admin/v1{path}")))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.expect("admin request")
    }

    /// Creates a tenant through the admin API, reading KVS from the test emulator;
    /// returns its id.
    pub async fn create_tenant(&self, name: &str) -> String {
        let res = self
            .admin(
                reqwest::Method::POST,
                "/tenants",
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        let id = body(res).await["id"]
            .as_str()
            .expect("tenant id")
            .to_owned();
        self.point_tenant_at(&id, &self.kvs.url).await;
        id
    }

    /// Sets the tenant's KVS endpoint override.
    pub async fn point_tenant_at(&self, tenant: &str, endpoint_url: &str) {
        let aws = json!({"endpointUrl": endpoint_url});
        let res = self
            .admin(
                reqwest::Method::PUT,
                &format!("/tenants/{tenant}/aws"),
                Some(aws),
            )
            .await;
        assert_eq!(res.status(), StatusCode::OK);
    }

    /// Creates an API key for `app` of `tenant`; returns the full key.
    pub async fn create_key(&self, tenant: &str, app: &str) -> String {
        let res = self
            .admin(
                reqwest::Method::POST,
                &format!("/tenants/{tenant}/keys"),
                Some(json!({"app": app})),
            )
            .await;
        assert_eq!(res.status(), StatusCode::CREATED);
        body(res).await["key"].as_str().expect("key").to_owned()
    }

    /// A new tenant with one key: the usual starting point.
    pub async fn tenant_with_key(&self) -> (String, String) {
        let tenant = self.create_tenant("Acme").await;
        let key = self.create_key(&tenant, "connect-lambda").await;
        (tenant, key)
    }

    pub async fn post(&self, path: &str, key: &str, body: &Value) -> Response {
        self.http
            .post(self.url(path))
            .header("x-api-key", key)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_raw(
        &self,
        path: &str,
        key: &str,
        body: impl Into<reqwest::Body>,
    ) -> Response {
        self.http
            .post(self.url(path))
            .header("x-api-key", key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request")
    }

    pub async fn start(&self, key: &str, body: &Value) -> Response {
        self.post("/mg-autotranscribe/v1/start-streaming", key, body)
            .await
    }

    pub async fn stop(&self, key: &str, guid: &str) -> Response {
        self.post(
            "/mg-autotranscribe/v1/stop-streaming",
            key,
            &json!({"namespace": "amazonconnect", "guid": guid}),
        )
        .await
    }

    pub async fn messages(&self, key: &str, guid: &str) -> Response {
        self.http
            .get(self.url("/conversation/v1/conversation/messages"))
            .query(&[("externalId", guid)])
            .header("x-api-key", key)
            .send()
            .await
            .expect("request")
    }

    /// The conversation's stored messages, as after-call retrieval serves them.
    pub async fn message_items(&self, key: &str, guid: &str) -> Vec<Value> {
        body(self.messages(key, guid).await).await["items"]
            .as_array()
            .expect("items")
            .clone()
    }

    /// Polls the stream rows until the reader has recorded the end of every stream
    /// (a status other than 1000), or panics after `within`.
    pub async fn streams_ended(&self, within: std::time::Duration) -> Vec<entity::stream::Model> {
        use sea_orm::EntityTrait;
        let deadline = tokio::time::Instant::now() + within;
        while tokio::time::Instant::now() < deadline {
            let rows = entity::stream::Entity::find()
                .all(self.state.store.db())
                .await
                .expect("stream rows");
            if !rows.is_empty() && rows.iter().all(|r| r.status_code != 1000) {
                return rows;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the reader never reported the end of the stream within {within:?}");
    }

    /// Number of conversations stored, across all tenants.
    pub async fn conversation_count(&self) -> u64 {
        use sea_orm::{EntityTrait, PaginatorTrait};
        entity::conversation::Entity::find()
            .count(self.state.store.db())
            .await
            .expect("count")
    }
}

/// A start-streaming body exactly as the guide's Lambda sends it.
pub fn start_body(guid: &str) -> Value {
    json!({
        "namespace": "amazonconnect",
        "guid": guid,
        "customerId": "TT9833237",
        "agentId": "RE223444211993",
        "autotranscribeParams": {"language": "en-US", "detailedToken": false, "redactionOutput": "redacted"},
        "amazonConnectParams": {"streamArn": STREAM_ARN, "startSelectorType": "NOW", "afterFragmentNumber": null}
    })
}

/// The (start, end) of one participant's messages, in order.
pub fn spans(items: &[Value], role: &str) -> Vec<(i64, i64)> {
    items
        .iter()
        .filter(|m| m["sender"]["role"] == role)
        .map(|m| (m["start"].as_i64().unwrap(), m["end"].as_i64().unwrap()))
        .collect()
}

/// No two messages of a participant overlap: nothing it said was stored twice.
pub fn assert_said_once(items: &[Value], role: &str, context: &str) {
    let spans = spans(items, role);
    assert!(
        spans.windows(2).all(|w| w[0].1 <= w[1].0),
        "{context} {role}: an utterance stored twice: {spans:?}"
    );
}

pub async fn body(res: Response) -> Value {
    let text = res.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Asserts the contract's error body and returns the message.
pub async fn assert_error(res: Response, status: u16, code: &str) -> String {
    assert_eq!(res.status().as_u16(), status, "status");
    let header_id = res
        .headers()
        .get("x-request-id")
        .expect("x-request-id header")
        .to_str()
        .unwrap()
        .to_owned();
    let b = body(res).await;
    let err = &b["error"];
    assert_eq!(err["code"], code, "error code in {b}");
    assert_eq!(
        err["requestId"],
        header_id.as_str(),
        "requestId matches the header"
    );
    assert_eq!(
        b.as_object().unwrap().len(),
        1,
        "only `error` at top level: {b}"
    );
    let message = err["message"].as_str().expect("message").to_owned();
    assert!(!message.is_empty());
    message
}
