"""Amazon Connect contact-flow Lambda for callscribe (Python 3.12 runtime).

Handler: lambda_function.lambda_handler. One function starts or stops transcription:
the Invoke AWS Lambda function block's parameter `action` (`start` | `stop`) decides,
else the environment variable CALLSCRIBE_ACTION (so the guide's two functions can be
deployed from this one file). Place the start block after Start media streaming and the
stop block immediately before Stop media streaming.

Environment:
  CALLSCRIBE_URL                  base URL, e.g. https://callscribe.example.com (required)
  CALLSCRIBE_API_KEY              the tenant's API key, or
  CALLSCRIBE_API_KEY_SECRET_ID    a Secrets Manager secret holding it (plain string, or JSON
                                  with an `apiKey` field); read once per container, re-read
                                  when callscribe answers 401 (key rotated)
  CALLSCRIBE_ACTION               default action when the block passes none
  CALLSCRIBE_TIMEOUT_MS           total time for the HTTP calls, retries included (6000)
  CALLSCRIBE_START_SELECTOR       PRODUCER_TIMESTAMP (default), FRAGMENT_NUMBER or NOW

The return value is a flat map of strings (what Connect accepts): `ok` is "true" or
"false", so a Check contact attributes block can branch on $.External.ok. Failures are
returned, not raised: a transcription problem must not drop the caller.
"""

import json
import logging
import os
import time
import urllib.error
import urllib.request
from http.client import HTTPException

logger = logging.getLogger("callscribe")
logger.setLevel(logging.INFO)

NAMESPACE = "amazonconnect"
DEFAULT_TIMEOUT_MS = 6000
# Leave Lambda this much of its own time to return the result.
SAFETY_MS = 250
MAX_ATTEMPTS = 3

# API key from Secrets Manager, kept for the container's lifetime.
_secret_cache = {"key": None}


