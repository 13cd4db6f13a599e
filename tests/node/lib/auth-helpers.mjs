// Helpers for the authentication tests: JWT minting with node:crypto, the test
// emit/stats routes, socket.io-client sockets that record every event, and raw
// Engine.IO/Socket.IO clients over WebSocket for the tests that need many sockets.
import crypto from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './server.mjs';
import { connected } from './events.mjs';

export { sleep };

const b64u = (data) => Buffer.from(data).toString('base64url');

const HASH = { 256: 'sha256', 384: 'sha384', 512: 'sha512' };

// Signs a compact JWS. `payload` is an object (or a raw string, sent as is).
// HS*: `secret` (string or Buffer); RS*/ES*: `key` (a private KeyObject or PEM).
// alg "none" gives an empty signature. `header` adds or overrides header fields.
export function signJwt(payload, { alg = 'HS256', secret, key, header = {} } = {}) {
  const head = b64u(JSON.stringify({ alg, typ: 'JWT', ...header }));
  const body = b64u(typeof payload === 'string' ? payload : JSON.stringify(payload));
  const input = `${head}.${body}`;
  let sig;
  if (alg === 'none') {
    sig = Buffer.alloc(0);
  } else if (alg.startsWith('HS')) {
    sig = crypto.createHmac(HASH[alg.slice(2)], secret).update(input).digest();
  } else if (alg.startsWith('RS')) {
    sig = crypto.sign(HASH[alg.slice(2)], Buffer.from(input), key);
  } else if (alg.startsWith('ES')) {
    sig = crypto.sign(HASH[alg.slice(2)], Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  } else {
    throw new Error(`unsupported alg ${alg}`);
  }
  return `${input}.${b64u(sig)}`;
}

export const nowS = () => Math.floor(Date.now() / 1000);

// Bounded polling: resolves with the first truthy value of fn(), rejects after timeoutMs.
export async function waitFor(fn, { timeoutMs = 5000, intervalMs = 10, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

export function httpApi(port) {
  const base = `http://127.0.0.1:${port}`;
  return {
    async emit(body) {
      const res = await fetch(`${base}/testing/emit`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (res.status !== 200) throw new Error(`emit answered ${res.status}: ${await res.text()}`);
      return res.json();
    },
    async stats() {
      const res = await fetch(`${base}/testing/stats`);
      if (res.status !== 200) throw new Error(`stats answered ${res.status}`);
      return res.json();
    },
  };
}

// A socket.io-client socket on its own connection that records every event it gets.
// Resolves once connected. `cookie` is sent as a Cookie header, `auth` in CONNECT.
export async function connectClient(port, { cookie, authorization, auth, transports, timeoutMs = 5000 } = {}) {
  const opts = { forceNew: true, reconnection: false, timeout: timeoutMs };
  if (cookie !== undefined || authorization !== undefined) {
    opts.extraHeaders = {};
    if (cookie !== undefined) opts.extraHeaders.cookie = cookie;
    if (authorization !== undefined) opts.extraHeaders.authorization = authorization;
  }
  if (auth !== undefined) opts.auth = auth;
  if (transports) opts.transports = transports;
  const socket = io(`http://127.0.0.1:${port}`, opts);
  const events = [];
  const disconnects = [];
  socket.onAny((event, ...args) => events.push({ event, args, at: Date.now() }));
  socket.on('disconnect', (reason) => disconnects.push({ reason, at: Date.now() }));
  await connected(socket, timeoutMs);
  return {
    socket,
    events,
    disconnects,
    received: (name) => events.filter((e) => e.event === name),
    close: () => socket.disconnect(),
  };
}

// A raw Engine.IO v4 / Socket.IO v5 client on a WebSocket: opens the session, joins
// the main namespace ("40") and resolves once "40{...}" arrives (with `join: false`,
// once the Engine.IO open packet arrives). Text frames after that are recorded in
// `messages` (heartbeat pings are answered, not recorded).
export function rawSocket(port, { cookie, join = true, timeoutMs = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const headers = cookie !== undefined ? { cookie } : {};
    const ws = new WebSocket(`ws://127.0.0.1:${port}/socket.io/?EIO=4&transport=websocket`, {
      headers,
      perMessageDeflate: false,
    });
    const client = { ws, messages: [], sid: null, closed: false };
    const closed = new Promise((res) => ws.on('close', () => res()));
    client.closedPromise = closed;
    ws.on('close', () => (client.closed = true));
    let phase = 0;
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`raw socket did not connect (phase ${phase})`));
    }, timeoutMs);
    ws.on('error', (e) => {
      if (phase < 2) {
        clearTimeout(timer);
        reject(e);
      }
    });
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? null : data.toString();
      if (phase === 0) {
        if (!text || text[0] !== '0') return;
        client.eioSid = JSON.parse(text.slice(1)).sid;
        if (!join) {
          phase = 2;
          clearTimeout(timer);
          resolve(client);
          return;
        }
        phase = 1;
        ws.send('40');
        return;
      }
      if (phase === 1) {
        if (text && text.startsWith('40{')) {
          client.sid = JSON.parse(text.slice(2)).sid;
          phase = 2;
          clearTimeout(timer);
          resolve(client);
        }
        return;
      }
      if (text === '2') {
        ws.send('3'); // heartbeat
        return;
      }
      client.messages.push(text);
    });
  });
}

