// The Node.js Lambda against a running callscribe: each test has its own emulator stream
// and the Connect event for it (see support.mjs).

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, test } from "node:test";

import { handler, resetSecretCache, startBody } from "../index.mjs";
import {
  API_KEY, FRAGMENT_BYTES, closedPortUrl, createKey, customerBytes, lambdaContext, lambdaEnv,
  makeEvent, messages, revokeKey, secretsManager, silentServer, stream, waitForWords, waitUntilPlayed,
} from "./support.mjs";

const WORDS = { customer: "country", agent: "representative" }; // JFK's line, the queue prompt

let restoreEnv;
beforeEach(() => {
  restoreEnv = lambdaEnv();
  resetSecretCache(); // each test is a fresh container
});
afterEach(() => restoreEnv());

async function invoke(event, timeoutMs = 8000) {
  const result = await handler(event, lambdaContext(timeoutMs));
  // Connect accepts a flat map of strings only.
  for (const [k, v] of Object.entries(result)) assert.equal(typeof v, "string", `${k} in ${JSON.stringify(result)}`);
  return result;
}

function assertSummary(stopped, items, expectedCustomerBytes) {
  for (const role of ["customer", "agent"]) {
    const said = items.filter((m) => m.sender.role === role);
    assert.equal(Number(stopped[`${role}Transcripts`]), said.length, JSON.stringify(stopped));
    // 1008: the stream ended by itself (it is played out) before the stop.
    assert.ok(["1000", "1008"].includes(stopped[`${role}StatusCode`]), JSON.stringify(stopped));
    assert.equal(Number(stopped[`${role}AudioDurationMs`]), Math.floor(Number(stopped[`${role}TotalAudioBytes`]) / 16));
  }
  assert.equal(Number(stopped.customerTotalAudioBytes), expectedCustomerBytes, JSON.stringify(stopped));
}

test("start transcribes the contact and stop returns the summary", async () => {
  const s = stream("node-lifecycle");
  const started = await invoke(makeEvent("start-streaming", s));
  assert.equal(started.ok, "true", JSON.stringify(started));
  assert.equal(started.result, "started");
  assert.equal(started.contactId, s.contactId);
  assert.equal(started.customerStatusCode, "1000");
  assert.equal(started.agentStatusCode, "1000");
  assert.ok(started.customerStreamId && started.agentStreamId !== started.customerStreamId);

  // The block running twice for one contact: transcription is already on.
  const again = await invoke(makeEvent("start-streaming", s));
  assert.deepEqual([again.ok, again.result, again.errorCode], ["true", "already_streaming", "409-01"]);

  const items = await waitForWords(s.contactId, WORDS);
  for (const m of items) assert.ok([started.customerStreamId, started.agentStreamId].includes(m.streamId));
  await waitUntilPlayed(s);

  const stopped = await invoke(makeEvent("stop-streaming", s));
  assert.deepEqual([stopped.ok, stopped.result], ["true", "stopped"], JSON.stringify(stopped));
  assert.equal(stopped.customerStreamId, started.customerStreamId);
  const { status, body } = await messages(s.contactId);
  assert.equal(status, 200);
  // PRODUCER_TIMESTAMP from StartTimestamp: every byte of the customer's audio was read.
  assertSummary(stopped, body.items, customerBytes());

  // Stop is idempotent: the flow may run it twice and gets the same summary.
  assert.deepEqual(await invoke(makeEvent("stop-streaming", s)), stopped);
});

test("the guide's FRAGMENT_NUMBER selector skips the start fragment", async () => {
  const s = stream("node-fragment");
  const started = await invoke(makeEvent("start-streaming", s, { startSelectorType: "FRAGMENT_NUMBER" }));
  assert.equal(started.ok, "true", JSON.stringify(started));
  await waitForWords(s.contactId, WORDS);
  await waitUntilPlayed(s);
  const stopped = await invoke(makeEvent("stop-streaming", s));
  assert.equal(stopped.ok, "true", JSON.stringify(stopped));
  const { body } = await messages(s.contactId);
  // KVS reads from the fragment *after* StartFragmentNumber: 1,024 ms less.
  assertSummary(stopped, body.items, customerBytes() - FRAGMENT_BYTES);
});

