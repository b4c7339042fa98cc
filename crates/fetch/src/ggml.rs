//! Writing whisper.cpp's ggml model format from CTranslate2 tensors: the header
//! (hyper-parameters, mel filters, vocabulary), then one record per tensor in
//! whisper.cpp's naming. Every byte matches what `scripts/ct2_to_ggml.py` (numpy) wrote,
//! which the pinned output checksums prove.

use std::collections::BTreeSet;
use std::io::Write;

use anyhow::{Context, ensure};

use super::ct2::{DType, Tensor, Variables};

/// ggml's magic number, "ggml".
const MAGIC: i32 = 0x6767_6D6C;
/// Tensors whisper.cpp expects as f32 whatever the file's type.
const F32_ALWAYS: [&str; 4] = [
    "encoder.conv1.bias",
    "encoder.conv2.bias",
    "encoder.positional_embedding",
    "decoder.positional_embedding",
];

/// Elements converted at a time; a multiple of q8_0's block of 32.
const PIECE: usize = 1 << 16;

/// The two files we write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    F16,
    Q8_0,
}

impl Format {
    /// For messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::F16 => "f16",
            Format::Q8_0 => "q8_0",
        }
    }

    /// whisper.cpp's `ftype` header field (q8_0 with the quantization version 2).
    fn ftype(self) -> i32 {
        match self {
            Format::F16 => 1,
            Format::Q8_0 => 2007,
        }
    }
}

/// What the header takes from openai-whisper's assets.
pub struct Assets {
    /// The model's `mel_N` from `mel_filters.npz` ([`n_mels`]): rows, columns, row-major
    /// values.
    pub mel: (usize, usize, Vec<f32>),
    /// The byte strings of the model's vocabulary ([`vocabulary`]), in file order.
    pub tokens: Vec<Vec<u8>>,
}

/// whisper.cpp takes a model for multilingual when its header's `n_vocab` (the token
/// embedding's rows) is at least this (`is_multilingual`), and then shifts its special
/// tokens by one.
const MULTILINGUAL_VOCAB: usize = 51_865;

/// The vocabulary file of openai-whisper's assets that matches the model, chosen as
/// whisper.cpp's `convert-pt-to-ggml.py` chooses it: `multilingual.tiktoken` (50,257
/// tokens) for a multilingual model, `gpt2.tiktoken` (50,256) for an English-only one.
/// whisper.cpp adds the special tokens up to `n_vocab` itself.
pub fn vocabulary(v: &Variables) -> anyhow::Result<&'static str> {
    let n_vocab = *get(v, "decoder/embeddings/weight")?
        .shape
        .first()
        .context("decoder/embeddings/weight is a scalar")?;
    Ok(if n_vocab >= MULTILINGUAL_VOCAB {
        "multilingual.tiktoken"
    } else {
        "gpt2.tiktoken"
    })
}

/// The model's mel bands (the first convolution's input channels): 80, or 128 for
/// large-v3; the header carries `mel_filters.npz`'s `mel_{n}`.
pub fn n_mels(v: &Variables) -> anyhow::Result<usize> {
    Ok(usize::try_from(dim(get(v, "encoder/conv1/weight")?, 1)?)?)
}

fn get<'v, 'a>(v: &'v Variables<'a>, name: &str) -> anyhow::Result<&'v Tensor<'a>> {
    v.get(name)
        .with_context(|| format!("model.bin has no tensor {name}"))
}

/// CTranslate2's tensor `from`, unchanged, under the ggml name `to`.
fn copied<'a>(
    v: &Variables<'a>,
    to: impl Into<String>,
    from: &str,
) -> anyhow::Result<(String, Tensor<'a>)> {
    Ok((to.into(), get(v, from)?.clone()))
}

/// The number of `side/layer_N/` blocks.
fn layers(v: &Variables, side: &str) -> usize {
    let prefix = format!("{side}/layer_");
    let numbers: BTreeSet<&str> = v
        .keys()
        .filter_map(|name| name.strip_prefix(&prefix)?.split_once('/'))
        .map(|(n, _)| n)
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    numbers.len()
}

