// Amazon Connect contact-flow Lambda for callscribe (Node.js 20 runtime).
//
// Handler: index.handler. One function starts or stops transcription: the Invoke AWS
// Lambda function block's parameter `action` (`start` | `stop`) decides, else the
// environment variable CALLSCRIBE_ACTION (so the guide's two functions can be deployed
// from this one file). Place the start block after Start media streaming and the stop
// block immediately before Stop media streaming.
//
// Environment (the same as the Python version):
//   CALLSCRIBE_URL                 base URL, e.g. https://callscribe.example.com (required)
//   CALLSCRIBE_API_KEY             the tenant's API key, or
//   CALLSCRIBE_API_KEY_SECRET_ID   a Secrets Manager secret holding it (plain string, or JSON
//                                  with an `apiKey` field); read once per container, read
//                                  again when callscribe answers 401 (key rotated)
//   CALLSCRIBE_ACTION              default action when the block passes none
//   CALLSCRIBE_TIMEOUT_MS          total time for the HTTP calls, retries included (6000)
//   CALLSCRIBE_START_SELECTOR      PRODUCER_TIMESTAMP (default), FRAGMENT_NUMBER or NOW
//
// The result is a flat map of strings (what Connect accepts): `ok` is "true" or "false",
// so a Check contact attributes block can branch on $.External.ok. Failures are returned,
// not thrown: a transcription problem must not drop the caller.

const NAMESPACE = "amazonconnect";
const DEFAULT_TIMEOUT_MS = 6000;
const SAFETY_MS = 250; // left to Lambda to return the result
const MAX_ATTEMPTS = 3;
// fetch failures raised before the request reached callscribe: always safe to retry.
const NOT_SENT = new Set([
  "ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH",
  "UND_ERR_CONNECT_TIMEOUT",
]);

// API key from Secrets Manager, kept for the container's lifetime.
let cachedSecretKey = null;

class CallFailed extends Error {
  constructor(code, message, httpStatus = null, requestId = null, body = null) {
    super(message);
    this.code = code;
    this.httpStatus = httpStatus;
    this.requestId = requestId;
    this.body = body; // callscribe's error body as received, for the log
  }
}

// ------------------------------------------------------------------ the Connect event

const contactOf = (event) => event?.Details?.ContactData ?? {};
const parametersOf = (event) => event?.Details?.Parameters ?? {};
// Audio is null until a Start media streaming block has run for this contact.
const customerAudio = (contact) => contact.MediaStreams?.Customer?.Audio ?? {};

function first(...values) {
  for (const v of values) if (typeof v === "string" && v.trim()) return v.trim();
  return null;
}

export function startBody(event) {
  const contact = contactOf(event);
  const params = parametersOf(event);
  const attributes = contact.Attributes ?? {};
  const audio = customerAudio(contact);
  const contactId = first(contact.ContactId);
  const streamArn = first(audio.StreamARN);
  if (!contactId) throw new CallFailed("bad_event", "the event has no Details.ContactData.ContactId");
  if (!streamArn) {
    throw new CallFailed("no_media_stream",
      "MediaStreams.Customer.Audio.StreamARN is missing: " +
      "place this block after a Start media streaming block");
  }
  const customerId = first(params.customerId, attributes.customerId, contact.CustomerEndpoint?.Address);
  const agentId = first(params.agentId, attributes.agentId);
  if (!customerId || !agentId) {
    throw new CallFailed("bad_event",
      "customerId and agentId are required: pass them as the block's parameters " +
      "(or contact attributes)");
  }

  const selector = (first(params.startSelectorType, process.env.CALLSCRIBE_START_SELECTOR) ??
    "PRODUCER_TIMESTAMP").toUpperCase();
  const connect = { streamArn };
  const fragment = first(audio.StartFragmentNumber);
  const timestamp = first(audio.StartTimestamp) ?? "";
  if (selector === "PRODUCER_TIMESTAMP" && /^\d+$/.test(timestamp)) {
    // From the fragment streaming started in (epoch ms, as Connect gives it).
    Object.assign(connect, { startSelectorType: "PRODUCER_TIMESTAMP", startTimestamp: Number(timestamp) });
  } else if (["PRODUCER_TIMESTAMP", "FRAGMENT_NUMBER"].includes(selector) && fragment) {
    // The guide's way: KVS starts *after* this fragment, so its ~1 s is not read.
    Object.assign(connect, { startSelectorType: "FRAGMENT_NUMBER", afterFragmentNumber: fragment });
  } else {
    connect.startSelectorType = "NOW";
  }

  const body = {
    namespace: NAMESPACE, guid: contactId, customerId, agentId, amazonConnectParams: connect,
  };
  const transcribe = {};
  if (first(params.language)) transcribe.language = params.language.trim();
  if (first(params.redactionOutput)) transcribe.redactionOutput = params.redactionOutput.trim();
  if (first(params.detailedToken)) transcribe.detailedToken = params.detailedToken.trim().toLowerCase() === "true";
  if (Object.keys(transcribe).length) body.autotranscribeParams = transcribe;
  return body;
}

