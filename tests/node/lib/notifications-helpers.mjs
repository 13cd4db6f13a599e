// Helpers for the notifications plugin tests: a server with the plugin loaded on
// a database of the test's choosing (a SQLite file, or a database of a private
// PostgreSQL server when IOGATE_TEST_STORE=postgres), HS256 tokens minted with
// node:crypto, REST calls with fetch and socket.io-client sockets that record
// their events.
import crypto from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { io } from 'socket.io-client';
import { startServer, BUILD_DIR } from './server.mjs';
import { connected } from './events.mjs';
import { startPostgres } from './postgres.mjs';

// Which store the suites run against: "sqlite" (the default) or "postgres".
export const STORE = process.env.IOGATE_TEST_STORE === 'postgres' ? 'postgres' : 'sqlite';

// One private PostgreSQL server per test process, started on first use.
let postgres = null;
let started = null;
const killPostgres = () => {
  // A process that ends without stopPostgres (a failure) takes its server along.
  if (started && started.proc.exitCode === null && !started.proc.signalCode) started.proc.kill('SIGKILL');
  if (started) rmSync(started.dir, { recursive: true, force: true });
};
export function sharedPostgres() {
  if (!postgres) {
    postgres = startPostgres().then((pg) => (started = pg));
    process.once('exit', killPostgres);
  }
  return postgres;
}
export async function stopPostgres() {
  if (postgres) await (await postgres).destroy();
  process.off('exit', killPostgres);
  postgres = started = null;
}

// A database nobody used yet: a file under dir for SQLite (it does not exist; nor
// does its directory when `sub` is given), a new database's URL for PostgreSQL.
export async function freshDatabase(dir, { sub = '', name = 'n.db' } = {}) {
  if (STORE === 'sqlite') return sub ? join(dir, sub, name) : join(dir, name);
  const pg = await sharedPostgres();
  return pg.url(await pg.createDatabase());
}

export { sleep };

export const SECRET = 'notifications-test-secret-0123456789';
export const ISO_RE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export function signJwt(claims, secret = SECRET) {
  const b64u = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64u({ alg: 'HS256', typ: 'JWT' })}.${b64u(claims)}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

const now = () => Math.floor(Date.now() / 1000);
export const userToken = (sub, extra = {}) => signJwt({ sub, iat: now(), exp: now() + 3600, ...extra });
export const adminToken = (sub = 'admin-1') => userToken(sub, { role: 'admin' });

// A temporary directory for a database that outlives one server (restarts).
export function tempDir() {
  return mkdtempSync(join(tmpdir(), 'iogate-notif-'));
}
export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

export function notifConfig(database, { plugin = '', extra = '' } = {}) {
  return `
[auth]
jwt_secret = "${SECRET}"
[plugins]
dir = "${join(BUILD_DIR, 'plugins')}"
load = ["notifications"]
[plugin.notifications]
database = "${database}"
${plugin}
${extra}
`;
}

export async function startNotifServer(database, opts = {}) {
  return startServer(notifConfig(database, opts), { port: opts.port || 0 });
}

// One REST call. `body` (an object) is sent as JSON unless `raw` (a string) is
// given; `contentType` overrides the header (null: none). Auth with Bearer `token`
// or a cookie `cookie`.
export async function call(port, method, path, { token, cookie, body, raw, contentType, timeoutMs = 10000 } = {}) {
  const headers = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (cookie) headers.cookie = cookie;
  let payload;
  if (raw !== undefined) payload = raw;
  else if (body !== undefined) payload = JSON.stringify(body);
  if (payload !== undefined && contentType !== null) headers['content-type'] = contentType || 'application/json';
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers,
    body: payload,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

// A REST client for one server, with shortcuts for the plugin's routes.
export function api(port) {
  return {
    call: (method, path, opts) => call(port, method, path, opts),
    create: (token, body, opts = {}) => call(port, 'POST', '/notifications', { token, body, ...opts }),
    broadcast: (token, body, opts = {}) => call(port, 'POST', '/notifications/broadcast', { token, body, ...opts }),
    list: (token, query = '') => call(port, 'GET', `/notifications${query}`, { token }),
    unread: (token) => call(port, 'GET', '/notifications/unread-count', { token }),
    markRead: (token, id) => call(port, 'PATCH', `/notifications/${encodeURIComponent(id)}/read`, { token }),
    readAll: (token) => call(port, 'POST', '/notifications/read-all', { token }),
    remove: (token, id) => call(port, 'DELETE', `/notifications/${encodeURIComponent(id)}`, { token }),
    // Every item of the user's list, walking the cursor with `limit`.
    async listAll(token, limit = 100) {
      const items = [];
      const pages = [];
      let cursor = null;
      for (let i = 0; i < 10000; i++) {
        const q = `?limit=${limit}${cursor ? `&before=${encodeURIComponent(cursor)}` : ''}`;
        const r = await call(port, 'GET', `/notifications${q}`, { token });
        if (r.status !== 200) throw new Error(`list ${q}: ${r.status} ${r.text}`);
        items.push(...r.json.items);
        pages.push(r.json);
        cursor = r.json.nextCursor;
        if (cursor === null) return { items, pages };
      }
      throw new Error('listAll: too many pages');
    },
  };
}

// A socket.io-client socket authenticated by the `token` cookie (or anonymous);
// records every event it receives.
export async function connect(port, token, { transports, timeoutMs = 5000 } = {}) {
  const opts = { forceNew: true, reconnection: false, timeout: timeoutMs };
  if (token) opts.extraHeaders = { cookie: `token=${token}` };
  if (transports) opts.transports = transports;
  const socket = io(`http://127.0.0.1:${port}`, opts);
  const events = [];
  socket.onAny((event, ...args) => events.push({ event, args }));
  await connected(socket, timeoutMs);
  return {
    socket,
    events,
    notifications: () => events.filter((e) => e.event === 'notification').map((e) => e.args[0]),
    close: () => socket.disconnect(),
  };
}

// Bounded polling for a condition.
export async function waitFor(fn, { timeoutMs = 5000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(10);
  }
}
