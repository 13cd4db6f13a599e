// Helpers for the connection state recovery tests: a server with recovery on (and the recovery
// test plugin, tests/plugins/recovery.c, unless told otherwise), official socket.io-client
// sockets behind a TCP proxy a test can cut, tokens, the /metrics counters, and waiting for the
// server to have kept a session before emitting what the client must miss.
import crypto from 'node:crypto';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import { startServer, BUILD_DIR } from './server.mjs';
import { startProxy } from './tcp-proxy.mjs';
import { once } from './events.mjs';

export const SECRET = 'recovery-test-secret-0123456789abcdef';
export const TEST_PLUGINS = join(BUILD_DIR, 'test-plugins');

const b64u = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
export function signJwt(claims, secret = SECRET) {
  const input = `${b64u({ alg: 'HS256', typ: 'JWT' })}.${b64u(claims)}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}
const nowS = () => Math.floor(Date.now() / 1000);
export const token = (sub, extra = {}) => signJwt({ sub, exp: nowS() + 3600, ...extra });
export const expiredToken = (sub) => signJwt({ sub, exp: nowS() - 3600 });

// A server with recovery on; `socketio` and `extra` are TOML added to [socketio] and after it.
export function startRecoveryServer({ socketio = '', extra = null, port = 0, recovery = true } = {}) {
  const plugins = extra ?? `[plugins]\ndir = "${TEST_PLUGINS}"\nload = ["recovery"]\n`;
  return startServer(
    `[auth]\njwt_secret = "${SECRET}"\n` +
      `[socketio]\nconnection_state_recovery = ${recovery}\n${socketio}\n` +
      `[testing]\nemit_routes = true\n${plugins}`,
    { port },
  );
}

// The official client behind a proxy: every event is recorded; getToken() is asked at each
// (re)connection, so a test can change the credentials a reconnection presents.
export async function recoveringClient(port, getToken, { nsp = '/' } = {}) {
  const proxy = await startProxy(port);
  const socket = io(`http://127.0.0.1:${proxy.port}${nsp}`, {
    forceNew: true,
    transports: ['websocket'],
    auth: (cb) => cb({ token: getToken() }),
    reconnectionDelay: 20,
    reconnectionDelayMax: 50,
    randomizationFactor: 0,
  });
  const events = [];
  socket.onAny((event, ...args) => events.push({ event, args }));
  await once(socket, 'connect');
  return {
    socket,
    proxy,
    events,
    // The payloads of one event name, in the order they came.
    payloads: (name) => events.filter((e) => e.event === name).map((e) => e.args[0]),
    async close() {
      socket.disconnect();
      await proxy.close();
    },
  };
}

export async function post(port, path, body) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status >= 300) throw new Error(`POST ${path} answered ${res.status}: ${await res.text()}`);
  return res.json();
}

export const emit = (port, body) => post(port, '/testing/emit', body);

// The samples of /metrics: "name{labels}" -> value.
export async function metrics(port) {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const out = {};
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const at = line.lastIndexOf(' ');
    out[line.slice(0, at)] = Number(line.slice(at + 1));
  }
  return out;
}

// Resolves once fn(metrics) is true (polling /metrics), with the metrics; rejects after ms.
export async function waitMetrics(port, fn, what, ms = 10000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const m = await metrics(port);
    if (fn(m)) return m;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(m)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

// Cuts the client's connection (a network error on its side) and resolves once the client saw
// it and the server kept its session (or kept `sessions` of them).
export async function cutAndWaitKept(port, client, sessions = 1) {
  const gone = once(client.socket, 'disconnect');
  client.proxy.cut();
  await gone;
  await waitMetrics(port, (m) => m.iogate_recovery_kept_sessions >= sessions, 'the session to be kept');
}

// Lets the client reconnect and resolves once it is connected again.
export async function reconnect(client) {
  const back = once(client.socket, 'connect', 10000);
  client.proxy.restore();
  await back;
}

// Runs fn({ srv, port, client, socket, id }) with a server (opts as startRecoveryServer) and a
// client whose credentials getToken() gives (default: user u1's), closed and stopped after.
export async function withRecovery(opts, fn, getToken = () => token('u1')) {
  const srv = await startRecoveryServer(opts);
  try {
    const client = await recoveringClient(srv.port, getToken, opts);
    try {
      await fn({ srv, port: srv.port, client, socket: client.socket, id: client.socket.id });
    } finally {
      await client.close();
    }
  } finally {
    await srv.stop();
  }
}
