#!/usr/bin/env python3
"""Checks the monitoring kit against the service's metrics (run by scripts/check-deploy).

- grafana-dashboard.json parses, has a `datasource` template variable, and every panel and
  query reads its data source from it (no data source uid baked in);
- every `callscribe_*` name used by the dashboard, alerts.yml and alerts.test.yml is a
  metric registered in crates/service/src/metrics.rs (the registry adds the `callscribe_`
  prefix), the ones the kit depends on (REQUIRED) with their types, and histogram series are used only with _bucket/_sum/_count
  (a counter or gauge never with them);
- every alert has `for:`, a severity, and summary and runbook annotations.

Usage: check_metrics.py REPO_ROOT (needs PyYAML: scripts/check-deploy runs it in its venv).
"""

import json
import pathlib
import re
import sys

import yaml

# Metrics the kit depends on, by name and type: each must be registered in metrics.rs
# with this type.
REQUIRED = {
    "callscribe_active_conversations": "gauge",
    "callscribe_kvs_reconnects_total": "counter",
    "callscribe_stream_ends_total": "counter",
    "callscribe_end_to_end_latency_seconds": "histogram",
    "callscribe_engine_fallbacks_total": "counter",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


def registered(metrics_rs: str) -> dict:
    """Metric name -> type, from the constructors metrics.rs calls with a literal name."""
    found = {}
    patterns = {
        "histogram": r'(?:HistogramOpts::new|histogram)\(\s*"([a-z0-9_]+)"',
        "counter": r'(?:IntCounter::new|Opts::new)\(\s*"([a-z0-9_]+_total)"',
        "gauge": r'(?:IntGauge::new|Gauge::new|Opts::new)\(\s*"([a-z0-9_]+)"',
    }
    for kind, pattern in patterns.items():
        for name in re.findall(pattern, metrics_rs):
            full = "callscribe_" + name
            if kind == "gauge" and (full in found or name.endswith("_total")):
                continue  # an Opts::new of a counter or histogram, already typed
            found.setdefault(full, kind)
    return found


def check_names(source: str, text: str, known: dict, errors: list) -> set:
    used = set(re.findall(r"\bcallscribe_[a-z0-9_]+", text))
    for name in sorted(used):
        base = name
        for suffix in HISTOGRAM_SUFFIXES:
            if name.endswith(suffix) and name[: -len(suffix)] in known:
                base = name[: -len(suffix)]
        kind = known.get(base)
        if kind is None:
            errors.append(f"{source}: {name} is not a metric of metrics.rs")
        elif kind == "histogram" and base == name:
            errors.append(f"{source}: {name} is a histogram: use {name}_bucket, _sum or _count")
        elif kind != "histogram" and base != name:
            errors.append(f"{source}: {name}: {base} is a {kind}, it has no {name[len(base):]}")
    return used


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    here = root / "deploy" / "monitoring"
    errors = []
    found = registered((root / "crates/service/src/metrics.rs").read_text(encoding="utf-8"))
    if len(found) < 10:
        errors.append(f"metrics.rs: only {len(found)} metrics recognised; has its style changed?")
    known = dict(found)
    for name, kind in REQUIRED.items():
        if found.get(name) != kind:
            errors.append(f"{name} is not a {kind} in metrics.rs")

    text = (here / "grafana-dashboard.json").read_text(encoding="utf-8")
    dash = json.loads(text)
    variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    if variables.get("datasource", {}).get("type") != "datasource":
        errors.append("grafana-dashboard.json: no `datasource` template variable")
    for panel in dash["panels"]:
        if panel["type"] == "row":
            continue
        for owner in [panel] + panel.get("targets", []):
            if owner.get("datasource", {}).get("uid") != "${datasource}":
                errors.append(f"dashboard panel {panel['title']!r}: data source is not ${{datasource}}")
        if not panel.get("targets"):
            errors.append(f"dashboard panel {panel['title']!r} has no query")
    used = check_names("grafana-dashboard.json", text, known, errors)

    for name in ("alerts.yml", "alerts.test.yml"):
        used |= check_names(name, (here / name).read_text(encoding="utf-8"), known, errors)
    rules = yaml.safe_load((here / "alerts.yml").read_text(encoding="utf-8"))
    alerts = [r for g in rules["groups"] for r in g["rules"] if "alert" in r]
    for rule in alerts:
        missing = [k for k in ("for",) if k not in rule]
        missing += [k for k in ("severity",) if k not in rule.get("labels", {})]
        missing += [k for k in ("summary", "runbook") if k not in rule.get("annotations", {})]
        if missing:
            errors.append(f"alert {rule['alert']}: no {', '.join(missing)}")

    for error in errors:
        print(error, file=sys.stderr)
    print(f"{len(dash['panels'])} dashboard panels, {len(alerts)} alerts, "
          f"{len(used)} metric names used, all known"
          if not errors else f"{len(errors)} problem(s)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
