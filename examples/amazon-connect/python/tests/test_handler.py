"""The Python Lambda against a running callscribe: each test has its own emulator stream
and the Connect event for it (see conftest.py)."""

import json
import logging
import time
import uuid

import lambda_function
from conftest import (API_KEY, FRAGMENT_BYTES, closed_port_url, create_key, customer_bytes, invoke,
                      make_event, messages, revoke_key, stream, wait_for_words, wait_until_played)

WORDS = {"customer": "country", "agent": "representative"}  # JFK's line, the queue prompt


def assert_summary(stopped, items, expected_customer_bytes):
    for role in ("customer", "agent"):
        said = [m for m in items if m["sender"]["role"] == role]
        assert int(stopped[f"{role}Transcripts"]) == len(said), (stopped, said)
        # 1008: the stream ended by itself (it is played out) before the stop.
        assert stopped[f"{role}StatusCode"] in ("1000", "1008"), stopped
        assert int(stopped[f"{role}AudioDurationMs"]) == int(stopped[f"{role}TotalAudioBytes"]) // 16
    assert int(stopped["customerTotalAudioBytes"]) == expected_customer_bytes, stopped


def test_start_transcribes_the_contact_and_stop_returns_the_summary(env):
    s = stream("py-lifecycle")
    started = invoke(make_event("start-streaming", s))
    assert started["ok"] == "true", started
    assert started["result"] == "started"
    assert started["contactId"] == s["contactId"]
    assert started["customerStatusCode"] == started["agentStatusCode"] == "1000", started
    assert started["customerStreamId"] and started["agentStreamId"] != started["customerStreamId"]

    # The block running twice for one contact: transcription is already on.
    again = invoke(make_event("start-streaming", s))
    assert (again["ok"], again["result"], again["errorCode"]) == ("true", "already_streaming", "409-01")

    items = wait_for_words(s["contactId"], WORDS)
    assert {m["streamId"] for m in items} <= {started["customerStreamId"], started["agentStreamId"]}
    wait_until_played(s)

    stopped = invoke(make_event("stop-streaming", s))
    assert (stopped["ok"], stopped["result"]) == ("true", "stopped"), stopped
    assert stopped["customerStreamId"] == started["customerStreamId"]
    status, body = messages(s["contactId"])
    assert status == 200
    # PRODUCER_TIMESTAMP from StartTimestamp: every byte of the customer's audio was read.
    assert_summary(stopped, body["items"], customer_bytes())

    # Stop is idempotent: the flow may run it twice and gets the same summary.
    stopped_again = invoke(make_event("stop-streaming", s))
    assert stopped_again == stopped


def test_the_guides_fragment_number_selector_skips_the_start_fragment(env):
    s = stream("py-fragment")
    started = invoke(make_event("start-streaming", s, startSelectorType="FRAGMENT_NUMBER"))
    assert started["ok"] == "true", started
    wait_for_words(s["contactId"], WORDS)
    wait_until_played(s)
    stopped = invoke(make_event("stop-streaming", s))
    assert stopped["ok"] == "true", stopped
    status, body = messages(s["contactId"])
    assert status == 200
    # KVS reads from the fragment *after* StartFragmentNumber: 1,024 ms less.
    assert_summary(stopped, body["items"], customer_bytes() - FRAGMENT_BYTES)


def test_a_bad_key_is_the_contracts_401_as_a_failure_result(env, caplog):
    s = stream("py-badkey")
    env.setenv("CALLSCRIBE_API_KEY", "cs_nosuchkey_0123456789abcdef")
    with caplog.at_level(logging.INFO, logger="callscribe"):
        result = invoke(make_event("start-streaming", s))
    assert result["ok"] == "false" and result["result"] == "error", result
    assert (result["errorCode"], result["httpStatus"]) == ("401-01", "401"), result
    assert result["requestId"] and result["errorMessage"]
    # The contract's error body is logged whole, and not the key.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert '"code":"401-01"' in logged.replace(" ", "") and result["requestId"] in logged
    assert "cs_nosuchkey" not in logged
    assert messages(s["contactId"])[0] == 404  # nothing was started


def test_an_unreachable_url_fails_fast(env):
    s = stream("py-unreachable")
    env.setenv("CALLSCRIBE_URL", closed_port_url())
    env.setenv("CALLSCRIBE_TIMEOUT_MS", "2000")
    began = time.monotonic()
    result = invoke(make_event("start-streaming", s))
    elapsed = time.monotonic() - began
    assert (result["ok"], result["errorCode"]) == ("false", "unreachable"), result
    assert elapsed < 2.0, elapsed


def test_a_silent_service_fails_within_the_timeout_and_start_is_not_resent(env, silent_server):
    s = stream("py-silent")
    env.setenv("CALLSCRIBE_URL", silent_server.url)
    env.setenv("CALLSCRIBE_TIMEOUT_MS", "1500")
    began = time.monotonic()
    result = invoke(make_event("start-streaming", s))
    elapsed = time.monotonic() - began
    assert (result["ok"], result["errorCode"]) == ("false", "timeout"), result
    assert 1.3 <= elapsed < 2.0, elapsed
    assert len(silent_server.connections) == 1  # it may have started: never sent twice

    # Lambda's own remaining time caps the budget too (Connect waits 8 s at most).
    env.delenv("CALLSCRIBE_TIMEOUT_MS")
    began = time.monotonic()
    result = invoke(make_event("stop-streaming", s), timeout_ms=1200)
    elapsed = time.monotonic() - began
    assert (result["ok"], result["errorCode"]) == ("false", "timeout"), result
    assert elapsed < 1.2, elapsed


