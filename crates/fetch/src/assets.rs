//! The parts of openai-whisper's source archive the ggml header needs: the mel filters
//! (`mel_filters.npz`, a zip of numpy `.npy` arrays, `mel_80` and `mel_128`) and a
//! vocabulary (`gpt2.tiktoken` for English-only models, `multilingual.tiktoken`; one
//! base64 token and its rank per line).

use std::io::{Cursor, Read};

use anyhow::{Context, bail, ensure};
use base64::Engine;

use super::ggml::Assets;

/// Reads `mel_{n_mels}` of `dir/mel_filters.npz` and the tokens of `dir/{vocabulary}`
/// from the sdist (a tar.gz).
pub fn from_sdist(
    tar_gz: impl Read,
    dir: &str,
    vocabulary: &str,
    n_mels: usize,
) -> anyhow::Result<Assets> {
    let (npz_path, vocab_path) = (
        format!("{dir}/mel_filters.npz"),
        format!("{dir}/{vocabulary}"),
    );
    let (mut npz, mut vocab) = (None, None);
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tar_gz));
    for entry in archive
        .entries()
        .context("openai-whisper's archive is not a tar.gz")?
    {
        let mut entry = entry.context("reading openai-whisper's archive")?;
        let path = entry.path()?.to_string_lossy().into_owned();
        let slot = if path == npz_path {
            &mut npz
        } else if path == vocab_path {
            &mut vocab
        } else {
            continue;
        };
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {path}"))?;
        *slot = Some(bytes);
    }
    let npz = npz.with_context(|| format!("openai-whisper's archive has no {npz_path}"))?;
    let vocab = vocab.with_context(|| format!("openai-whisper's archive has no {vocab_path}"))?;
    Ok(Assets {
        mel: mel_filters(&npz, &format!("mel_{n_mels}"))?,
        tokens: tiktoken(&vocab).with_context(|| format!("reading {vocabulary}"))?,
    })
}

/// One 2-D float array of an `.npz`, as float32 (numpy's `np.load(f)[name].astype(np.float32)`).
pub fn mel_filters(npz: &[u8], name: &str) -> anyhow::Result<(usize, usize, Vec<f32>)> {
    let mut zip = zip::ZipArchive::new(Cursor::new(npz)).context("mel_filters.npz is not a zip")?;
    let mut npy = Vec::new();
    zip.by_name(&format!("{name}.npy"))
        .with_context(|| format!("mel_filters.npz has no {name}"))?
        .read_to_end(&mut npy)?;
    let (header, data) = npy_header(&npy)?;
    ensure!(!header.fortran_order, "{name}.npy is in Fortran order");
    let [rows, cols] = header.shape[..] else {
        bail!("{name}.npy has shape {:?}, expected 2-D", header.shape)
    };
    let values: Vec<f32> = match header.descr.as_str() {
        "<f4" => data
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
            .collect(),
        "<f8" => data
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()) as f32)
            .collect(),
        other => bail!("{name}.npy holds {other}, expected float32 or float64"),
    };
    ensure!(values.len() == rows * cols, "{name}.npy is truncated");
    Ok((rows, cols, values))
}

#[derive(Debug, PartialEq)]
pub struct NpyHeader {
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
}

/// Parses a `.npy` header (format versions 1-3); returns it and the data after it.
pub fn npy_header(npy: &[u8]) -> anyhow::Result<(NpyHeader, &[u8])> {
    ensure!(
        npy.len() >= 10 && npy.starts_with(b"\x93NUMPY"),
        "not a .npy file"
    );
    let (len, start) = match npy[6] {
        1 => (usize::from(u16::from_le_bytes([npy[8], npy[9]])), 10),
        2 | 3 if npy.len() >= 12 => (u32::from_le_bytes(npy[8..12].try_into()?) as usize, 12),
        v => bail!(".npy format version {v} is not supported"),
    };
    let text = npy
        .get(start..start + len)
        .context(".npy header is truncated")?;
    let text = std::str::from_utf8(text).context(".npy header is not text")?;
    let value = |key: &str| -> anyhow::Result<&str> {
        let at = text
            .find(&format!("'{key}':"))
            .with_context(|| format!(".npy header has no {key}"))?;
        Ok(text[at + key.len() + 3..].trim_start())
    };
    let descr = enclosed(value("descr")?, '\'', '\'').context("bad .npy descr")?;
    let fortran_order = value("fortran_order")?.starts_with("True");
    let shape = enclosed(value("shape")?, '(', ')').context("bad .npy shape")?;
    let shape = shape
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse::<usize>().context("bad .npy shape"))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let header = NpyHeader {
        descr: descr.to_owned(),
        fortran_order,
        shape,
    };
    Ok((header, &npy[start + len..]))
}

