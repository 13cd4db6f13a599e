// Edge cases of the Socket.IO layer and the host API, each the behaviour the header
// (include/iogate/iogate.h) or the reference server promises: slow consumers dropped
// outside a dispatch, timers stopped from disconnect hooks at shutdown, work queued
// by a failing init, socket principals' exp, numeric and NUL-bearing event names.
//
// A small probe plugin is compiled here from the C source below against
// include/iogate/iogate.h (with the system C compiler, $CC or cc) into a temporary
// directory. It calls host API entries from places the in-tree plugins do not: REST
// routes, per-socket timers stopped in the disconnect hook.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import { startServer, BIN, ROOT } from './lib/server.mjs';

const PROBE_C = String.raw`
#include <iogate/iogate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const iog_host_api_t *api;
static iog_plugin_t *self;
static int last_second = 1; /* what the second respond() returned */

/* One timer per connected socket, stopped when the socket leaves. */
typedef struct slot { char sid[64]; iog_timer_t *t; } slot_t;
static slot_t slots[64];

static void noop(void *u) { (void)u; }

static void on_conn(void *u, const iog_connection_t *c)
{
    (void)u;
    for (int i = 0; i < 64; i++)
        if (!slots[i].t) {
            snprintf(slots[i].sid, sizeof slots[i].sid, "%s", c->socket_id);
            slots[i].t = api->timer_start(self, 600000, 0, noop, NULL);
            return;
        }
}

static void on_disc(void *u, const iog_connection_t *c)
{
    (void)u;
    for (int i = 0; i < 64; i++)
        if (slots[i].t && strcmp(slots[i].sid, c->socket_id) == 0) {
            api->timer_stop(slots[i].t);
            slots[i].t = NULL;
        }
}

/* "whoami": [expires_at, authenticated] */
static void on_whoami(void *u, const iog_client_event_t *ev)
{
    (void)u;
    char args[128];
    int n = snprintf(args, sizeof args, "[%lld,%s]",
                     ev->principal ? (long long)ev->principal->expires_at : -1LL,
                     ev->principal ? "true" : "false");
    api->emit_to_socket(self, ev->nsp, ev->socket_id, "whoami", args, (size_t)n, NULL, 0);
}

/* Handlers for the events "0", "1" and "1.5": each answers "hit" with its own name. */
static void on_named(void *u, const iog_client_event_t *ev)
{
    char args[64];
    int n = snprintf(args, sizeof args, "[\"%s\"]", (const char *)u);
    api->emit_to_socket(self, ev->nsp, ev->socket_id, "hit", args, (size_t)n, NULL, 0);
}

static void route_double(void *u, iog_request_t *req)
{
    (void)u;
    api->respond(req, 200, "{\"n\":1}", 7);
    last_second = api->respond(req, 200, "{\"n\":2}", 7);
}

static void route_last(void *u, iog_request_t *req)
{
    (void)u;
    char body[64];
    int n = snprintf(body, sizeof body, "{\"second\":%d}", last_second);
    api->respond(req, 200, body, (size_t)n);
}

static void respond_rc(iog_request_t *req, int r)
{
    char body[64];
    int n = snprintf(body, sizeof body, "{\"r\":%d}", r);
    api->respond(req, 200, body, (size_t)n);
}

static void route_disconnect(void *u, iog_request_t *req)
{
    (void)u;
    respond_rc(req, api->disconnect(self, "/", api->request_query(req, "sid")));
}

/* emit_to_socket "big": one string of size x's, or (bin=1) two attachments of size bytes. */
static void route_emit(void *u, iog_request_t *req)
{
    (void)u;
    const char *sid = api->request_query(req, "sid");
    const char *size_s = api->request_query(req, "size");
    size_t size = size_s ? (size_t)atol(size_s) : 10;
    char *buf = malloc(size + 16);
    int r;
    if (api->request_query(req, "bin")) {
        memset(buf, 'x', size);
        iog_bytes_t att[2] = {{buf, size}, {buf, size}};
        static const char args[] =
            "[{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]";
        r = api->emit_to_socket(self, "/", sid, "big", args, sizeof args - 1, att, 2);
    } else {
        buf[0] = '[';
        buf[1] = '"';
        memset(buf + 2, 'x', size);
        buf[size + 2] = '"';
        buf[size + 3] = ']';
        r = api->emit_to_socket(self, "/", sid, "big", buf, size + 4, NULL, 0);
    }
    free(buf);
    respond_rc(req, r);
}

static int init(iog_plugin_t *p, const iog_host_api_t *host, char *err, size_t err_size)
{
    (void)err, (void)err_size;
    api = host;
    self = p;
    int r = api->register_route(p, "GET", "/probe/double", IOG_ROUTE_PUBLIC, route_double, NULL);
    if (!r) r = api->register_route(p, "GET", "/probe/last", IOG_ROUTE_PUBLIC, route_last, NULL);
    if (!r) r = api->register_route(p, "POST", "/probe/disconnect", IOG_ROUTE_PUBLIC, route_disconnect, NULL);
    if (!r) r = api->register_route(p, "POST", "/probe/emit", IOG_ROUTE_PUBLIC, route_emit, NULL);
    if (!r) r = api->on_connect(p, "/", on_conn, NULL);
    if (!r) r = api->on_disconnect(p, "/", on_disc, NULL);
    if (!r) r = api->on_event(p, "/", "whoami", on_whoami, NULL);
    if (!r) r = api->on_event(p, "/", "0", on_named, "0");
    if (!r) r = api->on_event(p, "/", "1", on_named, "1");
    if (!r) r = api->on_event(p, "/", "1.5", on_named, "1.5");
    return r;
}

IOG_PLUGIN("probe", "0.1", init, NULL)
`;

