//! Word timings for engines that give none (Moonshine's decoder exposes no attention to
//! align on): the words are aligned to the clip's voiced stretches by length.
//!
//! The clip is cut into voiced segments at its pauses (10 ms energy frames; gaps up to
//! 80 ms, such as stop closures, are bridged). The words, in order, are matched to the
//! segments, in order, so that each segment holds either one word (which may also
//! span the following segments) or several words; the matching minimises the squared
//! difference between each group's voiced time and its share of letters. Words sharing
//! a segment divide it by letters. Silence before, between and after the words gets no
//! word time, and a word next to a pause starts or ends on it.
//! `scripts/bench-word-times` measures the error against isolated-word references.

use super::Word;

/// 10 ms frames at the engines' 16 kHz.
const FRAME: usize = 160;
const FRAME_MS: i64 = 10;
/// A frame is voiced when its energy is within this many dB of the clip's loud frames…
const BELOW_PEAK_DB: f32 = 35.0;
/// …and this many dB above its quiet ones.
const ABOVE_FLOOR_DB: f32 = 10.0;
/// Unvoiced runs up to this many frames inside speech (stop closures) are bridged.
const BRIDGE_FRAMES: usize = 8;

/// A voiced stretch: frames `start..end`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    start: usize,
    end: usize,
}

impl Segment {
    fn frames(self) -> usize {
        self.end - self.start
    }
}

/// `text`'s words with estimated start and end in ms from the start of `audio` (16 kHz).
pub fn estimate(text: &str, audio: &[f32]) -> Vec<Word> {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.is_empty() {
        return Vec::new();
    }
    let mut segments = voiced_segments(audio);
    if segments.is_empty() {
        // No contrast to find speech by (a tone, digital silence): the whole clip.
        segments.push(Segment {
            start: 0,
            end: audio.len().div_ceil(FRAME).max(1),
        });
    }
    let letters: Vec<usize> = words
        .iter()
        .map(|w| w.chars().filter(|c| c.is_alphanumeric()).count().max(1))
        .collect();
    let mut times = Vec::with_capacity(words.len());
    for group in align(&letters, &segments) {
        let (first, last) = (segments[group.segments.0], segments[group.segments.1 - 1]);
        let in_group = &letters[group.words.0..group.words.1];
        if in_group.len() == 1 {
            times.push((first.start, last.end));
            continue;
        }
        // Several words in one segment: divided by letters.
        let total: usize = in_group.iter().sum();
        let mut done = 0;
        for &n in in_group {
            let start = first.start + done * first.frames() / total;
            done += n;
            times.push((start, first.start + done * first.frames() / total));
        }
    }
    words
        .into_iter()
        .zip(times)
        .map(|(w, (start, end))| Word {
            content: w.to_owned(),
            start: start as i64 * FRAME_MS,
            end: end.max(start + 1) as i64 * FRAME_MS,
        })
        .collect()
}

/// Words `words.0..words.1` laid over segments `segments.0..segments.1`: one word over
/// one or more segments, or several words in one segment.
#[derive(Debug, Clone, Copy)]
struct Group {
    words: (usize, usize),
    segments: (usize, usize),
}

/// The cheapest in-order grouping of words and segments (dynamic programming over
/// words × segments); every word and every segment is in exactly one group.
fn align(letters: &[usize], segments: &[Segment]) -> Vec<Group> {
    let (n, m) = (letters.len(), segments.len());
    let voiced: usize = segments.iter().map(|s| s.frames()).sum();
    let per_letter = voiced as f64 / letters.iter().sum::<usize>() as f64;
    // A group's cost: its voiced time against its letters' share, squared, relative.
    let cost = |frames: usize, letters: usize| {
        let expected = per_letter * letters as f64;
        (frames as f64 - expected).powi(2) / expected
    };
    let mut best = vec![vec![f64::INFINITY; m + 1]; n + 1];
    let mut from: Vec<Vec<Option<Group>>> = vec![vec![None; m + 1]; n + 1];
    best[0][0] = 0.0;
    for i in 0..n {
        for j in 0..m {
            let here = best[i][j];
            if here.is_infinite() {
                continue;
            }
            let mut offer = |group: Group, extra: f64| {
                let (wi, sj) = (group.words.1, group.segments.1);
                if here + extra < best[wi][sj] {
                    best[wi][sj] = here + extra;
                    from[wi][sj] = Some(group);
                }
            };
            // Word i over segments j..k.
            let mut frames = 0;
            for (k, segment) in segments.iter().enumerate().skip(j) {
                frames += segment.frames();
                let group = Group {
                    words: (i, i + 1),
                    segments: (j, k + 1),
                };
                offer(group, cost(frames, letters[i]));
            }
            // Words i..l (two or more) in segment j.
            let mut in_segment = letters[i];
            for (l, word) in letters.iter().enumerate().skip(i + 1) {
                in_segment += word;
                let group = Group {
                    words: (i, l + 1),
                    segments: (j, j + 1),
                };
                offer(group, cost(segments[j].frames(), in_segment));
            }
        }
    }
    let mut groups = Vec::new();
    let (mut i, mut j) = (n, m);
    while let Some(group) = from[i][j] {
        groups.push(group);
        (i, j) = (group.words.0, group.segments.0);
    }
    groups.reverse();
    groups
}