/// What a header value starting with `open` holds up to `close`: `'<f4'`, `(80, 201)`.
fn enclosed(value: &str, open: char, close: char) -> Option<&str> {
    Some(value.strip_prefix(open)?.split_once(close)?.0)
}

/// The tokens of a `.tiktoken` file in order: the first field of each non-blank line,
/// base64-decoded. A lone `=` is the empty token, as Python's `b64decode` reads it
/// (`multilingual.tiktoken`'s rank 50256; whisper.cpp expects it there).
pub fn tiktoken(text: &[u8]) -> anyhow::Result<Vec<Vec<u8>>> {
    let text = std::str::from_utf8(text).context("the vocabulary is not text")?;
    text.lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(|token| {
            if token == "=" {
                return Ok(Vec::new());
            }
            base64::engine::general_purpose::STANDARD
                .decode(token)
                .with_context(|| format!("{token:?} is not base64"))
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    pub(crate) fn npy(header: &str, data: &[u8]) -> Vec<u8> {
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(data);
        out
    }

    pub(crate) fn npz(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut zip = zip::ZipWriter::new(Cursor::new(Vec::new()));
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (name, bytes) in members {
            zip.start_file(*name, stored).unwrap();
            zip.write_all(bytes).unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn npy_headers_of_every_version_parse() {
        // The header of openai-whisper's mel_80.npy, padded as numpy pads it.
        let header = format!(
            "{:<117}\n",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (80, 201), }"
        );
        let file = npy(&header, b"DATA");
        let (h, data) = npy_header(&file).unwrap();
        assert_eq!(
            h,
            NpyHeader {
                descr: "<f4".into(),
                fortran_order: false,
                shape: vec![80, 201]
            }
        );
        assert_eq!(data, b"DATA");

        let text = "{'descr': '<f8', 'fortran_order': True, 'shape': (5,), }\n";
        let mut v2 = b"\x93NUMPY\x02\x00".to_vec();
        v2.extend((text.len() as u32).to_le_bytes());
        v2.extend(text.as_bytes());
        let (h, data) = npy_header(&v2).unwrap();
        assert_eq!(
            h,
            NpyHeader {
                descr: "<f8".into(),
                fortran_order: true,
                shape: vec![5]
            }
        );
        assert!(data.is_empty());

        let scalar = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (), }\n",
            &[],
        );
        assert!(npy_header(&scalar).unwrap().0.shape.is_empty());
        assert!(npy_header(b"PK\x03\x04 not npy").is_err());
        assert!(npy_header(&npy("{'descr': '<f4', 'shape': (1,), }", &[])).is_err());
    }

    #[test]
    fn mel_filters_come_from_the_npz_as_f32() {
        let f4: Vec<u8> = [1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let f8: Vec<u8> = [0.1f64, 0.2].iter().flat_map(|v| v.to_le_bytes()).collect();
        let file = npz(&[
            (
                "mel_128.npy",
                npy(
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }",
                    &[0; 4],
                ),
            ),
            (
                "mel_80.npy",
                npy(
                    "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                    &f4,
                ),
            ),
            (
                "m64.npy",
                npy(
                    "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }",
                    &f8,
                ),
            ),
            (
                "fortran.npy",
                npy(
                    "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1), }",
                    &[0; 4],
                ),
            ),
        ]);
        assert_eq!(
            mel_filters(&file, "mel_80").unwrap(),
            (2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
        );
        assert_eq!(
            mel_filters(&file, "m64").unwrap(),
            (1, 2, vec![0.1f32, 0.2f32])
        );
        assert!(mel_filters(&file, "fortran").is_err());
        assert!(
            mel_filters(&file, "mel_40")
                .unwrap_err()
                .to_string()
                .contains("no mel_40")
        );
    }

    #[test]
    fn tiktoken_tokens_are_decoded_in_order() {
        let tokens = tiktoken(b"IQ== 0\nIg== 1\n\naGVsbG8= 2\r\n").unwrap();
        assert_eq!(tokens, [b"!".to_vec(), b"\"".to_vec(), b"hello".to_vec()]);
        assert!(tiktoken(b"not*base64 0\n").is_err());
        assert!(tiktoken(b"== 0\n").is_err());
    }

    #[test]
    fn a_lone_padding_sign_is_the_empty_token() {
        // The last lines of openai-whisper's multilingual.tiktoken.
        let tokens = tiktoken(b"ICgn 50254\n5Zy6 50255\n= 50256\n").unwrap();
        assert_eq!(
            tokens,
            [b" ('".to_vec(), "\u{573a}".as_bytes().to_vec(), Vec::new()]
        );
    }

    /// A tar.gz of `members`, as an sdist is packed.
    pub(crate) fn tar_gz(members: &[(&str, Vec<u8>)]) -> Vec<u8> {
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        ));
        for (path, bytes) in members {
            let mut header = tar::Header::new_gnu();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            tar.append_data(&mut header, path, &bytes[..]).unwrap();
        }
        tar.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn the_assets_are_read_from_the_sdist() {
        let f4: Vec<u8> = [0.25f32, 0.75, 1.5]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let tar_gz = tar_gz(&[
            (
                "pkg/whisper/assets/mel_filters.npz",
                npz(&[
                    (
                        "mel_80.npy",
                        npy(
                            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }",
                            &f4[..8],
                        ),
                    ),
                    (
                        "mel_128.npy",
                        npy(
                            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }",
                            &f4[8..],
                        ),
                    ),
                ]),
            ),
            ("pkg/whisper/assets/gpt2.tiktoken", b"IQ== 0\n".to_vec()),
            (
                "pkg/whisper/assets/multilingual.tiktoken",
                b"IQ== 0\n= 1\n".to_vec(),
            ),
            ("pkg/whisper/other.py", b"print()".to_vec()),
        ]);
        let assets = from_sdist(&tar_gz[..], "pkg/whisper/assets", "gpt2.tiktoken", 80).unwrap();
        assert_eq!(assets.mel, (1, 2, vec![0.25, 0.75]));
        assert_eq!(assets.tokens, [b"!".to_vec()]);
        let multilingual = from_sdist(
            &tar_gz[..],
            "pkg/whisper/assets",
            "multilingual.tiktoken",
            128,
        )
        .unwrap();
        assert_eq!(multilingual.mel, (1, 1, vec![1.5]));
        assert_eq!(multilingual.tokens, [b"!".to_vec(), Vec::new()]);
        let err = |dir, vocabulary, n_mels| {
            from_sdist(&tar_gz[..], dir, vocabulary, n_mels)
                .err()
                .unwrap()
                .to_string()
        };
        let missing = err("other/assets", "gpt2.tiktoken", 80);
        assert!(
            missing.contains("has no other/assets/mel_filters.npz"),
            "{missing}"
        );
        let no_vocab = err("pkg/whisper/assets", "klingon.tiktoken", 80);
        assert!(
            no_vocab.contains("has no pkg/whisper/assets/klingon.tiktoken"),
            "{no_vocab}"
        );
        let no_mel = err("pkg/whisper/assets", "gpt2.tiktoken", 40);
        assert!(no_mel.contains("no mel_40"), "{no_mel}");
    }
}
