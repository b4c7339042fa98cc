#!/usr/bin/env python3
"""Scores the messages a benchmark run delivered against the calls' turns.

    bench_turns.py TURNS.jsonl HYPS.jsonl --pacing block|fragment [--warm-up-ms 3000] [--worst N]
    bench_turns.py --self-test

TURNS.jsonl is what scripts/bench_calls.py writes ({"file", "start_ms", "speech_end_ms",
"text"} per turn); HYPS.jsonl is what bench_capacity --hypotheses writes ({"file", "text",
"start", "end", "post_ms"} per delivered message). Files are matched by name (the part
after the last "/"), so one run must not hold two calls of the same name.

Each message belongs to the turn of its track it overlaps most. Printed:
- latency: for every turn that got a message, from the moment the emulator sent the block
  (block pacing: 64 ms blocks) or the fragment (fragment pacing: 1,024 ms) holding the
  turn's last spoken sample, to the moment the sink had the POST of the turn's last
  message; p50, p95 and max over the turns ending after the warm-up (calls start a moment
  after the emulator, so the first seconds are read in catch-up); and how far after the
  trimmed end of speech the endpointer heard the turn's last voiced frame (p50), the part
  of the latency that is the voice detector's own tail;
- segmentation: turns cut into several messages, each cut classed by where it falls in
  the reference (aligned word by word): after a sentence (. ? !), at a clause (, ; :) or
  mid-phrase (no punctuation); messages that span two turns (merged); turns without any message (missed);
  messages outside every turn (spurious).
With --worst N, the N slowest turns follow, with the messages they became.
"""

import argparse
import json
import re
import sys

BLOCK_MS = 64
FRAGMENT_MS = 1024


def sent_at_ms(media_ms, pacing):
    """When the audio ending at media_ms (exclusive) had left the emulator."""
    unit = BLOCK_MS if pacing == "block" else FRAGMENT_MS
    return ((max(media_ms, 1) - 1) // unit + 1) * unit


def words(text):
    """(raw, normalised) word pairs: the raw keeps its punctuation."""
    out = []
    for raw in text.split():
        norm = re.sub(r"[^0-9a-z']", "", raw.lower())
        if norm:
            out.append((raw, norm))
    return out


def align(ref, hyp):
    """For each hypothesis word, the reference index it is aligned to (a match or a
    substitution), or the last aligned one before it (-1 if none)."""
    n, m = len(ref), len(hyp)
    cost = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        cost[i][0] = i
    for j in range(m + 1):
        cost[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            sub = cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1])
            cost[i][j] = min(sub, cost[i - 1][j] + 1, cost[i][j - 1] + 1)
    aligned = [None] * m
    i, j = n, m
    while i > 0 and j > 0:
        if cost[i][j] == cost[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            aligned[j - 1] = i - 1
            i, j = i - 1, j - 1
        elif cost[i][j] == cost[i - 1][j] + 1:
            i -= 1
        else:
            j -= 1
    last = -1
    for k in range(m):
        if aligned[k] is None:
            aligned[k] = last
        last = aligned[k]
    return aligned


def cuts(turn_text, messages):
    """Classes of the cuts between consecutive messages of one turn."""
    ref = words(turn_text)
    hyp, ends = [], []
    for m in messages:
        hyp.extend(n for _, n in words(m["text"]))
        ends.append(len(hyp))
    aligned = align([n for _, n in ref], hyp)
    classes = []
    for end in ends[:-1]:
        at = aligned[end - 1] if end > 0 else -1
        raw = ref[at][0] if 0 <= at < len(ref) else ""
        if raw.endswith((".", "?", "!")):
            classes.append("sentence")
        elif raw.endswith((",", ";", ":")):
            classes.append("clause")
        else:
            classes.append("mid")
    return classes


def overlap(a0, a1, b0, b1):
    return max(0, min(a1, b1) - max(a0, b0))


def quantile(values, q):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int((len(values) - 1) * q))]


