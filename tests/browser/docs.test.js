// The interactive API reference (/docs) in headless Chromium, against a running callscribe.
// scripts/test-docs starts the service and sets the environment:
//   CS_URL, CS_API_KEY           the service and a tenant's API key
//   CS_STREAM_ARN, CS_CONTACT_ID an emulator stream playing speech, and its ContactId tag
//   CHROMIUM                     the browser (default Debian's /usr/bin/chromium)
//   DOCS_SCREENSHOT              where the try-it-out screenshot goes
// The steps depend on each other (authorize, start, stop, read), so they run as one test.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { callUnderTest, isLocal, launchOffline, recordErrors } = require('./offline');

const repo = path.resolve(__dirname, '../..');
const log = (...args) => console.log('docs:', ...args);

// Every operation of the checked-in spec as "METHOD /path".
function specOperations() {
  const spec = JSON.parse(fs.readFileSync(path.join(repo, 'openapi/openapi.json'), 'utf8'));
  const ops = [];
  for (const [p, item] of Object.entries(spec.paths)) {
    for (const method of Object.keys(item)) ops.push({ method: method.toUpperCase(), path: p, id: item[method].operationId });
  }
  return ops;
}

// Opens an operation, presses "Try it out", fills the JSON body or the query parameters,
// presses "Execute" and returns what the browser really received and what the UI shows.
async function tryItOut(page, opId, apiPath, { body, params }) {
  const block = page.locator(`.opblock[id$="-${opId}"]`);
  await block.locator('.opblock-summary').first().click();
  await block.locator('button.try-out__btn', { hasText: 'Try it out' }).click();
  if (body !== undefined) await block.locator('textarea.body-param__text').fill(JSON.stringify(body, null, 2));
  for (const [name, value] of Object.entries(params || {})) {
    await block.locator(`tr[data-param-name="${name}"] input`).fill(value);
  }
  const [response] = await Promise.all([
    page.waitForResponse((r) => new URL(r.url()).pathname === apiPath),
    block.locator('button.execute').click(),
  ]);
  const received = { status: response.status(), body: await response.json(), request: response.request() };
  const live = block.locator('.live-responses-table .response');
  await live.locator('.response-col_status').waitFor();
  const shown = {
    status: (await live.locator('.response-col_status').innerText()).trim(),
    body: JSON.parse(await live.locator('.response-col_description pre').first().innerText()),
    requestUrl: (await block.locator('.request-url pre').innerText()).trim(),
    curl: await block.locator('.curl-command').innerText(),
  };
  return { block, received, shown };
}

// What every executed operation must show: the status and body the API sent, a request to
// this service (the spec's server URL) carrying the authorized key.
function assertShownAsReceived(name, { received, shown }, apiPath) {
  const url = `${process.env.CS_URL}${apiPath}`;
  assert.equal(received.status, 200, `${name}: the API answered ${received.status}: ${JSON.stringify(received.body)}`);
  assert.equal(shown.status, '200', `${name}: the UI shows status ${shown.status}`);
  assert.deepEqual(shown.body, received.body, `${name}: the UI shows another body than the API sent`);
  assert.equal(received.request.headers()['x-api-key'], process.env.CS_API_KEY, `${name}: the request lacks the key`);
  assert.ok(received.request.url().startsWith(url), `${name}: sent to ${received.request.url()}, not ${url}`);
  assert.ok(shown.requestUrl.startsWith(url), `${name}: the UI shows request URL ${shown.requestUrl}`);
  assert.match(shown.curl, /x-api-key: cs_/, `${name}: the curl line lacks the key`);
}