// A plugin that queues work in init and then fails init.
const PROBE_FAIL_C = String.raw`
#include <iogate/iogate.h>
#include <stddef.h>
static void work(void *u) { (void)u; }
static void done(void *u, int status) { (void)u; (void)status; }
static int init(iog_plugin_t *p, const iog_host_api_t *api, char *err, size_t err_size)
{
    api->work_queue(p, work, done, NULL);
    if (err_size) err[0] = 'x', err[1] = 0;
    return IOG_EIO;
}
IOG_PLUGIN("probe_fail", "0.1", init, NULL)
`;

const SECRET = 'review-sio-secret-0123456789abcdef';
const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
function token(claims) {
  const head = b64({ alg: 'HS256', typ: 'JWT' });
  const body = b64(claims);
  const sig = crypto.createHmac('sha256', SECRET).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

let dir;
let compileError = null;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'iogate-review-'));
  for (const [name, src] of [['probe', PROBE_C], ['probe_fail', PROBE_FAIL_C]]) {
    writeFileSync(join(dir, `${name}.c`), src);
    const r = spawnSync(
      process.env.CC || 'cc',
      ['-shared', '-fPIC', '-Wall', '-I', join(ROOT, 'include'), '-o', join(dir, `${name}.so`), join(dir, `${name}.c`)],
      { encoding: 'utf8', timeout: 60000 },
    );
    if (r.status !== 0) compileError = `${name}.c: ${r.error || r.stderr}`;
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

const signal = () => AbortSignal.timeout(3000);

async function probeServer(extra = '') {
  assert.equal(compileError, null, 'the probe plugin compiles');
  return startServer(`${extra}\n[plugins]\ndir = "${dir}"\nload = ["probe"]\n`);
}

// Stops the server; a process that does not exit within ms is killed (and reported).
async function stopWithin(server, ms = 12000) {
  let timer;
  const r = await Promise.race([
    server.stop(),
    new Promise((res) => (timer = setTimeout(() => res('timeout'), ms))),
  ]);
  clearTimeout(timer);
  if (r === 'timeout') {
    server.proc.kill('SIGKILL');
    await server.exited;
    return { code: null, signal: 'timeout' };
  }
  return r;
}

// One Socket.IO socket on a polling session driven by hand: nothing is fetched unless
// get() is called, so what the server sends stays queued in the session's outbox.
async function pollingSocket(base) {
  const url = `${base}/socket.io/?EIO=4&transport=polling`;
  const hs = await (await fetch(url, { signal: signal() })).text();
  const sid = JSON.parse(hs.slice(1)).sid;
  const post = async (body) =>
    (await fetch(`${url}&sid=${sid}`, { method: 'POST', body, signal: signal() })).text();
  const get = async () => (await fetch(`${url}&sid=${sid}`, { signal: signal() })).text();
  await post('40');
  const connect = await get();
  assert.match(connect, /^40\{"sid":"[^"]+"\}$/);
  return { sid, socketId: JSON.parse(connect.slice(2)).sid, post, get };
}

async function healthy(base) {
  const r = await fetch(`${base}/healthz`, { signal: signal() });
  return r.status === 200;
}

test(
  'SIGTERM with a client attached: a disconnect hook may stop its own per-socket timer',
  async () => {
    const server = await probeServer();
    const client = io(`http://127.0.0.1:${server.port}`, { transports: ['websocket'], reconnection: false });
    try {
      await new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error('no connect')), 3000);
        client.on('connect', () => {
          clearTimeout(t);
          res();
        });
      });
    } finally {
      const r = await stopWithin(server);
      client.close();
      assert.doesNotMatch(server.logs(), /Assertion|AddressSanitizer/);
      assert.equal(r.code, 0, `clean exit on SIGTERM\n${server.logs()}`);
    }
  },
);

