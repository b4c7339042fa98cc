#!/usr/bin/env python3
"""The Python half of scripts/bench-asr: callscribe's engines against faster-whisper.

Three subcommands, run by scripts/bench-asr in this order, once per language:

  plan    picks the clips: the manifest's clips for WER and speed, and clips of 1 s
          (0.8-1.2 s), 2-3 s and 5 s (4-6 s) for latency; when the manifest has too few
          of a length, makes more by joining consecutive prompts with 300 ms of silence.
          Standard library only.
  run     faster-whisper on WAV files, printing the same JSON lines as
          `callscribe transcribe --whole --jsonl`. Needs the .venv/bench-asr venv.
  report  scores every engine's JSON lines and prints the side-by-side table.
          Standard library and scripts/wer.py only.

Every engine decodes the same clips, one after the other, on one CPU thread, greedy
(beam 1); decodeMs excludes model load (one warm-up decode first) and reading/resampling
the WAV, so it is the engine's time for that utterance.
"""

import argparse
import json
import math
import os
import statistics
import sys
import time
import wave

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wer  # noqa: E402

BUCKETS = [("1 s", 0.8, 1.2), ("2-3 s", 2.0, 3.0), ("5 s", 4.0, 6.0)]  # name, seconds
BUCKET_MIN = 20  # fewer natural clips than this: fill up with joined prompts
GAP_S = 0.3  # silence between joined prompts
RATE = 8000  # the speech set's rate; joined clips are 8 kHz 16-bit mono like it


# ---------------------------------------------------------------------------- plan

def read_manifest(path):
    """[(path as engines are given it, seconds, text)] from a manifest.tsv."""
    base = os.path.dirname(path)
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            rel, seconds, text = line.rstrip("\n").split("\t")[:3]
            rows.append((os.path.normpath(os.path.join(base, rel)), float(seconds), text))
    return rows


def join_groups(rows, low, high, count):
    """Up to count groups of consecutive manifest rows whose joined length is in low..high.

    Groups do not overlap; a group starts at the first prompt not used yet and grows while
    it is shorter than the middle of the range and the next prompt still fits under high;
    it is kept if it is then at least low long.
    """
    target = (low + high) / 2
    groups, i = [], 0
    while i < len(rows) and len(groups) < count:
        total, j = rows[i][1], i
        while total < target and j + 1 < len(rows) and total + GAP_S + rows[j + 1][1] <= high:
            j += 1
            total += GAP_S + rows[j][1]
        if low <= total <= high:
            groups.append(rows[i:j + 1])
            i = j + 1
        else:
            i += 1
    return groups


def write_joined(group, path):
    """Writes the group's WAVs joined by GAP_S of silence; returns its length in seconds."""
    gap = b"\0\0" * int(GAP_S * RATE)
    frames = []
    for wav_path, _, _ in group:
        with wave.open(wav_path) as w:
            if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, RATE):
                raise SystemExit(f"{wav_path}: expected 8 kHz mono 16-bit")
            frames.append(w.readframes(w.getnframes()))
    data = gap.join(frames)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(data)
    return len(data) / 2 / RATE


def write_tsv(path, rows):
    """Writes rows of fields as a TSV (absolute paths, so wer.py resolves them anywhere)."""
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write("\t".join(str(x) for x in row) + "\n")