test('the /docs page: offline, complete, and try-it-out works with an API key', { timeout: 180_000 }, async () => {
  const { base, apiKey, streamArn, contactId } = callUnderTest('scripts/test-docs');
  const screenshot = process.env.DOCS_SCREENSHOT || path.join(repo, 'target/e2e/docs-try-it-out.png');

  const browser = await launchOffline();
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    // Record every request the page makes; any to a non-loopback host fails the test.
    const requests = [];
    const external = [];
    context.on('request', (request) => {
      requests.push(request.url());
      if (!isLocal(request.url())) external.push(request.url());
    });
    const page = await context.newPage();
    const consoleErrors = recordErrors(page);

    // 1. The page loads from loopback alone, without errors.
    const started = Date.now();
    const res = await page.goto(`${base}/docs`, { waitUntil: 'load' });
    assert.equal(res.status(), 200, `/docs answered ${res.status()}`);
    await page.locator('.swagger-ui .opblock').first().waitFor({ timeout: 30_000 });
    log(`page rendered in ${Date.now() - started} ms; title "${await page.title()}"`);
    assert.equal(await page.title(), 'callscribe API reference');
    assert.match(await page.locator('.info .title').innerText(), /callscribe/);
    assert.deepEqual(external, [], `the page requested non-loopback hosts: ${external.join(', ')}`);
    assert.deepEqual(consoleErrors, [], `console errors on load:\n${consoleErrors.join('\n')}`);

    // 2. Every operation of openapi/openapi.json is listed (open any collapsed tag first).
    for (const tag of await page.locator('.opblock-tag-section:not(.is-open) .opblock-tag').all()) await tag.click();
    const listed = new Set(
      await page.locator('.opblock').evaluateAll((blocks) =>
        blocks.map((b) => {
          const method = b.querySelector('.opblock-summary-method')?.textContent.trim();
          const p = b.querySelector('.opblock-summary-path')?.getAttribute('data-path');
          return `${method} ${p}`;
        }),
      ),
    );
    const ops = specOperations();
    const missing = ops.filter((o) => !listed.has(`${o.method} ${o.path}`));
    assert.deepEqual(missing, [], `operations missing from the UI: ${missing.map((o) => o.id).join(', ')}`);
    for (const o of ops) assert.equal(await page.locator(`.opblock[id$="-${o.id}"]`).count() > 0, true, `no block for ${o.id}`);
    log(`all ${ops.length} operations of openapi/openapi.json are listed`);

    // 3. Authorize with the API key (scheme ApiKey, header x-api-key).
    await page.locator('.auth-wrapper button.authorize').click();
    const scheme = page.locator('.modal-ux .auth-container').filter({ hasText: 'ApiKey' });
    await scheme.locator('input').fill(apiKey);
    await scheme.locator('button.authorize').click();
    await scheme.getByText('Authorized').waitFor();
    await scheme.locator('button.btn-done').click(); // one Close per scheme; any closes the dialog
    await page.locator('.modal-ux').waitFor({ state: 'detached' });
    log('authorized with the ApiKey scheme');

    // 4. start-streaming on the emulator's stream, from its first fragment (the call has
    // been playing since the service started, so NOW could be past its end).
    const startPath = '/mg-autotranscribe/v1/start-streaming';
    const start = await tryItOut(page, 'startStreaming', startPath, {
      body: {
        namespace: 'amazonconnect',
        guid: contactId,
        customerId: 'docs-customer',
        agentId: 'docs-agent',
        autotranscribeParams: { language: 'en-US', detailedToken: false, redactionOutput: 'redacted' },
        amazonConnectParams: { streamArn, startSelectorType: 'EARLIEST' },
      },
    });
    assertShownAsReceived('start-streaming', start, startPath);
    const started200 = start.received.body;
    assert.equal(started200.isOk, true);
    assert.equal(started200.autotranscribeResponse.customer.status.code, 1000, JSON.stringify(started200));
    log(`start-streaming: the UI shows 200 ${JSON.stringify(started200)}`);
    fs.mkdirSync(path.dirname(screenshot), { recursive: true });
    await start.block.scrollIntoViewIfNeeded();
    await page.screenshot({ path: screenshot, fullPage: true });
    log(`screenshot ${screenshot} (${fs.statSync(screenshot).size} bytes)`);

    // Let the speech ("... ask not what your country can do for you ...", from 3 s into the
    // clip, which plays in real time) reach the store before stopping: poll the messages API
    // outside the page.
    const messagesPath = '/conversation/v1/conversation/messages';
    const messagesUrl = `${base}${messagesPath}?externalId=${encodeURIComponent(contactId)}`;
    let polled;
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
      polled = await (await fetch(messagesUrl, { headers: { 'x-api-key': apiKey } })).json();
      if ((polled.items || []).some((m) => /country/i.test(m.text))) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.ok(polled.items?.some((m) => /country/i.test(m.text)), `"country" not transcribed within 60 s: ${JSON.stringify(polled)}`);

    // 5. stop-streaming: the call ends, with what was measured.
    const stopPath = '/mg-autotranscribe/v1/stop-streaming';
    const stop = await tryItOut(page, 'stopStreaming', stopPath, { body: { namespace: 'amazonconnect', guid: contactId } });
    assertShownAsReceived('stop-streaming', stop, stopPath);
    const customer = stop.received.body.autotranscribeResponse.customer;
    assert.ok(customer.summary.totalAudioBytes > 0, `stop reports no audio: ${JSON.stringify(customer)}`);
    assert.ok(customer.summary.transcripts > 0, `stop reports no transcripts: ${JSON.stringify(customer)}`);
    log(`stop-streaming: the UI shows 200, customer summary ${JSON.stringify(customer.summary)}`);

    // 6. The transcript, read through the UI.
    const read = await tryItOut(page, 'getConversationMessages', messagesPath, { params: { externalId: contactId } });
    assertShownAsReceived('get messages', read, messagesPath);
    const text = read.received.body.items.map((m) => m.text).join(' ');
    assert.match(text, /country/i, `the JFK transcript lacks "country": ${text}`);
    log(`messages: the UI shows ${read.received.body.items.length} message(s): ${text.slice(0, 120)}`);

    // The whole session stayed on loopback and error-free.
    assert.deepEqual(external, [], `the page requested non-loopback hosts: ${external.join(', ')}`);
    assert.deepEqual(consoleErrors, [], `console errors:\n${consoleErrors.join('\n')}`);
    log(`${requests.length} requests, all to loopback`);
  } finally {
    await browser.close();
  }
});
