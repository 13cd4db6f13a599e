// Connection lifecycle with the official socket.io-client 4.8.1 against the real
// binary: heartbeats, reconnection after a server restart on the same port, the
// [socketio] max_payload_bytes limit, and graceful shutdown with clients attached.
// Each test starts its own server, since most of them stop it.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { io } from 'socket.io-client';
import WebSocket from 'ws';
import { startServer, CONFORMANCE_PLUGIN } from './lib/server.mjs';
import { once } from './lib/events.mjs';

const WAIT_MS = 5000;
const BASE = `
${CONFORMANCE_PLUGIN}[testing]
emit_routes = true
`;

const clients = [];
const servers = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  for (const s of servers.splice(0)) {
    const { code } = await s.stop();
    assert.equal(code, 0, `clean exit:\n${s.logs()}`);
  }
});

async function serve(config, opts) {
  const s = await startServer(config, opts);
  servers.push(s);
  return s;
}

function client(server, opts = {}) {
  const s = io(`http://127.0.0.1:${server.port}`, { forceNew: true, reconnection: false, timeout: WAIT_MS, ...opts });
  clients.push(s);
  return s;
}


async function connected(socket) {
  if (!socket.connected) await once(socket, 'connect');
  return socket;
}

async function echo(socket, ...args) {
  const back = once(socket, 'message-back');
  socket.emit('message', ...args);
  assert.deepEqual(await back, args);
}

