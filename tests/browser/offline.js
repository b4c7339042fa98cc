// What the browser tests share: a headless Chromium in which nothing but loopback
// resolves (so the browser is as good as offline), the check that a URL stayed local, the
// console errors a page logs, and the environment scripts/test-* set.
'use strict';
const assert = require('node:assert/strict');
const { chromium } = require('playwright-core');

// The variable `name`, which `script` sets.
function requiredEnv(name, script) {
  const value = process.env[name];
  assert.ok(value, `${name} must be set (${script} sets it)`);
  return value;
}

// The running service and the emulated call `script` set up: the service's URL, a tenant's
// API key, the emulator stream playing the call and its ContactId.
function callUnderTest(script) {
  return {
    base: requiredEnv('CS_URL', script),
    apiKey: requiredEnv('CS_API_KEY', script),
    streamArn: requiredEnv('CS_STREAM_ARN', script),
    contactId: requiredEnv('CS_CONTACT_ID', script),
  };
}

// Loopback and non-network URLs are fine; anything else means the page needs the internet.
function isLocal(url) {
  const u = new URL(url);
  if (['data:', 'blob:', 'about:'].includes(u.protocol)) return true;
  return ['localhost', '[::1]'].includes(u.hostname) || /^127\.\d+\.\d+\.\d+$/.test(u.hostname);
}

// Debian's Chromium (or CHROMIUM), with no host name resolving but loopback. (Not
// Playwright's request routing: with it Chromium skips its /favicon.ico request, whose 404
// a real browser logs as a console error.)
function launchOffline() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1'],
  });
}

// The console errors and uncaught exceptions of `page`, as they happen.
function recordErrors(page) {
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(`console: ${m.text()} (${m.location().url})`));
  page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
  return errors;
}

module.exports = { callUnderTest, isLocal, launchOffline, recordErrors };