def score(turns, hyps, pacing, warm_up_ms):
    by_file = {}
    for t in turns:
        by_file.setdefault(t["file"].rsplit("/", 1)[-1], {"turns": [], "messages": []})["turns"].append(t)
    spurious = 0
    for h in hyps:
        key = h["file"].rsplit("/", 1)[-1]
        if key not in by_file:
            spurious += 1
            continue
        by_file[key]["messages"].append(h)
    latencies, tails, slowest = [], [], []
    split_turns, mid, clause, sentence, merged, missed, total = 0, 0, 0, 0, 0, 0, 0
    for track in by_file.values():
        owned = {id(t): [] for t in track["turns"]}
        for m in track["messages"]:
            spans = [
                (overlap(m["start"], m["end"], t["start_ms"], t["speech_end_ms"] + 300), t)
                for t in track["turns"]
            ]
            spans = [s for s in spans if s[0] > 0]
            if not spans:
                spurious += 1
                continue
            merged += sum(1 for s, _ in spans if s >= 200) > 1
            owned[id(max(spans, key=lambda s: s[0])[1])].append(m)
        for t in track["turns"]:
            total += 1
            mine = sorted(owned[id(t)], key=lambda m: m["start"])
            if not mine:
                missed += 1
                continue
            if len(mine) > 1:
                split_turns += 1
                classes = cuts(t["text"], mine)
                mid += classes.count("mid")
                clause += classes.count("clause")
                sentence += classes.count("sentence")
            if t["speech_end_ms"] >= warm_up_ms:
                last = max(mine, key=lambda m: m["end"])
                latency = last["post_ms"] - sent_at_ms(t["speech_end_ms"], pacing)
                latencies.append(latency)
                tails.append(last["end"] - t["speech_end_ms"])
                slowest.append((latency, t["text"], [m["text"] for m in mine]))
    return {
        "turns": total,
        "messages": len(hyps),
        "latency_p50_ms": quantile(latencies, 0.5),
        "latency_p95_ms": quantile(latencies, 0.95),
        "latency_max_ms": max(latencies, default=0.0),
        "vad_tail_p50_ms": quantile(tails, 0.5),
        "turns_split": split_turns,
        "cuts_mid_phrase": mid,
        "cuts_at_clause": clause,
        "cuts_at_sentence": sentence,
        "merged": merged,
        "missed": missed,
        "spurious": spurious,
        "slowest": sorted(slowest, key=lambda s: -s[0]),
    }


def self_test():
    turns = [
        {"file": "b0/c.wav.customer", "start_ms": 1000, "speech_end_ms": 4000, "text": "Hello there. How are you today?"},
        {"file": "b0/c.wav.customer", "start_ms": 8000, "speech_end_ms": 9000, "text": "Fine, thanks."},
        {"file": "b0/c.wav.agent", "start_ms": 5000, "speech_end_ms": 6000, "text": "Good."},
    ]
    hyps = [
        {"file": "x/c.wav.customer", "text": "Hello there.", "start": 1100, "end": 2000, "post_ms": 2400},
        {"file": "x/c.wav.customer", "text": "How are you today?", "start": 2500, "end": 3990, "post_ms": 4300},
        {"file": "x/c.wav.customer", "text": "Fine,", "start": 8000, "end": 8400, "post_ms": 8800},
        {"file": "x/c.wav.customer", "text": "thanks.", "start": 8600, "end": 9000, "post_ms": 9400},
    ]
    r = score(turns, hyps, "block", 0)
    assert (r["turns_split"], r["cuts_at_sentence"], r["cuts_at_clause"]) == (2, 1, 1), r
    assert r["cuts_mid_phrase"] == 0, r
    assert cuts("press one to mute now", [{"text": "press one"}, {"text": "to mute now"}]) == ["mid"]
    assert r["missed"] == 1 and r["merged"] == 0 and r["spurious"] == 0, r
    # 4000 ms ends in the block sent at 4032; 9000 in the one sent at 9024.
    assert sorted([4300 - 4032, 9400 - 9024]) == [268, 376]
    assert r["latency_max_ms"] == 376, r
    assert sent_at_ms(4000, "fragment") == 4096 and sent_at_ms(1024, "fragment") == 1024
    print("self-test passed")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("turns", nargs="?")
    ap.add_argument("hyps", nargs="?")
    ap.add_argument("--pacing", choices=["block", "fragment"], default="block")
    ap.add_argument("--warm-up-ms", type=int, default=3000)
    ap.add_argument("--worst", type=int, default=0)
    ap.add_argument("--self-test", action="store_true")
    args = ap.parse_args()
    if args.self_test:
        self_test()
        return 0
    if not (args.turns and args.hyps):
        ap.error("TURNS.jsonl and HYPS.jsonl are required")
    load = lambda path: [json.loads(line) for line in open(path) if line.strip()]
    r = score(load(args.turns), load(args.hyps), args.pacing, args.warm_up_ms)
    print(
        f"latency p50 {r['latency_p50_ms']:.0f} ms, p95 {r['latency_p95_ms']:.0f} ms, max {r['latency_max_ms']:.0f} ms "
        f"over {r['turns']} turns (the VAD's last voiced frame ends {r['vad_tail_p50_ms']:.0f} ms after the "
        f"trimmed speech, p50); segmentation: {r['turns_split']} turns split "
        f"({r['cuts_at_sentence']} cuts after a sentence, {r['cuts_at_clause']} at a comma or semicolon, "
        f"{r['cuts_mid_phrase']} mid-phrase), "
        f"{r['merged']} merged, {r['missed']} missed, {r['spurious']} spurious"
    )
    for latency, text, said in r["slowest"][: args.worst]:
        print(f"  {latency:6.0f} ms  {text!r} -> {said!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
