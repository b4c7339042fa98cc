// What the handler tests share: the running callscribe (scripts/test-connect-lambdas starts
// it and passes CONNECT_TEST_* variables), Connect events filled from the emulator's
// streams, a Lambda context, a local Secrets Manager endpoint and a server that never answers.

import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
export const URL = process.env.CONNECT_TEST_URL;
export const API_KEY = process.env.CONNECT_TEST_API_KEY;
const ADMIN_TOKEN = process.env.CONNECT_TEST_ADMIN_TOKEN;
const TENANT = process.env.CONNECT_TEST_TENANT;
const EVENTS = process.env.CONNECT_TEST_EVENTS ?? path.join(here, "..", "..", "events");
export const FRAGMENT_BYTES = 8192 * 2; // one emulator fragment: 1,024 ms of 8 kHz 16-bit audio per track

if (!URL) throw new Error("run through scripts/test-connect-lambdas (CONNECT_TEST_URL is unset)");

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function stream(name) {
  return JSON.parse(readFileSync(process.env.CONNECT_TEST_STREAMS, "utf8"))[name];
}

// events/<template>.json with the stream's values in its placeholders.
export function makeEvent(template, s = null, { contactId = null, ...parameters } = {}) {
  let text = readFileSync(path.join(EVENTS, `${template}.json`), "utf8");
  s ??= { contactId: "", streamArn: "", startFragmentNumber: "", startTimestamp: "" };
  const values = {
    CONTACT_ID: contactId ?? s.contactId,
    STREAM_ARN: s.streamArn,
    START_FRAGMENT_NUMBER: s.startFragmentNumber,
    START_TIMESTAMP: s.startTimestamp,
  };
  for (const [name, value] of Object.entries(values)) text = text.replaceAll(`{{${name}}}`, value);
  const event = JSON.parse(text);
  Object.assign(event.Details.Parameters, parameters);
  return event;
}

// The two things the handler reads from Lambda's context object.
export function lambdaContext(timeoutMs = 8000) {
  const ends = Date.now() + timeoutMs;
  return { awsRequestId: randomUUID(), getRemainingTimeInMillis: () => ends - Date.now() };
}

// The Lambda's environment pointing at the running callscribe; returns a restore function.
export function lambdaEnv(overrides = {}) {
  const saved = { ...process.env };
  for (const name of Object.keys(process.env)) if (name.startsWith("CALLSCRIBE_")) delete process.env[name];
  Object.assign(process.env, { CALLSCRIBE_URL: URL, CALLSCRIBE_API_KEY: API_KEY }, overrides);
  return () => {
    for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
    Object.assign(process.env, saved);
  };
}

