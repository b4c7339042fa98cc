// The live call console (/console) in headless Chromium, against a running callscribe.
// scripts/test-console starts the service and sets the environment:
//   CS_URL, CS_API_KEY           the service and a tenant's API key
//   CS_STREAM_ARN, CS_CONTACT_ID an emulator stream playing a two-party call, and its ContactId
//   CHROMIUM                     the browser (default Debian's /usr/bin/chromium)
//   CONSOLE_SCREENSHOTS          the directory for console-list.png and console-call.png
// The steps depend on each other (sign in, start, watch, stop, compare), so they run as one test.
'use strict';
const { test } = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');
const { callUnderTest, isLocal, launchOffline, recordErrors } = require('./offline');

const repo = path.resolve(__dirname, '../..');
const log = (...args) => console.log('console:', ...args);
const KEY_ITEM = 'callscribe.apiKey'; // the page's sessionStorage item

// Records, in the page, every transcript line the console adds: provisional lines (#partials)
// and finals (#finals), with the time and, for a final, how many provisional lines of its
// speaker were still shown when it arrived.
function recordLines() {
  window.__lines = [];
  const watch = (kind, box) =>
    new MutationObserver((mutations) => {
      for (const m of mutations) {
        for (const n of m.addedNodes) {
          if (n.nodeType !== 1 || !n.classList.contains('line')) continue;
          const role = n.classList.contains('agent') ? 'agent' : n.classList.contains('customer') ? 'customer' : '?';
          window.__lines.push({
            kind,
            role,
            id: n.dataset.messageId || null,
            text: n.querySelector('.text').textContent,
            italic: getComputedStyle(n.querySelector('.text')).fontStyle === 'italic',
            tagged: /provisional/.test(n.querySelector('.meta').textContent),
            partialsLeft: document.querySelectorAll(`#partials .line.${role}`).length,
            t: performance.now(),
          });
        }
      }
    }).observe(box, { childList: true });
  watch('partial', document.getElementById('partials'));
  watch('final', document.getElementById('finals'));
}