def plan(args):
    """Writes wer.tsv, buckets.tsv, the joined WAVs and the file lists into args.out."""
    rows = read_manifest(args.manifest)
    limit = args.limit or len(rows)
    os.makedirs(os.path.join(args.out, "joined"), exist_ok=True)
    scored = rows[:limit]
    write_tsv(os.path.join(args.out, "wer.tsv"),
              [(os.path.abspath(p), f"{s:.3f}", t) for p, s, t in scored])
    bucket_rows, decode = [], [p for p, _, _ in scored]
    for name, low, high in BUCKETS:
        natural = [r for r in rows if low <= r[1] <= high][:limit]
        wanted = min(limit, BUCKET_MIN) - len(natural)
        for p, s, t in natural:
            bucket_rows.append((name, os.path.abspath(p), f"{s:.3f}", "natural", t))
            decode.append(p)
        short = [r for r in rows if r[1] < low]
        groups = join_groups(short, low, high, wanted) if wanted > 0 else []
        for k, group in enumerate(groups):
            path = os.path.join(args.out, "joined", f"{low:g}-{high:g}s-{k:02d}.wav")
            seconds = write_joined(group, path)
            text = " ".join(t for _, _, t in group)
            bucket_rows.append((name, os.path.abspath(path), f"{seconds:.3f}", "joined", text))
            decode.append(os.path.normpath(path))
    write_tsv(os.path.join(args.out, "buckets.tsv"), bucket_rows)
    unique = list(dict.fromkeys(decode))
    with open(os.path.join(args.out, "decode.txt"), "w") as f:
        f.write("".join(p + "\n" for p in unique))
    with open(os.path.join(args.out, "scored.txt"), "w") as f:
        f.write("".join(p + "\n" for p, _, _ in scored))
    joined = sum(1 for r in bucket_rows if r[3] == "joined")
    print(f"plan: {len(scored)} clips scored ({sum(s for _, s, _ in scored):.1f} s), "
          f"{len(bucket_rows)} latency clips ({joined} joined), {len(unique)} files to decode")


# ----------------------------------------------------------------------------- run

def load_model(model_dir, threads):
    """A Whisper model from a local CTranslate2 directory, never from the network.

    faster-whisper downloads from the Hugging Face hub when the path is not a directory
    and fetches tokenizer.json when the directory lacks it, so both are checked first;
    preprocessor_config.json is optional (its defaults, 80 mels at 16 kHz, are those of
    tiny.en and base).
    """
    needed = ["model.bin", "config.json", "vocabulary.txt", "tokenizer.json"]
    missing = [n for n in needed if not os.path.isfile(os.path.join(model_dir, n))]
    if missing:
        raise SystemExit(f"{model_dir}: missing {', '.join(missing)}; run scripts/bench-asr")
    from faster_whisper import WhisperModel
    return WhisperModel(model_dir, device="cpu", compute_type="int8", cpu_threads=threads,
                        num_workers=1, local_files_only=True)


SETTINGS = dict(beam_size=1, without_timestamps=False, condition_on_previous_text=False,
                vad_filter=False)


def transcribe_timed(model, audio, language):
    """(text, wall ms, CPU ms) for one utterance: transcribe() plus draining its generator,
    which is where faster-whisper does the decoding. CPU time (all threads) tells how
    much of the wall time was waiting for a core on a busy machine."""
    started, cpu_started = time.perf_counter(), time.process_time()
    segments, _ = model.transcribe(audio, language=language, **SETTINGS)
    text = "".join(s.text for s in segments).strip()
    wall = (time.perf_counter() - started) * 1000.0
    return text, wall, (time.process_time() - cpu_started) * 1000.0


def run(args):
    """Prints one JSON line per file, as `callscribe transcribe --whole --jsonl` does."""
    files = list(args.files)
    if args.list:
        with open(args.list) as f:
            files += [line.strip() for line in f if line.strip()]
    if not files:
        raise SystemExit("no files")
    # Set before numpy and huggingface_hub are imported: no hub, and numpy's BLAS (mel
    # spectrogram) on one thread like the model.
    os.environ["HF_HUB_OFFLINE"] = "1"
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    from faster_whisper import decode_audio
    import ctranslate2
    import faster_whisper
    model = load_model(args.model, args.threads)
    print(f"faster-whisper {faster_whisper.__version__}, ctranslate2 {ctranslate2.__version__},"
          f" {args.model}, int8, {args.threads} thread(s), language {args.language},"
          f" {SETTINGS}", file=sys.stderr)
    warm_up = decode_audio(files[0], sampling_rate=16000)
    transcribe_timed(model, warm_up, args.language)
    for n, path in enumerate(files, 1):
        audio = decode_audio(path, sampling_rate=16000)
        text, decode_ms, cpu_ms = transcribe_timed(model, audio, args.language)
        audio_ms = round(len(audio) * 1000 / 16000)
        print(json.dumps({"file": path, "channel": "mono", "start": 0, "end": audio_ms,
                          "text": text, "audioMs": audio_ms, "decodeMs": round(decode_ms, 3),
                          "cpuMs": round(cpu_ms, 3)}), flush=True)
        if n % 50 == 0:
            print(f"faster-whisper: {n}/{len(files)} files", file=sys.stderr)