test("a bad key is the contract's 401 as a failure result", async (t) => {
  const s = stream("node-badkey");
  process.env.CALLSCRIBE_API_KEY = "cs_nosuchkey_0123456789abcdef";
  const logged = t.mock.method(console, "error", () => {});
  const result = await invoke(makeEvent("start-streaming", s));
  assert.deepEqual([result.ok, result.result, result.errorCode, result.httpStatus],
    ["false", "error", "401-01", "401"], JSON.stringify(result));
  assert.ok(result.requestId && result.errorMessage);
  // The contract's error body is logged whole, and not the key.
  const text = logged.mock.calls.map((c) => c.arguments.join(" ")).join("\n");
  assert.match(text.replaceAll(" ", ""), /"code":"401-01"/);
  assert.ok(text.includes(result.requestId));
  assert.ok(!text.includes("cs_nosuchkey"));
  assert.equal((await messages(s.contactId)).status, 404); // nothing was started
});

test("an unreachable URL fails fast", async (t) => {
  const s = stream("node-unreachable");
  process.env.CALLSCRIBE_URL = await closedPortUrl();
  process.env.CALLSCRIBE_TIMEOUT_MS = "2000";
  t.mock.method(console, "warn", () => {});
  t.mock.method(console, "error", () => {});
  const began = Date.now();
  const result = await invoke(makeEvent("start-streaming", s));
  assert.deepEqual([result.ok, result.errorCode], ["false", "unreachable"], JSON.stringify(result));
  assert.ok(Date.now() - began < 2000, `${Date.now() - began} ms`);
});

test("a silent service fails within the timeout and start is not resent", async (t) => {
  const s = stream("node-silent");
  const server = await silentServer();
  t.after(server.close);
  t.mock.method(console, "error", () => {});
  process.env.CALLSCRIBE_URL = server.url;
  process.env.CALLSCRIBE_TIMEOUT_MS = "1500";
  let began = Date.now();
  let result = await invoke(makeEvent("start-streaming", s));
  let elapsed = Date.now() - began;
  assert.deepEqual([result.ok, result.errorCode], ["false", "timeout"], JSON.stringify(result));
  assert.ok(elapsed >= 1300 && elapsed < 2000, `${elapsed} ms`);
  assert.equal(server.connections.length, 1); // it may have started: never sent twice

  // Lambda's own remaining time caps the budget too (Connect waits 8 s at most).
  delete process.env.CALLSCRIBE_TIMEOUT_MS;
  began = Date.now();
  result = await invoke(makeEvent("stop-streaming", s), 1200);
  elapsed = Date.now() - began;
  assert.deepEqual([result.ok, result.errorCode], ["false", "timeout"], JSON.stringify(result));
  assert.ok(elapsed < 1200, `${elapsed} ms`);
});

test("the key from Secrets Manager is read once per container", async (t) => {
  const s = stream("node-secret");
  const sm = await secretsManager();
  t.after(sm.close);
  const secretId = "callscribe/connect-api-key";
  sm.secrets[secretId] = JSON.stringify({ apiKey: API_KEY });
  Object.assign(process.env, sm.env, { CALLSCRIBE_API_KEY_SECRET_ID: secretId });
  delete process.env.CALLSCRIBE_API_KEY;

  const started = await invoke(makeEvent("start-streaming", s));
  assert.equal(started.ok, "true", JSON.stringify(started));
  const stopped = await invoke(makeEvent("stop-streaming", s));
  assert.equal(stopped.ok, "true", JSON.stringify(stopped));
  assert.equal(sm.requests.length, 1, JSON.stringify(sm.requests));
  const [request] = sm.requests;
  assert.equal(request.target, "secretsmanager.GetSecretValue");
  assert.equal(request.body.SecretId, secretId);
  // Signed by the real SDK with SigV4 for the service.
  assert.match(request.authorization, /^AWS4-HMAC-SHA256 Credential=AKIDLOCALTEST\/\d{8}\/us-east-1\/secretsmanager\/aws4_request/);
});

test("a rotated key is read again after a 401", async (t) => {
  const s = stream("node-rotate");
  const sm = await secretsManager();
  t.after(sm.close);
  const secretId = "callscribe/rotating-key";
  const old = await createKey();
  sm.secrets[secretId] = old.key; // a plain-string secret
  Object.assign(process.env, sm.env, { CALLSCRIBE_API_KEY_SECRET_ID: secretId });
  delete process.env.CALLSCRIBE_API_KEY;
  assert.equal((await invoke(makeEvent("start-streaming", s))).ok, "true");

  const fresh = await createKey();
  sm.secrets[secretId] = fresh.key;
  await revokeKey(old.keyId);
  const stopped = await invoke(makeEvent("stop-streaming", s));
  assert.deepEqual([stopped.ok, stopped.result], ["true", "stopped"], JSON.stringify(stopped));
  assert.equal(sm.requests.length, 2);
  await revokeKey(fresh.keyId);
});