class CallFailed(Exception):
    """A failure to report to the flow: code, message and optional HTTP details."""

    def __init__(self, code, message, http_status=None, request_id=None, body=None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status
        self.request_id = request_id
        self.body = body  # callscribe's error body as received, for the log


# ---------------------------------------------------------------- the Connect event


def _contact(event):
    return ((event or {}).get("Details") or {}).get("ContactData") or {}


def _parameters(event):
    return ((event or {}).get("Details") or {}).get("Parameters") or {}


def _customer_audio(contact):
    # Audio is null until a Start media streaming block has run for this contact.
    return ((contact.get("MediaStreams") or {}).get("Customer") or {}).get("Audio") or {}


def _first(*values):
    for value in values:
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def start_body(event):
    """The start-streaming body from a ContactFlowEvent (the guide's fields)."""
    contact, params = _contact(event), _parameters(event)
    attributes = contact.get("Attributes") or {}
    audio = _customer_audio(contact)
    contact_id = _first(contact.get("ContactId"))
    stream_arn = _first(audio.get("StreamARN"))
    if not contact_id:
        raise CallFailed("bad_event", "the event has no Details.ContactData.ContactId")
    if not stream_arn:
        raise CallFailed(
            "no_media_stream",
            "MediaStreams.Customer.Audio.StreamARN is missing: "
            "place this block after a Start media streaming block",
        )
    customer_id = _first(
        params.get("customerId"),
        attributes.get("customerId"),
        (contact.get("CustomerEndpoint") or {}).get("Address"),
    )
    agent_id = _first(params.get("agentId"), attributes.get("agentId"))
    if not customer_id or not agent_id:
        raise CallFailed(
            "bad_event",
            "customerId and agentId are required: pass them as the block's parameters "
            "(or contact attributes)",
        )

    selector = (
        _first(params.get("startSelectorType"), os.environ.get("CALLSCRIBE_START_SELECTOR"))
        or "PRODUCER_TIMESTAMP"
    ).upper()
    connect = {"streamArn": stream_arn}
    fragment = _first(audio.get("StartFragmentNumber"))
    timestamp = _first(audio.get("StartTimestamp")) or ""
    if selector == "PRODUCER_TIMESTAMP" and timestamp.isdigit():
        # From the fragment streaming started in (epoch ms, as Connect gives it).
        connect.update(startSelectorType="PRODUCER_TIMESTAMP", startTimestamp=int(timestamp))
    elif selector in ("PRODUCER_TIMESTAMP", "FRAGMENT_NUMBER") and fragment:
        # The guide's way: KVS starts *after* this fragment, so its ~1 s is not read.
        connect.update(startSelectorType="FRAGMENT_NUMBER", afterFragmentNumber=fragment)
    else:
        connect["startSelectorType"] = "NOW"

    body = {
        "namespace": NAMESPACE,
        "guid": contact_id,
        "customerId": customer_id,
        "agentId": agent_id,
        "amazonConnectParams": connect,
    }
    transcribe = {}
    if _first(params.get("language")):
        transcribe["language"] = params["language"].strip()
    if _first(params.get("redactionOutput")):
        transcribe["redactionOutput"] = params["redactionOutput"].strip()
    if _first(params.get("detailedToken")):
        transcribe["detailedToken"] = params["detailedToken"].strip().lower() == "true"
    if transcribe:
        body["autotranscribeParams"] = transcribe
    return body


def stop_body(event):
    contact_id = _first(_contact(event).get("ContactId"))
    if not contact_id:
        raise CallFailed("bad_event", "the event has no Details.ContactData.ContactId")
    return {"namespace": NAMESPACE, "guid": contact_id}


# ---------------------------------------------------------------- configuration


def _api_key(deadline, refresh=False):
    key = os.environ.get("CALLSCRIBE_API_KEY")
    secret_id = os.environ.get("CALLSCRIBE_API_KEY_SECRET_ID")
    if not secret_id:
        if not key:
            raise CallFailed("config", "set CALLSCRIBE_API_KEY or CALLSCRIBE_API_KEY_SECRET_ID")
        return key
    if _secret_cache["key"] is None or refresh:
        _secret_cache["key"] = _read_secret(secret_id, deadline)
    return _secret_cache["key"]


def _read_secret(secret_id, deadline):
    # boto3 comes with the Lambda runtime; imported only on this path.
    import boto3
    from botocore.config import Config

    # One try within half the time left, so callscribe still gets the other half.
    each_s = max(0.2, min(2.0, (deadline - time.monotonic()) / 2))

    client = boto3.client(
        "secretsmanager",
        # Lambda sets AWS_REGION (botocore itself reads only AWS_DEFAULT_REGION).
        region_name=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        config=Config(connect_timeout=each_s, read_timeout=each_s,
                      retries={"total_max_attempts": 1}),
    )
    try:
        value = client.get_secret_value(SecretId=secret_id)["SecretString"]
    except Exception as err:  # noqa: BLE001 - any SDK failure is a config failure here
        raise CallFailed("secret", f"cannot read secret {secret_id}: {err}") from err
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        value = parsed.get("apiKey")
    if not isinstance(value, str) or not value.strip():
        raise CallFailed("secret", f"secret {secret_id} holds no API key")
    return value.strip()


# ---------------------------------------------------------------- HTTP


class _Outcome:
    def __init__(self, status=None, body=None, headers=None, error=None, sent=True):
        self.status, self.body, self.headers = status, body, headers or {}
        self.error, self.sent = error, sent


def _post_once(url, body, key, timeout_s):
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"content-type": "application/json", "x-api-key": key},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            return _Outcome(response.status, response.read(), dict(response.headers))
    except urllib.error.HTTPError as err:
        return _Outcome(err.code, err.read(), dict(err.headers))
    except urllib.error.URLError as err:
        # Raised while connecting or sending: callscribe has not acted on it.
        return _Outcome(error=f"cannot reach callscribe: {err.reason}", sent=False)
    except (OSError, HTTPException) as err:
        # Timed out or cut while waiting for the answer: it may have been acted on.
        return _Outcome(error=f"no answer from callscribe: {err!r}")


def _retry_after_s(outcome):
    try:
        return float(outcome.headers.get("Retry-After") or outcome.headers.get("retry-after"))
    except (TypeError, ValueError):
        return None


