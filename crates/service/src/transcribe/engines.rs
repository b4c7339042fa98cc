//! The engines a replica decodes with. The default (`engine.model`) is loaded at start, so
//! a missing or broken model stops start-up; the others (Whisper base for a Spanish
//! conversation, a tenant's own choice) when first asked for, fetched first when the
//! binary gave a way to ([`FetchModel`]: the service crate does not download).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use super::fallback::FallbackEngine;
use super::language::Route;
use super::model::{ModelError, ModelSpec, WHISPER_BASE_SHA256};
use super::moonshine::MoonshineEngine;
use super::whisper::WhisperEngine;
use super::{Engine, EngineError};
use crate::config::{Config, EngineModel};

/// Brings a model's files into the configured place (`callscribe_fetch`, plugged in by
/// the binary).
pub type FetchModel =
    Arc<dyn Fn(EngineModel) -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync>;

/// Where models come from.
enum Source {
    /// The configured files, fetched when missing if `fetch` is given.
    Configured {
        config: Box<Config>,
        fetch: Option<FetchModel>,
    },
    /// One engine for every model (tests and tools that bring their own).
    Fixed,
}

/// The loaded engines by model, and how to load the rest.
pub struct Engines {
    default: EngineModel,
    loaded: RwLock<HashMap<EngineModel, Arc<dyn Engine>>>,
    source: Source,
    /// One load at a time: a second caller waits and then finds the model loaded.
    loading: tokio::sync::Mutex<()>,
    failed_fetches: FailedFetches,
}

impl Engines {
    /// The configured engines, with the default one loaded (on the blocking pool).
    pub async fn configured(
        config: &Config,
        fetch: Option<FetchModel>,
    ) -> Result<Engines, EngineError> {
        let engines = Engines {
            default: config.engine.model,
            loaded: RwLock::new(HashMap::new()),
            source: Source::Configured {
                config: Box::new(config.clone()),
                fetch,
            },
            loading: tokio::sync::Mutex::new(()),
            failed_fetches: FailedFetches::default(),
        };
        engines.load(config.engine.model, false).await?;
        Ok(engines)
    }

    /// `engine` for every model and language.
    pub fn fixed(engine: Arc<dyn Engine>) -> Engines {
        let loaded = EngineModel::ALL
            .into_iter()
            .map(|m| (m, engine.clone()))
            .collect();
        Engines {
            default: EngineModel::default(),
            loaded: RwLock::new(loaded),
            source: Source::Fixed,
            loading: tokio::sync::Mutex::new(()),
            failed_fetches: FailedFetches::default(),
        }
    }

    /// The model a route decodes with.
    pub fn model(&self, route: Route) -> EngineModel {
        route.model.unwrap_or(self.default)
    }

    pub fn default_model(&self) -> EngineModel {
        self.default
    }

    /// The engine of `model` if it is loaded.
    pub fn loaded(&self, model: EngineModel) -> Option<Arc<dyn Engine>> {
        self.loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&model)
            .cloned()
    }

    /// The engine of `model`, loading (and fetching) it first if needed.
    pub async fn ready(&self, model: EngineModel) -> Result<Arc<dyn Engine>, EngineError> {
        if let Some(engine) = self.loaded(model) {
            return Ok(engine);
        }
        self.load(model, true).await
    }

    /// What the default engine is, for logs and tools.
    pub fn describe(&self) -> String {
        self.loaded(self.default)
            .map_or_else(|| self.default.as_str().to_owned(), |e| e.describe())
    }

    async fn load(
        &self,
        model: EngineModel,
        may_fetch: bool,
    ) -> Result<Arc<dyn Engine>, EngineError> {
        let _one_at_a_time = self.loading.lock().await;
        if let Some(engine) = self.loaded(model) {
            return Ok(engine);
        }
        let Source::Configured { config, fetch } = &self.source else {
            return Err(EngineError::Model(format!(
                "{} is not loaded",
                model.as_str()
            )));
        };
        let fetch = fetch.as_ref().filter(|_| may_fetch);
        if let (Some(fetch), Err(missing)) = (fetch, files(config, model)) {
            if let Some(earlier) = self.failed_fetches.recent(model, Instant::now()) {
                return Err(EngineError::Model(earlier));
            }
            tracing::info!(model = model.as_str(), reason = %missing, "fetching a speech model");
            if let Err(e) = fetch(model).await {
                let error = format!("cannot fetch {}: {e:#}", model.as_str());
                self.failed_fetches.record(model, Instant::now(), &error);
                return Err(EngineError::Model(error));
            }
        }
        let tiny = self.loaded(EngineModel::WhisperTinyEn);
        let config = config.clone();
        let made = tokio::task::spawn_blocking(move || load(&config, model, tiny))
            .await
            .map_err(|e| EngineError::Model(format!("loading {} failed: {e}", model.as_str())))??;
        let mut loaded = self.loaded.write().unwrap_or_else(|e| e.into_inner());
        for (model, engine) in made {
            tracing::info!(
                model = model.as_str(),
                engine = engine.describe(),
                "speech model loaded"
            );
            loaded.entry(model).or_insert(engine);
        }
        loaded
            .get(&model)
            .cloned()
            .ok_or_else(|| EngineError::Model(format!("{} did not load", model.as_str())))
    }
}