# -------------------------------------------------------------------------- report

def read_lines(path):
    """{realpath: {"decode_ms", "audio_ms", "cpu_ms", "n", "fallbacks"}} summed over a file's
    utterances (cpu_ms is NaN when the engine does not report the optional cpuMs;
    fallbacks counts the utterances marked "fallback": true)."""
    per_file = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            item = json.loads(line)
            entry = per_file.setdefault(os.path.realpath(item["file"]),
                                        {"decode_ms": 0.0, "audio_ms": 0.0, "cpu_ms": 0.0,
                                         "n": 0, "fallbacks": 0})
            entry["decode_ms"] += float(item["decodeMs"])
            entry["cpu_ms"] += float(item.get("cpuMs", "nan"))
            entry["audio_ms"] += float(item["audioMs"])
            entry["n"] += 1
            entry["fallbacks"] += bool(item.get("fallback"))
    return per_file


def read_time(path):
    """(wall, CPU) seconds of the process that wrote the JSON lines at path, from the
    bash `time` output beside them (FILE.time: "wall user system"); None without one."""
    timing = os.path.splitext(path)[0] + ".time"
    if not os.path.isfile(timing):
        return None
    with open(timing, encoding="utf-8") as f:
        wall, user, system = (float(x) for x in f.read().split()[-3:])
    return wall, user + system


def percentile(values, q):
    """Nearest-rank percentile (q in 0..100) of a non-empty list: an observed value."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil(n * q / 100)
    return ordered[int(rank) - 1]


def read_buckets(path):
    """{bucket name: [(realpath, seconds, kind)]} from buckets.tsv."""
    buckets = {name: [] for name, _, _ in BUCKETS}
    with open(path, encoding="utf-8") as f:
        for line in f:
            name, clip, seconds, kind, _ = line.rstrip("\n").split("\t")
            buckets[name].append((os.path.realpath(clip), float(seconds), kind))
    return buckets


def read_seconds(path):
    """{realpath: seconds} of a REFS.tsv whose paths are absolute."""
    with open(path, encoding="utf-8") as f:
        return {os.path.realpath(p): float(s)
                for p, s, _ in (line.rstrip("\n").split("\t")[:3] for line in f if line.strip())}


def speed(path, seconds, buckets):
    """Compute per audio second over the clips of seconds ({realpath: length}), bucket
    latencies (p50, p95 ms), fallbacks and process time of one --whole run."""
    lines = read_lines(path)
    done = [c for c in seconds if c in lines]
    audio_ms = sum(seconds[c] * 1000 for c in done) or math.nan
    total = {k: sum(lines[c][k] for c in done) for k in ("decode_ms", "cpu_ms", "audio_ms")}
    latency = {}
    for bucket, clips in buckets.items():
        times = [lines[c]["decode_ms"] for c, _, _ in clips if c in lines]
        latency[bucket] = (statistics.median(times), percentile(times, 95)) if times else None
    timing = read_time(path)
    return {"rtf": total["decode_ms"] / audio_ms, "cpu_rtf": total["cpu_ms"] / audio_ms,
            "audio_gap": abs(total["audio_ms"] - audio_ms) / audio_ms, "latency": latency,
            "core_share": timing[1] / timing[0] if timing and timing[0] else None,
            "fallbacks": sum(e["fallbacks"] for e in lines.values()),
            "decodes": sum(e["n"] for e in lines.values())}


def score_run(out_dir, stem, path, refs, language):
    """wer.score of a run's JSON lines on refs; every clip's errors go to OUT/wer-STEM.txt."""
    hyps = wer.read_hyps(path)
    result = wer.score(refs, {c: t for c, t in hyps.items() if c in refs}, language)
    with open(os.path.join(out_dir, f"wer-{stem}.txt"), "w", encoding="utf-8") as f:
        f.write(wer.report(result, 10**6) + "\n")
    return result


def clip_sets(sets, refs):
    """[(label, {clip: text})]: the planned clips in each --set's TSV, or all of them."""
    if not sets:
        return [("", refs)]
    chosen = [(label, wer.read_refs(path)) for label, path in sets]
    return [(label, {c: t for c, t in refs.items() if c in wanted}) for label, wanted in chosen]


