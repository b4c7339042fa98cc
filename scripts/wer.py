#!/usr/bin/env python3
"""Word error rate of transcripts against references, as a module and a command.

    python3 scripts/wer.py REFS.tsv HYPS.jsonl [--worst N] [--language en|es]
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

With --language es (Spanish; normalize(text, "es")) the English steps above are not used;
instead, in order:
  1. accents folded: NFD decomposition with the combining marks dropped, so "á" -> "a",
     "ü" -> "u" and "ñ" -> "n" (the Spanish references mostly omit them); lowercase.
  2. symbols: "%" -> por ciento, "&" -> y, "*" -> asterisco, "#" -> numero.
  3. digit groups: "1.000" and "1,000" -> "1000" (a separator before exactly three
     digits); letters and digits next to each other are separate words ("3d" -> "3 d").
  4. punctuation removed, including "¿" and "¡" (hyphens, apostrophes and the rest
     become spaces).
  5. numbers in digits to Spanish words, accent-folded: "7" -> "siete", "21" -> "veintiuno",
     "35" -> "treinta y cinco", "100" -> "cien", "115" -> "ciento quince",
     "500" -> "quinientos", "2000" -> "dos mil", "21000" -> "veintiun mil",
     "1000000" -> "un millon"; "3.5" / "3,5" -> "tres punto cinco" / "tres coma cinco".
     No ordinals, and "1" is always "uno" (never "un" or "una").
  6. whitespace collapsed.
"""

import argparse
import json
import os
import re
import sys
import unicodedata

ONES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
        "ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
        "seventeen", "eighteen", "nineteen"]
TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
SCALES = [(10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand")]
ORDINAL_WORDS = {"one": "first", "two": "second", "three": "third", "five": "fifth",
                 "eight": "eighth", "nine": "ninth", "twelve": "twelfth"}

SYMBOLS = {"#": " pound ", "*": " star ", "&": " and ", "%": " percent "}

ES_ONES = ["cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve",
           "diez", "once", "doce", "trece", "catorce", "quince", "dieciseis", "diecisiete",
           "dieciocho", "diecinueve", "veinte", "veintiuno", "veintidos", "veintitres",
           "veinticuatro", "veinticinco", "veintiseis", "veintisiete", "veintiocho",
           "veintinueve"]
ES_TENS = ["", "", "", "treinta", "cuarenta", "cincuenta", "sesenta", "setenta", "ochenta",
           "noventa"]
ES_HUNDREDS = ["", "ciento", "doscientos", "trescientos", "cuatrocientos", "quinientos",
               "seiscientos", "setecientos", "ochocientos", "novecientos"]
ES_SYMBOLS = {"#": " numero ", "*": " asterisco ", "&": " y ", "%": " por ciento "}
ES_DECIMAL = {".": "\x00", ",": "\x01"}  # a decimal separator's marker through step 4
ES_DECIMAL_WORDS = {"\x00": "punto", "\x01": "coma"}

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


def number_words_es(n):
    """Spanish cardinal words, accent-folded, for a non-negative integer below 10**12,
    e.g. 35 -> 'treinta y cinco', 21000 -> 'veintiun mil', 2000000 -> 'dos millones'."""
    if n < 30:
        return ES_ONES[n]
    if n < 100:
        return ES_TENS[n // 10] + ("" if n % 10 == 0 else " y " + ES_ONES[n % 10])
    if n == 100:
        return "cien"
    if n < 1000:
        rest = n % 100
        return ES_HUNDREDS[n // 100] + ("" if rest == 0 else " " + number_words_es(rest))
    if n < 10**6:
        head = "mil" if n < 2000 else _apocope(number_words_es(n // 1000)) + " mil"
        return head + ("" if n % 1000 == 0 else " " + number_words_es(n % 1000))
    if n < 10**12:
        head = ("un millon" if n < 2 * 10**6
                else _apocope(number_words_es(n // 10**6)) + " millones")
        return head + ("" if n % 10**6 == 0 else " " + number_words_es(n % 10**6))
    raise ValueError(n)


def _apocope(words):
    """'uno' shortened before a noun such as mil or millones: 'veintiuno' -> 'veintiun'."""
    return words[:-1] if words.endswith("uno") else words


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


def _spell_number_es(match):
    """Replaces one digit token (with optional decimals) by Spanish words."""
    digits, marker, decimals = match.group(1), match.group(2), match.group(3)
    if len(digits) > 12:  # not a quantity anyone reads out; spell digit by digit
        return " " + " ".join(ES_ONES[int(d)] for d in digits) + " "
    words = number_words_es(int(digits))
    if decimals:
        words += f" {ES_DECIMAL_WORDS[marker]} " + " ".join(ES_ONES[int(d)] for d in decimals)
    return " " + words + " "


def normalize_es(text):
    """Returns the list of normalised words of Spanish text (see the module docstring)."""
    text = unicodedata.normalize("NFD", text)
    text = "".join(c for c in text if not unicodedata.combining(c)).lower()
    for symbol, word in ES_SYMBOLS.items():
        text = text.replace(symbol, word)
    text = re.sub(r"(?<=\d)[.,](?=\d{3}\b)", "", text)
    text = re.sub(r"(?<=[^\W\d_])(?=\d)|(?<=\d)(?=[^\W\d_])", " ", text)
    text = re.sub(r"(?<=\d)[.,](?=\d)", lambda m: ES_DECIMAL[m.group(0)], text)
    text = re.sub(r"[^\w\x00\x01]+|_", " ", text)
    text = re.sub(r"(\d+)(?:([\x00\x01])(\d+))?", _spell_number_es, text)
    return text.split()


def normalize(text, language="en"):
    """Returns the list of normalised words of text (see the module docstring)."""
    if language == "es":
        return normalize_es(text)
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


def score(refs, hyps, language="en"):
    """Scores every reference clip; returns a dict with the corpus figures and per clip.

    refs, hyps: {clip id: text}; language: "en" or "es", the normalisation. Clips missing
    from hyps count as empty hypotheses; hypotheses for clips not in refs are counted in
    'extra' and otherwise ignored.
    """
    clips = []
    totals = {"sub": 0, "del": 0, "ins": 0, "words": 0}
    for clip, ref_text in refs.items():
        ref, hyp = normalize(ref_text, language), normalize(hyps.get(clip, ""), language)
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

ES_NORMALIZE_CASES = [
    ("¿Cuál es su número?", "cual es su numero"),
    ("¡Año nuevo! Pingüino, acción.", "ano nuevo pinguino accion"),
    ("Marque 1, luego #.", "marque uno luego numero"),
    ("0 7 15 16 21 22 30 35 99", "cero siete quince dieciseis veintiuno veintidos treinta"
     " treinta y cinco noventa y nueve"),
    ("100 101 115 200 500 999", "cien ciento uno ciento quince doscientos quinientos"
     " novecientos noventa y nueve"),
    ("1.000 1,000 2024 21000 100000", "mil mil dos mil veinticuatro veintiun mil cien mil"),
    ("1000000 3000000", "un millon tres millones"),
    ("3.5 y 3,5, 50%", "tres punto cinco y tres coma cinco cincuenta por ciento"),
    ("Tecla * o 3d", "tecla asterisco o tres d"),
    ("...para salir del menú.", "para salir del menu"),
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
    for text, expected in ES_NORMALIZE_CASES:
        got = " ".join(normalize(text, "es"))
        assert got == expected, f"normalize({text!r}, 'es') = {got!r}, expected {expected!r}"
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
    r = score({"x": "Oprima 1 para ventas."}, {"x": "¡Oprima uno para ventás!"}, "es")
    assert r["edits"] == 0 and r["words"] == 4, r
    checks += 4
    print(f"wer.py self-test: {checks} passed, 0 failed")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("refs", nargs="?", help="REFS.tsv (path, seconds, text)")
    parser.add_argument("hyps", nargs="?", help="HYPS.jsonl ({file, text} lines)")
    parser.add_argument("--worst", type=int, default=10, help="worst clips to list")
    parser.add_argument("--language", choices=["en", "es"], default="en",
                        help="the normalisation: English (default) or Spanish")
    parser.add_argument("--self-test", action="store_true", help="run the built-in checks")
    args = parser.parse_args()
    if args.self_test:
        self_test()
        return
    if not (args.refs and args.hyps):
        parser.error("REFS.tsv and HYPS.jsonl are required")
    print(report(score(read_refs(args.refs), read_hyps(args.hyps), args.language), args.worst))


if __name__ == "__main__":
    sys.exit(main())
