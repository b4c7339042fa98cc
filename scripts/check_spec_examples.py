#!/usr/bin/env python3
"""Checks that every example in an OpenAPI 3.0 document validates against the schema it
sits in (schema `example`s, and media-type `example`s against the media type's schema),
so documentation and generated clients never show a value the API would refuse.

    check_spec_examples.py openapi/openapi.json

OpenAPI 3.0 schemas are JSON Schema draft 4 plus `nullable`; `nullable: true` becomes
"or null" here, and `$ref`s resolve inside the document. Needs the `jsonschema_rs` package
(scripts/contract-fuzz runs it from the schemathesis venv, which has it). Exits 1 and
lists each invalid example, or prints how many it checked.
"""
import copy
import json
import sys

import jsonschema_rs

# Annotations that are not draft 4 keywords (left in, jsonschema ignores unknown ones;
# `example` is dropped so an example is not read as a keyword of a nested schema).
DROP = ("example", "discriminator")


def to_json_schema(node):
    """Rewrites OpenAPI 3.0 schema nodes as draft 4: `nullable` becomes an anyOf with null."""
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: to_json_schema(v) for k, v in node.items() if k not in DROP}
    if out.pop("nullable", False):
        return {"anyOf": [out, {"type": "null"}]}
    return out


def examples(spec):
    """(where, example, schema) for every example the document holds."""
    for name, schema in spec.get("components", {}).get("schemas", {}).items():
        yield from schema_examples(f"components.schemas.{name}", schema)
    for section in ("paths", "webhooks", "x-webhooks"):
        for path, item in spec.get(section, {}).items():
            for method, op in item.items():
                if not isinstance(op, dict):
                    continue
                where = f"{section}.{path}.{method}"
                media = [("requestBody", m) for m in op.get("requestBody", {}).get("content", {}).values()]
                for status, resp in op.get("responses", {}).items():
                    media += [(f"responses.{status}", m) for m in resp.get("content", {}).values()]
                for part, m in media:
                    if "example" in m and "schema" in m:
                        yield f"{where}.{part}", m["example"], m["schema"]
                    yield from schema_examples(f"{where}.{part}.schema", m.get("schema", {}))


def schema_examples(where, schema):
    if not isinstance(schema, dict):
        return
    if "example" in schema:
        yield where, schema["example"], schema
    for key, sub in schema.get("properties", {}).items():
        yield from schema_examples(f"{where}.{key}", sub)
    if isinstance(schema.get("items"), dict):
        yield from schema_examples(f"{where}[]", schema["items"])


def main(path):
    spec = json.load(open(path, encoding="utf-8"))
    components = to_json_schema(spec.get("components", {}))
    bad, checked = [], 0
    for where, example, schema in examples(spec):
        checked += 1
        root = {"components": components, "allOf": [to_json_schema(copy.deepcopy(schema))]}
        errors = sorted(jsonschema_rs.Draft4Validator(root).iter_errors(example), key=str)
        for e in errors:
            location = "/".join(str(p) for p in e.instance_path) or "(the example)"
            bad.append(f"{where}: {location}: {e.message}")
    if bad:
        print(f"check-spec-examples: {len(bad)} problem(s) in {checked} examples:")
        print("\n".join("  " + b for b in bad))
        return 1
    print(f"check-spec-examples: {checked} examples valid against their schemas")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
