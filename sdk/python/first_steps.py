"""First steps with the generated Python client (`callscribe_client`).

Sets up a tenant from nothing with the admin token, then transcribes one call with the
tenant's API key, exactly as an integration would: every call goes through the client
that scripts/generate-sdks generates from openapi/openapi.json. The tenant's webhook
target is a receiver started here on 127.0.0.1, which verifies every delivery with the
`standardwebhooks` package (PyPI) under a `whsec_` signing secret and parses its body into
the generated `TranscriptEvent`; the service must allow loopback targets
(CALLSCRIBE_WEBHOOK__ALLOW_CIDRS, as scripts/test-sdks sets it).

    CALLSCRIBE_URL=http://127.0.0.1:8080 CALLSCRIBE_ADMIN_TOKEN=... \
    CALLSCRIBE_KVS_URL=http://127.0.0.1:4567 \
    CALLSCRIBE_STREAM_ARN=arn:aws:kinesisvideo:us-east-1:000000000000:stream/py/0 \
    CALLSCRIBE_CONTACT_ID=<the ContactId the stream's fragments carry> \
    PYTHONPATH=target/sdks/python python3 sdk/python/first_steps.py

Prints each step; exits 1 at the first answer that is not what the API promises.
"""

import base64
import os
import secrets
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from callscribe_client import AuthenticatedClient
from callscribe_client.api.admin import (
    create_api_key,
    create_tenant,
    list_deliveries,
    put_tenant_aws,
    put_webhook,
)
from callscribe_client.api.conversations import get_conversation_messages
from callscribe_client.api.streaming import start_streaming, stop_streaming
from callscribe_client.models import (
    AmazonConnectParams,
    AutotranscribeParams,
    CreatedKey,
    CreateKeyRequest,
    CreateTenantRequest,
    DeliveryList,
    ErrorBody,
    MessagesResponse,
    Namespace,
    NoAuth,
    NoAuthMode,
    ParticipantRole,
    RedactionOutput,
    StartSelectorType,
    StartStreamingRequest,
    StopStreamingRequest,
    StreamingResponse,
    Tenant,
    TenantAws,
    TranscriptEvent,
    TranscriptKind,
    WebhookTarget,
)
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

POLL_TIMEOUT_S = 60
# How long after stop-streaming the last messages may take to be delivered.
DELIVERY_TIMEOUT_S = 20


def step(message: str) -> None:
    print(f"python: {message}", flush=True)


