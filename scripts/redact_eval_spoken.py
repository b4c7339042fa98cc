"""The Python half of scripts/redact-eval-spoken (stdlib only).

  plan LANG SENTENCES.tsv WAV_DIR
      One line per sentence of SENTENCES.tsv (id<TAB>entity<TAB>sentence):
      id<TAB>engine<TAB>voice<TAB>rate<TAB>wav path<TAB>sentence. The voice and rate come
      from an md5 of the id, so a rerun synthesizes the same audio. engine is flite,
      festival (rate: their duration stretch) or espeak-ng (rate in words per minute).

  label OUT.jsonl LANG SENTENCES.tsv TRANSCRIPTS.jsonl [LANG SENTENCES.tsv TRANSCRIPTS.jsonl ...]
      Joins each sentence with the line `callscribe transcribe --whole --jsonl` printed
      for its WAV (matched by file name = id) and writes one JSON object per sentence:
      {"id", "lang", "entity", "said", "text", "voice", "pii": [{"entity", "start",
      "end"}]}, plus "lost": true for a PII sentence whose transcript has no number, and
      for every PII sentence "expected" (the digits said) and "heard" (the digits read
      back from the labelled span; null when lost). Prints a summary to stderr.

How the PII span is found (the sentences are written so that a PII sentence holds one
number, the PII, and nothing else numeric): the span runs from the first to the last
number token of the transcript. The text is cut into tokens at white space and hyphens
("six-oh-oh", "4555-0349", "SSN-5741" are several), each trimmed of punctuation, and a
token holding a digit also of the letters around its digits ("E467", Whisper's "es 467").
A number token holds a digit or is a number word (English zero..nineteen, twenty..ninety,
hundred, thousand, million; Spanish cero..veintinueve, treinta..noventa,
cien/ciento/-cientos, mil, millón, accents optional). Softer words count only next to a
number: "oh"/"o" (either side), "double"/"triple"/"doble"/"un" (before one), "and"/"y"
(between two). A number used as a count is not the PII: one followed by digit(s)/
number(s)/dígitos/números or preceded by last/first/últimos/primeros ("the three digits
on the back", "four-digit", "last four of my social"). Everything between the first and
the last number token is in the span, whatever the engine wrote there ("5452, hold on,
691595641901"), and so is a count word the engine misheard ("Three villages securely
closed in nine-four-two" for "Three digit security code is nine four two"). Offsets are
in Python characters (code points).
"""

import hashlib
import json
import re
import string
import sys
import unicodedata

# At 8 kHz the formant voices of espeak-ng come out far less clear than the diphone, unit
# selection and HTS voices of flite and festival (on 80 of the English sentences, the
# digits came back exact for 10-28% with espeak-ng and 55-77% with the others), so English
# takes three espeak-ng voices among nine. Spanish has only espeak-ng (Debian main has no
# Spanish voice for flite or festival): its Latin American klatt variants, which came out
# clearest (a number kept in 84-98% of the PII sentences, against 61-75% for the others,
# and exact digits for about a fifth, against under a tenth).
ES_RATES = ("120", "135", "150")
EN_STRETCH = ("1.15", "1.0", "0.9")  # flite's duration_stretch and festival's Duration_Stretch
VOICES = {
    "en": [
        ("flite", "kal", EN_STRETCH),
        ("flite", "slt", EN_STRETCH),
        ("flite", "rms", EN_STRETCH),
        ("flite", "awb", EN_STRETCH),
        ("festival", "ked_diphone", EN_STRETCH),
        ("festival", "cmu_us_slt_arctic_hts", EN_STRETCH),
        ("espeak-ng", "en-us+klatt", ("140", "155", "170")),
        ("espeak-ng", "en-us+klatt2", ("140", "155", "170")),
        ("espeak-ng", "en-us+f2", ("140", "155", "170")),
    ],
    "es": [
        ("espeak-ng", "es-419+klatt", ES_RATES),
        ("espeak-ng", "es-419+klatt2", ES_RATES),
        ("espeak-ng", "es-419+klatt3", ES_RATES),
        ("espeak-ng", "es-419+klatt4", ES_RATES),
        ("espeak-ng", "es-419+klatt5", ES_RATES),
    ],
}

EN_UNITS = "zero one two three four five six seven eight nine".split()
EN_TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
EN_TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()
ES_UNITS = "cero uno dos tres cuatro cinco seis siete ocho nueve".split()
ES_10_29 = ("diez once doce trece catorce quince dieciseis diecisiete dieciocho diecinueve "
            "veinte veintiuno veintidos veintitres veinticuatro veinticinco veintiseis "
            "veintisiete veintiocho veintinueve").split()
ES_TENS = "treinta cuarenta cincuenta sesenta setenta ochenta noventa".split()
ES_HUNDREDS = {"cien": 100, "ciento": 100, "doscientos": 200, "trescientos": 300,
               "cuatrocientos": 400, "quinientos": 500, "seiscientos": 600,
               "setecientos": 700, "ochocientos": 800, "novecientos": 900}