def cells(values, names, fmt):
    """One row of the table: fmt(value) per engine, "-" where it has none (None or NaN)."""
    def cell(v):
        return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else fmt(v)
    return [cell(values.get(n)) for n in names]


def wer_rows(args, refs, names, warnings):
    """The WER rows: per clip set, the whole-clip runs, then the endpointed ones."""
    rows = []
    for label, clips in clip_sets(args.set, refs):
        for kind, runs, tag in (("whole clip", args.whole, ""),
                                ("endpointer", args.stream, "-endpointer")):
            if not runs:
                continue
            stem = tag + (f"-{label}" if label else "")
            results = {n: score_run(args.out, n + stem, p, clips, args.language) for n, p in runs}
            title = f"WER, {kind}" + (f", {label}" if label else "") + f" ({len(clips)} clips)"
            rows.append((title, cells({n: r["wer"] for n, r in results.items()}, names,
                                      lambda v: f"{100 * v:.2f}%")))
            warnings.extend(f"warning: {n} ({kind}) printed nothing for {r['missing']} clip(s)"
                            " (scored as empty)" for n, r in results.items() if r["missing"])
    return rows


def speed_rows(args, speeds, buckets, names):
    """Compute per audio second (also relative to --baseline), latency per bucket and the
    share of a core each process had."""
    def row(key):
        return {n: s[key] for n, s in speeds.items()}
    rows = [("compute s per audio s", cells(row("rtf"), names, "{:.4f}".format))]
    if args.baseline in speeds:
        base = speeds[args.baseline]["rtf"]
        rows.append((f"  relative to {args.baseline}",
                     cells({n: r / base for n, r in row("rtf").items()}, names, "{:.2f}x".format)))
    if any(not math.isnan(v) for v in row("cpu_rtf").values()):
        rows.append(("  CPU s per audio s (optional cpuMs)",
                     cells(row("cpu_rtf"), names, "{:.4f}".format)))
    for bucket, clips in buckets.items():
        joined = sum(1 for c in clips if c[2] == "joined")
        count = f"{len(clips) - joined} + {joined} joined" if joined else f"{len(clips)}"
        rows.append((f"latency {bucket} ({count} clips) p50 / p95",
                     cells({n: s["latency"][bucket] for n, s in speeds.items()}, names,
                           lambda v: f"{v[0]:.0f} / {v[1]:.0f} ms")))
    if any(v is not None for v in row("core_share").values()):
        rows.append(("process CPU s / wall s (1: had a core)",
                     cells(row("core_share"), names, "{:.2f}".format)))
    return rows