def fail(message: str) -> None:
    print(f"python: FAILED: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes
    event: TranscriptEvent


class Receiver:
    """The tenant's webhook target: an HTTP server on 127.0.0.1 (a free port) that verifies
    every delivery with the standardwebhooks package, answers 204 (verified) or 401, and
    keeps what it received."""

    def __init__(self, secret: str):
        # A whsec_ secret is given to the library as it is (base64 of the key after the prefix).
        self.webhook = Webhook(secret)
        self.lock = threading.Lock()
        self.verified: list[Delivery] = []
        self.failures: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                status = receiver.receive({k.lower(): v for k, v in self.headers.items()}, body)
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def receive(self, headers: dict[str, str], body: bytes) -> int:
        try:
            # Verify the raw body before parsing it; verify() answers the parsed JSON.
            payload = self.webhook.verify(body, headers)
            event = parse_event(payload)
        except (WebhookVerificationError, ValueError, KeyError, TypeError) as e:
            with self.lock:
                self.failures.append(f"{headers.get('webhook-id')}: {type(e).__name__}: {e}")
            return 401
        with self.lock:
            self.verified.append(Delivery(headers, body, event))
        return 204

    def delivered(self) -> dict[str, Delivery]:
        with self.lock:
            return {d.headers["webhook-id"]: d for d in self.verified}

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def parse_event(payload: dict) -> TranscriptEvent:
    """The webhook body as the generated model (the spec's `transcript` webhook)."""
    event = TranscriptEvent.from_dict(payload)
    result = event.autotranscribe_response
    if event.type_ != TranscriptKind.TRANSCRIPT or result.message != TranscriptKind.TRANSCRIPT:
        raise ValueError(f"type is {event.type_!r}, message {result.message!r}")
    if len(result.utterance) != 1:
        raise ValueError("not exactly one utterance")
    return event


def event_text(event: TranscriptEvent) -> str:
    return event.autotranscribe_response.utterance[0].text


def expect(response, status: int, model: type):
    """The parsed body of `response`, which must have `status` and decode as `model`."""
    if response.status_code != status or not isinstance(response.parsed, model):
        fail(
            f"expected {status} {model.__name__}, got {int(response.status_code)}: {response.content[:300]!r}"
        )
    return response.parsed


def main() -> None:
    url = os.environ["CALLSCRIBE_URL"]
    kvs_url = os.environ["CALLSCRIBE_KVS_URL"]
    stream_arn = os.environ["CALLSCRIBE_STREAM_ARN"]
    # Connect's ContactId: the reader stops at fragments tagged with another contact.
    contact_id = os.environ["CALLSCRIBE_CONTACT_ID"]
    # The admin API takes a bearer token; the public API an `x-api-key` header.
    admin = AuthenticatedClient(base_url=url, token=os.environ["CALLSCRIBE_ADMIN_TOKEN"])

    tenant = expect(
        create_tenant.sync_detailed(client=admin, body=CreateTenantRequest(name="first-steps-python")),
        201,
        Tenant,
    )
    step(f"created tenant {tenant.id} ({tenant.name}, {tenant.created_at.isoformat()})")

    aws = expect(
        put_tenant_aws.sync_detailed(client=admin, id=tenant.id, body=TenantAws(endpoint_url=kvs_url)),
        200,
        TenantAws,
    )
    if aws.endpoint_url != kvs_url:
        fail(f"endpointUrl is {aws.endpoint_url!r}, want {kvs_url!r}")
    step(f"tenant reads KVS at {aws.endpoint_url}")

    created = expect(
        create_api_key.sync_detailed(client=admin, id=tenant.id, body=CreateKeyRequest(app="first-steps")),
        201,
        CreatedKey,
    )
    step(f"created API key {created.key_id} for app {created.app}")
    api = AuthenticatedClient(base_url=url, token=created.key, prefix="", auth_header_name="x-api-key")

    # The webhook target, signed with a whsec_ secret (base64 of 32 random bytes).
    signing_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    receiver = Receiver(signing_secret)
    target = expect(
        put_webhook.sync_detailed(
            client=admin,
            id=tenant.id,
            body=WebhookTarget(
                url=receiver.url, auth=NoAuth(mode=NoAuthMode.NONE), signing_secret=signing_secret
            ),
        ),
        200,
        WebhookTarget,
    )
    if target.url != receiver.url:
        fail(f"webhook url is {target.url!r}, want {receiver.url!r}")
    step(f"webhook target {target.url} (auth {target.auth.mode.value}, whsec_ signing secret)")

    started = expect(
        start_streaming.sync_detailed(
            client=api,
            body=StartStreamingRequest(
                namespace=Namespace.AMAZONCONNECT,
                guid=contact_id,
                customer_id="customer-py",
                agent_id="agent-py",
                autotranscribe_params=AutotranscribeParams(redaction_output=RedactionOutput.REDACTED),
                amazon_connect_params=AmazonConnectParams(
                    stream_arn=stream_arn, start_selector_type=StartSelectorType.EARLIEST
                ),
            ),
        ),
        200,
        StreamingResponse,
    )
    customer = started.autotranscribe_response.customer
    if not started.is_ok or customer.status.code != 1000:
        fail(f"start answered isOk={started.is_ok}, customer status {customer.status.code}")
    step(f"started streaming contact {contact_id}: customer stream {customer.stream_id}")

    deadline = time.monotonic() + POLL_TIMEOUT_S
    spoken = []
    while not spoken:
        if time.monotonic() > deadline:
            fail(f"no utterance with text within {POLL_TIMEOUT_S} s")
        time.sleep(1)
        page = expect(
            get_conversation_messages.sync_detailed(client=api, external_id=contact_id),
            200,
            MessagesResponse,
        )
        spoken = [m for m in page.items if m.text.strip()]
    first = spoken[0]
    if not isinstance(first.sender.role, ParticipantRole):
        fail(f"sender.role decoded as {type(first.sender.role).__name__}, not ParticipantRole")
    step(f"utterance from the {first.sender.role.value} ({first.start}-{first.end} ms): {first.text!r}")

    stopped = expect(
        stop_streaming.sync_detailed(
            client=api, body=StopStreamingRequest(namespace=Namespace.AMAZONCONNECT, guid=contact_id)
        ),
        200,
        StreamingResponse,
    )
    summary = stopped.autotranscribe_response.customer.summary
    if not summary or summary.total_audio_bytes <= 0 or summary.transcripts < 1:
        fail(f"stop summary of the customer stream is {summary!r}")
    if summary.audio_duration_ms != summary.total_audio_bytes // 16:
        fail(f"audioDurationMs {summary.audio_duration_ms} is not totalAudioBytes/16")
    step(
        f"stopped: customer {summary.total_audio_bytes} bytes, {summary.audio_duration_ms} ms of audio, "
        f"{summary.transcripts} transcripts, {summary.streaming_seconds} s"
    )

    check_deliveries(admin, api, tenant.id, contact_id, first, receiver)

    # Errors decode into ErrorBody with the contract's code.
    missing = "arn:aws:kinesisvideo:us-east-1:000000000000:stream/no-such-stream/0"
    error = expect(
        start_streaming.sync_detailed(
            client=api,
            body=StartStreamingRequest(
                namespace=Namespace.AMAZONCONNECT,
                guid=str(uuid.uuid4()),
                customer_id="customer-py",
                agent_id="agent-py",
                amazon_connect_params=AmazonConnectParams(stream_arn=missing),
            ),
        ),
        422,
        ErrorBody,
    )
    if error.error.code != "422-01":
        fail(f"unknown stream answered code {error.error.code}, want 422-01")
    step(f"unknown stream: {error.error.code} {error.error.message} (request {error.error.request_id})")

    bad = AuthenticatedClient(base_url=url, token="cs_nope_nope", prefix="", auth_header_name="x-api-key")
    error = expect(
        get_conversation_messages.sync_detailed(client=bad, external_id=contact_id), 401, ErrorBody
    )
    if error.error.code != "401-01":
        fail(f"bad API key answered code {error.error.code}, want 401-01")
    step(f"bad API key: {error.error.code} {error.error.message}")
    step("OK")


def check_deliveries(admin, api, tenant_id: str, contact_id: str, first, receiver: Receiver) -> None:
    """Every message of the call arrives at the receiver, verified, as the delivery with
    webhook-id = its messageId; nothing fails verification; a changed byte does."""
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    while True:
        page = expect(
            get_conversation_messages.sync_detailed(client=api, external_id=contact_id),
            200,
            MessagesResponse,
        )
        message_ids = {m.message_id for m in page.items}
        delivered = receiver.delivered()
        missing = message_ids - delivered.keys()
        if not missing or receiver.failures or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    receiver.stop()
    failures = list(receiver.failures)
    step(
        f"webhook: {len(delivered)} deliveries verified with standardwebhooks, "
        f"{len(failures)} failed verification ({len(message_ids)} messages)"
    )
    if failures:
        fail(f"deliveries failed verification: {failures}")
    if not delivered:
        fail("no delivery verified")
    unknown = delivered.keys() - message_ids
    if unknown:
        fail(f"webhook-id {sorted(unknown)} is no messageId of the conversation")
    if missing:
        fail(f"messages {sorted(missing)} were not delivered within {DELIVERY_TIMEOUT_S} s")
    for message_id, d in delivered.items():
        if d.event.external_conversation_id != contact_id:
            fail(f"delivery {message_id}: externalConversationId {d.event.external_conversation_id!r}")
    spoken = delivered[first.message_id]
    if event_text(spoken.event) != first.text or not event_text(spoken.event).strip():
        fail(f"delivery {first.message_id} has text {event_text(spoken.event)!r}, want {first.text!r}")
    step(f"delivery {first.message_id} ({spoken.headers['webhook-timestamp']}): {event_text(spoken.event)!r}")

    # The same delivery with one byte of its body changed must fail verification.
    body = bytearray(spoken.body)
    body[len(body) // 2] ^= 0x01
    try:
        receiver.webhook.verify(bytes(body), spoken.headers)
    except WebhookVerificationError:
        pass
    else:
        fail("a delivery with one byte of the body changed passed verification")
    receiver.webhook.verify(spoken.body, spoken.headers)  # while the unchanged one still passes
    step("webhook: a delivery with one byte changed fails verification")

    log = expect(list_deliveries.sync_detailed(client=admin, id=tenant_id), 200, DeliveryList)
    if log.items:
        fail(f"the delivery log has failures: {[(d.message_id, d.outcome, d.error) for d in log.items]}")


if __name__ == "__main__":
    main()