/// The tensors in ggml naming and order, splitting CTranslate2's fused projections
/// (query/key/value in self-attention, key/value in cross-attention).
pub fn tensors<'a>(v: &Variables<'a>) -> anyhow::Result<Vec<(String, Tensor<'a>)>> {
    let mut out = vec![copied(
        v,
        "encoder.positional_embedding",
        "encoder/position_encodings/encodings",
    )?];
    for conv in ["conv1", "conv2"] {
        out.push(copied(
            v,
            format!("encoder.{conv}.weight"),
            &format!("encoder/{conv}/weight"),
        )?);
        let bias = get(v, &format!("encoder/{conv}/bias"))?;
        out.push((
            format!("encoder.{conv}.bias"),
            bias.reshaped(vec![bias.len(), 1]),
        ));
    }
    for i in 0..layers(v, "encoder") {
        block(
            v,
            &mut out,
            &format!("encoder.blocks.{i}"),
            &format!("encoder/layer_{i}"),
            false,
        )?;
    }
    for (to, from) in [
        ("encoder.ln_post.weight", "encoder/layer_norm/gamma"),
        ("encoder.ln_post.bias", "encoder/layer_norm/beta"),
        (
            "decoder.positional_embedding",
            "decoder/position_encodings/encodings",
        ),
        (
            "decoder.token_embedding.weight",
            "decoder/embeddings/weight",
        ),
    ] {
        out.push(copied(v, to, from)?);
    }
    for i in 0..layers(v, "decoder") {
        block(
            v,
            &mut out,
            &format!("decoder.blocks.{i}"),
            &format!("decoder/layer_{i}"),
            true,
        )?;
    }
    out.push(copied(v, "decoder.ln.weight", "decoder/layer_norm/gamma")?);
    out.push(copied(v, "decoder.ln.bias", "decoder/layer_norm/beta")?);
    Ok(out)
}

type Out<'a> = Vec<(String, Tensor<'a>)>;

fn block<'a>(
    v: &Variables<'a>,
    out: &mut Out<'a>,
    to: &str,
    from: &str,
    cross: bool,
) -> anyhow::Result<()> {
    attention(
        v,
        out,
        &format!("{to}.attn"),
        &format!("{from}/self_attention"),
        true,
    )?;
    if cross {
        attention(
            v,
            out,
            &format!("{to}.cross_attn"),
            &format!("{from}/attention"),
            false,
        )?;
    }
    for (name, src) in [
        ("mlp.0.weight", "ffn/linear_0/weight"),
        ("mlp.0.bias", "ffn/linear_0/bias"),
        ("mlp.2.weight", "ffn/linear_1/weight"),
        ("mlp.2.bias", "ffn/linear_1/bias"),
        ("mlp_ln.weight", "ffn/layer_norm/gamma"),
        ("mlp_ln.bias", "ffn/layer_norm/beta"),
    ] {
        out.push(copied(v, format!("{to}.{name}"), &format!("{from}/{src}"))?);
    }
    Ok(())
}

/// One attention: self-attention fuses q, k, v in `linear_0`; cross-attention has q in
/// `linear_0` and k, v fused in `linear_1`. ggml has no key bias, so it must be zero.
fn attention<'a>(
    v: &Variables<'a>,
    out: &mut Out<'a>,
    to: &str,
    from: &str,
    fused_qkv: bool,
) -> anyhow::Result<()> {
    let t = |s: &str| get(v, &format!("{from}/{s}")).cloned();
    let zero = |b: &Tensor| -> anyhow::Result<bool> { Ok(b.to_f32()?.iter().all(|x| *x == 0.0)) };
    let out_proj = if fused_qkv {
        let (w, b) = (t("linear_0/weight")?, t("linear_0/bias")?);
        let n = w.shape[0] / 3;
        ensure!(zero(&b.rows(n, 2 * n))?, "{from}: key bias must be zero");
        out.push((format!("{to}.query.weight"), w.rows(0, n)));
        out.push((format!("{to}.query.bias"), b.rows(0, n)));
        out.push((format!("{to}.key.weight"), w.rows(n, 2 * n)));
        out.push((format!("{to}.value.weight"), w.rows(2 * n, 3 * n)));
        out.push((format!("{to}.value.bias"), b.rows(2 * n, 3 * n)));
        "linear_1"
    } else {
        out.push((format!("{to}.query.weight"), t("linear_0/weight")?));
        out.push((format!("{to}.query.bias"), t("linear_0/bias")?));
        let (w, b) = (t("linear_1/weight")?, t("linear_1/bias")?);
        let n = w.shape[0] / 2;
        ensure!(
            zero(&b.rows(0, n))?,
            "{from}: cross-attention key bias must be zero"
        );
        out.push((format!("{to}.key.weight"), w.rows(0, n)));
        out.push((format!("{to}.value.weight"), w.rows(n, 2 * n)));
        out.push((format!("{to}.value.bias"), b.rows(n, 2 * n)));
        "linear_2"
    };
    out.push((
        format!("{to}.out.weight"),
        t(&format!("{out_proj}/weight"))?,
    ));
    out.push((format!("{to}.out.bias"), t(&format!("{out_proj}/bias"))?));
    out.push((format!("{to}_ln.weight"), t("layer_norm/gamma")?));
    out.push((format!("{to}_ln.bias"), t("layer_norm/beta")?));
    Ok(())
}

