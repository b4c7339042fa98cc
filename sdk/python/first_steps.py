"""First steps with the generated Python client (`callscribe_client`).

Sets up a tenant from nothing with the admin token, then transcribes one call with the
tenant's API key, exactly as an integration would: every call goes through the client
that scripts/generate-sdks generates from openapi/openapi.json.

    CALLSCRIBE_URL=http://127.0.0.1:8080 CALLSCRIBE_ADMIN_TOKEN=... \
    CALLSCRIBE_KVS_URL=http://127.0.0.1:4567 \
    CALLSCRIBE_STREAM_ARN=arn:aws:kinesisvideo:us-east-1:000000000000:stream/py/0 \
    CALLSCRIBE_CONTACT_ID=<the ContactId the stream's fragments carry> \
    PYTHONPATH=target/sdks/python python3 sdk/python/first_steps.py

Prints each step; exits 1 at the first answer that is not what the API promises.
"""

import os
import sys
import time
import uuid

from callscribe_client import AuthenticatedClient
from callscribe_client.api.admin import create_api_key, create_tenant, put_tenant_aws
from callscribe_client.api.conversations import get_conversation_messages
from callscribe_client.api.streaming import start_streaming, stop_streaming
from callscribe_client.models import (
    AmazonConnectParams,
    AutotranscribeParams,
    CreatedKey,
    CreateKeyRequest,
    CreateTenantRequest,
    ErrorBody,
    MessagesResponse,
    ParticipantRole,
    RedactionOutput,
    StartSelectorType,
    StartStreamingRequest,
    StopStreamingRequest,
    StreamingResponse,
    Tenant,
    TenantAws,
)

POLL_TIMEOUT_S = 60


def step(message: str) -> None:
    print(f"python: {message}", flush=True)


def fail(message: str) -> None:
    print(f"python: FAILED: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


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

    started = expect(
        start_streaming.sync_detailed(
            client=api,
            body=StartStreamingRequest(
                namespace="amazonconnect",
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
            client=api, body=StopStreamingRequest(namespace="amazonconnect", guid=contact_id)
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

    # Errors decode into ErrorBody with the contract's code.
    missing = "arn:aws:kinesisvideo:us-east-1:000000000000:stream/no-such-stream/0"
    error = expect(
        start_streaming.sync_detailed(
            client=api,
            body=StartStreamingRequest(
                namespace="amazonconnect",
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


if __name__ == "__main__":
    main()