/// How long after a failed fetch the model is not fetched again: an offline replica would
/// otherwise start a download for every utterance of a conversation that needs it.
const FETCH_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The last failed fetch of each model.
#[derive(Default)]
struct FailedFetches(Mutex<HashMap<EngineModel, (Instant, String)>>);

impl FailedFetches {
    /// The error of a fetch of `model` that failed less than [`FETCH_RETRY_AFTER`] ago.
    fn recent(&self, model: EngineModel, now: Instant) -> Option<String> {
        let failed = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (at, error) = failed.get(&model)?;
        let since = now.saturating_duration_since(*at);
        let wait = FETCH_RETRY_AFTER
            .checked_sub(since)
            .filter(|w| !w.is_zero())?;
        Some(format!(
            "{error} (tried again in {} s)",
            wait.as_secs().max(1)
        ))
    }

    fn record(&self, model: EngineModel, at: Instant, error: &str) {
        let mut failed = self.0.lock().unwrap_or_else(|e| e.into_inner());
        failed.insert(model, (at, error.to_owned()));
    }
}

/// Checks the model's files are in place (what a fetch would fix).
fn files(config: &Config, model: EngineModel) -> Result<(), ModelError> {
    match model {
        EngineModel::WhisperTinyEn => whisper_tiny_spec(config).verify(),
        EngineModel::WhisperBase => whisper_base_spec(config).verify(),
        EngineModel::MoonshineBaseEn => MoonshineEngine::verify(&config.moonshine_dir())
            .and_then(|()| whisper_tiny_spec(config).verify()),
    }
}

/// An engine and the model it is.
type Loaded = (EngineModel, Arc<dyn Engine>);

/// Loads `model` from the configured files, with what it loaded on the way: Moonshine
/// comes with Whisper tiny.en (`tiny` if already loaded) decoding again what it fails on.
fn load(
    config: &Config,
    model: EngineModel,
    tiny: Option<Arc<dyn Engine>>,
) -> Result<Vec<Loaded>, EngineError> {
    let threads = config.engine.threads_per_worker;
    let whisper = |spec: ModelSpec| -> Result<Arc<dyn Engine>, EngineError> {
        Ok(Arc::new(WhisperEngine::load(&spec, threads)?))
    };
    let tiny = || match &tiny {
        Some(engine) => Ok(engine.clone()),
        None => whisper(whisper_tiny_spec(config)),
    };
    Ok(match model {
        EngineModel::WhisperTinyEn => vec![(model, tiny()?)],
        EngineModel::WhisperBase => vec![(model, whisper(whisper_base_spec(config))?)],
        EngineModel::MoonshineBaseEn => {
            let moonshine = Arc::new(MoonshineEngine::load(&config.moonshine_dir())?);
            let tiny = tiny()?;
            vec![
                (
                    model,
                    Arc::new(FallbackEngine::new(moonshine, tiny.clone())) as Arc<dyn Engine>,
                ),
                (EngineModel::WhisperTinyEn, tiny),
            ]
        }
    })
}

/// The configured Whisper `model` (tiny.en by default), checked against `model_sha256`.
pub fn whisper_tiny_spec(config: &Config) -> ModelSpec {
    ModelSpec::resolve(
        &config.data_dir,
        config.model.as_deref(),
        config.model_sha256.as_deref(),
    )
}

/// Whisper base: the fetched file is checked against its pin; an operator's own file
/// (`engine.whisper_base_model`) is not.
pub fn whisper_base_spec(config: &Config) -> ModelSpec {
    ModelSpec {
        path: config.whisper_base_model(),
        sha256: config
            .engine
            .whisper_base_model
            .is_none()
            .then(|| WHISPER_BASE_SHA256.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcribe::scripted::ScriptedEngine;

    #[tokio::test]
    async fn a_fixed_engine_serves_every_route() {
        let engines = Engines::fixed(Arc::new(ScriptedEngine::new(["hola"])));
        let spanish = Route::choose(crate::transcribe::language::lookup("es-US").unwrap(), None);
        assert_eq!(engines.model(spanish), EngineModel::WhisperBase);
        assert_eq!(engines.model(Route::DEFAULT), EngineModel::MoonshineBaseEn);
        assert!(engines.ready(EngineModel::WhisperBase).await.is_ok());
    }

    #[test]
    fn a_failed_fetch_is_not_tried_again_for_a_minute() {
        let failed = FailedFetches::default();
        let at = Instant::now();
        let base = EngineModel::WhisperBase;
        assert_eq!(failed.recent(base, at), None);
        failed.record(base, at, "cannot fetch whisper-base: offline");
        let soon = failed.recent(base, at + Duration::from_secs(15)).unwrap();
        assert_eq!(
            soon,
            "cannot fetch whisper-base: offline (tried again in 45 s)"
        );
        assert_eq!(failed.recent(EngineModel::WhisperTinyEn, at), None);
        assert_eq!(failed.recent(base, at + FETCH_RETRY_AFTER), None);
    }

    #[tokio::test]
    async fn a_missing_model_without_a_fetch_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_path_buf(),
            ..Config::default()
        };
        let err = Engines::configured(&config, None)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("fetch-model"), "{err}");
    }
}
