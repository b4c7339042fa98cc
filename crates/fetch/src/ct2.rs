//! Reading a CTranslate2 model (`model.bin`, binary version 6): a header, then named
//! tensors stored row-major. Tensors borrow the file's bytes; nothing is copied.

use std::collections::BTreeMap;

use anyhow::{Context, bail, ensure};

/// Element types of CTranslate2's format (`DataType` in its sources).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DType {
    F32,
    I8,
    I16,
    I32,
    F16,
}

impl DType {
    fn from_code(code: u8) -> anyhow::Result<DType> {
        Ok(match code {
            0 => DType::F32,
            1 => DType::I8,
            2 => DType::I16,
            3 => DType::I32,
            4 => DType::F16,
            _ => bail!("unknown CTranslate2 data type {code}"),
        })
    }

    pub fn size(self) -> usize {
        match self {
            DType::I8 => 1,
            DType::I16 | DType::F16 => 2,
            DType::F32 | DType::I32 => 4,
        }
    }
}

/// A tensor: its shape (empty for a scalar), element type and little-endian bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor<'a> {
    pub shape: Vec<usize>,
    pub dtype: DType,
    pub data: &'a [u8],
}

impl<'a> Tensor<'a> {
    /// Rows `start..end` of the first axis (numpy's `w[start:end]`).
    pub fn rows(&self, start: usize, end: usize) -> Tensor<'a> {
        let row: usize = self.shape[1..].iter().product::<usize>() * self.dtype.size();
        let mut shape = self.shape.clone();
        shape[0] = end - start;
        Tensor {
            shape,
            dtype: self.dtype,
            data: &self.data[start * row..end * row],
        }
    }

    /// The same elements with another shape (numpy's `reshape`).
    pub fn reshaped(&self, shape: Vec<usize>) -> Tensor<'a> {
        assert_eq!(shape.iter().product::<usize>(), self.len());
        Tensor {
            shape,
            ..self.clone()
        }
    }

    /// The elements in flat pieces of at most `n`.
    pub fn pieces(&self, n: usize) -> impl Iterator<Item = Tensor<'a>> + 'a {
        let (dtype, size) = (self.dtype, self.dtype.size());
        self.data.chunks(n * size).map(move |data| Tensor {
            shape: vec![data.len() / size],
            dtype,
            data,
        })
    }

    pub fn len(&self) -> usize {
        self.data.len() / self.dtype.size()
    }

    /// Element `i` as f32; float tensors only (integers are flags and counts here).
    pub fn f32_at(&self, i: usize) -> f32 {
        match self.dtype {
            DType::F32 => f32::from_le_bytes(self.data[4 * i..4 * i + 4].try_into().unwrap()),
            DType::F16 => {
                half::f16::from_le_bytes(self.data[2 * i..2 * i + 2].try_into().unwrap()).to_f32()
            }
            other => panic!("f32_at on a {other:?} tensor"),
        }
    }

    /// The elements as f32 (exact for f16 and f32 sources).
    pub fn to_f32(&self) -> anyhow::Result<Vec<f32>> {
        ensure!(
            matches!(self.dtype, DType::F32 | DType::F16),
            "expected a float tensor, found {:?}",
            self.dtype
        );
        Ok((0..self.len()).map(|i| self.f32_at(i)).collect())
    }

    /// A scalar integer (`num_heads`).
    pub fn scalar_i64(&self) -> anyhow::Result<i64> {
        let d = self.data;
        Ok(match self.dtype {
            DType::I8 => i64::from(d[0] as i8),
            DType::I16 => i64::from(i16::from_le_bytes([d[0], d[1]])),
            DType::I32 => i64::from(i32::from_le_bytes(d[..4].try_into()?)),
            other => bail!("expected an integer scalar, found {other:?}"),
        })
    }
}

/// The model's tensors by name.
pub type Variables<'a> = BTreeMap<String, Tensor<'a>>;

/// Parses `model.bin`. Aliases after the tensors are not needed and not read.
pub fn parse(data: &[u8]) -> anyhow::Result<Variables<'_>> {
    let mut r = Reader { data, pos: 0 };
    let version = r.u32()?;
    ensure!(
        version == 6,
        "CTranslate2 binary version {version}, expected 6"
    );
    r.string()?; // the spec's name, "WhisperSpec"
    r.u32()?; // its revision
    let count = r.u32()?;
    let mut vars = Variables::new();
    for _ in 0..count {
        let name = r.string()?;
        let rank = r.u8()?;
        let shape = (0..rank)
            .map(|_| r.u32().map(|d| d as usize))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let dtype = DType::from_code(r.u8()?)?;
        let nbytes = r.u32()? as usize;
        let data = r.take(nbytes)?;
        let elements: usize = shape.iter().product();
        ensure!(
            nbytes == elements * dtype.size(),
            "tensor {name}: {nbytes} bytes for shape {shape:?} of {dtype:?}"
        );
        vars.insert(name, Tensor { shape, dtype, data });
    }
    Ok(vars)
}

struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> anyhow::Result<&'a [u8]> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.data.len());
        let end = end.with_context(|| format!("model.bin is truncated at byte {}", self.pos))?;
        let bytes = &self.data[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    fn u8(&mut self) -> anyhow::Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> anyhow::Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into()?))
    }

    fn u32(&mut self) -> anyhow::Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into()?))
    }

    /// A u16 length, then that many bytes, NUL-terminated.
    fn string(&mut self) -> anyhow::Result<String> {
        let n = self.u16()? as usize;
        let bytes = self.take(n)?;
        let end = bytes.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
        Ok(std::str::from_utf8(&bytes[..end])
            .context("a tensor name is not UTF-8")?
            .to_owned())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A version-6 file holding `vars` (name, shape, dtype code, bytes).
    pub(crate) fn build(vars: &[(&str, &[u32], u8, Vec<u8>)]) -> Vec<u8> {
        fn string(out: &mut Vec<u8>, s: &str) {
            out.extend((s.len() as u16 + 1).to_le_bytes());
            out.extend(s.as_bytes());
            out.push(0);
        }
        let mut out = 6u32.to_le_bytes().to_vec();
        string(&mut out, "WhisperSpec");
        out.extend(3u32.to_le_bytes());
        out.extend((vars.len() as u32).to_le_bytes());
        for (name, shape, dtype, bytes) in vars {
            string(&mut out, name);
            out.push(shape.len() as u8);
            for d in *shape {
                out.extend(d.to_le_bytes());
            }
            out.push(*dtype);
            out.extend((bytes.len() as u32).to_le_bytes());
            out.extend(bytes);
        }
        out.extend(0u32.to_le_bytes()); // no aliases
        out
    }

    pub(crate) fn f16_bytes(values: &[f32]) -> Vec<u8> {
        values
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
            .collect()
    }

    #[test]
    fn parses_names_shapes_types_and_scalars() {
        let file = build(&[
            ("encoder/num_heads", &[], 2, 6i16.to_le_bytes().to_vec()),
            ("w", &[2, 3], 4, f16_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, -0.5])),
            (
                "b",
                &[2],
                0,
                [1.5f32, -2.0]
                    .iter()
                    .flat_map(|v| v.to_le_bytes())
                    .collect(),
            ),
        ]);
        let vars = parse(&file).unwrap();
        assert_eq!(vars.len(), 3);
        assert_eq!(vars["encoder/num_heads"].scalar_i64().unwrap(), 6);
        let w = &vars["w"];
        assert_eq!((w.shape.clone(), w.dtype), (vec![2, 3], DType::F16));
        assert_eq!(w.to_f32().unwrap(), [1.0, 2.0, 3.0, 4.0, 5.0, -0.5]);
        assert_eq!(w.rows(1, 2).to_f32().unwrap(), [4.0, 5.0, -0.5]);
        assert_eq!(w.rows(1, 2).shape, [1, 3]);
        assert_eq!(vars["b"].to_f32().unwrap(), [1.5, -2.0]);
        let pieces: Vec<Vec<f32>> = w.pieces(4).map(|p| p.to_f32().unwrap()).collect();
        assert_eq!(pieces, [vec![1.0, 2.0, 3.0, 4.0], vec![5.0, -0.5]]);
        assert_eq!(vars["b"].reshaped(vec![2, 1]).shape, [2, 1]);
    }

    #[test]
    fn refuses_other_versions_and_truncated_files() {
        let mut file = build(&[("w", &[2], 0, vec![0; 8])]);
        let short = &file[..file.len() - 10];
        assert!(parse(short).unwrap_err().to_string().contains("truncated"));
        file[0] = 5;
        assert!(parse(&file).unwrap_err().to_string().contains("version 5"));
    }

    #[test]
    fn refuses_a_size_that_does_not_match_the_shape() {
        let file = build(&[("w", &[3], 0, vec![0; 8])]);
        assert!(parse(&file).unwrap_err().to_string().contains("8 bytes"));
    }
}
