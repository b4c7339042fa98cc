"""What the handler tests share: the running callscribe (scripts/test-connect-lambdas
starts it and passes CONNECT_TEST_* variables), Connect events filled from the emulator's
streams, a Lambda context, a local Secrets Manager endpoint and a server that never answers.
"""

import json
import math
import os
import pathlib
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
import wave
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import lambda_function  # noqa: E402

URL = os.environ.get("CONNECT_TEST_URL")
API_KEY = os.environ.get("CONNECT_TEST_API_KEY")
ADMIN_TOKEN = os.environ.get("CONNECT_TEST_ADMIN_TOKEN")
TENANT = os.environ.get("CONNECT_TEST_TENANT")
EVENTS = pathlib.Path(os.environ.get("CONNECT_TEST_EVENTS", pathlib.Path(__file__).parents[2] / "events"))
FRAGMENT_BYTES = 8192 * 2  # one emulator fragment: 1,024 ms of 8 kHz 16-bit audio per track


def pytest_collection_modifyitems(items):
    if not URL and any(item.fspath.basename == "test_handler.py" for item in items):
        raise pytest.UsageError("run through scripts/test-connect-lambdas (CONNECT_TEST_URL is unset)")


def stream(name):
    with open(os.environ["CONNECT_TEST_STREAMS"], encoding="utf-8") as f:
        return json.load(f)[name]


def make_event(template, s=None, contact_id=None, **parameters):
    """events/<template>.json with the stream's values in its placeholders."""
    text = (EVENTS / f"{template}.json").read_text(encoding="utf-8")
    s = s or {"contactId": "", "streamArn": "", "startFragmentNumber": "", "startTimestamp": ""}
    for placeholder, value in {
        "CONTACT_ID": contact_id or s["contactId"],
        "STREAM_ARN": s["streamArn"],
        "START_FRAGMENT_NUMBER": s["startFragmentNumber"],
        "START_TIMESTAMP": s["startTimestamp"],
    }.items():
        text = text.replace("{{%s}}" % placeholder, value)
    event = json.loads(text)
    event["Details"]["Parameters"].update(parameters)
    return event


class LambdaContext:
    """The two things the handler reads from Lambda's context object."""

    def __init__(self, timeout_ms=8000):
        self.aws_request_id = str(uuid.uuid4())
        self._ends = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self):
        return int((self._ends - time.monotonic()) * 1000)


def invoke(event, timeout_ms=8000):
    result = lambda_function.lambda_handler(event, LambdaContext(timeout_ms))
    # Connect accepts a flat map of strings only.
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in result.items()), result
    return result


@pytest.fixture
def env(monkeypatch):
    """The Lambda's environment pointing at the running callscribe, with a fresh container."""
    for name in list(os.environ):
        if name.startswith("CALLSCRIBE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CALLSCRIBE_URL", URL)
    monkeypatch.setenv("CALLSCRIBE_API_KEY", API_KEY)
    monkeypatch.setitem(lambda_function._secret_cache, "key", None)
    return monkeypatch


def api(method, path, body=None, key=API_KEY, admin=False):
    """A direct call to callscribe: (status, parsed body)."""
    headers = {"content-type": "application/json"}
    if admin:
        headers["authorization"] = f"Bearer {ADMIN_TOKEN}"
    else:
        headers["x-api-key"] = key
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(URL + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def messages(contact_id):
    return api("GET", f"/conversation/v1/conversation/messages?externalId={contact_id}")


def wait_for_words(contact_id, words, timeout_s=60):
    """Polls the after-call API until each role's text holds its word; returns the items."""
    deadline = time.monotonic() + timeout_s
    texts = {}
    while time.monotonic() < deadline:
        status, body = messages(contact_id)
        assert status == 200, body
        texts = {role: " ".join(m["text"] for m in body["items"] if m["sender"]["role"] == role).lower()
                 for role in words}
        if all(word in texts[role] for role, word in words.items()):
            return body["items"]
        time.sleep(0.5)
    raise AssertionError(f"no {words} in the transcripts of {contact_id} after {timeout_s} s: {texts}")


def customer_bytes():
    with wave.open(os.environ["CONNECT_TEST_CUSTOMER_WAV"]) as w:
        return w.getnframes() * w.getsampwidth()


def wait_until_played(s):
    """Sleeps until the emulator has produced every fragment of the stream (real time)."""
    fragments = math.ceil(customer_bytes() / FRAGMENT_BYTES)
    played_at = int(s["startTimestamp"]) / 1000 + fragments * FRAGMENT_BYTES / 16000 + 1.5
    time.sleep(max(0.0, played_at - time.time()))


def create_key():
    status, body = api("POST", f"/admin/v1/tenants/{TENANT}/keys", {"app": "e2e"}, admin=True)
    assert status == 201, body
    return body["keyId"], body["key"]


def revoke_key(key_id):
    status, body = api("DELETE", f"/admin/v1/tenants/{TENANT}/keys/{key_id}", admin=True)
    assert status in (200, 204), body


# ---------------------------------------------------------------- local endpoints


class SecretsManager:
    """GetSecretValue over the JSON 1.1 protocol, as AWS answers it; records each request."""

    def __init__(self):
        self.secrets = {}
        self.requests = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                owner.requests.append({"target": self.headers.get("x-amz-target"),
                                       "authorization": self.headers.get("authorization", ""),
                                       "body": body})
                name = body.get("SecretId")
                if self.headers.get("x-amz-target") != "secretsmanager.GetSecretValue":
                    self.answer(400, {"__type": "UnknownOperationException"})
                elif name not in owner.secrets:
                    self.answer(400, {"__type": "ResourceNotFoundException",
                                      "message": "Secrets Manager can't find the specified secret."})
                else:
                    self.answer(200, {
                        "ARN": f"arn:aws:secretsmanager:us-east-1:000000000000:secret:{name}-AbCdEf",
                        "Name": name, "SecretString": owner.secrets[name],
                        "VersionId": str(uuid.uuid4()), "VersionStages": ["AWSCURRENT"],
                        "CreatedDate": time.time()})

            def answer(self, status, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/x-amz-json-1.1")
                self.send_header("x-amzn-requestid", str(uuid.uuid4()))
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def secrets_manager(env):
    sm = SecretsManager()
    # The real boto3, pointed at the local endpoint by the SDK's own variable.
    env.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", sm.url)
    env.setenv("AWS_REGION", "us-east-1")
    env.setenv("AWS_DEFAULT_REGION", "us-east-1")
    env.setenv("AWS_ACCESS_KEY_ID", "AKIDLOCALTEST")
    env.setenv("AWS_SECRET_ACCESS_KEY", "local-test-secret")
    env.setenv("AWS_CONFIG_FILE", "/dev/null")
    env.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    env.delenv("AWS_PROFILE", raising=False)
    env.delenv("CALLSCRIBE_API_KEY")
    yield sm
    sm.server.shutdown()


class SilentServer:
    """Accepts connections and never answers: a callscribe that hangs."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.connections = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)

    def close(self):
        for c in self.connections:
            c.close()
        self.sock.close()


@pytest.fixture
def silent_server():
    server = SilentServer()
    yield server
    server.close()


def closed_port_url():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connections are refused
    return f"http://127.0.0.1:{port}"
