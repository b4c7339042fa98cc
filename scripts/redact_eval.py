#!/usr/bin/env python3
"""Redaction evaluation: a labelled set of conversations, and a scorer.

  redact_eval.py generate OUT.jsonl        # the set (seeded, reproducible)
  redact_eval.py turns SET.jsonl           # its conversations, for `callscribe redact`
  redact_eval.py score SET.jsonl RESULTS.jsonl NAME [--part dev|test|all] [--misses N]
                [--source independent3]  # one template source only

The set is built from templates in scripts/redact-eval-data/ (see its README):
  - independent-en/-es.jsonl: call-centre turns written by a session that had not seen
    the redaction rules (single turns, dialogues where the cue is in an earlier turn,
    numbers split across two turns of one speaker), card numbers, CVVs, PINs and SSNs
    and look-alikes (orders, amounts, dates, times, phone numbers, addresses, ...);
  - presidio-evaluator-templates.txt: the card, SSN and phone templates of Microsoft's
    presidio-evaluator 0.3.2 (MIT), written by others;
  - house-en.jsonl: the project's earlier templates;
  - independent2-en.jsonl: a second set written (after the split was fixed) by another
    session that had seen neither the rules nor the other templates: development only;
  - independent3-en/-es.jsonl: a third set, English and Spanish, written the same way
    after the second round of tuning: development only;
  - spoken-transcripts.jsonl: what the engine wrote for spoken PII sentences read by a
    speech synthesiser over telephone audio (scripts/redact-eval-spoken), labelled from
    the first to the last number word; form "engine" when the engine heard every digit
    right, "engine-misheard" otherwise (reported apart: a mask cannot cover digits the
    engine wrote as other words).
Every template's placeholders are filled with values rendered in several forms: written
digits with varied grouping, spoken digit words ("oh", "double five"), digit pairs
("forty one twelve"), digits and words mixed, and ASR-style (no case or punctuation,
fillers between groups). The development and test parts are fixed by a hash of each
template's source and id, decided before any tuning: house, independent2 and independent3
templates are development only, presidio-evaluator templates are test only, the rest is split half and
half.
Report the test part.

Each line of SET: {"id", "source", "part", "lang", "kind", "form", "turns": [{"speaker",
"text", "pii": [{"entity", "form", "start", "end"}], "lookalike"}]}. Each line of
RESULTS, in the same order: {"turns": [{"found": [{"start", "end"}]}]} (character
offsets). A PII span is caught when every digit and number word in it is inside found
spans; precision is the share of look-alike turns left unchanged.
"""
import hashlib
import json
import os
import random
import re
import sys

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "redact-eval-data")
PII = {"CARD": "CREDIT_CARD_NUMBER", "CARD_LAST4": "CREDIT_CARD_NUMBER", "CVV": "CVV",
       "PIN": "PIN", "SSN": "SSN", "SSN_LAST4": "SSN"}
FORMS = ["written", "spoken", "pairs", "mixed", "asr"]
UNITS = "zero one two three four five six seven eight nine".split()
TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
ES_UNITS = "cero uno dos tres cuatro cinco seis siete ocho nueve".split()
ES_TEENS = "diez once doce trece catorce quince dieciséis diecisiete dieciocho diecinueve".split()
ES_TENS = "_ _ veinte treinta cuarenta cincuenta sesenta setenta ochenta noventa".split()
ES_TWENTIES = ("veinte veintiuno veintidós veintitrés veinticuatro veinticinco veintiséis "
               "veintisiete veintiocho veintinueve").split()
FILLERS = ["uh", "um", "uh", "er"]


def part_of(source, tid):
    """dev or test, from the template's source and id only (fixed before tuning)."""
    if source in ("house", "independent2", "independent3"):
        return "dev"
    if source == "presidio-evaluator":
        return "test"
    h = hashlib.sha256(f"{source}:{tid}".encode()).digest()[0]
    return "test" if h % 2 else "dev"


# --- values ---------------------------------------------------------------------------