# word -> (kind, value): unit 0-9, pair 10-29 (a whole two-digit value), tens, hundred
# (multiplier, or a value for Spanish -cientos), thousand.
WORDS = {"en": {}, "es": {}}
for i, w in enumerate(EN_UNITS):
    WORDS["en"][w] = ("unit", i)
for i, w in enumerate(EN_TEENS):
    WORDS["en"][w] = ("pair", 10 + i)
for i, w in enumerate(EN_TENS):
    WORDS["en"][w] = ("tens", 20 + 10 * i)
WORDS["en"].update(hundred=("hundred", 100), thousand=("thousand", 1000),
                   million=("thousand", 1000000))
for i, w in enumerate(ES_UNITS):
    WORDS["es"][w] = ("unit", i)
WORDS["es"]["un"] = ("unit", 1)  # only as part of a number (veintiún, un mil): see SOFT
for i, w in enumerate(ES_10_29):
    WORDS["es"][w] = ("pair", 10 + i)
WORDS["es"]["veintiun"] = ("pair", 21)
for i, w in enumerate(ES_TENS):
    WORDS["es"][w] = ("tens", 30 + 10 * i)
for w, v in ES_HUNDREDS.items():
    WORDS["es"][w] = ("cientos", v)
    if w.endswith("os"):
        WORDS["es"][w[:-2] + "as"] = ("cientos", v)
WORDS["es"].update(mil=("thousand", 1000), millon=("thousand", 1000000),
                   millones=("thousand", 1000000))

# Soft words: (counted when next to a number on this side: "either", "next", "both").
SOFT = {
    "en": {"oh": "either", "o": "either", "double": "next", "triple": "next", "and": "both"},
    "es": {"doble": "next", "triple": "next", "y": "both", "un": "next"},
}
COUNT_NOUNS = {"digit", "digits", "number", "numbers", "numeral", "numerals",
               "digito", "digitos", "numero", "numeros"}
COUNT_BEFORE = {"last", "first", "ultimos", "ultimas", "primeros", "primeras", "ultimo"}
TRIM = string.punctuation + "¿¡…“”‘’«»"


def fold(word):
    """Lower case without accents."""
    word = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in word if not unicodedata.combining(c))


def tokens(text):
    """(start, end, folded word) of each token: text split at white space and hyphens
    ("six-oh-oh", "4111-1111", "SSN-5741" are several tokens), trimmed of punctuation; a
    token holding a digit is also trimmed of the letters around its digits ("E467" from
    Whisper's "es 467", "21st")."""
    out = []
    for m in re.finditer(r"[^\s\-\u2010-\u2015]+", text):
        s, e = m.start(), m.end()
        while s < e and text[s] in TRIM:
            s += 1
        while e > s and text[e - 1] in TRIM:
            e -= 1
        if any(c.isdigit() for c in text[s:e]):
            while not text[s].isdigit():
                s += 1
            while not text[e - 1].isdigit():
                e -= 1
        if s < e:
            out.append((s, e, fold(text[s:e])))
    return out


def kind(word, lang):
    """'num', 'soft' (a word that is part of a number only next to one) or None."""
    if any(c.isdigit() for c in word):
        return "num"
    if word in SOFT[lang]:
        return "soft"
    if word in WORDS[lang]:
        return "num"
    return None


def number_tokens(text, lang):
    """Indexes (into tokens(text)) of the tokens that are part of a number."""
    toks = tokens(text)
    words = [w for _, _, w in toks]
    num = [False] * len(toks)
    for i, w in enumerate(words):
        if kind(w, lang) != "num":
            continue
        nxt = words[i + 1] if i + 1 < len(words) else ""
        prev = words[i - 1] if i > 0 else ""
        if nxt in COUNT_NOUNS or prev in COUNT_BEFORE:
            continue  # "three digits", "last four": a count, not the number
        num[i] = True
    changed = True
    while changed:
        changed = False
        for i, w in enumerate(words):
            if num[i] or kind(w, lang) != "soft":
                continue
            side = SOFT[lang][w]
            before = i > 0 and num[i - 1]
            after = i + 1 < len(words) and num[i + 1]
            if (side == "either" and (before or after)) or (side == "next" and after) or (
                    side == "both" and before and after):
                num[i] = changed = True
    return toks, [i for i, n in enumerate(num) if n]


def pii_span(text, lang):
    """(start, end) from the first to the last number token, or None."""
    toks, idx = number_tokens(text, lang)
    if not idx:
        return None
    return toks[idx[0]][0], toks[idx[-1]][1]


