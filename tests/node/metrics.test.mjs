// GET /metrics: the Prometheus text format, checked by promtool (Debian's prometheus
// package), values that follow what happens (HTTP answers by route and status, Engine.IO
// and Socket.IO by transport and namespace, auth failures by reason, plugin events, the
// notifications store's metrics), who may scrape, and [metrics] listen: the page on a port of
// its own, /readyz there naming "draining" during the shutdown's grace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, BIN, ROOT, CONFORMANCE_PLUGIN } from './lib/server.mjs';
import { connectClient, waitFor, signJwt, nowS } from './lib/auth-helpers.mjs';
import { startNotifServer, api as notifApi, connect as notifConnect, userToken, adminToken, tempDir, removeDir } from './lib/notifications-helpers.mjs';

async function scrape(port, headers = {}) {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

function value(text, series) {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function promtool(text) {
  const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  assert.equal(lint.error, undefined, 'promtool runs (scripts/install-deps.sh --test installs it)');
  assert.equal(lint.status, 0, `${lint.stdout}${lint.stderr}`);
}

// The buckets of one histogram series (labels without le, e.g. 'method="GET",route="/x"'),
// in page order.
function buckets(text, name, labels) {
  const prefix = `${name}_bucket{${labels ? `${labels},` : ''}le="`;
  return text.split('\n').filter((l) => l.startsWith(prefix)).map((l) => ({
    le: l.slice(prefix.length, l.indexOf('"', prefix.length)),
    count: Number(l.slice(l.lastIndexOf(' ') + 1)),
  }));
}

test('the page passes promtool and follows the sockets', async () => {
  const srv = await startServer('');
  try {
    const first = await scrape(srv.port);
    assert.equal(first.status, 200);
    assert.equal(first.type, 'text/plain; version=0.0.4; charset=utf-8');
    promtool(first.text);
    assert.equal(value(first.text, 'iogate_socketio_sockets{namespace="/"}'), 0);
    assert.ok(value(first.text, 'process_resident_memory_bytes') > 1e6);
    assert.ok(value(first.text, 'process_virtual_memory_bytes') > 1e6);
    assert.ok(value(first.text, 'process_open_fds') > 3);
    assert.ok(value(first.text, 'process_max_fds') >= value(first.text, 'process_open_fds'));
    assert.ok(value(first.text, 'process_cpu_seconds_total') >= 0);
    // From /proc: the kernel's start time, with the clock tick's precision.
    assert.ok(Math.abs(value(first.text, 'process_start_time_seconds') - Date.now() / 1000) < 600);

    const c = await connectClient(srv.port, { transports: ['websocket'] });
    const second = await scrape(srv.port);
    assert.equal(value(second.text, 'iogate_socketio_sockets{namespace="/"}'), 1);
    assert.equal(value(second.text, 'iogate_socketio_connects_total') - value(first.text, 'iogate_socketio_connects_total'), 1);
    assert.equal(value(second.text, 'iogate_engineio_sessions{transport="websocket"}'), 1);
    assert.equal(value(second.text, 'iogate_engineio_sessions{transport="polling"}'), 0);
    c.close();
    await waitFor(async () => value((await scrape(srv.port)).text, 'iogate_socketio_sockets{namespace="/"}') === 0, {
      what: 'the socket gone from the page',
    });
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});

test('HTTP answers by route pattern and status, and their durations, cumulative', async () => {
  const srv = await startServer('');
  const base = `http://127.0.0.1:${srv.port}`;
  try {
    for (let i = 0; i < 3; i++) await (await fetch(`${base}/healthz`)).text();
    await (await fetch(`${base}/no/such/path-42`)).text(); // 404: counted as unmatched, never by its path
    await (await fetch(`${base}/healthz`, { method: 'DELETE' })).text(); // 405
    await (await fetch(`${base}/healthz`, { method: 'PURGE' })).text(); // a method of no class: "other"
    // Engine.IO: a polling handshake, then an upgrade (101) of another client.
    assert.equal((await fetch(`${base}/socket.io/?EIO=4&transport=polling`)).status, 200);
    const ws = await connectClient(srv.port, { transports: ['websocket'] });
    ws.close();
    const { text } = await scrape(srv.port);
    promtool(text);
    const req = (labels) => value(text, `iogate_http_requests_total{${labels}}`);
    assert.equal(req('method="GET",route="/healthz",code="200"'), 3);
    assert.equal(req('method="GET",route="unmatched",code="404"'), 1);
    assert.equal(req('method="DELETE",route="unmatched",code="405"'), 1);
    assert.equal(req('method="other",route="unmatched",code="405"'), 1);
    assert.equal(req('method="GET",route="/socket.io/",code="200"'), 1);
    assert.equal(req('method="GET",route="/socket.io/",code="101"'), 1);
    assert.doesNotMatch(text, /path-42/);
    // Every route's histogram is on the page from the start; buckets never go down and end
    // at _count.
    const h = 'iogate_http_request_duration_seconds';
    const healthz = buckets(text, h, 'method="GET",route="/healthz"');
    assert.deepEqual(healthz.map((b) => b.le), ['0.0005', '0.001', '0.0025', '0.005', '0.01', '0.025', '0.05', '0.1', '0.25', '0.5', '1', '2.5', '5', '10', '30', '+Inf']);
    for (let i = 1; i < healthz.length; i++) assert.ok(healthz[i].count >= healthz[i - 1].count);
    assert.equal(healthz.at(-1).count, 3);
    assert.equal(value(text, `${h}_count{method="GET",route="/healthz"}`), 3);
    assert.ok(value(text, `${h}_sum{method="GET",route="/healthz"}`) > 0);
    assert.equal(buckets(text, h, 'method="GET",route="/readyz"').at(-1).count, 0);
    assert.equal(buckets(text, h, 'method="GET",route="unmatched"').at(-1).count, 1);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});

const SECRET = 'metrics-test-secret-0123456789abcdef';
const token = (claims) => signJwt({ exp: nowS() + 600, ...claims }, { secret: SECRET });

test('Engine.IO and Socket.IO by transport and namespace, refusals and auth failures by reason, plugin events', async () => {
  const srv = await startServer(`[auth]\njwt_secret = "${SECRET}"\n${CONFORMANCE_PLUGIN}`);
  const base = `http://127.0.0.1:${srv.port}`;
  try {
    const before = (await scrape(srv.port)).text;
    const alice = await connectClient(srv.port, { transports: ['websocket'], cookie: `token=${token({ sub: 'alice' })}` });
    const anon = await connectClient(srv.port, { transports: ['polling'] });
    // A token past its exp in the CONNECT payload: connected, but not authenticated.
    const late = await connectClient(srv.port, { transports: ['websocket'], auth: { token: token({ sub: 'x', exp: nowS() - 3600 }) } });
    const forged = await connectClient(srv.port, { transports: ['websocket'], auth: { token: signJwt({ sub: 'y', exp: nowS() + 60 }, { secret: 'another-secret-0123456789abcdef012' }) } });
    // Events the conformance plugin handles ("message"), and one nobody handles.
    for (let i = 0; i < 3; i++) alice.socket.emit('message', 'hello');
    anon.socket.emit('message', 'hi');
    alice.socket.emit('nobody-handles-this', 1);
    alice.socket.emit('nobody-handles-this-either', 2);
    await waitFor(() => alice.received('message-back').length === 3 && anon.received('message-back').length === 1, { what: 'the echoes' });
    // Engine.IO refusals by reason.
    assert.equal((await fetch(`${base}/socket.io/?EIO=4&transport=polling&sid=nope`)).status, 400);
    assert.equal((await fetch(`${base}/socket.io/?EIO=3&transport=polling`)).status, 400);
    assert.equal((await fetch(`${base}/socket.io/?EIO=4&transport=carrier-pigeon`)).status, 400);

    const { text } = await waitFor(async () => {
      const page = await scrape(srv.port);
      return value(page.text, 'iogate_socketio_events_unhandled_total{namespace="/"}') === 2 && page;
    }, { what: 'the unhandled events counted' });
    promtool(text);
    const v = (s) => value(text, s);
    const grew = (s) => v(s) - (value(before, s) ?? 0);
    assert.equal(v('iogate_engineio_sessions{transport="websocket"}'), 3);
    assert.equal(v('iogate_engineio_sessions{transport="polling"}'), 1);
    assert.equal(grew('iogate_engineio_sessions_opened_total{transport="websocket"}'), 3);
    assert.equal(grew('iogate_engineio_sessions_opened_total{transport="polling"}'), 1);
    // Received: CONNECT and the events (the pongs too, whenever a ping came).
    assert.ok(grew('iogate_engineio_received_packets_total{transport="websocket"}') >= 3 + 5);
    assert.ok(grew('iogate_engineio_received_packets_total{transport="polling"}') >= 2);
    assert.ok(grew('iogate_engineio_received_bytes_total{transport="websocket"}') > 5 * 10);
    // Sent: the open packets, the CONNECT answers, the echoes.
    assert.ok(grew('iogate_engineio_sent_packets_total{transport="websocket"}') >= 3 * 2 + 3);
    assert.ok(grew('iogate_engineio_sent_bytes_total{transport="polling"}') > 0);
    assert.equal(v('iogate_socketio_sockets{namespace="/"}'), 4);
    assert.equal(v('iogate_socketio_authenticated_sockets{namespace="/"}'), 1);
    assert.equal(v('iogate_socketio_events_received_total{namespace="/",event="message"}'), 4);
    assert.equal(v('iogate_socketio_events_received_total{namespace="/",event="message-with-ack"}'), 0);
    assert.doesNotMatch(text, /nobody-handles/);
    assert.equal(v('iogate_auth_failures_total{source="socketio",reason="expired"}'), 1);
    assert.equal(v('iogate_auth_failures_total{source="socketio",reason="bad_signature"}'), 1);
    assert.equal(v('iogate_auth_failures_total{source="rest",reason="expired"}'), 0);
    assert.equal(v('iogate_engineio_requests_refused_total{reason="unknown_sid"}'), 1);
    assert.equal(v('iogate_engineio_requests_refused_total{reason="unsupported_protocol_version"}'), 1);
    assert.equal(v('iogate_engineio_requests_refused_total{reason="unknown_transport"}'), 1);
    assert.equal(v('iogate_engineio_requests_refused_total{reason="busy"}'), 0);
    assert.equal(v('iogate_slow_consumers_dropped_total'), 0);
    assert.equal(v('iogate_engineio_sessions_closed_total{reason="transport_close"}'), 0);
    for (const c of [alice, anon, late, forged]) c.close();
    await waitFor(async () => value((await scrape(srv.port)).text, 'iogate_socketio_authenticated_sockets{namespace="/"}') === 0, {
      what: 'the authenticated socket gone',
    });
    // The clients left: each session's close counted under its reason, none under another.
    const after = await waitFor(async () => {
      const page = (await scrape(srv.port)).text;
      return value(page, 'iogate_engineio_sessions_closed_total{reason="transport_close"}') === 4 && page;
    }, { what: 'four sessions closed by their clients' });
    for (const reason of ['transport_error', 'parse_error', 'ping_timeout', 'slow_consumer', 'server_shutdown', 'server_close'])
      assert.equal(value(after, `iogate_engineio_sessions_closed_total{reason="${reason}"}`), 0, reason);
  } finally {
    assert.equal((await srv.stop()).code, 0);
  }
});

test('the notifications plugin: its store metrics after a POST, its event, REST auth failures', async () => {
  const dir = tempDir();
  const srv = await startNotifServer(join(dir, 'n.db'));
  try {
    const rest = notifApi(srv.port);
    const bob = await notifConnect(srv.port, userToken('bob'));
    const created = await rest.create(adminToken(), { userId: 'bob', message: 'hello' });
    assert.equal(created.status, 201);
    await waitFor(() => bob.notifications().length === 1, { what: 'the notification' });
    assert.equal((await rest.list(userToken('bob', { exp: nowS() - 3600 }))).status, 401);
    const { text } = await scrape(srv.port);
    promtool(text);
    const v = (s) => value(text, s);
    const p = 'iogate_plugin_notifications_';
    assert.ok(v(`${p}store_commit_duration_seconds_count`) >= 1);
    assert.ok(v(`${p}store_commit_duration_seconds_sum`) > 0);
    assert.equal(buckets(text, `${p}store_commit_duration_seconds`, '').at(-1).count, v(`${p}store_commit_duration_seconds_count`));
    assert.ok(v(`${p}store_batch_jobs_count`) >= 1);
    assert.equal(v(`${p}store_errors_total{kind="error"}`), 0);
    assert.equal(v(`${p}store_errors_total{kind="unavailable"}`), 0);
    assert.equal(v(`${p}queued_jobs`), 0);
    assert.equal(v('iogate_socketio_events_emitted_total{event="notification"}'), 1);
    assert.equal(v('iogate_socketio_events_recipients_total{event="notification"}'), 1);
    assert.equal(v('iogate_http_requests_total{method="POST",route="/notifications",code="201"}'), 1);
    assert.equal(v('iogate_http_requests_total{method="GET",route="/notifications",code="401"}'), 1);
    assert.equal(v('iogate_auth_failures_total{source="rest",reason="expired"}'), 1);
    assert.equal(v('iogate_socketio_authenticated_sockets{namespace="/"}'), 1);
    bob.close();
  } finally {
    assert.equal((await srv.stop()).code, 0);
    removeDir(dir);
  }
});

test('who may scrape: the allowed addresses, or the token', async () => {
  const token = 'metrics-token-0123456789';
  const srv = await startServer(`[metrics]\nallow = []\ntoken = "${token}"\n`);
  try {
    assert.equal((await scrape(srv.port)).status, 403);
    assert.equal((await scrape(srv.port, { authorization: `Bearer ${token}x` })).status, 403);
    assert.equal((await scrape(srv.port, { authorization: 'Bearer metrics-token-012345678' })).status, 403);
    const ok = await scrape(srv.port, { authorization: `Bearer ${token}` });
    assert.equal(ok.status, 200);
    assert.match(ok.text, /^iogate_build_info\{version="/m);
  } finally {
    await srv.stop();
  }
  const off = await startServer('[metrics]\nenabled = false\n');
  try {
    assert.equal((await scrape(off.port)).status, 404);
  } finally {
    await off.stop();
  }
});

const OPS_LINE = /serving \/metrics, \/healthz and \/readyz on http:\/\/127\.0\.0\.1:(\d+) \(not \/metrics on the public port\)/;

test('[metrics] listen: the page, /healthz and /readyz on their own port, not on the public one; /readyz says draining during the grace', async () => {
  // The held request below ends the drain only when the grace does (the server reads no more
  // once it shuts down): 3 s, the time the test then waits at most.
  const srv = await startServer('[server]\nshutdown_grace_ms = 3000\n[http]\nheader_timeout_ms = 60000\n[metrics]\nlisten = "127.0.0.1:0"\n');
  let held;
  try {
    await srv.waitForLog(OPS_LINE);
    const ops = Number(srv.logs().match(OPS_LINE)[1]);
    assert.notEqual(ops, srv.port);
    const page = await scrape(ops);
    assert.equal(page.status, 200);
    promtool(page.text);
    assert.equal((await scrape(srv.port)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${ops}/healthz`)).status, 200);
    assert.deepEqual(await (await fetch(`http://127.0.0.1:${ops}/readyz`)).json(), { status: 'ready' });
    assert.equal((await fetch(`http://127.0.0.1:${ops}/socket.io/?EIO=4&transport=polling`)).status, 404);
    // The public port keeps its health routes (load balancers probe it).
    assert.equal((await fetch(`http://127.0.0.1:${srv.port}/readyz`)).status, 200);
    // The public port's answers are on the page; the metrics port's own are not.
    const after = (await scrape(ops)).text;
    assert.equal(value(after, 'iogate_http_requests_total{method="GET",route="/readyz",code="200"}'), 1);
    assert.equal(value(after, 'iogate_http_requests_total{method="GET",route="unmatched",code="404"}'), 1);

    // A request still arriving on the public port holds the drain open until the grace ends:
    // meanwhile the metrics port answers /readyz 503 naming the drain, and the page is still
    // there.
    held = net.connect(srv.port, '127.0.0.1');
    await new Promise((res) => held.on('connect', res));
    held.write('GET /healthz HTTP/1.1\r\nHost: x\r\n');
    await waitFor(async () => value((await scrape(ops)).text, 'iogate_http_connections') >= 2, { what: 'the held connection' });
    srv.proc.kill('SIGTERM');
    await srv.waitForLog(/shutting down/);
    const draining = await fetch(`http://127.0.0.1:${ops}/readyz`);
    assert.equal(draining.status, 503);
    assert.deepEqual(await draining.json(), { status: 'not_ready', failing: { shutdown: 'draining' } });
    assert.equal((await scrape(ops)).status, 200);
    assert.equal((await srv.exited).code, 0);
    assert.match(srv.logs(), /grace period over: closing 1 connections/);
  } finally {
    held?.destroy();
    await srv.stop();
  }
});

test('[metrics] listen: bad values are refused with file:line:column, by --check-config too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'iogate-metrics-'));
  const check = (listen, extra = '') => {
    const file = join(dir, 'iogate.toml');
    writeFileSync(file, `[server]\nport = 3000\n${extra}[metrics]\nlisten = "${listen}"\n`);
    return spawnSync(BIN, ['--check-config', file], { cwd: ROOT, encoding: 'utf8', timeout: 10000 });
  };
  try {
    const bad = [
      ['127.0.0.1', /must be "ADDRESS:PORT"/],
      ['127.0.0.1:', /must be "ADDRESS:PORT"/],
      [':9464', /needs an IP address before the port/],
      ['localhost:9464', /must name an IP address/],
      ['::1:9464', /must be "ADDRESS:PORT"/],
      ['127.0.0.1:70000', /has a port over 65535/],
      ['127.0.0.1:3000', /port 3000 is \[server\] port/],
    ];
    for (const [listen, re] of bad) {
      const r = check(listen);
      assert.equal(r.status, 1, `${listen}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, new RegExp(`iogate\\.toml:4:1: \\[metrics\\] listen`), listen);
      assert.match(r.stderr, re, listen);
    }
    for (const listen of ['127.0.0.1:9464', '[::1]:9464', '0.0.0.0:0']) {
      const r = check(listen);
      assert.equal(r.status, 0, `${listen}: ${r.stderr}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // A port another process holds stops startup with the key's name.
  const taken = net.createServer();
  await new Promise((res) => taken.listen(0, '127.0.0.1', res));
  try {
    const dir2 = mkdtempSync(join(tmpdir(), 'iogate-metrics-'));
    const file = join(dir2, 'iogate.toml');
    writeFileSync(file, `[server]\nport = 0\n[plugins]\nload = []\n[metrics]\nlisten = "127.0.0.1:${taken.address().port}"\n`);
    const r = spawnSync(BIN, ['--config', file], { cwd: ROOT, encoding: 'utf8', timeout: 10000 });
    rmSync(dir2, { recursive: true, force: true });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /\[metrics\] listen: cannot listen on 127\.0\.0\.1:\d+: address already in use/);
  } finally {
    taken.close();
  }
});