test("a missing secret is a failure result", async (t) => {
  const sm = await secretsManager();
  t.after(sm.close);
  t.mock.method(console, "error", () => {});
  Object.assign(process.env, sm.env, { CALLSCRIBE_API_KEY_SECRET_ID: "callscribe/no-such-secret" });
  delete process.env.CALLSCRIBE_API_KEY;
  const result = await invoke(makeEvent("stop-streaming", null, { contactId: randomUUID() }));
  assert.deepEqual([result.ok, result.errorCode], ["false", "secret"], JSON.stringify(result));
  assert.match(result.errorMessage, /ResourceNotFoundException/);
});

test("a hanging Secrets Manager fails within half the budget", async (t) => {
  const sm = await secretsManager();
  const server = await silentServer();
  t.after(sm.close);
  t.after(server.close);
  t.mock.method(console, "error", () => {});
  Object.assign(process.env, sm.env, {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: server.url,
    CALLSCRIBE_API_KEY_SECRET_ID: "callscribe/connect-api-key",
    CALLSCRIBE_TIMEOUT_MS: "2000",
  });
  delete process.env.CALLSCRIBE_API_KEY;
  const began = Date.now();
  const result = await invoke(makeEvent("stop-streaming", null, { contactId: randomUUID() }));
  const elapsed = Date.now() - began;
  assert.deepEqual([result.ok, result.errorCode], ["false", "secret"], JSON.stringify(result));
  assert.ok(elapsed >= 900 && elapsed < 1500, `${elapsed} ms`);
  assert.equal(server.connections.length, 1); // one try
});

test("without Start media streaming nothing is sent", async (t) => {
  const server = await silentServer();
  t.after(server.close);
  t.mock.method(console, "error", () => {});
  process.env.CALLSCRIBE_URL = server.url;
  const result = await invoke(makeEvent("no-media-stream", null, { contactId: randomUUID() }));
  assert.deepEqual([result.ok, result.errorCode], ["false", "no_media_stream"], JSON.stringify(result));
  assert.equal(server.connections.length, 0);
});

test("stop of an unknown contact is 404 and the action can come from the environment", async (t) => {
  t.mock.method(console, "error", () => {});
  const event = makeEvent("stop-streaming", null, { contactId: randomUUID() });
  delete event.Details.Parameters.action;
  assert.equal((await invoke(event)).errorCode, "bad_event");
  process.env.CALLSCRIBE_ACTION = "stop";
  const result = await invoke(event);
  assert.deepEqual([result.ok, result.action, result.errorCode, result.httpStatus],
    ["false", "stop", "404-01", "404"], JSON.stringify(result));
});

test("the start body carries the guide's fields from the event", async (t) => {
  t.mock.method(console, "error", () => {});
  const s = stream("node-lifecycle");
  const event = makeEvent("start-streaming", s, { language: "en-US" });
  assert.deepEqual(startBody(event), {
    namespace: "amazonconnect", guid: s.contactId, customerId: "TT9833237", agentId: "RE223444211993",
    amazonConnectParams: { streamArn: s.streamArn, startSelectorType: "PRODUCER_TIMESTAMP", startTimestamp: Number(s.startTimestamp) },
    autotranscribeParams: { language: "en-US" },
  });
  // Without StartTimestamp, the guide's fragment number; without either, NOW.
  const audio = event.Details.ContactData.MediaStreams.Customer.Audio;
  delete audio.StartTimestamp;
  assert.deepEqual(startBody(event).amazonConnectParams,
    { streamArn: s.streamArn, startSelectorType: "FRAGMENT_NUMBER", afterFragmentNumber: s.startFragmentNumber });
  delete audio.StartFragmentNumber;
  assert.equal(startBody(event).amazonConnectParams.startSelectorType, "NOW");
  // The customer's id defaults to the caller's number; the agent's has no default.
  delete event.Details.Parameters.customerId;
  assert.equal(startBody(event).customerId, "+15555550123");
  delete event.Details.Parameters.agentId;
  assert.equal((await invoke(event)).errorCode, "bad_event");
});