def digits(text, lang):
    """The digits a run of spoken or written number tokens stands for, as said digit by
    digit or in groups: 'forty one twelve' -> 4112, 'double five' -> 55, 'nine oh oh one'
    -> 9001, 'four thousand nine hundred eight' -> 4908, 'cuarenta y uno' -> 41."""
    toks, idx = number_tokens(text, lang)
    out, cur, last = [], None, None  # cur: the cardinal being built; last: kind of its last word
    repeat = 1

    def flush():
        nonlocal cur, last
        if cur is not None:
            out.append(str(cur))
        cur, last = None, None

    for i in idx:
        w = toks[i][2]
        if any(c.isdigit() for c in w):
            flush()
            out.append("".join(c for c in w if c.isdigit()) * repeat)
            repeat = 1
            continue
        if w in ("double", "doble"):
            flush()
            repeat = 2
            continue
        if w == "triple":
            flush()
            repeat = 3
            continue
        if w in ("and", "y"):
            continue
        if w in ("oh", "o"):
            flush()
            out.append("0" * repeat)
            repeat = 1
            continue
        k, v = WORDS[lang][w]
        if repeat > 1:
            flush()
            out.append(str(v) * repeat)
            repeat = 1
            continue
        if k == "unit":
            if cur is not None and (last in ("tens", "hundred", "thousand", "cientos")) and cur % 10 == 0:
                cur += v
                last = "unit"
            else:
                flush()
                cur, last = v, "unit"
        elif k == "pair" or k == "tens":
            if cur is not None and last in ("hundred", "thousand", "cientos"):
                cur += v
            else:
                flush()
                cur = v
            last = k
        elif k == "cientos":
            if cur is not None and last == "thousand":
                cur += v
            else:
                flush()
                cur = v
            last = "cientos"
        elif k == "hundred":
            cur = 100 if cur is None else (cur // 1000) * 1000 + (cur % 1000) * 100
            last = "hundred"
        elif k == "thousand":
            cur = v if cur is None else cur * v
            last = "thousand"
    flush()
    return "".join(out)


def read_tsv(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                sys.exit(f"{path}:{n}: expected id<TAB>entity<TAB>sentence")
            rows.append(parts)
    return rows


def voice_for(sid, lang):
    h = int(hashlib.md5(sid.encode()).hexdigest()[:8], 16)
    voices = VOICES[lang]
    engine, voice, rates = voices[h % len(voices)]
    return engine, voice, rates[(h // len(voices)) % len(rates)]


def plan(lang, tsv, wav_dir):
    for sid, _, said in read_tsv(tsv):
        engine, voice, rate = voice_for(sid, lang)
        print("\t".join((sid, engine, voice, rate, f"{wav_dir}/{sid}.wav", said)))


def label(out_path, triples):
    out, stats, bad = [], {}, []
    for lang, tsv, jsonl in triples:
        heard = {}
        with open(jsonl, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    r = json.loads(line)
                    sid = r["file"].rsplit("/", 1)[-1].removesuffix(".wav")
                    heard[sid] = (heard[sid] + " " + r["text"]).strip() if sid in heard else r["text"]
        for sid, entity, said in read_tsv(tsv):
            if sid not in heard:
                sys.exit(f"label: no transcript for {sid} in {jsonl}")
            text = heard[sid]
            engine, voice, rate = voice_for(sid, lang)
            rec = {"id": sid, "lang": lang, "entity": entity, "said": said, "text": text,
                   "voice": f"{engine}:{voice}@{rate}", "pii": []}
            key = (lang, entity)
            st = stats.setdefault(key, {"n": 0, "kept": 0, "lost": 0, "exact": 0})
            st["n"] += 1
            if entity != "NONE":
                if pii_span(said, lang) is None:
                    bad.append(f"{sid}: no number found in the sentence itself")
                span = pii_span(text, lang)
                rec["expected"] = digits(said, lang)
                if span is None:
                    rec["lost"] = True
                    rec["heard"] = None
                    st["lost"] += 1
                else:
                    rec["pii"] = [{"entity": entity, "start": span[0], "end": span[1]}]
                    rec["heard"] = digits(text, lang)
                    st["kept"] += 1
                    st["exact"] += rec["heard"] == rec["expected"]
            out.append(rec)
    with open(out_path, "w", encoding="utf-8") as f:
        for rec in out:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    for msg in bad:
        print("label: warning: " + msg, file=sys.stderr)
    print(f"{'lang':4} {'entity':20} {'n':>4} {'kept':>5} {'lost':>5} {'digits exact':>13}", file=sys.stderr)
    for (lang, entity), st in sorted(stats.items()):
        if entity == "NONE":
            print(f"{lang:4} {entity:20} {st['n']:4} {'-':>5} {'-':>5} {'-':>13}", file=sys.stderr)
        else:
            print(f"{lang:4} {entity:20} {st['n']:4} {st['kept']:5} {st['lost']:5} {st['exact']:13}",
                  file=sys.stderr)
    print(f"wrote {len(out)} lines to {out_path}", file=sys.stderr)


def main(argv):
    if len(argv) == 4 and argv[0] == "plan":
        plan(*argv[1:])
    elif len(argv) >= 5 and argv[0] == "label" and (len(argv) - 2) % 3 == 0:
        label(argv[1], [tuple(argv[i:i + 3]) for i in range(2, len(argv), 3)])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