/// The voiced stretches of `audio`, short gaps inside speech bridged.
fn voiced_segments(audio: &[f32]) -> Vec<Segment> {
    let db: Vec<f32> = audio
        .chunks(FRAME)
        .map(|f| {
            let energy = f.iter().map(|s| s * s).sum::<f32>() / f.len() as f32;
            10.0 * energy.max(1e-10).log10()
        })
        .collect();
    if db.is_empty() {
        return Vec::new();
    }
    let mut sorted = db.clone();
    sorted.sort_by(f32::total_cmp);
    let at = |q: f32| sorted[((sorted.len() - 1) as f32 * q) as usize];
    let (floor, peak) = (at(0.1), at(0.95));
    let threshold = (peak - BELOW_PEAK_DB).max(floor + ABOVE_FLOOR_DB);
    if threshold >= peak {
        return Vec::new();
    }
    let mut segments: Vec<Segment> = Vec::new();
    for (i, _) in db.iter().enumerate().filter(|(_, d)| **d > threshold) {
        match segments.last_mut() {
            Some(last) if i - last.end <= BRIDGE_FRAMES => last.end = i + 1,
            _ => segments.push(Segment {
                start: i,
                end: i + 1,
            }),
        }
    }
    segments
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `ms` of a 200 Hz tone at `amplitude` (0 for silence).
    fn sound(ms: usize, amplitude: f32) -> Vec<f32> {
        (0..ms * 16)
            .map(|i| amplitude * (i as f32 * 200.0 * std::f32::consts::TAU / 16_000.0).sin())
            .collect()
    }

    fn times(words: &[Word]) -> Vec<(i64, i64)> {
        words.iter().map(|w| (w.start, w.end)).collect()
    }

    #[test]
    fn words_land_on_the_voiced_stretches_between_pauses() {
        // 300 ms silence, "hello" 500 ms, 400 ms pause, "there" 300 ms, 300 ms silence.
        let audio = [
            sound(300, 0.0),
            sound(500, 0.3),
            sound(400, 0.0),
            sound(300, 0.3),
            sound(300, 0.0),
        ]
        .concat();
        let words = estimate("hello there", &audio);
        assert_eq!(times(&words), [(300, 800), (1200, 1500)]);
    }

    #[test]
    fn a_word_may_span_a_pause_and_words_may_share_a_stretch() {
        // "a considerable" in the first stretch; "de…lay" across a 200 ms pause.
        let audio = [
            sound(900, 0.3),
            sound(200, 0.0),
            sound(200, 0.3),
            sound(200, 0.0),
            sound(200, 0.3),
        ]
        .concat();
        let words = estimate("a considerable delay", &audio);
        assert_eq!(times(&words)[2], (1100, 1700));
        assert_eq!((words[0].start, words[1].end), (0, 900));
        assert!(words[1].end - words[1].start > 4 * (words[0].end - words[0].start));
    }

    #[test]
    fn flat_audio_spreads_over_the_whole_clip_and_no_text_gives_no_words() {
        let words = estimate("one two", &sound(1_000, 0.0));
        assert_eq!(times(&words), [(0, 500), (500, 1_000)]);
        assert!(estimate("", &sound(1_000, 0.3)).is_empty());
        assert_eq!(times(&estimate("one", &[])), [(0, 10)]);
    }
}
