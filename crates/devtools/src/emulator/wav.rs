//! WAV files as emulated Connect audio: 8 kHz, 16-bit PCM; a stereo file is left =
//! customer, right = agent; a mono file is a single-track (customer only) stream.

use std::path::Path;

/// The customer's and (if present) the agent's samples.
pub type Tracks = (Vec<i16>, Option<Vec<i16>>);

#[derive(Debug, thiserror::Error)]
pub enum WavError {
    #[error("cannot read {path}: {source}")]
    Read { path: String, source: hound::Error },
    #[error("{path}: {what}; convert it with `sox IN.wav -r 8000 -b 16 OUT.wav`")]
    Format { path: String, what: String },
}

/// Reads one WAV file (stereo or mono).
pub fn read_tracks(path: &Path) -> Result<Tracks, WavError> {
    let (channels, samples) = read(path)?;
    split_channels(path, channels, samples)
}

/// A WAV file held in memory (a bundled recording); `name` appears in errors.
pub fn tracks_from_bytes(name: &str, bytes: &[u8]) -> Result<Tracks, WavError> {
    let path = Path::new(name);
    let reader =
        hound::WavReader::new(std::io::Cursor::new(bytes)).map_err(|source| WavError::Read {
            path: name.to_owned(),
            source,
        })?;
    let (spec, samples) = decode(path, reader)?;
    check_rate(path, &spec)?;
    split_channels(path, spec.channels, samples)
}

fn split_channels(path: &Path, channels: u16, samples: Vec<i16>) -> Result<Tracks, WavError> {
    match channels {
        1 => Ok((samples, None)),
        2 => {
            let left = samples.iter().step_by(2).copied().collect();
            let right = samples.iter().skip(1).step_by(2).copied().collect();
            Ok((left, Some(right)))
        }
        n => Err(format_error(
            path,
            format!("{n} channels (expected 1 or 2)"),
        )),
    }
}

/// Reads two mono files: the customer's and the agent's.
pub fn read_pair(customer: &Path, agent: &Path) -> Result<Tracks, WavError> {
    let mono = |p: &Path| match read(p)? {
        (1, samples) => Ok(samples),
        (n, _) => Err(format_error(p, format!("{n} channels (expected mono)"))),
    };
    Ok((mono(customer)?, Some(mono(agent)?)))
}

fn read(path: &Path) -> Result<(u16, Vec<i16>), WavError> {
    let (spec, samples) = read_pcm16(path)?;
    check_rate(path, &spec)?;
    Ok((spec.channels, samples))
}

fn check_rate(path: &Path, spec: &hound::WavSpec) -> Result<(), WavError> {
    if spec.sample_rate != 8000 {
        let what = format!("{} Hz (expected 8000 Hz 16-bit PCM)", spec.sample_rate);
        return Err(format_error(path, what));
    }
    Ok(())
}

/// Any 16-bit integer PCM WAV file: its format and its (interleaved) samples.
pub fn read_pcm16(path: &Path) -> Result<(hound::WavSpec, Vec<i16>), WavError> {
    let reader = hound::WavReader::open(path).map_err(|source| WavError::Read {
        path: path.display().to_string(),
        source,
    })?;
    decode(path, reader)
}

fn decode<R: std::io::Read>(
    path: &Path,
    reader: hound::WavReader<R>,
) -> Result<(hound::WavSpec, Vec<i16>), WavError> {
    let spec = reader.spec();
    if spec.bits_per_sample != 16 || spec.sample_format != hound::SampleFormat::Int {
        let what = format!(
            "{} Hz, {}-bit {:?} (expected 16-bit PCM)",
            spec.sample_rate, spec.bits_per_sample, spec.sample_format
        );
        return Err(format_error(path, what));
    }
    let samples = reader
        .into_samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| WavError::Read {
            path: path.display().to_string(),
            source,
        })?;
    Ok((spec, samples))
}

fn format_error(path: &Path, what: String) -> WavError {
    WavError::Format {
        path: path.display().to_string(),
        what,
    }
}

/// Writes 8 kHz 16-bit PCM (mono, or stereo when `right` is given); for tests and tools.
pub fn write(path: &Path, left: &[i16], right: Option<&[i16]>) -> Result<(), hound::Error> {
    let spec = hound::WavSpec {
        channels: if right.is_some() { 2 } else { 1 },
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut writer = hound::WavWriter::create(path, spec)?;
    for (i, &l) in left.iter().enumerate() {
        writer.write_sample(l)?;
        if let Some(r) = right {
            writer.write_sample(r.get(i).copied().unwrap_or(0))?;
        }
    }
    writer.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_splits_into_customer_and_agent() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("call.wav");
        write(&path, &[1, 2, 3], Some(&[-1, -2, -3])).unwrap();
        let (customer, agent) = read_tracks(&path).unwrap();
        assert_eq!(customer, [1, 2, 3]);
        assert_eq!(agent.unwrap(), [-1, -2, -3]);
    }

    #[test]
    fn wrong_rate_is_refused_with_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cd.wav");
        let spec = hound::WavSpec {
            channels: 1,
            sample_rate: 44100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        w.write_sample(0i16).unwrap();
        w.finalize().unwrap();
        let err = read_tracks(&path).unwrap_err().to_string();
        assert!(err.contains("44100") && err.contains("sox"), "{err}");
    }
}
