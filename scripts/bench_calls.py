#!/usr/bin/env python3
"""Builds the two-party calls `scripts/bench-calls` plays through the whole service.

Each call is an 8 kHz stereo WAV (left customer, right agent) of turns taken in strict
alternation from the Asterisk prompts of scripts/fetch-speech (clips of at most 15 s, in a
fixed shuffled order, each used once), 0.3-1.5 s of silence between turns, faint noise
(-60 dBFS) on both tracks, about 90 s long. Calls go to OUT/bN/ in batches of --batch
(played together); OUT/refs.tsv holds each track's reference, in scripts/wer.py's format,
as `bN/call-NN.wav.customer` and `.agent` (what bench_capacity --hypotheses writes).
OUT/turns.jsonl holds every turn: {"file", "start_ms", "speech_end_ms", "text"}, where
speech_end_ms is where the turn's speech ends with its trailing silence trimmed (the last
10 ms frame within 26 dB of the clip's loudest), the "last spoken word" latency is
measured from.

With --calls N exactly N calls are made: when the prompts run out they are shuffled again
and reused (the first calls are the same as without --calls).

  bench_calls.py --speech data/speech --out DIR [--batch 5] [--seed 7] [--calls N]
"""

import json

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


def speech_end(audio):
    """Samples up to the end of the clip's speech: its last 10 ms frame whose RMS is
    within 26 dB of the loudest frame's."""
    frame = RATE // 100
    rms = []
    for at in range(0, len(audio), frame):
        chunk = audio[at : at + frame]
        rms.append((sum(s * s for s in chunk) / max(1, len(chunk))) ** 0.5)
    floor = max(rms, default=0) * 0.05
    last = max((i for i, r in enumerate(rms) if r >= floor), default=0)
    return min(len(audio), (last + 1) * frame)


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
    ap.add_argument("--calls", type=int, help="make exactly this many calls, reusing prompts")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    every = clips(args.speech)
    pool = list(every)
    rng.shuffle(pool)
    refs = []
    turns = []
    n = 0
    while pool if args.calls is None else n < args.calls:
        tracks = {"customer": array.array("h", [0] * (RATE // 2)), "agent": array.array("h", [0] * (RATE // 2))}
        said = {"customer": [], "agent": []}
        timed = {"customer": [], "agent": []}
        speaker = "agent" if n % 2 == 0 else "customer"
        at = RATE // 2
        while at < CALL_SECONDS * RATE:
            if not pool:
                if args.calls is None:
                    break
                pool = list(every)
                rng.shuffle(pool)
            path, text = pool.pop()
            audio = read(path)
            other = "customer" if speaker == "agent" else "agent"
            tracks[speaker].extend([0] * (at - len(tracks[speaker])))
            tracks[speaker].extend(audio)
            said[speaker].append(text)
            timed[speaker].append((at, at + speech_end(audio), text))
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
            for start, stop, text in timed[role]:
                turns.append(
                    json.dumps(
                        {
                            "file": f"{folder.name}/{name}.{role}",
                            "start_ms": start * 1000 // RATE,
                            "speech_end_ms": stop * 1000 // RATE,
                            "text": text,
                        }
                    )
                )
        n += 1
    (args.out / "refs.tsv").write_text("\n".join(refs) + "\n")
    (args.out / "turns.jsonl").write_text("\n".join(turns) + "\n")
    print(f"{n} calls in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