export function stopBody(event) {
  const contactId = first(contactOf(event).ContactId);
  if (!contactId) throw new CallFailed("bad_event", "the event has no Details.ContactData.ContactId");
  return { namespace: NAMESPACE, guid: contactId };
}

// ------------------------------------------------------------------ configuration

async function apiKey(deadline, refresh = false) {
  const secretId = process.env.CALLSCRIBE_API_KEY_SECRET_ID;
  if (!secretId) {
    if (!process.env.CALLSCRIBE_API_KEY) {
      throw new CallFailed("config", "set CALLSCRIBE_API_KEY or CALLSCRIBE_API_KEY_SECRET_ID");
    }
    return process.env.CALLSCRIBE_API_KEY;
  }
  if (cachedSecretKey === null || refresh) cachedSecretKey = await readSecret(secretId, deadline);
  return cachedSecretKey;
}

async function readSecret(secretId, deadline) {
  // The SDK comes with the Lambda runtime; loaded only on this path.
  const { SecretsManagerClient, GetSecretValueCommand } = await import("@aws-sdk/client-secrets-manager");
  // One try within half the time left, so callscribe still gets the other half.
  const eachMs = Math.max(200, Math.min(2000, Math.floor((deadline - Date.now()) / 2)));
  const client = new SecretsManagerClient({
    maxAttempts: 1,
    // Newer SDKs only warn at requestTimeout unless told to throw; the abort signal below
    // bounds the call whatever the version the runtime provides.
    requestHandler: { connectionTimeout: eachMs, requestTimeout: eachMs, throwOnRequestTimeout: true },
  });
  let value;
  try {
    const command = new GetSecretValueCommand({ SecretId: secretId });
    value = (await client.send(command, { abortSignal: AbortSignal.timeout(eachMs) })).SecretString;
  } catch (err) {
    throw new CallFailed("secret", `cannot read secret ${secretId}: ${err.name}: ${err.message}`);
  } finally {
    client.destroy();
  }
  try {
    const parsed = JSON.parse(value);
    if (parsed && typeof parsed === "object") value = parsed.apiKey;
  } catch {
    // a plain-string secret is the key itself
  }
  if (typeof value !== "string" || !value.trim()) {
    throw new CallFailed("secret", `secret ${secretId} holds no API key`);
  }
  return value.trim();
}

// ------------------------------------------------------------------ HTTP

async function postOnce(url, body, key, timeoutMs) {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-api-key": key },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(Math.max(1, Math.floor(timeoutMs))),
    });
    return { status: response.status, headers: response.headers, text: await response.text() };
  } catch (err) {
    const code = err.cause?.code;
    if (code && NOT_SENT.has(code)) {
      return { error: `cannot reach callscribe: ${code}`, sent: false };
    }
    // Timed out or cut while waiting for the answer: it may have been acted on.
    return { error: `no answer from callscribe: ${err.name}: ${code ?? err.cause?.message ?? err.message}`, sent: true };
  }
}