def test_the_key_from_secrets_manager_is_read_once_per_container(env, secrets_manager):
    s = stream("py-secret")
    secret_id = "callscribe/connect-api-key"
    secrets_manager.secrets[secret_id] = json.dumps({"apiKey": API_KEY})
    env.setenv("CALLSCRIBE_API_KEY_SECRET_ID", secret_id)

    started = invoke(make_event("start-streaming", s))
    assert started["ok"] == "true", started
    stopped = invoke(make_event("stop-streaming", s))
    assert stopped["ok"] == "true", stopped
    assert len(secrets_manager.requests) == 1, secrets_manager.requests
    request = secrets_manager.requests[0]
    assert request["target"] == "secretsmanager.GetSecretValue"
    assert request["body"]["SecretId"] == secret_id
    # Signed by the real SDK with SigV4 for the service.
    assert request["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDLOCALTEST/")
    assert "/us-east-1/secretsmanager/aws4_request" in request["authorization"]


def test_a_rotated_key_is_read_again_after_a_401(env, secrets_manager):
    s = stream("py-rotate")
    secret_id = "callscribe/rotating-key"
    old_id, old_key = create_key()
    secrets_manager.secrets[secret_id] = old_key  # a plain-string secret
    env.setenv("CALLSCRIBE_API_KEY_SECRET_ID", secret_id)
    assert invoke(make_event("start-streaming", s))["ok"] == "true"

    new_id, new_key = create_key()
    secrets_manager.secrets[secret_id] = new_key
    revoke_key(old_id)
    stopped = invoke(make_event("stop-streaming", s))
    assert (stopped["ok"], stopped["result"]) == ("true", "stopped"), stopped
    assert len(secrets_manager.requests) == 2
    revoke_key(new_id)


def test_a_missing_secret_is_a_failure_result(env, secrets_manager):
    env.setenv("CALLSCRIBE_API_KEY_SECRET_ID", "callscribe/no-such-secret")
    result = invoke(make_event("stop-streaming", contact_id=str(uuid.uuid4())))
    assert (result["ok"], result["errorCode"]) == ("false", "secret"), result
    assert "ResourceNotFoundException" in result["errorMessage"]


def test_a_hanging_secrets_manager_fails_within_half_the_budget(env, secrets_manager, silent_server):
    env.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", silent_server.url)
    env.setenv("CALLSCRIBE_API_KEY_SECRET_ID", "callscribe/connect-api-key")
    env.setenv("CALLSCRIBE_TIMEOUT_MS", "2000")
    began = time.monotonic()
    result = invoke(make_event("stop-streaming", contact_id=str(uuid.uuid4())))
    elapsed = time.monotonic() - began
    assert (result["ok"], result["errorCode"]) == ("false", "secret"), result
    assert 0.9 <= elapsed < 1.5, elapsed
    assert len(silent_server.connections) == 1  # one try


def test_without_start_media_streaming_nothing_is_sent(env, silent_server):
    env.setenv("CALLSCRIBE_URL", silent_server.url)
    result = invoke(make_event("no-media-stream", contact_id=str(uuid.uuid4())))
    assert (result["ok"], result["errorCode"]) == ("false", "no_media_stream"), result
    assert silent_server.connections == []


def test_stop_of_an_unknown_contact_is_404_and_the_action_can_come_from_the_environment(env):
    event = make_event("stop-streaming", contact_id=str(uuid.uuid4()))
    del event["Details"]["Parameters"]["action"]
    assert invoke(event)["errorCode"] == "bad_event"
    env.setenv("CALLSCRIBE_ACTION", "stop")
    result = invoke(event)
    assert (result["ok"], result["action"], result["errorCode"], result["httpStatus"]) == (
        "false", "stop", "404-01", "404"), result


def test_the_start_body_carries_the_guides_fields_from_the_event(env):
    s = stream("py-lifecycle")
    event = make_event("start-streaming", s, language="en-US")
    body = lambda_function.start_body(event)
    assert body == {
        "namespace": "amazonconnect", "guid": s["contactId"],
        "customerId": "TT9833237", "agentId": "RE223444211993",
        "autotranscribeParams": {"language": "en-US"},
        "amazonConnectParams": {"streamArn": s["streamArn"], "startSelectorType": "PRODUCER_TIMESTAMP",
                                "startTimestamp": int(s["startTimestamp"])},
    }
    # Without StartTimestamp, the guide's fragment number; without either, NOW.
    audio = event["Details"]["ContactData"]["MediaStreams"]["Customer"]["Audio"]
    del audio["StartTimestamp"]
    assert lambda_function.start_body(event)["amazonConnectParams"] == {
        "streamArn": s["streamArn"], "startSelectorType": "FRAGMENT_NUMBER",
        "afterFragmentNumber": s["startFragmentNumber"]}
    del audio["StartFragmentNumber"]
    assert lambda_function.start_body(event)["amazonConnectParams"]["startSelectorType"] == "NOW"
    # The customer's id defaults to the caller's number; the agent's has no default.
    del event["Details"]["Parameters"]["customerId"]
    assert lambda_function.start_body(event)["customerId"] == "+15555550123"
    del event["Details"]["Parameters"]["agentId"]
    assert invoke(event)["errorCode"] == "bad_event"