def call(path, body, idempotent, deadline):
    """POST with retries where they are safe; returns the parsed 200 body or raises.

    start-streaming is retried only when callscribe cannot have acted on it (not
    reached, 429-01, 503-01); stop-streaming is idempotent, so also after timeouts
    and other 5xx answers.
    """
    url = os.environ["CALLSCRIBE_URL"].rstrip("/") + path
    key = _api_key(deadline)
    refreshed = False
    attempt = 0
    while True:
        attempt += 1
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            raise CallFailed("timeout", f"no answer from callscribe within the time allowed ({path})")
        outcome = _post_once(url, body, key, remaining)
        if outcome.status == 200:
            return json.loads(outcome.body)

        error = _error_body(outcome)
        code = error.get("code") if error else None
        if outcome.status == 401 and os.environ.get("CALLSCRIBE_API_KEY_SECRET_ID") and not refreshed:
            # The cached key may have been rotated: read the secret again, once.
            refreshed = True
            fresh = _api_key(deadline, refresh=True)
            if fresh != key:
                key = fresh
                continue

        if outcome.status is None:
            retry = not outcome.sent or idempotent
        elif code in ("429-01", "503-01"):
            retry = True
        else:
            retry = idempotent and outcome.status >= 500
        pause = min(_retry_after_s(outcome) or 0.2 * 2 ** (attempt - 1), 1.0)
        if retry and attempt < MAX_ATTEMPTS and time.monotonic() + pause < deadline - 0.1:
            logger.warning("callscribe %s attempt %d failed (%s), retrying", path, attempt,
                           outcome.error or f"HTTP {outcome.status} {code}")
            time.sleep(pause)
            continue
        if outcome.status is None:
            raise CallFailed("timeout" if outcome.sent else "unreachable", outcome.error)
        raise CallFailed(
            code or f"http_{outcome.status}",
            (error or {}).get("message") or f"HTTP {outcome.status}",
            http_status=outcome.status,
            request_id=(error or {}).get("requestId") or outcome.headers.get("x-request-id"),
            body=outcome.body.decode(errors="replace")[:2000],
        )


def _error_body(outcome):
    try:
        error = json.loads(outcome.body).get("error")
        return error if isinstance(error, dict) else None
    except (TypeError, ValueError, AttributeError):
        return None


# ---------------------------------------------------------------- the result


def _flatten(answer):
    """{customer: {streamId, status, summary}, agent: ...} as flat string fields."""
    out = {}
    for role in ("customer", "agent"):
        stream = (answer.get("autotranscribeResponse") or {}).get(role) or {}
        if stream.get("streamId"):
            out[f"{role}StreamId"] = str(stream["streamId"])
        status = stream.get("status") or {}
        if "code" in status:
            out[f"{role}StatusCode"] = str(status["code"])
            out[f"{role}StatusDescription"] = str(status.get("description", ""))
        for name, value in (stream.get("summary") or {}).items():
            out[f"{role}{name[0].upper()}{name[1:]}"] = str(value)
    return out


def _deadline(context):
    try:
        budget_s = int(os.environ.get("CALLSCRIBE_TIMEOUT_MS", DEFAULT_TIMEOUT_MS)) / 1000
    except ValueError as err:
        raise CallFailed("config", "CALLSCRIBE_TIMEOUT_MS must be milliseconds") from err
    if context is not None and hasattr(context, "get_remaining_time_in_millis"):
        budget_s = min(budget_s, (context.get_remaining_time_in_millis() - SAFETY_MS) / 1000)
    return time.monotonic() + budget_s


def lambda_handler(event, context):
    params = _parameters(event)
    action = (_first(params.get("action"), os.environ.get("CALLSCRIBE_ACTION")) or "").lower()
    contact_id = _first(_contact(event).get("ContactId")) or ""
    result = {"action": action, "contactId": contact_id}
    try:
        if not os.environ.get("CALLSCRIBE_URL"):
            raise CallFailed("config", "set CALLSCRIBE_URL")
        deadline = _deadline(context)
        if action == "start":
            try:
                answer = call("/mg-autotranscribe/v1/start-streaming", start_body(event),
                              idempotent=False, deadline=deadline)
                result["result"] = "started"
            except CallFailed as err:
                if err.code != "409-01":
                    raise
                # Already streaming (e.g. the flow ran the block twice): transcription runs.
                logger.warning("contact %s is already being transcribed: %s", contact_id, err.body)
                answer = {}
                result.update(result="already_streaming", errorCode=err.code)
        elif action == "stop":
            answer = call("/mg-autotranscribe/v1/stop-streaming", stop_body(event),
                          idempotent=True, deadline=deadline)
            result["result"] = "stopped"
        else:
            raise CallFailed("bad_event", f"action must be start or stop, not {action!r}")
        result.update(_flatten(answer))
        result["ok"] = "true"
        logger.info("callscribe %s ok: %s", action, json.dumps(result))
    except CallFailed as err:
        result.update(ok="false", result="error", errorCode=err.code, errorMessage=err.message)
        if err.http_status is not None:
            result["httpStatus"] = str(err.http_status)
        if err.request_id:
            result["requestId"] = str(err.request_id)
        # callscribe's error body is logged whole: it names the request id, and no secret.
        logger.error("callscribe %s failed for contact %s: %s %s%s", action, contact_id,
                     err.code, err.message, f" (HTTP {err.http_status} {err.body})" if err.body else "")
    return result
