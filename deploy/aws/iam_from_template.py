#!/usr/bin/env python3
"""Writes examples/amazon-connect/iam/*.json from deploy/aws/connect-lambdas.yaml, or checks
that they are what the template says (--check, run by scripts/check-deploy).

The CloudFormation template is the one source of the IAM policies; the JSON files are the
same documents with example values filled in (account 111122223333, region us-east-1, ...)
for deploying by hand with the AWS CLI, as examples/amazon-connect/README.md does.

Usage (needs PyYAML; scripts/check-deploy's venv has it):
  .venv/deploy-check/bin/python deploy/aws/iam_from_template.py --write
  .venv/deploy-check/bin/python deploy/aws/iam_from_template.py --check
"""

import difflib
import json
import pathlib
import re
import sys

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy/aws/connect-lambdas.yaml"
IAM = ROOT / "examples/amazon-connect/iam"

# The values the example files show for the template's parameters and pseudo parameters.
EXAMPLE = {
    "AWS::Partition": "aws",
    "AWS::Region": "us-east-1",
    "AWS::AccountId": "111122223333",
    "FunctionName": "callscribe-connect",
    "ApiKeySecretName": "callscribe/connect-api-key",
    "CallscribePrincipalArn": "arn:aws:iam::444455556666:role/callscribe",
    "ExternalId": "replace-with-the-tenant-externalId",
    "KvsStreamPrefix": "my-prefix",
    "ConnectInstanceAlias": "my-instance",
    "KmsKeyArn": "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab",
}

# file -> (resource, where its document is: a property, or a named inline policy)
FILES = {
    "lambda-trust-policy.json": ("LambdaExecutionRole", "AssumeRolePolicyDocument"),
    "lambda-execution-policy.json": ("LambdaExecutionRole", "Policies:logs-and-key"),
    "kvs-read-trust-policy.json": ("KvsReadRole", "AssumeRolePolicyDocument"),
    "kvs-read-policy.json": ("KvsReadRole", "Policies:kvs-read"),
    "kvs-kms-decrypt-policy.json": ("KvsKmsDecryptPolicy", "PolicyDocument"),
}


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, ...) as their long forms."""


def _intrinsic(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref": value} if suffix == "Ref" else {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", _intrinsic)


def resolve(value, where):
    """Fills in !Ref and !Sub with EXAMPLE; any other intrinsic in a policy is an error."""
    if isinstance(value, dict):
        if set(value) == {"Ref"}:
            return EXAMPLE[value["Ref"]]
        if set(value) == {"Fn::Sub"} and isinstance(value["Fn::Sub"], str):
            return re.sub(r"\$\{([^}!]+)\}", lambda m: EXAMPLE[m.group(1)], value["Fn::Sub"])
        if any(k.startswith("Fn::") for k in value):
            raise SystemExit(f"{where}: {list(value)[0]} is not supported in a policy here")
        return {k: resolve(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, where) for v in value]
    return value


def documents():
    """file name -> the JSON text it should have."""
    template = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=CfnLoader)
    resources = template["Resources"]
    out = {}
    for name, (resource, path) in FILES.items():
        props = resources[resource]["Properties"]
        if path.startswith("Policies:"):
            wanted = path.split(":", 1)[1]
            (doc,) = [p["PolicyDocument"] for p in props["Policies"] if p["PolicyName"] == wanted]
        else:
            doc = props[path]
        out[name] = json.dumps(resolve(doc, f"{resource}.{path}"), indent=2) + "\n"
    return out


def main(argv):
    mode = argv[1] if len(argv) > 1 else "--check"
    if mode not in ("--check", "--write"):
        print(__doc__, file=sys.stderr)
        return 2
    wanted = documents()
    drift = []
    for name, text in wanted.items():
        path = IAM / name
        have = path.read_text(encoding="utf-8") if path.exists() else ""
        if have == text:
            continue
        if mode == "--write":
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
        else:
            drift.append(name)
            sys.stderr.writelines(difflib.unified_diff(
                have.splitlines(True), text.splitlines(True),
                f"{path.relative_to(ROOT)} (as it is)", f"{path.relative_to(ROOT)} (from the template)"))
    strays = sorted(p.name for p in IAM.glob("*.json") if p.name not in wanted)
    if strays:
        drift.append("not from the template: " + ", ".join(strays))
    if drift:
        print("IAM documents drifted from deploy/aws/connect-lambdas.yaml: " + "; ".join(drift)
              + "\n  (edit the template, then run deploy/aws/iam_from_template.py --write)",
              file=sys.stderr)
        return 1
    if mode == "--check":
        print(f"{len(wanted)} IAM documents match the template")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