fn dim(t: &Tensor, axis: usize) -> anyhow::Result<i32> {
    let d = t
        .shape
        .get(axis)
        .context("a tensor has fewer axes than expected")?;
    Ok(i32::try_from(*d)?)
}

/// Hyper-parameters, mel filters and vocabulary.
pub fn header(v: &Variables, assets: &Assets, format: Format) -> anyhow::Result<Vec<u8>> {
    let emb = get(v, "decoder/embeddings/weight")?;
    let enc_pos = get(v, "encoder/position_encodings/encodings")?;
    let hparams = [
        dim(emb, 0)?,
        dim(enc_pos, 0)?,
        dim(enc_pos, 1)?,
        i32::try_from(get(v, "encoder/num_heads")?.scalar_i64()?)?,
        i32::try_from(layers(v, "encoder"))?,
        dim(get(v, "decoder/position_encodings/encodings")?, 0)?,
        dim(emb, 1)?,
        i32::try_from(get(v, "decoder/num_heads")?.scalar_i64()?)?,
        i32::try_from(layers(v, "decoder"))?,
        dim(get(v, "encoder/conv1/weight")?, 1)?,
        format.ftype(),
    ];
    let mut out = Vec::new();
    let int = |out: &mut Vec<u8>, n: usize| -> anyhow::Result<()> {
        out.extend(i32::try_from(n)?.to_le_bytes());
        Ok(())
    };
    out.extend(MAGIC.to_le_bytes());
    hparams.iter().for_each(|h| out.extend(h.to_le_bytes()));
    let (rows, cols, mel) = &assets.mel;
    int(&mut out, *rows)?;
    int(&mut out, *cols)?;
    mel.iter().for_each(|x| out.extend(x.to_le_bytes()));
    int(&mut out, assets.tokens.len())?;
    for token in &assets.tokens {
        int(&mut out, token.len())?;
        out.extend(token);
    }
    Ok(out)
}

/// The whole file: header, then every tensor as f32 (1-D and [`F32_ALWAYS`]), q8_0
/// (2-D, in the q8_0 file) or f16.
pub fn write(
    w: &mut impl Write,
    v: &Variables,
    assets: &Assets,
    tensors: &[(String, Tensor)],
    format: Format,
) -> anyhow::Result<()> {
    w.write_all(&header(v, assets, format)?)?;
    let mut payload = Vec::new();
    for (name, t) in tensors {
        let ttype = if t.shape.len() == 1 || F32_ALWAYS.contains(&name.as_str()) {
            0
        } else if format == Format::Q8_0 && t.shape.len() == 2 {
            8
        } else {
            1
        };
        w.write_all(&record(name, &t.shape, ttype)?)?;
        // Piece by piece, so the largest tensor (the 20M-value token embedding) is never
        // held again as f32 (a piece is whole q8_0 blocks).
        for piece in t.pieces(PIECE) {
            payload.clear();
            match ttype {
                0 => piece
                    .to_f32()?
                    .iter()
                    .for_each(|x| payload.extend(x.to_le_bytes())),
                8 => q8_0(&piece.to_f32()?, &mut payload)
                    .with_context(|| format!("quantizing {name}"))?,
                _ => to_f16(&piece, &mut payload)?,
            }
            w.write_all(&payload)?;
        }
    }
    Ok(())
}