async function api(method, apiPath, body) {
  const res = await fetch(`${process.env.CS_URL}${apiPath}`, {
    method,
    headers: { 'x-api-key': process.env.CS_API_KEY, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json();
  assert.equal(res.status, 200, `${method} ${apiPath} answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

test('the /console page: sign in, the call list, a live call with provisional and final text', { timeout: 240_000 }, async () => {
  const { base, apiKey, streamArn, contactId } = callUnderTest('scripts/test-console');
  const shots = process.env.CONSOLE_SCREENSHOTS || path.join(repo, 'target/e2e');
  fs.mkdirSync(shots, { recursive: true });

  const browser = await launchOffline();
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const requests = [];
    context.on('request', (r) => requests.push({ url: r.url(), headers: r.headers() }));
    const page = await context.newPage();
    const consoleErrors = recordErrors(page);
    page.on('dialog', (d) => {
      consoleErrors.push(`dialog: ${d.message()}`); // an alert() from transcript text would land here
      d.dismiss();
    });

    // 1. The page, its CSP, and signing in with the key.
    const res = await page.goto(`${base}/console`, { waitUntil: 'load' });
    assert.equal(res.status(), 200, `/console answered ${res.status()}`);
    assert.equal(await page.title(), 'callscribe live console');
    const csp = res.headers()['content-security-policy'] || '';
    for (const directive of ["default-src 'none'", "script-src 'self'", "connect-src 'self'"]) {
      assert.ok(csp.includes(directive), `the CSP lacks ${directive}: "${csp}"`);
    }
    await page.locator('#api-key').fill(apiKey);
    await page.keyboard.press('Enter');
    await page.locator('#app').waitFor();
    // The list stream is open (or refused) once "connecting…" is gone.
    await page.waitForFunction(() => document.getElementById('calls-state').textContent === '', null, { timeout: 15_000 });
    assert.equal(await page.locator('#calls-empty', { hasText: 'not available' }).count(), 0, 'GET /conversation/v1/live is not served');
    log('signed in; the call list stream is open');

    // The demo's /console#key=... link: the key goes to sessionStorage, the fragment away.
    const other = await context.newPage();
    await other.goto(`${base}/console#key=${encodeURIComponent(apiKey)}`);
    await other.locator('#app').waitFor();
    assert.equal(new URL(other.url()).hash, '', 'the #key= fragment stays in the address bar');
    assert.equal(await other.evaluate((k) => sessionStorage.getItem(k), KEY_ITEM), apiKey);
    await other.close();

    // 2. Start streaming through the API; the call appears in the list.
    await page.evaluate(recordLines);
    const started = await api('POST', '/mg-autotranscribe/v1/start-streaming', {
      namespace: 'amazonconnect',
      guid: contactId,
      customerId: 'console-customer',
      agentId: 'console-agent',
      autotranscribeParams: { language: 'en-US', detailedToken: false, redactionOutput: 'redacted' },
      amazonConnectParams: { streamArn, startSelectorType: 'EARLIEST' },
    });
    assert.equal(started.isOk, true, JSON.stringify(started));
    log('start-streaming: 200');
    const link = page.locator(`#call-list a[href="#call=${encodeURIComponent(contactId)}"]`);
    await link.waitFor({ timeout: 15_000 });
    const row = await link.innerText();
    assert.match(row, /console-customer/);
    assert.match(row, /console-agent/);
    assert.match(row, /live/i);
    const d0 = await link.locator('.duration').innerText();
    await page.waitForTimeout(2100);
    const d1 = await link.locator('.duration').innerText();
    assert.notEqual(d1, d0, `the duration does not tick (${d0})`);
    // The row shows the call's latest words as they are spoken (from the wall's events).
    const last = link.locator('.call-last');
    await last.waitFor({ timeout: 60_000 });
    assert.match(await last.innerText(), /^(Customer|Agent) \S/);
    await page.screenshot({ path: path.join(shots, 'console-list.png') });
    log(`the list shows the call: ${row.replace(/\s+/g, ' ')}`);

    // 3. Open it from the keyboard.
    await link.focus();
    await page.keyboard.press('Enter');
    await page.locator('#call').waitFor();
    assert.equal(await page.locator('#call-id').innerText(), contactId);
    assert.equal(await link.getAttribute('aria-current'), 'true');

    // 4. Provisional text appears, then final utterances replace it.
    await page.locator('#partials .line.provisional').first().waitFor({ timeout: 90_000 });
    log(`provisional: "${await page.evaluate(() => window.__lines.find((l) => l.kind === 'partial').text)}"`);
    await page.locator('#finals .line.customer .text', { hasText: /country/i }).waitFor({ timeout: 90_000 });
    await page.locator('#finals .line.agent').first().waitFor({ timeout: 30_000 });
    // The screenshot, with a provisional line in it if one comes soon.
    await page.locator('#partials .line').first().waitFor({ timeout: 8_000 }).catch(() => {});
    await page.screenshot({ path: path.join(shots, 'console-call.png') });
    log(`participants while live: ${(await page.locator('#participants').innerText()).replace(/\s+/g, ' ')}`);

    // 5. stop-streaming: the page marks the call ended (the stream's `stopped`).
    const stopped = await api('POST', '/mg-autotranscribe/v1/stop-streaming', { namespace: 'amazonconnect', guid: contactId });
    log(`stop-streaming: customer summary ${JSON.stringify(stopped.autotranscribeResponse?.customer?.summary)}`);
    await page.locator('#call-state', { hasText: /ended/i }).waitFor({ timeout: 30_000 });
    assert.equal(await page.locator('#partials .line').count(), 0, 'provisional lines remain after the call ended');
    await page.locator('#call-list .call-item.ended a', { hasText: contactId }).waitFor({ timeout: 15_000 });
    log(`participants when ended: ${(await page.locator('#participants').innerText()).replace(/\s+/g, ' ')}`);

    const lines = await page.evaluate(() => window.__lines);
    const partials = lines.filter((l) => l.kind === 'partial');
    const finals = lines.filter((l) => l.kind === 'final');
    log(`${partials.length} provisional and ${finals.length} final line(s) shown`);
    assert.ok(partials.length > 0, 'no provisional text was shown');
    assert.ok(partials.every((p) => p.italic && p.tagged), 'a provisional line is not styled and marked as provisional');
    assert.ok(finals.every((f) => !f.italic && !f.tagged), 'a final line looks provisional');
    assert.ok(finals.every((f) => f.partialsLeft === 0), "a final arrived while its speaker's provisional line stayed");
    const replaced = partials.some((p) => finals.some((f) => f.role === p.role && f.t > p.t));
    assert.ok(replaced, 'no provisional line was followed by a final of the same speaker');

    // 6. The final texts are the after-call messages, once each.
    const { items } = await api('GET', `/conversation/v1/conversation/messages?externalId=${encodeURIComponent(contactId)}`);
    const shown = await page.locator('#finals .line').evaluateAll((nodes) =>
      nodes.map((n) => ({ id: n.dataset.messageId, text: n.querySelector('.text').textContent })),
    );
    assert.ok(items.length > 0, 'the messages API has no items');
    assert.deepEqual(
      [...shown].sort((a, b) => a.id.localeCompare(b.id)),
      items.map((m) => ({ id: m.messageId, text: m.text })).sort((a, b) => a.id.localeCompare(b.id)),
      'the console shows other finals than the messages API returns',
    );
    log(`the ${items.length} final line(s) equal the messages API: ${shown.map((s) => s.text).join(' / ').slice(0, 160)}`);

    // 7. The key: in sessionStorage only, in the x-api-key header only; no cookie.
    assert.equal(await page.evaluate((k) => sessionStorage.getItem(k), KEY_ITEM), apiKey);
    assert.equal(await page.evaluate(() => localStorage.length), 0, 'the page wrote localStorage');
    assert.equal(await page.evaluate(() => document.cookie), '');
    assert.deepEqual(await context.cookies(), [], 'the page set a cookie');
    const apiRequests = requests.filter((r) => new URL(r.url).pathname.startsWith('/conversation/'));
    assert.ok(apiRequests.length >= 2, 'no API request was recorded');
    for (const r of requests) {
      const u = new URL(r.url); // what goes over the network: no fragment
      assert.ok(!(u.pathname + u.search).includes(apiKey), `the key is in a URL: ${r.url}`);
    }
    for (const r of apiRequests) assert.equal(r.headers['x-api-key'], apiKey, `${r.url} lacks the x-api-key header`);

    // 8. Readable at 375 px: nothing wider than the screen.
    await page.setViewportSize({ width: 375, height: 800 });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `the page is ${width} px wide at a 375 px viewport`);

    // The whole session stayed on loopback and error-free.
    const external = requests.map((r) => r.url).filter((u) => !isLocal(u));
    assert.deepEqual(external, [], `the page requested non-loopback hosts: ${external.join(', ')}`);
    assert.deepEqual(consoleErrors, [], `console errors:\n${consoleErrors.join('\n')}`);
    log(`${requests.length} requests, all to loopback; screenshots in ${shots}`);
  } finally {
    await browser.close();
  }
});
