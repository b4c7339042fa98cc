#!/usr/bin/env python3
"""Error of the word times callscribe's engines report, against known word times.

Real recordings with hand-marked word times are not available here, so the references
are built: isolated single-word Asterisk prompts (scripts/fetch-speech) are trimmed to
their voiced part (first to last sample above 3% of the clip's peak, a different rule from
the estimator's energy frames), then joined into utterances of 3-6 words with pauses of
0-500 ms, 1 s of silence around each, and faint noise (-60 dBFS), at 8 kHz. Each word's
reference start and end are where its trimmed clip was placed.

Each engine transcribes every file through the endpointer (`callscribe transcribe
--jsonl`, engine by CALLSCRIBE_ENGINE__MODEL); a file is scored when the engine wrote as
many words as were spoken (a dropped or split word would shift every later pairing), and
its words are paired in order. Printed per engine: files scored, mean / p50 / p90 of the
absolute start and end error, and the share of words whose reported midpoint lies inside
the spoken word. Two fixed sets (seed 1 and seed 2) are printed apart; the estimator's
constants were chosen before either was measured.

  bench_word_times.py --bin target/release/callscribe --speech data/speech --work DIR
      [--files N] [--engines moonshine-base-en,whisper-tiny-en]
"""

import argparse
import array
import json
import os
import pathlib
import random
import re
import statistics
import subprocess
import sys
import wave

RATE = 8000
# Prompts that are one ordinary word (no letters, symbols, brand names or numbers).
SKIP = {"dahdi", "mgcp", "unistim", "jingle", "console", "local"}


def single_words(speech):
    """(wav path, word) for every prompt whose transcript is one plain word."""
    found = []
    for line in (speech / "core-sounds-en.txt").read_text(errors="replace").splitlines():
        if line.startswith(";") or ":" not in line:
            continue
        name, text = line.split(":", 1)
        word = text.strip().rstrip(".").lower()
        if not re.fullmatch(r"[a-z]{3,}", word) or word in SKIP:
            continue
        path = speech / "en_US_f_Allison" / f"{name.strip()}.wav"
        if path.exists():
            found.append((path, word))
    return sorted(found)


def read(path):
    with wave.open(str(path)) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2
        return array.array("h", w.readframes(w.getnframes()))


def trimmed(samples):
    """The clip from its first to its last sample above 3% of its peak."""
    peak = max(abs(s) for s in samples)
    loud = [i for i, s in enumerate(samples) if abs(s) > 0.03 * peak]
    return samples[loud[0] : loud[-1] + 1]


def build(words, count, seed, work):
    """Writes `count` utterance files; returns {file: [(word, start_ms, end_ms)]}."""
    rng = random.Random(seed)
    clips = {path: trimmed(read(path)) for path, _ in words}
    truth = {}
    for n in range(count):
        chosen = rng.sample(words, rng.randint(3, 6))
        audio = array.array("h", [0] * RATE)
        spoken = []
        for k, (path, word) in enumerate(chosen):
            if k:
                audio.extend([0] * int(RATE * rng.uniform(0.0, 0.5)))
            start = len(audio)
            audio.extend(clips[path])
            spoken.append((word, start * 1000 // RATE, len(audio) * 1000 // RATE))
        audio.extend([0] * RATE)
        noisy = array.array("h", (max(-32768, min(32767, s + round(rng.gauss(0, 33)))) for s in audio))
        path = work / f"s{seed}-{n:03}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(RATE)
            w.writeframes(noisy.tobytes())
        truth[str(path)] = spoken
    return truth


def transcribe(binary, engine, files):
    env = dict(os.environ, CALLSCRIBE_ENGINE__MODEL=engine)
    out = subprocess.run(
        [binary, "transcribe", "--jsonl", *files], env=env, check=True, capture_output=True, text=True
    ).stdout
    words = {f: [] for f in files}
    for line in out.splitlines():
        row = json.loads(line)
        words[row["file"]].extend(row["words"])
    return words


def pct(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def score(truth, heard):
    starts, ends, inside, scored = [], [], 0, 0
    for path, spoken in truth.items():
        said = heard.get(path, [])
        if len(said) != len(spoken):
            continue
        scored += 1
        for (_, start, end), word in zip(spoken, said):
            starts.append(abs(word["start"] - start))
            ends.append(abs(word["end"] - end))
            inside += start <= (word["start"] + word["end"]) / 2 <= end
    return scored, starts, ends, inside


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--speech", required=True, type=pathlib.Path)
    ap.add_argument("--work", required=True, type=pathlib.Path)
    ap.add_argument("--files", type=int, default=60)
    ap.add_argument("--engines", default="moonshine-base-en,whisper-tiny-en")
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    words = single_words(args.speech)
    print(f"{len(words)} single-word prompts; {args.files} files per set, 3-6 words, pauses 0-500 ms")
    print(f"{'engine':<20} {'set':<6} {'scored':>9} {'start err mean/p50/p90 ms':>27} "
          f"{'end err mean/p50/p90 ms':>25} {'midpoint inside':>16}")
    sets = {seed: build(words, args.files, seed, args.work) for seed in (1, 2)}
    for engine in args.engines.split(","):
        for seed, truth in sets.items():
            scored, starts, ends, inside = score(truth, transcribe(args.bin, engine, list(truth)))
            if not starts:
                print(f"{engine:<20} {seed:<6} {scored:>4}/{len(truth):<4} (no file scored)")
                continue
            fmt = lambda v: f"{statistics.mean(v):.0f} / {pct(v, 0.5)} / {pct(v, 0.9)}"
            print(f"{engine:<20} {seed:<6} {scored:>4}/{len(truth):<4} {fmt(starts):>27} "
                  f"{fmt(ends):>25} {100 * inside / len(starts):>15.1f}%")
    return 0


if __name__ == "__main__":
    sys.exit(main())