function errorBody(text) {
  try {
    const error = JSON.parse(text)?.error;
    return error && typeof error === "object" ? error : null;
  } catch {
    return null;
  }
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// POST with retries where they are safe; resolves the parsed 200 body or throws.
// start-streaming is retried only when callscribe cannot have acted on it (not reached,
// 429-01, 503-01); stop-streaming is idempotent, so also after timeouts and other 5xx.
export async function call(path, body, idempotent, deadline) {
  const url = process.env.CALLSCRIBE_URL.replace(/\/+$/, "") + path;
  let key = await apiKey(deadline);
  let refreshed = false;
  for (let attempt = 1; ; attempt++) {
    const remaining = deadline - Date.now();
    if (remaining <= 50) {
      throw new CallFailed("timeout", `no answer from callscribe within the time allowed (${path})`);
    }
    const outcome = await postOnce(url, body, key, remaining);
    if (outcome.status === 200) return JSON.parse(outcome.text);

    const error = outcome.status ? errorBody(outcome.text) : null;
    const code = error?.code ?? null;
    if (outcome.status === 401 && process.env.CALLSCRIBE_API_KEY_SECRET_ID && !refreshed) {
      // The cached key may have been rotated: read the secret again, once.
      refreshed = true;
      const fresh = await apiKey(deadline, true);
      if (fresh !== key) {
        key = fresh;
        continue;
      }
    }

    let retry;
    if (!outcome.status) retry = !outcome.sent || idempotent;
    else if (code === "429-01" || code === "503-01") retry = true;
    else retry = idempotent && outcome.status >= 500;
    const retryAfter = Number(outcome.headers?.get("retry-after"));
    const pause = Math.min(retryAfter > 0 ? retryAfter * 1000 : 200 * 2 ** (attempt - 1), 1000);
    if (retry && attempt < MAX_ATTEMPTS && Date.now() + pause < deadline - 100) {
      console.warn(`callscribe ${path} attempt ${attempt} failed (${outcome.error ?? `HTTP ${outcome.status} ${code}`}), retrying`);
      await sleep(pause);
      continue;
    }
    if (!outcome.status) throw new CallFailed(outcome.sent ? "timeout" : "unreachable", outcome.error);
    throw new CallFailed(code ?? `http_${outcome.status}`, error?.message ?? `HTTP ${outcome.status}`,
      outcome.status, error?.requestId ?? outcome.headers.get("x-request-id"), outcome.text.slice(0, 2000));
  }
}

// ------------------------------------------------------------------ the result

// {customer: {streamId, status, summary}, agent: ...} as flat string fields.
function flatten(answer) {
  const out = {};
  for (const role of ["customer", "agent"]) {
    const stream = answer?.autotranscribeResponse?.[role] ?? {};
    if (stream.streamId) out[`${role}StreamId`] = String(stream.streamId);
    if (stream.status && "code" in stream.status) {
      out[`${role}StatusCode`] = String(stream.status.code);
      out[`${role}StatusDescription`] = String(stream.status.description ?? "");
    }
    for (const [name, value] of Object.entries(stream.summary ?? {})) {
      out[`${role}${name[0].toUpperCase()}${name.slice(1)}`] = String(value);
    }
  }
  return out;
}

function deadlineOf(context) {
  const raw = process.env.CALLSCRIBE_TIMEOUT_MS ?? String(DEFAULT_TIMEOUT_MS);
  if (!/^\d+$/.test(raw)) throw new CallFailed("config", "CALLSCRIBE_TIMEOUT_MS must be milliseconds");
  let budget = Number(raw);
  if (typeof context?.getRemainingTimeInMillis === "function") {
    budget = Math.min(budget, context.getRemainingTimeInMillis() - SAFETY_MS);
  }
  return Date.now() + budget;
}

export async function handler(event, context) {
  const action = (first(parametersOf(event).action, process.env.CALLSCRIBE_ACTION) ?? "").toLowerCase();
  const contactId = first(contactOf(event).ContactId) ?? "";
  const result = { action, contactId };
  try {
    if (!process.env.CALLSCRIBE_URL) throw new CallFailed("config", "set CALLSCRIBE_URL");
    const deadline = deadlineOf(context);
    let answer;
    if (action === "start") {
      try {
        answer = await call("/mg-autotranscribe/v1/start-streaming", startBody(event), false, deadline);
        result.result = "started";
      } catch (err) {
        if (!(err instanceof CallFailed) || err.code !== "409-01") throw err;
        // Already streaming (e.g. the flow ran the block twice): transcription runs.
        console.warn(`contact ${contactId} is already being transcribed: ${err.body}`);
        answer = {};
        Object.assign(result, { result: "already_streaming", errorCode: err.code });
      }
    } else if (action === "stop") {
      answer = await call("/mg-autotranscribe/v1/stop-streaming", stopBody(event), true, deadline);
      result.result = "stopped";
    } else {
      throw new CallFailed("bad_event", `action must be start or stop, not '${action}'`);
    }
    Object.assign(result, flatten(answer), { ok: "true" });
    console.log(`callscribe ${action} ok: ${JSON.stringify(result)}`);
  } catch (err) {
    if (!(err instanceof CallFailed)) throw err;
    Object.assign(result, { ok: "false", result: "error", errorCode: err.code, errorMessage: err.message });
    if (err.httpStatus !== null) result.httpStatus = String(err.httpStatus);
    if (err.requestId) result.requestId = String(err.requestId);
    // callscribe's error body is logged whole: it names the request id, and no secret.
    const detail = err.body ? ` (HTTP ${err.httpStatus} ${err.body})` : "";
    console.error(`callscribe ${action} failed for contact ${contactId}: ${err.code} ${err.message}${detail}`);
  }
  return result;
}

// Lets the tests start each case with an empty secret cache, as a fresh container has.
export function resetSecretCache() {
  cachedSecretKey = null;
}