// A direct call to callscribe: {status, body}.
export async function api(method, urlPath, body = undefined, { key = API_KEY, admin = false } = {}) {
  const headers = { "content-type": "application/json" };
  if (admin) headers.authorization = `Bearer ${ADMIN_TOKEN}`;
  else headers["x-api-key"] = key;
  const response = await fetch(URL + urlPath, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(10000),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

export const messages = (contactId) =>
  api("GET", `/conversation/v1/conversation/messages?externalId=${contactId}`);

// Polls the after-call API until each role's text holds its word; returns the items.
export async function waitForWords(contactId, words, timeoutMs = 60000) {
  const deadline = Date.now() + timeoutMs;
  let texts = {};
  while (Date.now() < deadline) {
    const { status, body } = await messages(contactId);
    if (status !== 200) throw new Error(`messages: HTTP ${status} ${JSON.stringify(body)}`);
    texts = Object.fromEntries(Object.keys(words).map((role) => [role,
      body.items.filter((m) => m.sender.role === role).map((m) => m.text).join(" ").toLowerCase()]));
    if (Object.entries(words).every(([role, word]) => texts[role].includes(word))) return body.items;
    await sleep(500);
  }
  throw new Error(`no ${JSON.stringify(words)} in the transcripts of ${contactId}: ${JSON.stringify(texts)}`);
}

// The customer WAV's PCM bytes (its `data` chunk).
export function customerBytes() {
  const wav = readFileSync(process.env.CONNECT_TEST_CUSTOMER_WAV);
  for (let at = 12; at + 8 <= wav.length; at += 8 + wav.readUInt32LE(at + 4)) {
    if (wav.toString("ascii", at, at + 4) === "data") return wav.readUInt32LE(at + 4);
  }
  throw new Error("no data chunk in the customer WAV");
}

// Waits until the emulator has produced every fragment of the stream (real time).
export async function waitUntilPlayed(s) {
  const fragments = Math.ceil(customerBytes() / FRAGMENT_BYTES);
  const playedAt = Number(s.startTimestamp) + fragments * 1024 + 1500;
  await sleep(Math.max(0, playedAt - Date.now()));
}

export async function createKey() {
  const { status, body } = await api("POST", `/admin/v1/tenants/${TENANT}/keys`, { app: "e2e" }, { admin: true });
  if (status !== 201) throw new Error(`key-create: HTTP ${status}`);
  return body;
}

export async function revokeKey(keyId) {
  const { status } = await api("DELETE", `/admin/v1/tenants/${TENANT}/keys/${keyId}`, undefined, { admin: true });
  if (status !== 200 && status !== 204) throw new Error(`key-revoke: HTTP ${status}`);
}

// ------------------------------------------------------------------ local endpoints

// GetSecretValue over the JSON 1.1 protocol, as AWS answers it; records each request.
export async function secretsManager() {
  const sm = { secrets: {}, requests: [] };
  const answer = (res, status, body) => {
    res.writeHead(status, { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": randomUUID() });
    res.end(JSON.stringify(body));
  };
  sm.server = http.createServer((req, res) => {
    let raw = "";
    req.on("data", (chunk) => { raw += chunk; });
    req.on("end", () => {
      const body = JSON.parse(raw);
      const target = req.headers["x-amz-target"];
      sm.requests.push({ target, authorization: req.headers.authorization ?? "", body });
      const name = body.SecretId;
      if (target !== "secretsmanager.GetSecretValue") answer(res, 400, { __type: "UnknownOperationException" });
      else if (!(name in sm.secrets)) {
        answer(res, 400, { __type: "ResourceNotFoundException", message: "Secrets Manager can't find the specified secret." });
      } else {
        answer(res, 200, {
          ARN: `arn:aws:secretsmanager:us-east-1:000000000000:secret:${name}-AbCdEf`, Name: name,
          SecretString: sm.secrets[name], VersionId: randomUUID(), VersionStages: ["AWSCURRENT"],
          CreatedDate: Date.now() / 1000,
        });
      }
    });
  });
  await new Promise((resolve) => sm.server.listen(0, "127.0.0.1", resolve));
  sm.url = `http://127.0.0.1:${sm.server.address().port}`;
  sm.close = () => new Promise((resolve) => { sm.server.closeAllConnections(); sm.server.close(resolve); });
  // The real AWS SDK, pointed at the local endpoint by the SDK's own variable.
  sm.env = {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: sm.url, AWS_REGION: "us-east-1",
    AWS_ACCESS_KEY_ID: "AKIDLOCALTEST", AWS_SECRET_ACCESS_KEY: "local-test-secret",
    AWS_CONFIG_FILE: "/dev/null", AWS_SHARED_CREDENTIALS_FILE: "/dev/null",
  };
  return sm;
}

// Accepts connections and never answers: a callscribe that hangs.
export async function silentServer() {
  const sockets = [];
  const server = net.createServer((socket) => { sockets.push(socket); });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    connections: sockets,
    close: () => new Promise((resolve) => { sockets.forEach((s) => s.destroy()); server.close(resolve); }),
  };
}

export async function closedPortUrl() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve)); // nothing listens there now
  return `http://127.0.0.1:${port}`;
}