// Waits for `promise` at most timeoutMs; resolves true if it settled in time.
// (The timer is cleared, so nothing is left to keep the process alive.)
export function within(promise, timeoutMs) {
  let timer;
  const timeout = new Promise((res) => (timer = setTimeout(() => res(false), timeoutMs)));
  return Promise.race([promise.then(() => true), timeout]).finally(() => clearTimeout(timer));
}

// Closes a raw socket (a WebSocket close handshake, or with `abrupt` a plain TCP
// teardown) and waits for the close to complete (bounded).
export async function closeRaw(client, { abrupt = false, timeoutMs = 5000 } = {}) {
  if (client.closed) return;
  if (abrupt) client.ws.terminate();
  else client.ws.close();
  if (!(await within(client.closedPromise, timeoutMs))) client.ws.terminate();
}

// Runs fn(i) for i in [0, n) with at most `limit` calls in flight.
export async function parallel(n, limit, fn) {
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
}

let emitSeq = 0;

// Emits fresh events (unique names) through POST /testing/emit, one per step
// {target, expect}: `target` is {userId} / {room} / {authenticated} / {} and
// `expect` an array of [client, count]. Waits until every expected delivery
// arrived (bounded), then `settleMs` more so that a delivery that should not
// happen has time to show up. Checks the arguments of every delivery and returns,
// per step, {recipients, counts, expected}.
export async function emitBatchAndCheck(api, steps, { settleMs = 200, timeoutMs = 5000 } = {}) {
  const sent = [];
  for (const { target } of steps) {
    const event = `probe-${++emitSeq}`;
    const payload = { seq: emitSeq, text: 'hello' };
    const { recipients } = await api.emit({ ...target, event, payload });
    sent.push({ event, payload, recipients });
  }
  const count = (c, event) => c.events.filter((e) => e.event === event).length;
  await waitFor(() => steps.every(({ expect }, i) => expect.every(([c, n]) => count(c, sent[i].event) >= n)), {
    timeoutMs,
    what: `delivery of ${sent.map((s) => s.event).join(', ')}`,
  });
  await sleep(settleMs);
  return steps.map(({ expect }, i) => {
    const { event, payload, recipients } = sent[i];
    for (const [c] of expect) {
      for (const e of c.events.filter((x) => x.event === event)) {
        if (JSON.stringify(e.args) !== JSON.stringify([payload]))
          throw new Error(`${event} arrived with arguments ${JSON.stringify(e.args)}`);
      }
    }
    return { recipients, counts: expect.map(([c]) => count(c, event)), expected: expect.map(([, n]) => n) };
  });
}

// One step of emitBatchAndCheck.
export async function emitAndCheck(api, target, expect, opts) {
  const [r] = await emitBatchAndCheck(api, [{ target, expect }], opts);
  return r;
}

// Starts a server for one describe block with these [auth] lines and the test emit
// routes, gives it an HTTP client (ctx.api) and ctx.connect(), and closes every client
// at the end, requiring a clean exit.
export function useServer(authLines) {
  const ctx = { clients: [] };
  before(async () => {
    ctx.server = await startServer(`[auth]\n${authLines}\n[testing]\nemit_routes = true\n`);
    ctx.api = httpApi(ctx.server.port);
  });
  after(async () => {
    for (const c of ctx.clients) c.close();
    const r = await ctx.server.stop();
    assert.equal(r.code, 0, `clean exit on SIGTERM\n${ctx.server.logs()}`);
  });
  ctx.connect = async (opts) => {
    const c = await connectClient(ctx.server.port, opts);
    ctx.clients.push(c);
    return c;
  };
  return ctx;
}