def luhn_complete(prefix, length, rng):
    digits = [int(c) for c in prefix]
    while len(digits) < length - 1:
        digits.append(rng.randint(0, 9))
    for check in range(10):
        total = 0
        for i, d in enumerate(reversed(digits + [check])):
            if i % 2 == 1:
                d = d * 2 - 9 if d * 2 > 9 else d * 2
            total += d
        if total % 10 == 0:
            return "".join(map(str, digits + [check]))
    raise AssertionError


def pii_value(name, rng):
    """(digits, groups) for a PII placeholder: groups are the cut points a speaker
    pauses at."""
    if name == "CARD":
        prefix, length = rng.choice([("4", 16), ("4", 16), ("51", 16), ("53", 16),
                                     ("2221", 16), ("34", 15), ("37", 15), ("6011", 16),
                                     ("65", 16)])
        digits = luhn_complete(prefix, length, rng)
        return digits, (4, 10) if length == 15 else (4, 8, 12)
    if name in ("CARD_LAST4", "SSN_LAST4"):
        return "".join(rng.choice("0123456789") for _ in range(4)), ()
    if name == "CVV":
        n = 4 if rng.random() < 0.15 else 3
        return "".join(rng.choice("0123456789") for _ in range(n)), ()
    if name == "PIN":
        n = rng.choice([4, 4, 4, 5, 6, 6])
        return "".join(rng.choice("0123456789") for _ in range(n)), ()
    if name == "SSN":
        area = rng.choice([a for a in range(1, 900) if a != 666])
        return f"{area:03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}", (3, 5)
    raise KeyError(name)


def groups_of(digits, cuts):
    out, last = [], 0
    for c in list(cuts) + [len(digits)]:
        if digits[last:c]:
            out.append(digits[last:c])
        last = c
    return out


def say_digits(group, rng, lang="en"):
    """A group read digit by digit: "oh" for zero, "double"/"triple" for repeats."""
    if lang == "es":
        return " ".join(ES_UNITS[int(d)] for d in group)
    words, i = [], 0
    while i < len(group):
        d, run = group[i], 1
        while i + run < len(group) and group[i + run] == d and run < 3:
            run += 1
        word = "oh" if d == "0" and rng.random() < 0.5 else UNITS[int(d)]
        if run >= 2 and rng.random() < 0.4:
            words.append(("double " if run == 2 else "triple ") + word)
            i += run
        else:
            words.append(word)
            i += 1
    return " ".join(words)


def say_pair(p, rng, lang="en"):
    """Two digits as one number: "41" forty one, "05" oh five, "12" twelve."""
    a, b = int(p[0]), int(p[1])
    if lang == "es":
        if a == 0:
            return f"cero {ES_UNITS[b]}"
        if a == 1:
            return ES_TEENS[b]
        if a == 2:
            return ES_TWENTIES[b]
        return ES_TENS[a] + ("" if b == 0 else f" y {ES_UNITS[b]}")
    if a == 0:
        return ("double oh" if rng.random() < 0.5 else "oh oh") if b == 0 else f"oh {UNITS[b]}"
    if a == 1:
        return TEENS[b]
    return TENS[a] + ("" if b == 0 else f" {UNITS[b]}")


def say_pairs(group, rng, lang="en"):
    """A group as numbers of two digits ("forty one twelve"); an odd group starts with
    one digit ("four twenty nine")."""
    parts = []
    if len(group) % 2:
        parts.append(say_digits(group[0], rng, lang))
        group = group[1:]
    for i in range(0, len(group), 2):
        parts.append(say_pair(group[i:i + 2], rng, lang))
    return " ".join(parts)


def render_number(digits, cuts, form, rng, lang):
    """The number as text in one form."""
    groups = groups_of(digits, cuts)
    if form == "written":
        sep = rng.choice([" ", " ", "-", ""]) if len(groups) > 1 else ""
        return sep.join(groups)
    if form == "spoken":
        sep = rng.choice([" ", ", "])
        return sep.join(say_digits(g, rng, lang) for g in groups)
    if form == "pairs":
        return ", ".join(say_pairs(g, rng, lang) for g in groups) if rng.random() < 0.5 \
            else " ".join(say_pairs(g, rng, lang) for g in groups)
    if form == "mixed":
        style = rng.choice(["spaced", "alternate"])
        if style == "spaced":
            return "  ".join(" ".join(g) for g in groups).replace("  ", rng.choice([" ", ", "]))
        return " ".join(g if i % 2 == 0 else say_digits(g, rng, lang) for i, g in enumerate(groups))
    if form == "asr":
        out = []
        for i, g in enumerate(groups):
            out.append(say_digits(g, rng, lang) if rng.random() < 0.5 else g)
            if i < len(groups) - 1 and rng.random() < 0.4 and lang == "en":
                out.append(rng.choice(FILLERS))
        return " ".join(out)
    raise KeyError(form)