def notes(speeds, buckets, warnings):
    """The lines under the table: joined clips, fallbacks, a busy machine, odd lengths."""
    lines = [f"note: the {bucket} bucket has too few prompts of that length; 'joined' clips"
             f" are consecutive prompts with {int(GAP_S * 1000)} ms of silence between."
             for bucket, clips in buckets.items() if any(c[2] == "joined" for c in clips)]
    for n, s in speeds.items():
        if s["fallbacks"]:
            lines.append(f"note: {n}: {s['fallbacks']} of {s['decodes']} whole-clip decodes went"
                         " again to its fallback engine (time included)")
        if s["core_share"] is not None and s["core_share"] < 0.9:
            lines.append(f"warning: {n} had a core only {100 * s['core_share']:.0f}% of its wall"
                         " time: the machine was busy and its times are inflated")
        if s["audio_gap"] > 0.01:
            lines.append(f"warning: {n}'s audioMs differs from the clip lengths by "
                         f"{100 * s['audio_gap']:.1f}% (compute per audio s uses clip lengths)")
    return lines + warnings


def report(args):
    """Prints the side-by-side table; per-clip scores go to OUT/wer-NAME[-SET].txt."""
    refs = wer.read_refs(os.path.join(args.out, "wer.tsv"))
    seconds = read_seconds(os.path.join(args.out, "wer.tsv"))
    buckets = read_buckets(os.path.join(args.out, "buckets.tsv"))
    names = list(dict.fromkeys(n for n, _ in args.whole + args.stream))
    speeds = {n: speed(path, seconds, buckets) for n, path in args.whole}
    warnings = []
    rows = [("", names)] + wer_rows(args, refs, names, warnings)
    rows += speed_rows(args, speeds, buckets, names)
    width = max(len(r[0]) for r in rows)
    col = max(12, *(len(c) + 2 for _, cells_ in rows for c in cells_))
    print(f"bench-asr, {args.title}: {len(refs)} clips, {sum(seconds.values()):.1f} s of 8 kHz"
          " speech; one CPU thread, greedy")
    for label, row in rows:
        print(label.ljust(width) + "".join(c.rjust(col) for c in row))
    for line in notes(speeds, buckets, warnings):
        print(line)
    print(f"per-clip errors: {os.path.join(args.out, 'wer-NAME.txt')}, worst first")


def pair(arg):
    """NAME=PATH -> (NAME, PATH)."""
    name, sep, path = arg.partition("=")
    if not sep:
        raise argparse.ArgumentTypeError(f"expected NAME=FILE, got {arg!r}")
    return name, path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("plan", help="pick the clips and make the joined ones")
    p.add_argument("--manifest", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--limit", type=int, default=0, help="at most N clips per set (0: all)")
    p.set_defaults(func=plan)
    p = sub.add_parser("run", help="faster-whisper on WAV files, JSON lines on stdout")
    p.add_argument("--model", required=True, help="CTranslate2 Whisper model directory")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--language", default="en", help="Whisper's language code (en, es)")
    p.add_argument("--list", help="file with one WAV path a line")
    p.add_argument("files", nargs="*")
    p.set_defaults(func=run)
    p = sub.add_parser("report", help="the side-by-side table")
    p.add_argument("--out", required=True, help="the plan's folder")
    p.add_argument("--title", default="speech", help="what the clips are, for the heading")
    p.add_argument("--language", choices=["en", "es"], default="en",
                   help="scripts/wer.py's normalisation")
    p.add_argument("--set", type=pair, action="append", default=[], metavar="LABEL=REFS.tsv",
                   help="score only these clips, in a row of their own (repeatable)")
    p.add_argument("--baseline", help="an engine whose compute per audio s the others are"
                   " shown relative to")
    p.add_argument("--whole", type=pair, action="append", default=[],
                   metavar="NAME=FILE.jsonl", help="a whole-clip run (WER, speed, latency)")
    p.add_argument("--stream", type=pair, action="append", default=[],
                   metavar="NAME=FILE.jsonl", help="an endpointed run (WER only)")
    p.set_defaults(func=report)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
