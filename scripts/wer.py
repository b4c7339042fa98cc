#!/usr/bin/env python3
"""Word error rate of transcripts against references, as a module and a command.

    python3 scripts/wer.py REFS.tsv HYPS.jsonl [--worst N]
    python3 scripts/wer.py --self-test

REFS.tsv has one clip a line: wav path (relative to the TSV's folder, or absolute),
seconds, reference text; lines starting with '#' are comments (data/speech/manifest.tsv
is such a file). HYPS.jsonl has JSON lines {"file": path, "text": ...}, path relative to
the current folder; several lines for one file (one per utterance) are joined in order.
A reference clip with no line at all is scored against an empty hypothesis (all
deletions), so an engine cannot look better by dropping clips.

WER = (S + D + I) / N from a word-level Levenshtein alignment, summed over the corpus
(total edits / total reference words), not averaged per clip.

Both sides are normalised the same way before scoring, so that the score counts words
heard wrong, not writing conventions. Nothing else is done; in order:
  1. lowercase; curly apostrophes become "'".
  2. symbols read aloud in phone prompts: "#" -> pound, "*" -> star, "&" -> and,
     "%" -> percent.
  3. digit groups: "1,000" -> "1000"; letters and digits next to each other are
     separate words ("3d" -> "3 d", "h.323" -> "h 323"), except ordinals ("1st").
  4. punctuation removed (a "." or "'" inside a word is dropped without a space, so
     "a.m." -> "am"; an apostrophe inside a word is kept: "o'clock", "party's");
     hyphens, slashes and other punctuation become spaces.
  5. numbers in digits to words: "24" -> "twenty four", "1000" -> "one thousand",
     "3.5" -> "three point five", ordinals "1st" -> "first", "22nd" -> "twenty second".
  6. a short table of spellings of the same word: "ok" -> "okay", "thru" -> "through",
     "canceled" -> "cancelled", "e mail" -> "email", "voice mail" -> "voicemail", ...
  7. whitespace collapsed.
"""

import argparse
import json
import os
import re
import sys

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
        "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
        "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