MONTHS = "January February March April May June July August September October November December".split()


def lookalike_value(name, rng, spoken, lang):
    """A value for a look-alike placeholder: numbers that must stay."""
    def num(n):  # a number in words or digits
        return say_pairs(str(n), rng, lang) if spoken and n >= 10 else (
            say_digits(str(n), rng, lang) if spoken else str(n))
    if name == "ORDER":
        n = rng.choice([5, 6, 7, 8, 8, 9, 10, 12])
        d = "".join(rng.choice("0123456789") for _ in range(n))
        d = str(rng.randint(1, 9)) + d[1:]
        if spoken:
            return render_number(d, (), rng.choice(["spoken", "pairs"]), rng, lang)
        return rng.choice([d, "-".join(groups_of(d, (n // 2,))), rng.choice("ABCKRW") + d[:6]])
    if name in ("AMOUNT", "BALANCE"):
        dollars, cents = rng.choice([rng.randint(1, 99), rng.randint(100, 9999)]), rng.randint(0, 99)
        if spoken:
            if lang == "es":
                return f"{num(dollars)} dólares con {num(cents)}" if cents else f"{num(dollars)} dólares"
            return rng.choice([f"{num(dollars)} dollars and {num(cents)} cents",
                               f"{num(dollars)} {say_pair(f'{cents:02d}', rng)}" if cents >= 10 else f"{num(dollars)} dollars",
                               f"{num(dollars)} bucks"])
        return rng.choice([f"${dollars:,}.{cents:02d}", f"${dollars}", f"{dollars:,}.{cents:02d}",
                           f"{dollars} dollars"])
    if name == "DATE":
        m, d, y = rng.randint(1, 12), rng.randint(1, 28), rng.randint(1990, 2026)
        if spoken:
            if lang == "es":
                return f"el {num(d)} de {rng.choice(['enero', 'marzo', 'junio', 'octubre'])}"
            return rng.choice([f"{MONTHS[m - 1]} {num(d)}", f"{MONTHS[m - 1]} {num(d)} {say_pairs(str(y), rng)}"])
        return rng.choice([f"{m}/{d}/{y}", f"{m:02d}/{d:02d}/{y}", f"{MONTHS[m - 1]} {d}, {y}",
                           f"{y}-{m:02d}-{d:02d}", f"{m}/{d}"])
    if name == "TIME":
        h, mi = rng.randint(1, 12), rng.choice([0, 15, 30, 45, rng.randint(1, 59)])
        if spoken:
            if lang == "es":
                return f"las {num(h)} y {num(mi)}" if mi else f"las {num(h)}"
            return f"{num(h)} {say_pair(f'{mi:02d}', rng)}" if mi else f"{num(h)} o'clock"
        return rng.choice([f"{h}:{mi:02d}", f"{h}:{mi:02d} {rng.choice(['am', 'pm', 'AM', 'PM'])}", f"{h} {rng.choice(['am', 'pm'])}"])
    if name == "PHONE":
        d = f"{rng.randint(201, 989)}{rng.randint(200, 999)}{rng.randint(0, 9999):04d}"
        if spoken:
            return render_number(d, (3, 6), rng.choice(["spoken", "spoken", "mixed"]), rng, lang)
        return rng.choice([f"{d[:3]}-{d[3:6]}-{d[6:]}", f"({d[:3]}) {d[3:6]}-{d[6:]}", f"{d[:3]}.{d[3:6]}.{d[6:]}", d, f"1-{d[:3]}-{d[3:6]}-{d[6:]}"])
    if name == "STREET":
        return num(rng.choice([rng.randint(1, 99), rng.randint(100, 9999), rng.randint(10000, 99999)]))
    if name == "ZIP":
        z = f"{rng.randint(1000, 99999):05d}"
        return render_number(z, (), "spoken", rng, lang) if spoken else z
    if name == "YEAR":
        y = rng.randint(1950, 2026)
        return say_pairs(str(y), rng, lang) if spoken else str(y)
    if name == "DURATION":
        n = rng.randint(2, 90)
        unit = rng.choice(["days", "minutes", "hours", "weeks", "months"] if lang == "en" else
                          ["días", "minutos", "horas", "semanas", "meses"])
        return f"{num(n)} {unit}"
    if name == "PERCENT":
        n = rng.randint(1, 40)
        return rng.choice([f"{n}%", f"{num(n)} percent" if lang == "en" else f"{num(n)} por ciento"])
    if name in ("QTY", "AGE", "ROOM"):
        n = rng.choice([rng.randint(2, 99), rng.randint(100, 999)]) if name != "AGE" else rng.randint(18, 95)
        return num(n)
    if name == "EXT":
        d = f"{rng.randint(100, 9999)}"
        return render_number(d, (), "spoken", rng, lang) if spoken else d
    if name == "FLIGHT":
        n = rng.randint(10, 2999)
        return (rng.choice(["", "UA ", "DL ", "AA "]) + (num(n) if spoken else str(n))).strip()
    if name == "ACCOUNT":
        n = rng.choice([6, 8, 9, 10, 11, 12])
        d = str(rng.randint(1, 9)) + "".join(rng.choice("0123456789") for _ in range(n - 1))
        return render_number(d, (), rng.choice(["spoken", "pairs"]), rng, lang) if spoken else d
    if name == "MODEL":
        return rng.choice(["X", "GT-", "A", "RX ", "Series "]) + str(rng.randint(10, 9999))
    raise KeyError(name)


# --- templates ------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"\{([A-Z0-9_]+)\}")


def load_templates():
    out = []
    for name, source in [("house-en.jsonl", "house"), ("independent-en.jsonl", "independent"),
                         ("independent-es.jsonl", "independent")]:
        path = os.path.join(DATA, name)
        if not os.path.exists(path):
            continue
        lang = "es" if name.endswith("-es.jsonl") else "en"
        for line in open(path, encoding="utf-8"):
            if line.strip():
                t = json.loads(line)
                t.update(source=source, lang=lang)
                out.append(t)
    path = os.path.join(DATA, "presidio-evaluator-templates.txt")
    if os.path.exists(path):
        for i, line in enumerate(open(path, encoding="utf-8")):
            line = line.strip()
            if line and not line.startswith("#"):
                out.append({"id": f"pe-{i:03d}", "kind": "single", "source": "presidio-evaluator",
                            "lang": "en", "turns": [{"speaker": "customer", "text": line}]})
    # Added after the split was fixed, development only; last, so that every earlier
    # template renders the same values as before.
    for name, source in [("independent2-en.jsonl", "independent2"),
                         ("independent3-en.jsonl", "independent3"),
                         ("independent3-es.jsonl", "independent3")]:
        path = os.path.join(DATA, name)
        if os.path.exists(path):
            lang = "es" if name.endswith("-es.jsonl") else "en"
            for line in open(path, encoding="utf-8"):
                if line.strip():
                    out.append(dict(json.loads(line), source=source, lang=lang))
    return out


def render(t, form, rng):
    """One case from a template: every placeholder filled, PII spans labelled."""
    lang = t["lang"]
    split_values = {}
    turns = []
    for turn in t["turns"]:
        text, pii, pos, looks = "", [], 0, False
        for m in PLACEHOLDER.finditer(turn["text"]):
            text += turn["text"][pos:m.start()]
            name = m.group(1)
            base, _, piece = name.partition("_PART")
            if base in PII:
                if piece:
                    if base not in split_values:
                        digits, cuts = pii_value(base, rng)
                        cut = rng.choice(list(cuts) or [len(digits) // 2])
                        split_values[base] = (digits, cuts, cut)
                    digits, cuts, cut = split_values[base]
                    if piece == "1":
                        value = render_number(digits[:cut], [c for c in cuts if c < cut], form, rng, lang)
                    else:
                        value = render_number(digits[cut:], [c - cut for c in cuts if c > cut], form, rng, lang)
                else:
                    digits, cuts = pii_value(base, rng)
                    value = render_number(digits, cuts, form, rng, lang)
                pii.append({"entity": PII[base], "form": form, "start": len(text), "end": len(text) + len(value)})
            else:
                looks = True
                value = lookalike_value(base, rng, form in ("spoken", "pairs", "asr"), lang)
            text += value
            pos = m.end()
        text += turn["text"][pos:]
        if form == "asr":
            text, pii = asr_style(text, pii)
        # A turn without PII that holds a number is a look-alike (the house templates
        # write theirs in).
        looks = looks or bool(number_tokens(text, 0, len(text)))
        turns.append({"speaker": turn.get("speaker", "customer"), "text": text, "pii": pii,
                      "lookalike": looks and not pii})
    return turns


def asr_style(text, pii):
    """Lower case without punctuation, as some recognisers write; spans kept."""
    keep = [c.lower() if c.isalnum() or c.isspace() or c in "'$@" else " " for c in text]
    # Drop the replaced punctuation (collapse runs of spaces) while tracking offsets.
    out, where = [], []
    for i, c in enumerate(keep):
        if c == " " and (not out or out[-1] == " "):
            where.append(len(out))
            continue
        where.append(len(out))
        out.append(c)
    where.append(len(out))
    new = "".join(out).rstrip()
    spans = []
    for p in pii:
        s, e = where[p["start"]], where[p["end"]]
        while e > s and new[e - 1:e] == " ":
            e -= 1
        spans.append(dict(p, start=s, end=min(e, len(new))))
    return new, spans


def generate(out):
    rng = random.Random(20261204)
    cases = []
    for t in load_templates():
        part = part_of(t["source"], t["id"])
        pii = any(m.group(1).split("_PART")[0] in PII
                  for turn in t["turns"] for m in PLACEHOLDER.finditer(turn["text"]))
        forms = FORMS if pii else ["written", "spoken"]
        if t["source"] == "presidio-evaluator":
            # Their templates have other placeholders ({{person}}, ...): keep the card,
            # SSN and phone ones, and fill the rest with a name.
            text = t["turns"][0]["text"]
            text = text.replace("{{credit_card_number}}", "{CARD}").replace("{{ssn}}", "{SSN}") \
                .replace("{{phone_number}}", "{PHONE}")
            text = re.sub(r"\{\{[a-z_]+\}\}", "Alex", text)
            t = dict(t, turns=[{"speaker": "customer", "text": text}])
        for form in forms:
            cases.append({"id": t["id"], "source": t["source"], "part": part, "lang": t["lang"],
                          "kind": t.get("kind", "single"), "form": form,
                          "turns": render(t, form, rng)})
    path = os.path.join(DATA, "spoken-transcripts.jsonl")
    if os.path.exists(path):
        for line in open(path, encoding="utf-8"):
            s = json.loads(line)
            if s.get("lost"):
                continue
            # Digits the engine heard right, or misheard (a synthetic voice over the
            # telephone band: "for" for four, letters glued to digits).
            form = "engine" if s.get("heard") == s.get("expected") else "engine-misheard"
            pii = [dict(p, form=form) for p in s["pii"]]
            cases.append({"id": s["id"], "source": "engine", "part": part_of("engine", s["id"]),
                          "lang": s["lang"], "kind": "single", "form": form,
                          "turns": [{"speaker": "customer", "text": s["text"], "pii": pii,
                                     "lookalike": s["entity"] == "NONE"}]})
    with open(out, "w", encoding="utf-8") as f:
        for c in cases:
            f.write(json.dumps(c, ensure_ascii=False) + "\n")
    print(f"{len(cases)} cases written to {out}", file=sys.stderr)


# --- scoring --------------------------------------------------------------------------

NUMBER_WORDS = set(UNITS + TEENS + TENS[2:] + ES_UNITS + ES_TEENS + ES_TENS[2:] + ES_TWENTIES +
                   ["oh", "o", "double", "triple", "hundred", "thousand", "cien", "ciento", "mil"])


def number_tokens(text, start, end):
    """Character ranges inside [start, end) that must be masked: digits and number words."""
    out = []
    for m in re.finditer(r"\w+", text[start:end]):
        w = m.group(0)
        s, e = start + m.start(), start + m.end()
        if w.isdigit():
            out.extend((i, i + 1) for i in range(s, e))
        elif any(c.isdigit() for c in w):
            out.extend((s + i, s + i + 1) for i, c in enumerate(w) if c.isdigit())
        elif w.lower() in NUMBER_WORDS:
            out.append((s, e))
    return out


def caught(text, p, spans):
    tokens = number_tokens(text, p["start"], p["end"])
    return bool(tokens) and all(any(s <= a and b <= e for s, e in spans) for a, b in tokens)


def score(set_path, results_path, name, part="test", misses=0, source=None):
    cases = [json.loads(l) for l in open(set_path, encoding="utf-8")]
    results = [json.loads(l) for l in open(results_path, encoding="utf-8")]
    assert len(cases) == len(results), "one result per case"
    by = {}
    looks = look_changed = other = other_changed = extra = 0
    missed = []
    for case, res in zip(cases, results):
        if part != "all" and case["part"] != part or source and case["source"] != source:
            continue
        for turn, r in zip(case["turns"], res["turns"]):
            spans = [(f["start"], f["end"]) for f in r["found"]]
            for p in turn["pii"]:
                key = (case["lang"], p["entity"], p["form"])
                hit = caught(turn["text"], p, spans)
                by.setdefault(key, [0, 0])
                by[key][0] += hit
                by[key][1] += 1
                if not hit:
                    missed.append((case["id"], p["entity"], turn["text"], r.get("text")))
            outside = [s for s in spans if not any(s[0] < p["end"] and p["start"] < s[1] for p in turn["pii"])]
            if turn["lookalike"]:
                looks += 1
                look_changed += bool(spans)
                if spans:
                    missed.append((case["id"], "LOOK-ALIKE", turn["text"], r.get("text")))
            elif not turn["pii"]:
                other += 1
                other_changed += bool(spans)
            else:
                extra += len(outside)
    print(f"{name} ({part} part{', ' + source + ' only' if source else ''}):")
    for lang in sorted({k[0] for k in by}):
        for entity in sorted({k[1] for k in by if k[0] == lang}):
            cells = []
            total = [0, 0]
            for form in FORMS + ["engine", "engine-misheard"]:
                c = by.get((lang, entity, form))
                if c:
                    cells.append(f"{form} {c[0]}/{c[1]}={c[0] / c[1]:.3f}")
                    total[0] += c[0]
                    total[1] += c[1]
            print(f"  {lang} {entity:<19} {total[0]}/{total[1]}={total[0] / total[1]:.3f}  " + "  ".join(cells))
    if looks:
        print(f"  precision: look-alike turns unchanged {looks - look_changed}/{looks} = {(looks - look_changed) / looks:.3f}")
    print(f"  other turns without PII changed: {other_changed}/{other}; masks outside PII in PII turns: {extra}")
    for m in missed[:misses]:
        print("   miss", m)


def turns(set_path):
    """The set as `callscribe redact --conversations` reads it."""
    for line in open(set_path, encoding="utf-8"):
        case = json.loads(line)
        print(json.dumps({"lang": case["lang"], "turns": [{"speaker": t["speaker"], "text": t["text"]}
                                                          for t in case["turns"]]}, ensure_ascii=False))


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[:1] == ["generate"]:
        generate(args[1])
    elif args[:1] == ["turns"]:
        turns(args[1])
    elif args[:1] == ["score"]:
        part = args[args.index("--part") + 1] if "--part" in args else "test"
        misses = int(args[args.index("--misses") + 1]) if "--misses" in args else 0
        source = args[args.index("--source") + 1] if "--source" in args else None
        score(args[1], args[2], args[3], part, misses, source)
    else:
        print(__doc__)
        sys.exit(2)
