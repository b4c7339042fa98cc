#!/usr/bin/env python3
"""Builds the two-party calls `scripts/bench-calls` plays through the whole service.

Each call is an 8 kHz stereo WAV (left customer, right agent) of turns taken in strict
alternation from the Asterisk prompts of scripts/fetch-speech (clips of at most 15 s, in a
fixed shuffled order, each used once), 0.3-1.5 s of silence between turns, faint noise
(-60 dBFS) on both tracks, about 90 s long. Calls go to OUT/bN/ in batches of --batch
(played together); OUT/refs.tsv holds each track's reference, in scripts/wer.py's format,
as `bN/call-NN.wav.customer` and `.agent` (what bench_capacity --hypotheses writes).

  bench_calls.py --speech data/speech --out DIR [--batch 5] [--seed 7]
"""

import argparse
import array
import pathlib
import random
import sys
import wave

RATE = 8000
CALL_SECONDS = 90
LONGEST_TURN = 15.0


def read(path):
    with wave.open(str(path)) as w:
        assert w.getframerate() == RATE and w.getnchannels() == 1 and w.getsampwidth() == 2
        return array.array("h", w.readframes(w.getnframes()))


def clips(speech):
    """(path, text) of every manifest clip up to LONGEST_TURN seconds."""
    found = []
    for line in (speech / "manifest.tsv").read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        rel, seconds, text = line.split("\t", 2)
        if float(seconds) <= LONGEST_TURN:
            found.append((speech / rel, text))
    return sorted(found)


def write_call(path, customer, agent, rng):
    noisy = lambda s: max(-32768, min(32767, s + round(rng.gauss(0, 33))))
    frames = array.array("h")
    for c, a in zip(customer, agent):
        frames.append(noisy(c))
        frames.append(noisy(a))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(frames.tobytes())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--speech", required=True, type=pathlib.Path)
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("--batch", type=int, default=5)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    pool = clips(args.speech)
    rng.shuffle(pool)
    refs = []
    n = 0
    while pool:
        tracks = {"customer": array.array("h", [0] * (RATE // 2)), "agent": array.array("h", [0] * (RATE // 2))}
        said = {"customer": [], "agent": []}
        speaker = "agent" if n % 2 == 0 else "customer"
        at = RATE // 2
        while pool and at < CALL_SECONDS * RATE:
            path, text = pool.pop()
            audio = read(path)
            other = "customer" if speaker == "agent" else "agent"
            tracks[speaker].extend([0] * (at - len(tracks[speaker])))
            tracks[speaker].extend(audio)
            said[speaker].append(text)
            at += len(audio) + int(RATE * rng.uniform(0.3, 1.5))
            speaker = other
        end = at + RATE
        for t in tracks.values():
            t.extend([0] * (end - len(t)))
        folder = args.out / f"b{n // args.batch}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"call-{n:02}.wav"
        write_call(folder / name, tracks["customer"], tracks["agent"], rng)
        for role in ("customer", "agent"):
            refs.append(f"{folder.name}/{name}.{role}\t{end / RATE:.1f}\t{' '.join(said[role])}")
        n += 1
    (args.out / "refs.tsv").write_text("\n".join(refs) + "\n")
    print(f"{n} calls in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
