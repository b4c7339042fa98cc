//! The speech models the service fetches for itself, and `callscribe fetch-model`.

use std::path::PathBuf;
use std::sync::Arc;

use callscribe::config::{Config, EngineModel};
use callscribe::transcribe::engines::FetchModel;

/// Makes sure `model`'s files are where `config` looks for them, fetching and converting
/// what is missing; returns their paths.
pub async fn fetch(config: &Config, model: EngineModel) -> anyhow::Result<Vec<PathBuf>> {
    Ok(match model {
        EngineModel::WhisperBase => {
            if let Some(own) = &config.engine.whisper_base_model {
                anyhow::bail!("{} is the operator's own file: not fetched", own.display());
            }
            vec![callscribe_fetch::ensure_whisper_base(&config.models_dir()).await?]
        }
        EngineModel::MoonshineBaseEn => {
            let moonshine = config.moonshine_dir();
            callscribe_fetch::ensure_moonshine(&moonshine).await?;
            // Whisper tiny.en is its fallback.
            let tiny = callscribe_fetch::ensure_default_model(&config.data_dir).await?;
            vec![moonshine, tiny]
        }
        EngineModel::WhisperTinyEn => {
            vec![callscribe_fetch::ensure_default_model(&config.data_dir).await?]
        }
    })
}

/// How the service brings a model it needs and does not have (Whisper base, the first
/// time a Spanish call or a tenant asks for it): the same fetch as `fetch-model`.
pub fn fetcher(config: &Config) -> FetchModel {
    let config = config.clone();
    Arc::new(move |model| {
        let config = config.clone();
        Box::pin(async move { fetch(&config, model).await.map(drop) })
    })
}
