#!/usr/bin/env python3
"""Redaction evaluation: a labelled set the project builds itself, and a scorer.

  redact_eval.py generate OUT.jsonl          # the set (seeded, reproducible)
  redact_eval.py score SET.jsonl RESULTS.jsonl NAME

The set is call-centre phrasing with card numbers, CVVs, PINs and SSNs in written form
("4111 1111 1111 1111", "123-45-6789") and in the spoken forms a recogniser writes ("four
one one one ...", "oh" for zero, "double five"), plus look-alikes that must stay: prices,
times, dates that are not birth dates, quantities, street, order and room numbers.

Each line of SET: {"text", "pii": [{"entity", "form", "start", "end"}]} (character
offsets). Each line of RESULTS, in the same order: {"found": [{"start", "end"}]}.
A PII span is caught when one found span covers it; a found span is correct when it
overlaps a PII span. Prints recall per entity and form, and precision overall and on the
look-alike sentences.
"""
import json
import random
import sys

UNITS = "zero one two three four five six seven eight nine".split()


def luhn_complete(prefix, length):
    digits = [int(c) for c in prefix]
    while len(digits) < length - 1:
        digits.append(random.randint(0, 9))
    for check in range(10):
        candidate = digits + [check]
        total = 0
        for i, d in enumerate(reversed(candidate)):
            if i % 2 == 1:
                d *= 2
                if d > 9:
                    d -= 9
            total += d
        if total % 10 == 0:
            return "".join(map(str, candidate))
    raise AssertionError


def spoken(digits, groups=None):
    """Digits as words, sometimes with "oh" for zero and "double"/"triple" for repeats."""
    words = []
    i = 0
    while i < len(digits):
        d = digits[i]
        run = 1
        while i + run < len(digits) and digits[i + run] == d and run < 3:
            run += 1
        word = "oh" if d == "0" and random.random() < 0.5 else UNITS[int(d)]
        if run >= 2 and random.random() < 0.5:
            words.append(("double " if run == 2 else "triple ") + word)
            i += run
        else:
            words.append(word)
            i += 1
        if groups and i in groups and i < len(digits):
            words[-1] += ","
    return " ".join(words)


def written(digits, groups, sep):
    out = []
    last = 0
    for g in list(groups) + [len(digits)]:
        out.append(digits[last:g])
        last = g
    return sep.join(p for p in out if p)


CARD_TEMPLATES = [
    "my card number is {}", "sure, it's {}", "the card is {} thanks", "{} is my visa",
    "okay the number on the card is {}", "it's a mastercard, {}", "yeah {}",
]
CVV_TEMPLATES = [
    "the security code is {}", "cvv is {}", "the three digit code on the back is {}",
    "security code {}", "and the cvv {}",
]
PIN_TEMPLATES = [
    "my pin is {}", "pin number {}", "the PIN is {} I think", "my pin number is {}",
    "it's {} for the pin",
]
SSN_TEMPLATES = [
    "my social is {}", "social security number {}", "my ssn is {}", "the social is {}",
    "{} is my social security number",
]
LOOKALIKES = [
    "that'll be $49.99 a month", "it costs forty nine ninety nine", "I'll call you back at 3:45",
    "let's talk at three forty five tomorrow", "the meeting is on 12/05/2024",
    "I ordered 1200 units last week", "we need twelve hundred units", "I live at 1234 Main Street",
    "my order number is 5521 8834", "it's about 2500 dollars", "I'm in room 404",
    "the total came to 1,234.56", "I have 3 kids and 2 dogs", "it was back in 2019",
    "it happened on March 3rd, 2021", "the invoice is 88213", "flight four two seven to Denver",
    "we're at 221 Baker Street", "that's 16 gigabytes of data", "I waited forty five minutes",
    "the package weighs 2.5 kilos", "call the store on extension 4455", "the code on the box is 77",
    "I paid two hundred and fifty dollars", "my account has 1 2 3 items pending",
    "the model is the X 1000", "we'll ship 500 units on the 14th", "it's about nine thirty now",
    "version 10.2.1 of the app", "I called 3 times yesterday",
]


def make(template, entity, form, value):
    at = template.index("{}")
    text = template.replace("{}", value)
    return {"text": text, "pii": [{"entity": entity, "form": form, "start": at, "end": at + len(value)}]}


def generate(out):
    random.seed(20261129)
    rows = []
    for _ in range(60):
        number = luhn_complete(random.choice(["4", "51", "52", "37", "6011"]), 16)
        groups = (4, 8, 12)
        t = random.choice(CARD_TEMPLATES)
        rows.append(make(t, "CREDIT_CARD_NUMBER", "written", written(number, groups, random.choice([" ", "-", ""]))))
        rows.append(make(random.choice(CARD_TEMPLATES), "CREDIT_CARD_NUMBER", "spoken", spoken(number, groups if random.random() < 0.5 else None)))
    for _ in range(40):
        cvv = "".join(random.choice("0123456789") for _ in range(3))
        rows.append(make(random.choice(CVV_TEMPLATES), "CVV", "written", cvv))
        rows.append(make(random.choice(CVV_TEMPLATES), "CVV", "spoken", spoken(cvv)))
        pin = "".join(random.choice("0123456789") for _ in range(4))
        rows.append(make(random.choice(PIN_TEMPLATES), "PIN", "written", pin))
        rows.append(make(random.choice(PIN_TEMPLATES), "PIN", "spoken", spoken(pin)))
        ssn = "".join(random.choice("0123456789") for _ in range(9))
        rows.append(make(random.choice(SSN_TEMPLATES), "SSN", "written", written(ssn, (3, 5), random.choice(["-", " "]))))
        rows.append(make(random.choice(SSN_TEMPLATES), "SSN", "spoken", spoken(ssn, (3, 5) if random.random() < 0.5 else None)))
    for text in LOOKALIKES:
        rows.append({"text": text, "pii": []})
    with open(out, "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
    print(f"{len(rows)} sentences written to {out}", file=sys.stderr)


def score(set_path, results_path, name):
    rows = [json.loads(l) for l in open(set_path)]
    results = [json.loads(l) for l in open(results_path)]
    assert len(rows) == len(results), "one result per sentence"
    caught, total = {}, {}
    correct = found_all = 0
    look_fp = 0
    for row, res in zip(rows, results):
        spans = [(f["start"], f["end"]) for f in res["found"]]
        for p in row["pii"]:
            key = (p["entity"], p["form"])
            total[key] = total.get(key, 0) + 1
            if any(s <= p["start"] and e >= p["end"] for s, e in spans):
                caught[key] = caught.get(key, 0) + 1
        for s, e in spans:
            found_all += 1
            hit = any(s < p["end"] and p["start"] < e for p in row["pii"])
            correct += hit
            if not row["pii"]:
                look_fp += 1
    print(f"{name}:")
    for key in sorted(total):
        print(f"  recall {key[0]:<20} {key[1]:<8} {caught.get(key, 0):>3}/{total[key]:<3} = {caught.get(key, 0) / total[key]:.3f}")
    precision = correct / found_all if found_all else 1.0
    looks = sum(1 for r in rows if not r["pii"])
    print(f"  precision (all found spans)        {correct}/{found_all} = {precision:.3f}")
    print(f"  look-alike sentences redacted       {look_fp} spans in {looks} sentences")


if __name__ == "__main__":
    if sys.argv[1:2] == ["generate"]:
        generate(sys.argv[2])
    elif sys.argv[1:2] == ["score"]:
        score(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        print(__doc__)
        sys.exit(2)