/// A tensor record's head: rank, name length, type, dimensions innermost first, name.
fn record(name: &str, shape: &[usize], ttype: i32) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    for n in [shape.len(), name.len()] {
        out.extend(i32::try_from(n)?.to_le_bytes());
    }
    out.extend(ttype.to_le_bytes());
    for d in shape.iter().rev() {
        out.extend(i32::try_from(*d)?.to_le_bytes());
    }
    out.extend(name.as_bytes());
    Ok(out)
}

/// f16 values; from f32 with round-to-nearest-even, as numpy's `astype(float16)`.
fn to_f16(t: &Tensor, out: &mut Vec<u8>) -> anyhow::Result<()> {
    match t.dtype {
        DType::F16 => out.extend_from_slice(t.data),
        _ => t
            .to_f32()?
            .iter()
            .for_each(|x| out.extend(half::f16::from_f32(*x).to_le_bytes())),
    }
    Ok(())
}

/// ggml's q8_0: blocks of 32 values, each an f16 scale `d = max|x| / 127` and 32 int8
/// `round(x / d)`, half away from zero. All arithmetic in f32, as numpy did it: the
/// scale is inverted once and multiplied, which can differ from dividing in the last bit.
pub fn q8_0(values: &[f32], out: &mut Vec<u8>) -> anyhow::Result<()> {
    ensure!(
        values.len().is_multiple_of(32),
        "{} values are not whole q8_0 blocks",
        values.len()
    );
    for block in values.chunks_exact(32) {
        let amax = block.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let d = amax / 127.0;
        let inv = if d > 0.0 { 1.0 / d } else { 0.0 };
        out.extend(half::f16::from_f32(d).to_le_bytes());
        for x in block {
            let scaled = x * inv;
            let q = (scaled.abs() + 0.5).floor();
            let q = if scaled < 0.0 {
                -q
            } else if scaled > 0.0 {
                q
            } else {
                0.0
            };
            out.push(q as i8 as u8);
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn q8(values: &[f32]) -> Vec<u8> {
        let mut block = values.to_vec();
        block.resize(32, 0.0);
        let mut out = Vec::new();
        q8_0(&block, &mut out).unwrap();
        out
    }

    fn ints(bytes: &[u8]) -> Vec<i8> {
        bytes.iter().map(|b| *b as i8).collect()
    }

    #[test]
    fn q8_0_rounds_half_away_from_zero() {
        // max 127 gives d = 1: the values themselves, rounded. Expected bytes from numpy.
        let out = q8(&[127.0, 0.5, -0.5, 1.5, 2.5, -2.5, 126.49, -127.0]);
        assert_eq!(out.len(), 34);
        assert_eq!(out[..2], [0x00, 0x3c]); // d = 1.0 as f16
        assert_eq!(ints(&out[2..10]), [127, 1, -1, 2, 3, -3, 126, -127]);
        assert!(out[10..].iter().all(|b| *b == 0));
    }

    #[test]
    fn q8_0_multiplies_by_the_inverse_like_numpy() {
        // Here x / d is exactly 14.5 (15 when rounded) but x * (1 / d) is 14.499999 in f32;
        // numpy's code multiplied, so 14 is right (found by search, checked with numpy 2.2).
        let amax = f32::from_bits(0x3f6b_870d);
        let x = f32::from_bits(0x3dd7_20a5);
        assert_eq!(((x / (amax / 127.0)) + 0.5).floor(), 15.0);
        let out = q8(&[amax, x, -x, amax * 0.25]);
        assert_eq!(out[..2], [0x6b, 0x1f]);
        assert_eq!(ints(&out[2..6]), [127, 14, -14, 32]);
    }

    #[test]
    fn q8_0_of_an_all_zero_block_is_all_zero() {
        assert_eq!(q8(&[]), vec![0u8; 34]);
        let mut out = Vec::new();
        assert!(q8_0(&[1.0; 33], &mut out).is_err());
    }

    #[test]
    fn f16_rounds_to_nearest_even_like_numpy() {
        let values = [
            1.0 + 2f32.powi(-11),       // a tie: down to the even 1.0
            1.0 + 3.0 * 2f32.powi(-11), // a tie: up to the even neighbour
            65519.0,                    // the largest finite f16
            65520.0,                    // overflows to infinity
            1e-8,                       // underflows to zero
            -0.0,
            2f32.powi(-25),        // half the smallest subnormal: a tie, to zero
            0.75 * 2f32.powi(-24), // rounds up to the smallest subnormal
        ];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let t = Tensor {
            shape: vec![values.len()],
            dtype: DType::F32,
            data: &bytes,
        };
        let mut out = Vec::new();
        to_f16(&t, &mut out).unwrap();
        // numpy: np.array(values, np.float32).astype(np.float16).tobytes().hex()
        assert_eq!(hex::encode(out), "003c023cff7b007c0000008000000100");
    }

    /// A tiny Whisper in CTranslate2 naming: width 32, one layer each side. Tensors hold
    /// 0, 1, 2, ... (f16), biases of key projections zero.
    pub(crate) fn tiny_model() -> Vec<(String, Vec<usize>, u8, Vec<u8>)> {
        let s = 32;
        let mut vars = vec![
            (
                "encoder/num_heads".to_owned(),
                vec![],
                2,
                2i16.to_le_bytes().to_vec(),
            ),
            (
                "decoder/num_heads".to_owned(),
                vec![],
                2,
                2i16.to_le_bytes().to_vec(),
            ),
        ];
        let mut add = |name: &str, shape: &[usize]| {
            let n: usize = shape.iter().product();
            let values: Vec<f32> = (0..n).map(|i| i as f32).collect();
            vars.push((
                name.to_owned(),
                shape.to_vec(),
                4,
                super::super::ct2::tests::f16_bytes(&values),
            ));
        };
        add("encoder/position_encodings/encodings", &[3, s]);
        add("encoder/conv1/weight", &[s, 2, 3]);
        add("encoder/conv1/bias", &[s]);
        add("encoder/conv2/weight", &[s, s, 3]);
        add("encoder/conv2/bias", &[s]);
        add("decoder/position_encodings/encodings", &[5, s]);
        add("decoder/embeddings/weight", &[6, s]);
        for side in ["encoder", "decoder"] {
            add(&format!("{side}/layer_norm/gamma"), &[s]);
            add(&format!("{side}/layer_norm/beta"), &[s]);
            let l = format!("{side}/layer_0");
            add(&format!("{l}/self_attention/linear_0/weight"), &[3 * s, s]);
            add(&format!("{l}/self_attention/linear_1/weight"), &[s, s]);
            add(&format!("{l}/self_attention/linear_1/bias"), &[s]);
            if side == "decoder" {
                add(&format!("{l}/attention/linear_0/weight"), &[s, s]);
                add(&format!("{l}/attention/linear_0/bias"), &[s]);
                add(&format!("{l}/attention/linear_1/weight"), &[2 * s, s]);
                add(&format!("{l}/attention/linear_2/weight"), &[s, s]);
                add(&format!("{l}/attention/linear_2/bias"), &[s]);
                add(&format!("{l}/attention/layer_norm/gamma"), &[s]);
                add(&format!("{l}/attention/layer_norm/beta"), &[s]);
            }
            add(&format!("{l}/self_attention/layer_norm/gamma"), &[s]);
            add(&format!("{l}/self_attention/layer_norm/beta"), &[s]);
            add(&format!("{l}/ffn/linear_0/weight"), &[2 * s, s]);
            add(&format!("{l}/ffn/linear_0/bias"), &[2 * s]);
            add(&format!("{l}/ffn/linear_1/weight"), &[s, 2 * s]);
            add(&format!("{l}/ffn/linear_1/bias"), &[s]);
            add(&format!("{l}/ffn/layer_norm/gamma"), &[s]);
            add(&format!("{l}/ffn/layer_norm/beta"), &[s]);
        }
        // Fused biases: q, k, v (k zero) and cross-attention k, v (k zero).
        let zero_key = |n: usize, key: std::ops::Range<usize>| {
            let values: Vec<f32> = (0..n)
                .map(|i| if key.contains(&i) { 0.0 } else { 1.0 })
                .collect();
            super::super::ct2::tests::f16_bytes(&values)
        };
        for side in ["encoder", "decoder"] {
            vars.push((
                format!("{side}/layer_0/self_attention/linear_0/bias"),
                vec![3 * s],
                4,
                zero_key(3 * s, s..2 * s),
            ));
        }
        vars.push((
            "decoder/layer_0/attention/linear_1/bias".into(),
            vec![2 * s],
            4,
            zero_key(2 * s, 0..s),
        ));
        vars
    }

    fn variables(owned: &[(String, Vec<usize>, u8, Vec<u8>)]) -> Variables<'_> {
        owned
            .iter()
            .map(|(name, shape, code, bytes)| {
                let dtype = if *code == 2 { DType::I16 } else { DType::F16 };
                (
                    name.clone(),
                    Tensor {
                        shape: shape.clone(),
                        dtype,
                        data: bytes,
                    },
                )
            })
            .collect()
    }

    #[test]
    fn tensors_are_named_ordered_and_split_as_whisper_cpp_expects() {
        let owned = tiny_model();
        let v = variables(&owned);
        let t = tensors(&v).unwrap();
        let names: Vec<&str> = t.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names[..8],
            [
                "encoder.positional_embedding",
                "encoder.conv1.weight",
                "encoder.conv1.bias",
                "encoder.conv2.weight",
                "encoder.conv2.bias",
                "encoder.blocks.0.attn.query.weight",
                "encoder.blocks.0.attn.query.bias",
                "encoder.blocks.0.attn.key.weight",
            ]
        );
        assert!(names.contains(&"decoder.blocks.0.cross_attn.value.bias"));
        assert!(!names.iter().any(|n| n.ends_with("key.bias")));
        assert_eq!(names.last(), Some(&"decoder.ln.bias"));
        // encoder 5 + block 15; 4 in between; decoder block 15 + 9 cross; 2 at the end.
        assert_eq!(names.len(), 5 + 15 + 4 + 24 + 2);
        let get = |name: &str| t.iter().find(|(n, _)| n == name).unwrap().1.clone();
        assert_eq!(get("encoder.conv1.bias").shape, [32, 1]);
        // value = rows 64..96 of the fused weight: its first element is 64 * 32.
        let value = get("encoder.blocks.0.attn.value.weight");
        assert_eq!(
            (value.shape.clone(), value.f32_at(0)),
            (vec![32, 32], 2048.0)
        );
        let cross_value = get("decoder.blocks.0.cross_attn.value.weight");
        assert_eq!(cross_value.f32_at(0), 1024.0);
        assert_eq!(
            get("decoder.blocks.0.cross_attn.out.weight").shape,
            [32, 32]
        );
    }

    #[test]
    fn a_nonzero_key_bias_is_refused() {
        let mut owned = tiny_model();
        let bias = owned
            .iter_mut()
            .find(|v| v.0 == "encoder/layer_0/self_attention/linear_0/bias")
            .unwrap();
        bias.3 = super::super::ct2::tests::f16_bytes(&[1.0; 96]);
        let err = tensors(&variables(&owned)).unwrap_err().to_string();
        assert!(err.contains("key bias must be zero"), "{err}");
    }

    /// (name, type, dims as stored) of every record after the header.
    fn records(mut file: &[u8], header_len: usize) -> Vec<(String, i32, Vec<i32>)> {
        let int = |b: &[u8]| i32::from_le_bytes(b[..4].try_into().unwrap());
        file = &file[header_len..];
        let mut out = Vec::new();
        while !file.is_empty() {
            let (rank, len, ttype) = (
                int(file) as usize,
                int(&file[4..]) as usize,
                int(&file[8..]),
            );
            let dims: Vec<i32> = (0..rank).map(|i| int(&file[12 + 4 * i..])).collect();
            let name =
                String::from_utf8(file[12 + 4 * rank..12 + 4 * rank + len].to_vec()).unwrap();
            let n: usize = dims.iter().map(|d| *d as usize).product();
            let size = match ttype {
                0 => 4 * n,
                1 => 2 * n,
                8 => n / 32 * 34,
                other => panic!("type {other}"),
            };
            file = &file[12 + 4 * rank + len + size..];
            out.push((name, ttype, dims));
        }
        out
    }

    #[test]
    fn the_file_has_the_header_and_each_tensor_in_its_type() {
        let owned = tiny_model();
        let v = variables(&owned);
        let t = tensors(&v).unwrap();
        let assets = Assets {
            mel: (2, 3, vec![0.5; 6]),
            tokens: vec![b"!".to_vec(), b"hello".to_vec()],
        };
        for format in [Format::F16, Format::Q8_0] {
            let mut file = Vec::new();
            write(&mut file, &v, &assets, &t, format).unwrap();
            let int = |i: usize| i32::from_le_bytes(file[4 * i..4 * i + 4].try_into().unwrap());
            let hparams: Vec<i32> = (0..12).map(int).collect();
            let ftype = if format == Format::F16 { 1 } else { 2007 };
            assert_eq!(
                hparams,
                [0x6767_6D6C, 6, 3, 32, 2, 1, 5, 32, 2, 1, 2, ftype]
            );
            assert_eq!((int(12), int(13)), (2, 3));
            assert_eq!(f32::from_le_bytes(file[56..60].try_into().unwrap()), 0.5);
            assert_eq!(int(20), 2); // tokens
            assert_eq!((int(21), &file[88..89]), (1, &b"!"[..]));
            let header_len = 4 * 14 + 4 * 6 + 4 + (4 + 1) + (4 + 5);
            let recs = records(&file, header_len);
            assert_eq!(recs.len(), t.len());
            let find = |name: &str| recs.iter().find(|r| r.0 == name).unwrap().clone();
            let two_d = if format == Format::F16 { 1 } else { 8 };
            assert_eq!(
                find("encoder.conv1.bias"),
                ("encoder.conv1.bias".into(), 0, vec![1, 32])
            );
            assert_eq!(find("encoder.positional_embedding").1, 0);
            assert_eq!(
                find("encoder.conv2.weight"),
                ("encoder.conv2.weight".into(), 1, vec![3, 32, 32])
            );
            assert_eq!(
                find("encoder.blocks.0.mlp.0.weight"),
                ("encoder.blocks.0.mlp.0.weight".into(), two_d, vec![32, 64])
            );
            assert_eq!(find("decoder.token_embedding.weight").1, two_d);
            assert_eq!(find("decoder.ln.bias").1, 0);
        }
    }

    #[test]
    fn the_vocabulary_and_mel_bands_follow_the_model() {
        let mut owned = tiny_model();
        let v = variables(&owned);
        assert_eq!(vocabulary(&v).unwrap(), "gpt2.tiktoken");
        assert_eq!(n_mels(&v).unwrap(), 2);
        // tiny.en's 51864 tokens are English-only; base's 51865 multilingual, as
        // whisper.cpp's is_multilingual() decides from the same number.
        for (n_vocab, file) in [
            (51_864, "gpt2.tiktoken"),
            (51_865, "multilingual.tiktoken"),
            (51_866, "multilingual.tiktoken"),
        ] {
            let emb = owned
                .iter_mut()
                .find(|v| v.0 == "decoder/embeddings/weight")
                .unwrap();
            emb.1 = vec![n_vocab, 1];
            emb.3 = vec![0; 2 * n_vocab];
            assert_eq!(vocabulary(&variables(&owned)).unwrap(), file);
        }
        owned.retain(|v| v.0 != "decoder/embeddings/weight");
        assert!(
            vocabulary(&variables(&owned))
                .unwrap_err()
                .to_string()
                .contains("no tensor decoder/embeddings/weight")
        );
    }

    #[test]
    fn a_multilingual_header_has_its_vocabulary_size_and_the_empty_token() {
        let mut owned = tiny_model();
        let emb = owned
            .iter_mut()
            .find(|v| v.0 == "decoder/embeddings/weight")
            .unwrap();
        emb.1 = vec![51_865, 32];
        emb.3 = vec![0; 2 * 51_865 * 32];
        let v = variables(&owned);
        // The end of multilingual.tiktoken: rank 50256 is the empty token.
        let assets = Assets {
            mel: (2, 1, vec![0.5; 2]),
            tokens: vec![b"\xe5\x9c\xba".to_vec(), Vec::new()],
        };
        let file = header(&v, &assets, Format::Q8_0).unwrap();
        let int = |i: usize| i32::from_le_bytes(file[4 * i..4 * i + 4].try_into().unwrap());
        assert_eq!((int(1), int(10), int(11)), (51_865, 2, 2007));
        // magic, 11 hparams, n_mel, n_fft, 2 filters, then the tokens.
        assert_eq!(int(16), 2);
        assert_eq!((int(17), &file[72..75]), (3, &b"\xe5\x9c\xba"[..]));
        assert_eq!(file[75..], 0i32.to_le_bytes());
    }
}