SCALES = [(10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand")]
ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                 "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}

SYMBOLS = {"#": " pound ", "*": " star ", "&": " and ", "%": " percent "}

# Same word, different spelling. Multi-word keys are matched on whole words.
VARIANTS = {
    "ok": "okay",
    "thru": "through",
    "canceled": "cancelled",
    "canceling": "cancelling",
    "e mail": "email",
    "voice mail": "voicemail",
    "touch tone": "touchtone",
    "log in": "login",
    "mr": "mister",
}


def number_words(n):
    """Cardinal words for a non-negative integer, e.g. 324 -> 'three hundred twenty four'."""
    if n < 20:
        return ONES[n]
    if n < 100:
        return TENS[n // 10] + ("" if n % 10 == 0 else " " + ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return ONES[n // 100] + " hundred" + ("" if rest == 0 else " " + number_words(rest))
    for value, name in SCALES:
        if n >= value:
            rest = n % value
            head = number_words(n // value) + " " + name
            return head + ("" if rest == 0 else " " + number_words(rest))
    raise ValueError(n)


def ordinal_words(n):
    """Ordinal words, e.g. 21 -> 'twenty first', 40 -> 'fortieth'."""
    words = number_words(n).split()
    last = words[-1]
    if last in ORDINAL_WORDS:
        last = ORDINAL_WORDS[last]
    elif last.endswith("y"):
        last = last[:-1] + "ieth"
    else:
        last = last + "th"
    return " ".join(words[:-1] + [last])


def _spell_number(match):
    """Replaces one digit token (with optional decimals or ordinal suffix) by words."""
    digits, decimals, suffix = match.group(1), match.group(2), match.group(3)
    if len(digits) > 15:  # not a quantity anyone reads out; spell digit by digit
        return " " + " ".join(ONES[int(d)] for d in digits) + " "
    if suffix:
        return " " + ordinal_words(int(digits)) + " "
    words = number_words(int(digits))
    if decimals:
        words += " point " + " ".join(ONES[int(d)] for d in decimals)
    return " " + words + " "


def _apply_variants(text):
    """Maps spelling variants to one form, on whole words only."""
    for variant, canonical in VARIANTS.items():
        text = re.sub(r"\b" + re.escape(variant) + r"\b", canonical, text)
    return text


def normalize(text):
    """Returns the list of normalised words of text (see the module docstring)."""
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    for symbol, word in SYMBOLS.items():
        text = text.replace(symbol, word)
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)
    # a number's decimal point survives step 4 as the marker "\x00"
    text = re.sub(r"(?<=\d)\.(?=\d)", "\x00", text)
    text = re.sub(r"(?<=[a-z])(?=\d)|(?<=\d)(?=[a-z])(?!(?:st|nd|rd|th)\b)", " ", text)
    text = re.sub(r"(?<=\w)[.'](?=\w)", lambda m: "" if m.group(0) == "." else "'", text)
    text = re.sub(r"[^\w'\x00]+|_", " ", text)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)
    text = re.sub(r"(\d+)(?:\x00(\d+))?(st|nd|rd|th)?\b", _spell_number, text)
    text = text.replace("\x00", " point ")
    text = _apply_variants(" ".join(text.split()))
    return text.split()


def edit_counts(ref, hyp):
    """(substitutions, deletions, insertions) of a minimum word alignment of hyp to ref.

    Plain Levenshtein with unit costs; among equal-cost alignments the backtrace prefers
    a match/substitution, then a deletion, then an insertion, which only affects how
    the total is split into S, D and I, never the total.
    """
    rows, cols = len(ref) + 1, len(hyp) + 1
    dist = [[0] * cols for _ in range(rows)]
    for i in range(rows):
        dist[i][0] = i
    for j in range(cols):
        dist[0][j] = j
    for i in range(1, rows):
        for j in range(1, cols):
            cost = 0 if ref[i - 1] == hyp[j - 1] else 1
            dist[i][j] = min(dist[i - 1][j - 1] + cost, dist[i - 1][j] + 1, dist[i][j - 1] + 1)
    subs = dels = ins = 0
    i, j = len(ref), len(hyp)
    while i > 0 or j > 0:
        if i > 0 and j > 0 and dist[i][j] == dist[i - 1][j - 1] + (ref[i - 1] != hyp[j - 1]):
            subs += ref[i - 1] != hyp[j - 1]
            i, j = i - 1, j - 1
        elif i > 0 and dist[i][j] == dist[i - 1][j] + 1:
            dels += 1
            i -= 1
        else:
            ins += 1
            j -= 1
    return subs, dels, ins


def read_refs(path):
    """{realpath of wav: reference text} from a REFS.tsv (paths relative to its folder)."""
    base = os.path.dirname(os.path.abspath(path))
    refs = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3:
                raise ValueError(f"{path}: expected path, seconds, text: {line!r}")
            refs[os.path.realpath(os.path.join(base, parts[0]))] = parts[2]
    return refs


def read_hyps(path):
    """{realpath of wav: hypothesis text}, utterances of one file joined in order."""
    hyps = {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not JSON: {e}") from None
            key = os.path.realpath(item["file"])
            hyps[key] = (hyps.get(key, "") + " " + item.get("text", "")).strip()
    return hyps


def score(refs, hyps):
    """Scores every reference clip; returns a dict with the corpus figures and per clip.

    refs, hyps: {clip id: text}. Clips missing from hyps count as empty hypotheses;
    hypotheses for clips not in refs are counted in 'extra' and otherwise ignored.
    """
    clips = []
    totals = {"sub": 0, "del": 0, "ins": 0, "words": 0}
    for clip, ref_text in refs.items():
        ref, hyp = normalize(ref_text), normalize(hyps.get(clip, ""))
        s, d, i = edit_counts(ref, hyp)
        totals["sub"] += s
        totals["del"] += d
        totals["ins"] += i
        totals["words"] += len(ref)
        clips.append({"clip": clip, "ref": " ".join(ref), "hyp": " ".join(hyp),
                      "edits": s + d + i, "words": len(ref)})
    edits = totals["sub"] + totals["del"] + totals["ins"]
    return {
        "wer": edits / totals["words"] if totals["words"] else 0.0,
        "edits": edits,
        **totals,
        "clips": clips,
        "missing": sum(1 for c in refs if c not in hyps),
        "extra": sum(1 for c in hyps if c not in refs),
    }


def worst(result, n):
    """The n clips with the most edits (ties: higher per-clip rate first)."""
    return sorted(result["clips"], key=lambda c: (-c["edits"], -c["edits"] / max(c["words"], 1),
                                                   c["clip"]))[:n]


def report(result, n_worst=10):
    """Human-readable summary: corpus WER, clip counts, worst clips."""
    lines = [f"WER {100 * result['wer']:.2f}%  ({result['edits']} edits / {result['words']} words:"
             f" S={result['sub']} D={result['del']} I={result['ins']})  clips={len(result['clips'])}"]
    if result["missing"]:
        lines.append(f"  {result['missing']} clips had no hypothesis (scored as empty)")
    if result["extra"]:
        lines.append(f"  {result['extra']} hypothesis files are not in the references (ignored)")
    if n_worst:
        lines.append(f"worst {n_worst} clips:" if n_worst < len(result["clips"])
                     else "clips with errors, worst first:")
        for c in worst(result, n_worst):
            if c["edits"] == 0:
                break
            lines.append(f"  {c['edits']:3d}/{c['words']:<3d} {os.path.relpath(c['clip'])}")
            lines.append(f"          ref: {c['ref']}")
            lines.append(f"          hyp: {c['hyp']}")
    return "\n".join(lines)


NORMALIZE_CASES = [
    ("Please enter your password followed by the pound key.",
     "please enter your password followed by the pound key"),
    ("Press 1, then #.", "press one then pound"),
    ("press * to toggle pause", "press star to toggle pause"),
    ("24 hours", "twenty four hours"),
    ("1,000 and 1000 and 2024", "one thousand and one thousand and two thousand twenty four"),
    ("0 100 115 90", "zero one hundred one hundred fifteen ninety"),
    ("the 1st, 2nd, 3rd, 22nd and 40th", "the first second third twenty second and fortieth"),
    ("3.5 percent, 50%", "three point five percent fifty percent"),
    ("It's 9 A.M. o'clock", "it's nine am o'clock"),
    ("\u201cIt\u2019s\u201d 'quoted' party's", "it's quoted party's"),
    ("Call-Forward on No Answer", "call forward on no answer"),
    ("3D audio, H.323", "three d audio h three hundred twenty three"),
    ("OK... okay!", "okay okay"),
    ("voice mail e-mail canceled", "voicemail email cancelled"),
    ("straight thru", "straight through"),
    ("To leave the conference...", "to leave the conference"),
    ("Smith & Co", "smith and co"),
    ("", ""),
]

EDIT_CASES = [  # ref, hyp, (S, D, I)
    ("a b c", "a b c", (0, 0, 0)),
    ("a b c", "a x c", (1, 0, 0)),
    ("a b c", "a c", (0, 1, 0)),
    ("a b c", "a b c d", (0, 0, 1)),
    ("a b", "", (0, 2, 0)),
    ("", "a b", (0, 0, 2)),
    ("the cat sat on the mat", "a cat sat mat", (1, 2, 0)),
]


def self_test():
    """Checks normalisation, alignment and corpus scoring on known cases (--self-test)."""
    checks = 0
    for text, expected in NORMALIZE_CASES:
        got = " ".join(normalize(text))
        assert got == expected, f"normalize({text!r}) = {got!r}, expected {expected!r}"
        checks += 1
    assert number_words(1_000_001) == "one million one"
    assert ordinal_words(12) == "twelfth" and ordinal_words(100) == "one hundredth"
    checks += 2
    for ref, hyp, expected in EDIT_CASES:
        got = edit_counts(ref.split(), hyp.split())
        assert got == expected, f"edit_counts({ref!r}, {hyp!r}) = {got}, expected {expected}"
        checks += 1
    refs = {"x": "Press 1 for sales.", "y": "Thank you.", "z": "Goodbye."}
    hyps = {"x": "press one for sails", "y": "Thank you!", "extra": "hello"}
    r = score(refs, hyps)
    # x: 1 substitution of 4 words; y: 0 of 2; z: missing, so 1 deletion of 1 word
    assert (r["sub"], r["del"], r["ins"], r["words"]) == (1, 1, 0, 7), r
    assert abs(r["wer"] - 2 / 7) < 1e-12
    assert r["missing"] == 1 and r["extra"] == 1
    checks += 3
    print(f"wer.py self-test: {checks} passed, 0 failed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("refs", nargs="?", help="REFS.tsv (path, seconds, text)")
    parser.add_argument("hyps", nargs="?", help="HYPS.jsonl ({file, text} lines)")
    parser.add_argument("--worst", type=int, default=10, help="worst clips to list")
    parser.add_argument("--self-test", action="store_true", help="run the built-in checks")
    args = parser.parse_args()
    if args.self_test:
        self_test()
        return
    if not (args.refs and args.hyps):
        parser.error("REFS.tsv and HYPS.jsonl are required")
    print(report(score(read_refs(args.refs), read_hyps(args.hyps)), args.worst))


if __name__ == "__main__":
    sys.exit(main())
