"""The IAM documents in examples/amazon-connect/iam/: well-formed policies granting exactly
what the README says, and nothing broader."""

import json
import pathlib

IAM = pathlib.Path(__file__).resolve().parents[2] / "iam"


def load(name):
    doc = json.loads((IAM / name).read_text(encoding="utf-8"))
    assert doc["Version"] == "2012-10-17"
    assert doc["Statement"], name
    for st in doc["Statement"]:
        assert st["Effect"] == "Allow" and st["Sid"].isalnum(), st
        assert "Action" in st and ("Resource" in st or "Principal" in st), st
    return doc


def actions(st):
    return {st["Action"]} if isinstance(st["Action"], str) else set(st["Action"])


def test_every_file_is_a_policy():
    names = sorted(p.name for p in IAM.glob("*.json"))
    assert names == ["kvs-kms-decrypt-policy.json", "kvs-read-policy.json",
                     "kvs-read-trust-policy.json", "lambda-execution-policy.json",
                     "lambda-trust-policy.json"]
    for name in names:
        load(name)


def test_kvs_read_policy_reads_only_the_connect_streams():
    (st,) = load("kvs-read-policy.json")["Statement"]
    assert actions(st) == {"kinesisvideo:GetDataEndpoint", "kinesisvideo:GetMedia",
                           "kinesisvideo:DescribeStream"}
    assert st["Resource"].startswith("arn:aws:kinesisvideo:")
    # Connect's streams: <prefix>-connect-<instance alias>-contact-<uuid>/<creation time>.
    assert ":stream/" in st["Resource"] and "-connect-" in st["Resource"]
    assert st["Resource"].endswith("*/*")


def test_trust_policy_needs_the_external_id_and_callscribes_session_name():
    (st,) = load("kvs-read-trust-policy.json")["Statement"]
    assert st["Action"] == "sts:AssumeRole"
    assert st["Principal"]["AWS"].startswith("arn:aws:iam::")
    assert st["Condition"]["StringEquals"]["sts:ExternalId"]
    assert st["Condition"]["StringLike"]["sts:RoleSessionName"] == "callscribe-*"


def test_kms_policy_decrypts_only_through_kinesis_video():
    (st,) = load("kvs-kms-decrypt-policy.json")["Statement"]
    assert actions(st) == {"kms:Decrypt"}
    assert st["Resource"].startswith("arn:aws:kms:") and "*" not in st["Resource"]
    assert st["Condition"]["StringEquals"]["kms:ViaService"].startswith("kinesisvideo.")


def test_lambda_execution_policy_is_logs_and_one_secret():
    statements = load("lambda-execution-policy.json")["Statement"]
    granted = set().union(*(actions(st) for st in statements))
    assert granted == {"logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                       "secretsmanager:GetSecretValue"}
    (secret,) = [st for st in statements if "secretsmanager:GetSecretValue" in actions(st)]
    assert secret["Resource"].startswith("arn:aws:secretsmanager:")
    assert secret["Resource"].count("*") == 0  # one secret (its 6-character suffix as ??????)
    for st in statements:
        assert st["Resource"] != "*", st


def test_lambda_trust_policy_is_for_lambda():
    (st,) = load("lambda-trust-policy.json")["Statement"]
    assert st == {"Sid": "LambdaAssumesExecutionRole", "Effect": "Allow",
                  "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