test(
  'disconnect() from a REST route, when the DISCONNECT packet overflows the socket\'s outbox',
  async () => {
    const server = await probeServer('[limits]\nmax_outbox_bytes = 4096\n');
    const base = `http://127.0.0.1:${server.port}`;
    try {
      const s = await pollingSocket(base);
      // "42[\"big\",\"x...\"]" is size + 12 bytes: 4096 exactly, not over the limit yet.
      const emit = await (await fetch(`${base}/probe/emit?sid=${s.socketId}&size=4084`, { method: 'POST', signal: signal() })).json();
      assert.equal(emit.r, 1);
      // The 2-byte DISCONNECT packet pushes the outbox over: the session is dropped.
      const disc = await (await fetch(`${base}/probe/disconnect?sid=${s.socketId}`, { method: 'POST', signal: signal() })).json();
      assert.equal(disc.r, 0);
      assert.ok(await healthy(base));
    } finally {
      const r = await stopWithin(server);
      assert.doesNotMatch(server.logs(), /AddressSanitizer/);
      assert.equal(r.code, 0, server.logs());
    }
  },
);

test(
  'emit_to_socket() with attachments from a REST route, when an attachment overflows the outbox',
  async () => {
    const server = await probeServer('[limits]\nmax_outbox_bytes = 4096\n');
    const base = `http://127.0.0.1:${server.port}`;
    try {
      const s = await pollingSocket(base);
      const emit = await (await fetch(`${base}/probe/emit?sid=${s.socketId}&size=4090&bin=1`, { method: 'POST', signal: signal() })).json();
      assert.equal(emit.r, 1);
      assert.ok(await healthy(base));
    } finally {
      const r = await stopWithin(server);
      assert.doesNotMatch(server.logs(), /AddressSanitizer/);
      assert.equal(r.code, 0, server.logs());
    }
  },
);

test(
  'a plugin whose init fails after work_queue(): startup fails with the init message, no crash',
  () => {
    assert.equal(compileError, null, 'the probe plugin compiles');
    const file = join(dir, 'fail.toml');
    writeFileSync(file, `[server]\nhost = "127.0.0.1"\nport = 0\n[plugins]\ndir = "${dir}"\nload = ["probe_fail"]\n`);
    const r = spawnSync(BIN, ['--config', file], { cwd: ROOT, encoding: 'utf8', timeout: 10000 });
    assert.equal(r.signal, null, r.stderr);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /probe_fail\.so \(probe_fail 0\.1\): init failed/);
  },
);

test(
  'a socket principal carries the token\'s exp in expires_at, as a REST principal does',
  async () => {
    const server = await probeServer(`[auth]\njwt_secret = "${SECRET}"\n`);
    const exp = Math.floor(Date.now() / 1000) + 600;
    const client = io(`http://127.0.0.1:${server.port}`, {
      transports: ['websocket'],
      reconnection: false,
      auth: { token: token({ sub: 'u1', exp }) },
    });
    try {
      const got = await new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error('no whoami')), 3000);
        client.on('connect', () => client.emit('whoami'));
        client.once('whoami', (...args) => {
          clearTimeout(t);
          res(args);
        });
      });
      assert.deepEqual(got, [exp, true]);
    } finally {
      client.close();
      await stopWithin(server);
    }
  },
);

test(
  'event names are matched as the reference does: 1.5 is "1.5", 1.0 is "1", "1\\u0000zzz" is not "1"',
  async () => {
    const server = await probeServer();
    const base = `http://127.0.0.1:${server.port}`;
    try {
      const s = await pollingSocket(base);
      await s.post('42[1.5]');
      assert.equal(await s.get(), '42["hit","1.5"]');
      await s.post('42[1.0]');
      assert.equal(await s.get(), '42["hit","1"]');
      // No handler for "1\u0000zzz": only the second event is answered.
      await s.post('42["1\\u0000zzz"]\x1e42[1]');
      assert.equal(await s.get(), '42["hit","1"]');
    } finally {
      await stopWithin(server);
    }
  },
);
