//! The speech models the service fetches for itself.

use std::sync::Arc;

use callscribe::config::{Config, EngineModel};
use callscribe::transcribe::engines::FetchModel;

/// How the service brings a model it needs and does not have (Whisper base, the first
/// time a Spanish call or a tenant asks for it): the same fetch as `fetch-model`.
pub fn fetcher(config: &Config) -> FetchModel {
    let config = config.clone();
    Arc::new(move |model| {
        let config = config.clone();
        Box::pin(async move {
            match model {
                EngineModel::WhisperBase => {
                    if let Some(own) = &config.engine.whisper_base_model {
                        anyhow::bail!("{} is the operator's own file: not fetched", own.display());
                    }
                    callscribe_fetch::ensure_whisper_base(&config.models_dir()).await?;
                }
                EngineModel::MoonshineBaseEn => {
                    callscribe_fetch::ensure_moonshine(&config.moonshine_dir()).await?;
                    callscribe_fetch::ensure_default_model(&config.data_dir).await?;
                }
                EngineModel::WhisperTinyEn => {
                    callscribe_fetch::ensure_default_model(&config.data_dir).await?;
                }
            }
            Ok(())
        })
    })
}