async function emitRoute(server, body) {
  const res = await fetch(`http://127.0.0.1:${server.port}/testing/emit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200);
  return (await res.json()).recipients;
}

// Polls `check` until it returns true, failing after `ms`.
async function eventually(check, what, ms = WAIT_MS) {
  const end = Date.now() + ms;
  for (;;) {
    if (await check()) return;
    if (Date.now() > end) assert.fail(`${what} did not happen within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const TRANSPORTS = [
  ['polling', ['polling']],
  ['websocket', ['websocket']],
];

// ---------------------------------------------------------------- heartbeat

for (const [name, transports] of TRANSPORTS) {
  test(`${name}: an idle client answers pings and stays connected across many intervals`, async () => {
    // The server sends its next ping only once the last one was answered: six pings mean
    // six pongs reached it. The timeout is long so that a busy machine's slow client is
    // not dropped; the next test checks that it is enforced.
    const server = await serve(`${BASE}
[socketio]
ping_interval_ms = 100
ping_timeout_ms = 5000
`);
    const s = await connected(client(server, { transports }));
    let pings = 0;
    s.io.on('ping', () => pings++);
    let dropped = null;
    s.on('disconnect', (reason) => (dropped = reason));
    await eventually(() => pings >= 6 || dropped !== null, 'six pings', 30000);
    assert.equal(dropped, null, 'still connected');
    await echo(s, 'after idle', pings);
  });
}

for (const [name, transports] of TRANSPORTS) {
  test(`${name}: the server drops a client that stops answering pings`, async () => {
    const server = await serve(`${BASE}
[socketio]
ping_interval_ms = 200
ping_timeout_ms = 1000
`);
    const s = await connected(client(server, { transports }));
    const id = s.id;
    await echo(s, 'alive');
    // Keep the client otherwise intact but have it swallow its pongs.
    const engine = s.io.engine;
    const send = engine._sendPacket.bind(engine);
    engine._sendPacket = (type, ...rest) => (type === 'pong' ? undefined : send(type, ...rest));
    const t0 = Date.now();
    const [reason] = await once(s, 'disconnect', 30000);
    const elapsed = Date.now() - t0;
    assert.equal(reason, 'transport close', 'the server closed the session');
    // The ping whose pong was swallowed left at most one interval before t0.
    assert.ok(elapsed >= 800, `not before a ping went unanswered for ping_timeout_ms (${elapsed} ms)`);
    assert.equal(await emitRoute(server, { room: id, event: 'gone', payload: 1 }), 0);
  });
}

test('a pong that arrived while the loop was held up past ping_timeout_ms keeps the session', async () => {
  // The loop stops (as on a machine too busy to run it) after a ping went out and before
  // the pong is read; when it runs again its timers come before its sockets. The pong is
  // there: the session must live, and the next ping comes.
  const server = await serve(`${BASE}
[socketio]
ping_interval_ms = 300
ping_timeout_ms = 3000
`);
  for (const body of ['{"ms":"5000"}', '{"ms":0}', '{"ms":10001}', 'not json'])
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/testing/stall`, { method: 'POST', body })).status, 400, body);
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}/socket.io/?EIO=4&transport=websocket`);
  const frames = [];
  let waiting = null;
  const next = (ms = 30000) =>
    frames.length
      ? Promise.resolve(frames.shift())
      : new Promise((resolve, reject) => {
          const t = setTimeout(() => reject(new Error(`no frame within ${ms} ms`)), ms);
          waiting = (f) => {
            clearTimeout(t);
            resolve(f);
          };
        });
  ws.on('message', (d) => {
    const f = d.toString();
    if (waiting) {
      const w = waiting;
      waiting = null;
      w(f);
    } else frames.push(f);
  });
  let closed = null;
  ws.on('close', (code) => (closed = code));
  // The next frame that matches, past the events the test plugin sends.
  const nextMatching = async (re) => {
    for (;;) {
      const f = await next();
      if (re.test(f)) return f;
    }
  };
  try {
    await nextMatching(/^0\{/);
    ws.send('40');
    await nextMatching(/^40\{/);
    await nextMatching(/^2$/);
    // Held up for far longer than ping_timeout_ms; the answer comes before the stop. The
    // timeout leaves a busy machine's client 3 s to ask for the stop after the ping.
    const res = await fetch(`http://127.0.0.1:${server.port}/testing/stall`, {
      method: 'POST',
      body: JSON.stringify({ ms: 10000 }),
    });
    assert.deepEqual(await res.json(), { stalled: 10000 });
    ws.send('3'); // waits unread until the loop runs again
    assert.equal(await nextMatching(/^[23]|^1$/), '2', 'pinged again: the pong was taken');
    assert.equal(closed, null);
    const metrics = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    assert.match(metrics, /^iogate_engineio_ping_timeouts_deferred_total 1$/m);
    assert.match(metrics, /^iogate_engineio_sessions_closed_total\{reason="ping_timeout"\} 0$/m);
  } finally {
    ws.terminate();
  }
});

test('the handshake advertises the configured heartbeat: a frozen server is noticed quickly', async () => {
  const server = await serve(`${BASE}
[socketio]
ping_interval_ms = 100
ping_timeout_ms = 100
`);
  const s = await connected(client(server, { transports: ['websocket'] }));
  // What the client took from the handshake (engine.io-client keeps it in these fields).
  assert.equal(s.io.engine._pingInterval, 100);
  assert.equal(s.io.engine._pingTimeout, 100);
  const disconnected = once(s, 'disconnect', 30000);
  // Freeze the process: no pings leave and the TCP connection stays open, so
  // only the client's heartbeat timer (interval + timeout) can notice.
  const t0 = Date.now();
  server.proc.kill('SIGSTOP');
  try {
    const [reason] = await disconnected;
    assert.equal(reason, 'ping timeout');
    assert.ok(Date.now() - t0 < 30000, 'with the default 25 s + 20 s this would take 45 s');
  } finally {
    server.proc.kill('SIGCONT');
  }
});

// ---------------------------------------------------------------- reconnection

for (const [name, transports] of TRANSPORTS) {
  test(`${name}: the client reconnects by itself to a server restarted on the same port`, async () => {
    const first = await serve(BASE);
    const port = first.port;
    const s = client(first, {
      transports,
      reconnection: true,
      reconnectionDelay: 50,
      reconnectionDelayMax: 100,
      randomizationFactor: 0,
    });
    await connected(s);
    await echo(s, 'before', 1);
    const oldId = s.id;

    const disconnected = once(s, 'disconnect');
    const stopped = await first.stop();
    assert.equal(stopped.code, 0);
    const [reason] = await disconnected;
    // Only a transport-level loss is retried by the client; a namespace
    // DISCONNECT from the server ("io server disconnect") would not be. Over
    // polling the client's next GET may still be on its way when the server
    // goes, and then fails ("transport error") instead of reading the close.
    assert.ok(['transport close', 'transport error'].includes(reason), reason);
    assert.equal(s.active, true, 'the client is retrying');

    // Let at least one attempt fail against the closed port first.
    await once(s.io, 'reconnect_error');
    const second = await serve(BASE, { port });
    assert.equal(second.port, port);
    const [attempt] = await once(s.io, 'reconnect', 10000);
    assert.ok(attempt >= 1);
    await connected(s);
    assert.notEqual(s.id, oldId, 'a new session on the new process');
    await echo(s, 'after', { restarted: true }, [2]);
  });
}

// ---------------------------------------------------------------- max payload

const LIMITED = `${BASE}
[socketio]
max_payload_bytes = 10000
`;

for (const [name, transports] of TRANSPORTS) {
  test(`${name}: a message over max_payload_bytes ends that client only`, async () => {
    const server = await serve(LIMITED);
    const big = await connected(client(server, { transports }));
    const other = await connected(client(server, { transports }));
    const bystander = await connected(client(server, { transports: name === 'polling' ? ['websocket'] : ['polling'] }));

    // Just under the limit is fine (the packet adds a few bytes of framing).
    await echo(big, 'y'.repeat(9900));
    const bigId = big.id;

    const disconnected = once(big, 'disconnect');
    const engineClosed = once(big.io.engine, 'close');
    big.emit('message', 'x'.repeat(20000));
    const [reason] = await disconnected;
    const [, detail] = await engineClosed;
    if (name === 'polling') {
      // The POST carrying it is refused with 413.
      assert.equal(reason, 'transport error');
      assert.equal(detail.description, 413);
    } else {
      // The server closes the WebSocket (1009, message too big).
      assert.equal(reason, 'transport close');
    }
    assert.equal(big.connected, false);

    // The server dropped that socket...
    await eventually(async () => (await emitRoute(server, { room: bigId, event: 'gone', payload: 1 })) === 0,
      'the server dropping the oversized client');
    // ...and the others still receive emits and still echo.
    for (const c of [other, bystander]) {
      const got = once(c, 'still-here');
      assert.equal(await emitRoute(server, { room: c.id, event: 'still-here', payload: { ok: true } }), 1);
      assert.deepEqual(await got, [{ ok: true }]);
      await echo(c, 'still echoing');
    }
    const all = once(other, 'to-all');
    assert.equal(await emitRoute(server, { event: 'to-all', payload: 'x' }), 2);
    assert.deepEqual(await all, ['x']);
  });
}

// ---------------------------------------------------------------- shutdown

test('SIGTERM with clients attached: every client sees a disconnect and the process exits 0 in the grace period', async () => {
  const GRACE = 15000;
  const server = await serve(`${BASE}
[server]
shutdown_grace_ms = ${GRACE}
`);
  const polling = await connected(client(server, { transports: ['polling'] }));
  const ws = await connected(client(server, { transports: ['websocket'] }));
  const upgraded = client(server);
  await connected(upgraded);
  if (upgraded.io.engine.transport.name !== 'websocket') await once(upgraded.io.engine, 'upgrade');
  for (const c of [polling, ws, upgraded]) await echo(c, 'before shutdown');
  // Let the polling client's next GET reach the server: the close is delivered on it.
  await eventually(() => polling.io.engine.transport._polling, 'the next long-poll');
  await new Promise((r) => setTimeout(r, 100));

  const reasons = Promise.all([polling, ws, upgraded].map((c) => once(c, 'disconnect', GRACE)));
  const t0 = Date.now();
  const { code, signal } = await server.stop('SIGTERM');
  const elapsed = Date.now() - t0;
  assert.equal(signal, null);
  assert.equal(code, 0, server.logs());
  assert.ok(elapsed < GRACE, `exited after ${elapsed} ms, grace is ${GRACE} ms`);
  const got = (await reasons).map(([reason]) => reason);
  assert.deepEqual(got, ['transport close', 'transport close', 'transport close']);
  for (const c of [polling, ws, upgraded]) assert.equal(c.connected, false);
});
