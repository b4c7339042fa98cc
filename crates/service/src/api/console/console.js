// callscribe live console: the wall of live calls and one call's transcript as it is spoken.
// Plain script, no framework, served under a strict CSP (no inline code, no eval, 'self' only).
// The API key lives in sessionStorage and travels only in the x-api-key header; both
// streams are text/event-stream read with fetch() (EventSource cannot send headers).
'use strict';
(() => {
  const KEY = 'callscribe.apiKey';
  const BACKOFF_MS = [1000, 2000, 5000];
  const IDLE_MS = 60_000; // no byte (not even a heartbeat) for this long: reconnect
  const ROLES = { customer: 'Customer', agent: 'Agent' };
  const $ = (id) => document.getElementById(id);

  // ---- small helpers ------------------------------------------------------------------

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // mm:ss (or h:mm:ss) of a number of milliseconds.
  function clock(ms) {
    const s = Math.max(0, Math.floor((Number(ms) || 0) / 1000));
    const mm = String(Math.floor(s / 60) % 60).padStart(2, '0');
    const ss = String(s % 60).padStart(2, '0');
    return s >= 3600 ? `${Math.floor(s / 3600)}:${mm}:${ss}` : `${mm}:${ss}`;
  }

  function parseJson(text) {
    try {
      return JSON.parse(text);
    } catch {
      return null;
    }
  }

  // Transcript text as nodes: runs of '#' (what redaction leaves) become a marked span.
  // Everything goes in through textContent, so markup in the text stays text.
  function textNodes(text) {
    const parts = String(text ?? '').split(/(#+)/);
    return parts.filter(Boolean).map((part) => {
      if (part[0] !== '#') return document.createTextNode(part);
      const mark = el('span', 'redacted', part);
      mark.title = 'redacted';
      mark.setAttribute('role', 'img');
      mark.setAttribute('aria-label', 'redacted');
      return mark;
    });
  }

  // ---- the key --------------------------------------------------------------------------

  const apiKey = () => sessionStorage.getItem(KEY);

  // The demo prints /console#key=cs_...: keep the key, drop it from the address bar.
  function takeKeyFromFragment() {
    const m = /^#key=(.+)$/.exec(location.hash);
    if (!m) return false;
    let key = m[1];
    try {
      key = decodeURIComponent(key);
    } catch {
      /* keep it as it came */
    }
    sessionStorage.setItem(KEY, key.trim());
    history.replaceState(null, '', location.pathname + location.search);
    return true;
  }

  async function errorOf(res) {
    const body = parseJson(await res.text().catch(() => ''));
    if (body && body.error && body.error.message) return body.error;
    return { code: String(res.status), message: `The server answered ${res.status} ${res.statusText}`.trim() };
  }

  // ---- text/event-stream over fetch ---------------------------------------------------

  // Reads a text/event-stream body: onEvent({type, data, id}) per event, onBytes() on any
  // input (heartbeat comments included). Resolves when the body ends.
  async function readEventStream(body, onEvent, onBytes) {
    const reader = body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = '';
    let type = '';
    let data = [];
    let id = null; // the last event id, kept across events as EventSource does
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      onBytes();
      buf += value;
      for (let m; (m = /\r\n|\r|\n/.exec(buf)); ) {
        if (m[0] === '\r' && m.index === buf.length - 1) break; // may be half of a CRLF
        const line = buf.slice(0, m.index);
        buf = buf.slice(m.index + m[0].length);
        if (line === '') {
          if (data.length) onEvent({ type: type || 'message', data: data.join('\n'), id });
          type = '';
          data = [];
        } else if (line[0] !== ':') {
          const colon = line.indexOf(':');
          const field = colon < 0 ? line : line.slice(0, colon);
          let val = colon < 0 ? '' : line.slice(colon + 1);
          if (val[0] === ' ') val = val.slice(1);
          if (field === 'event') type = val;
          else if (field === 'data') data.push(val);
          else if (field === 'id' && !val.includes('\0')) id = val;
        } // else a comment: the server's heartbeat
      }
    }
  }

  // Keeps an event stream open: reconnects after a drop (1 s, 2 s, then every 5 s) sending
  // Last-Event-ID (unless h.resume is false), until stop(). Handlers: event(ev), open(),
  // waiting(text), failed(status, error) for a 4xx that retrying cannot fix; a 401 signs out.
  function openStream(path, h) {
    const s = { lastId: null, stopped: false, attempt: 0, ctrl: null, timer: 0, idle: 0 };
    const retry = (reason = 'Connection lost') => {
      if (s.stopped) return;
      const wait = BACKOFF_MS[Math.min(s.attempt++, BACKOFF_MS.length - 1)];
      h.waiting?.(`${reason.replace(/\.$/, '')}; reconnecting in ${wait / 1000} s…`);
      s.timer = setTimeout(connect, wait);
    };
    const stopIdle = () => clearTimeout(s.idle);
    const bytes = () => {
      stopIdle();
      s.idle = setTimeout(() => s.ctrl.abort(), IDLE_MS);
    };
    async function connect() {
      if (s.stopped) return;
      s.ctrl = new AbortController();
      const headers = { 'x-api-key': apiKey() || '', accept: 'text/event-stream' };
      if (s.lastId !== null && h.resume !== false) headers['last-event-id'] = s.lastId;
      try {
        const res = await fetch(path, { headers, signal: s.ctrl.signal, cache: 'no-store' });
        if (!res.ok) {
          const error = await errorOf(res);
          if (s.stopped) return;
          if (res.status === 401) return signOut(`The server refused the key: ${error.message}`);
          if (res.status === 429 || res.status >= 500) return retry(error.message);
          s.stopped = true;
          return h.failed(res.status, error);
        }
        h.open?.();
        bytes();
        await readEventStream(res.body, (ev) => {
          if (ev.id !== null) s.lastId = ev.id;
          s.attempt = 0;
          if (!s.stopped) h.event(ev);
        }, bytes);
      } catch (e) {
        if (s.stopped) return;
        if (e.name !== 'AbortError') console.warn('callscribe console:', path, e.message);
      } finally {
        stopIdle();
      }
      retry();
    }
    connect();
    return {
      stop() {
        s.stopped = true;
        clearTimeout(s.timer);
        stopIdle();
        s.ctrl?.abort();
      },
    };
  }

  // ---- the call list --------------------------------------------------------------------

  const calls = new Map(); // externalId -> { info, item, endedAt }
  let listStream = null;
  const MAX_ENDED = 20;

  function startList() {
    const state = $('calls-state');
    state.textContent = 'connecting…';
    listStream = openStream('/conversation/v1/live', {
      resume: false, // a new connection announces every active call again
      open() {
        // The server re-announces every active call on (re)connection.
        for (const [id, c] of calls) if (!c.endedAt) dropCall(id);
        state.textContent = '';
        renderEmpty();
      },
      waiting(text) {
        state.textContent = text;
      },
      failed(status, error) {
        state.textContent = '';
        $('calls-empty').textContent =
          status === 404 ? 'The call list is not available on this server.' : `The call list is unavailable: ${error.message}`;
        $('calls-empty').hidden = false;
        $('call-list').hidden = true;
      },
      event(ev) {
        const data = parseJson(ev.data);
        if (!data || !data.externalId) return;
        if (ev.type === 'conversation') upsertCall(data);
        else if (ev.type === 'partial') lastLine(data.externalId, data.role, data.text, true);
        else if (ev.type === 'utterance') lastLine(data.externalId, data.utterance?.sender?.role, data.utterance?.text, false);
      },
    });
  }

  function upsertCall(info) {
    let c = calls.get(info.externalId);
    if (!c) {
      c = { item: el('li', 'call-item') };
      calls.set(info.externalId, c);
      $('call-list').prepend(c.item); // newest first; existing rows never move (focus stays)
    }
    c.info = info;
    c.endedAt = info.state === 'stopped' ? c.endedAt || Date.now() : null;
    renderCall(c);
    const ended = [...calls].filter(([, x]) => x.endedAt).sort((a, b) => a[1].endedAt - b[1].endedAt);
    for (const [id] of ended.slice(0, Math.max(0, ended.length - MAX_ENDED))) dropCall(id);
    renderEmpty();
    if (view && view.id === info.externalId) renderParticipants();
  }

  // The call's latest words in the list: a partial until its final replaces it.
  function lastLine(id, role, text, provisional) {
    const c = calls.get(id);
    if (!c || c.endedAt || typeof text !== 'string') return;
    c.last = { role, text, provisional };
    renderCall(c);
  }

  function dropCall(id) {
    calls.get(id)?.item.remove();
    calls.delete(id);
  }

  function renderEmpty() {
    $('calls-empty').hidden = calls.size > 0;
    $('calls-empty').textContent = 'No active calls.';
    $('call-list').hidden = false;
  }

  function duration(c) {
    const started = Date.parse(c.info.startedAt);
    return Number.isNaN(started) ? '' : clock((c.endedAt || Date.now()) - started);
  }

  function renderCall(c) {
    const { info } = c;
    const link = el('a', 'call-link');
    link.href = `#call=${encodeURIComponent(info.externalId)}`;
    if (view && view.id === info.externalId) link.setAttribute('aria-current', 'true');
    const top = el('span', 'call-top');
    top.append(el('span', 'call-id', info.externalId));
    const badge = el('span', c.endedAt ? 'badge ended' : 'badge live', c.endedAt ? 'ended' : 'live');
    const dur = el('time', 'duration', duration(c));
    dur.title = 'duration';
    top.append(badge, dur);
    const who = el('span', 'call-who');
    who.append(el('span', 'who customer', 'Customer'), ` ${info.customerId || '—'} · `);
    who.append(el('span', 'who agent', 'Agent'), ` ${info.agentId || '—'}`);
    link.append(top, who);
    if (c.last) {
      const last = el('span', `call-last${c.last.provisional ? ' provisional' : ''}`);
      const role = ROLES[c.last.role] ? c.last.role : 'unknown';
      last.append(el('span', `who ${role}`, ROLES[role] || 'Speaker'), ` ${c.last.text}`);
      link.append(last);
    }
    c.item.classList.toggle('ended', Boolean(c.endedAt));
    const hadFocus = c.item.contains(document.activeElement);
    c.item.replaceChildren(link);
    if (hadFocus) link.focus();
  }

  // Durations tick once a second.
  setInterval(() => {
    for (const c of calls.values()) {
      if (c.endedAt) continue;
      const t = c.item.querySelector('.duration');
      if (t) t.textContent = duration(c);
    }
  }, 1000);

  // ---- one call -------------------------------------------------------------------------

  let view = null; // { id, stream, shown: Set<messageId>, partials: Map<role, node>, names, status }

  function route() {
    const m = /^#call=(.+)$/.exec(location.hash);
    let id = null;
    if (m) {
      try {
        id = decodeURIComponent(m[1]);
      } catch {
        id = null;
      }
    }
    if (id && (!view || view.id !== id)) openCall(id);
    else if (!id && view) closeCall();
  }

  function openCall(id) {
    closeCall();
    view = { id, shown: new Set(), partials: new Map(), names: {}, status: {}, ended: false };
    $('call').hidden = false;
    $('no-call').hidden = true;
    $('call-id').textContent = id;
    $('finals').replaceChildren();
    $('partials').replaceChildren();
    stick = true;
    $('jump').hidden = true;
    setCallState('connecting', 'connecting…');
    message('');
    markCurrent();
    renderParticipants();
    $('call-title').focus();
    const path = `/conversation/v1/conversation/live?externalId=${encodeURIComponent(id)}`;
    const v = view;
    v.stream = openStream(path, {
      open() {
        if (!v.ended) setCallState('live', 'live');
        message('');
      },
      waiting(text) {
        message(text);
      },
      failed(status, error) {
        if (status === 404) return loadStored(v);
        setCallState('ended', 'error');
        message(error.message);
      },
      event(ev) {
        if (view !== v) return;
        const data = parseJson(ev.data);
        if (ev.type === 'utterance' && data) addUtterance(data);
        else if (ev.type === 'partial' && data) showPartial(data);
        else if (ev.type === 'status' && data) showStatus(data);
        else if (ev.type === 'stopped') callEnded();
      },
    });
  }

  function closeCall() {
    if (!view) return;
    view.stream?.stop();
    view = null;
    $('call').hidden = true;
    $('no-call').hidden = false;
    markCurrent();
  }

  function markCurrent() {
    for (const [id, c] of calls) {
      const link = c.item.querySelector('a');
      if (!link) continue;
      if (view && view.id === id) link.setAttribute('aria-current', 'true');
      else link.removeAttribute('aria-current');
    }
  }

  // The live stream is not there (the route or the conversation): the after-call record.
  async function loadStored(v) {
    try {
      const res = await fetch(`/conversation/v1/conversation/messages?externalId=${encodeURIComponent(v.id)}`, {
        headers: { 'x-api-key': apiKey() || '' },
        cache: 'no-store',
      });
      if (view !== v) return;
      if (res.status === 401) return signOut(`The server refused the key: ${(await errorOf(res)).message}`);
      if (!res.ok) {
        const error = await errorOf(res);
        setCallState('ended', 'not found');
        return message(res.status === 404 ? 'No such conversation.' : error.message);
      }
      const body = await res.json();
      for (const u of body.items || []) addUtterance(u);
      v.ended = true;
      setCallState('ended', 'ended');
      message(body.items?.length ? 'The stored transcript (no live stream for this call).' : 'No utterances were stored for this call.');
    } catch (e) {
      if (view === v) message(`Cannot read the stored transcript: ${e.message}`);
    }
  }

  function setCallState(kind, text) {
    const badge = $('call-state');
    badge.className = `badge ${kind}`;
    badge.textContent = text;
  }

  function message(text) {
    $('call-message').textContent = text;
    $('call-message').hidden = !text;
  }

  // One transcript line; provisional ones are styled apart and say so in words.
  function line(role, who, start, text, provisional) {
    const node = el('div', `line ${ROLES[role] ? role : 'unknown'}${provisional ? ' provisional' : ''}`);
    const meta = el('div', 'meta');
    meta.append(el('span', 'who', ROLES[role] || role || '?'));
    if (who) meta.append(el('span', 'sender', who));
    const at = el('time', 'at', clock(start));
    at.title = 'from the start of the stream';
    meta.append(at);
    if (provisional) meta.append(el('span', 'tag', 'provisional'));
    const p = el('p', 'text');
    p.append(...textNodes(text));
    node.append(meta, p);
    return node;
  }

  function addUtterance(u) {
    if (!u.messageId || view.shown.has(u.messageId)) return; // replayed after a reconnection
    view.shown.add(u.messageId);
    const role = u.sender?.role;
    if (u.sender?.externalId) view.names[role] = u.sender.externalId;
    removePartial(role);
    const node = line(role, u.sender?.externalId, u.start, u.text, false);
    node.dataset.messageId = u.messageId;
    node.dataset.start = String(Number(u.start) || 0);
    // In order of start time (each speaker's finals arrive in order; the two interleave).
    const finals = $('finals');
    let after = finals.lastElementChild;
    while (after && Number(after.dataset.start) > Number(node.dataset.start)) after = after.previousElementSibling;
    if (after) after.after(node);
    else finals.prepend(node);
    renderParticipants();
    scrolled();
  }

  function showPartial(p) {
    const old = view.partials.get(p.role);
    if (!p.text) return removePartial(p.role);
    const node = line(p.role, view.names[p.role], p.start, p.text, true);
    if (old) old.replaceWith(node);
    else $('partials').append(node);
    view.partials.set(p.role, node);
    scrolled();
  }

  function removePartial(role) {
    view.partials.get(role)?.remove();
    view.partials.delete(role);
  }

  function showStatus(s) {
    view.status[s.role] = s;
    renderParticipants();
  }

  function callEnded() {
    view.ended = true;
    view.stream.stop();
    for (const role of [...view.partials.keys()]) removePartial(role);
    setCallState('ended', 'ended');
    message('The call has ended.');
  }

  function renderParticipants() {
    const list = $('participants');
    const info = calls.get(view.id)?.info || {};
    const names = { customer: info.customerId, agent: info.agentId, ...view.names };
    list.replaceChildren();
    for (const role of Object.keys(ROLES)) {
      const s = view.status[role];
      if (!names[role] && !s) continue;
      const item = el('li', `participant ${role}`);
      item.append(el('span', 'who', ROLES[role]), el('span', 'sender', names[role] || '—'));
      let state = '';
      if (s) state = s.streaming ? 'streaming' : `ended (${s.code} ${s.description || ''})`.replace(' )', ')');
      if (state) item.append(el('span', s.streaming ? 'pstate live' : 'pstate ended', state));
      list.append(item);
    }
  }

  // ---- auto-scroll: follow the newest line unless the reader scrolled up ----------------

  let stick = true;
  const box = $('transcript');
  const atBottom = () => box.scrollHeight - box.scrollTop - box.clientHeight < 32;
  box.addEventListener('scroll', () => {
    stick = atBottom();
    if (stick) $('jump').hidden = true;
  });
  function scrolled() {
    if (stick) box.scrollTop = box.scrollHeight;
    else $('jump').hidden = false;
  }
  $('jump').addEventListener('click', () => {
    stick = true;
    box.scrollTop = box.scrollHeight;
    $('jump').hidden = true;
    box.focus();
  });

  // ---- signing in and out ---------------------------------------------------------------

  function signedIn() {
    $('sign-in').hidden = true;
    $('app').hidden = false;
    $('sign-out').hidden = false;
    $('sign-in-error').textContent = '';
    startList();
    route();
  }

  // Stops both streams and forgets the calls.
  function teardown() {
    listStream?.stop();
    listStream = null;
    closeCall();
    for (const id of [...calls.keys()]) dropCall(id);
  }

  function signOut(reason) {
    sessionStorage.removeItem(KEY);
    teardown();
    $('app').hidden = true;
    $('sign-out').hidden = true;
    $('sign-in').hidden = false;
    $('sign-in-error').textContent = reason || '';
    $('api-key').value = '';
    $('api-key').focus();
  }

  $('sign-in-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const key = $('api-key').value.trim();
    if (!/^cs_[^\s_]+_\S+$/.test(key)) {
      $('sign-in-error').textContent = 'An API key looks like cs_<keyId>_<secret>.';
      return;
    }
    sessionStorage.setItem(KEY, key);
    $('api-key').value = '';
    signedIn();
  });
  $('sign-out').addEventListener('click', () => signOut(''));

  $('open-form').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $('open-id');
    const id = input.value.trim();
    if (!/^[A-Za-z0-9._:-]{1,128}$/.test(id)) {
      $('open-error').textContent = 'A conversation id is 1–128 letters, digits, or . _ : -';
      return;
    }
    $('open-error').textContent = '';
    if (location.hash === `#call=${encodeURIComponent(id)}`) route();
    else location.hash = `call=${encodeURIComponent(id)}`;
  });
  $('call-close').addEventListener('click', () => {
    history.pushState(null, '', location.pathname + location.search);
    closeCall();
  });
  window.addEventListener('hashchange', () => {
    if (takeKeyFromFragment()) {
      teardown();
      signedIn();
    } else if (apiKey()) route();
  });

  takeKeyFromFragment();
  if (apiKey()) signedIn();
  else signOut('');
})();
