// Interop with the official socket.io-client 4.8.1 against the real binary:
// echo over polling, WebSocket and the polling -> WebSocket upgrade, acks both
// ways, binary attachments and their bound, text edge cases, ordering of 1,000
// events each way, namespaces and the CONNECT auth payload. The server runs the conformance handlers
// (the conformance test plugin) and the test emit route ([testing] emit_routes).
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import net from 'node:net';
import { io, Manager } from 'socket.io-client';
import { startServer, parseResponses, CONFORMANCE_PLUGIN } from './lib/server.mjs';
import { once } from './lib/events.mjs';

const SECRET = 'interop-secret-0123456789abcdef01234';
const WAIT_MS = 5000;

let server;
let url;
const open = []; // every client socket or manager a test created, closed after it

before(async () => {
  server = await startServer(`
[socketio]
namespaces = ["/custom"]
[auth]
jwt_secret = "${SECRET}"
${CONFORMANCE_PLUGIN}[testing]
emit_routes = true
`);
  url = `http://127.0.0.1:${server.port}`;
});

afterEach(() => {
  for (const c of open.splice(0)) {
    if (typeof c.disconnect === 'function') c.disconnect();
    if (typeof c._close === 'function') c._close();
  }
});

after(async () => {
  const r = await server.stop();
  assert.equal(r.code, 0, `clean exit on SIGTERM:\n${server.logs()}`);
});

function client(opts = {}) {
  const s = io(url, { forceNew: true, reconnection: false, timeout: WAIT_MS, ...opts });
  open.push(s);
  return s;
}


// Resolves with the first argument of the next `n` `event`s, in arrival order.
function collect(emitter, event, n, ms = WAIT_MS) {
  return new Promise((resolve, reject) => {
    const got = [];
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`only ${got.length} of ${n} "${event}" within ${ms} ms`));
    }, ms);
    const on = (arg) => {
      got.push(arg);
      if (got.length === n) {
        clearTimeout(timer);
        emitter.off(event, on);
        resolve(got);
      }
    };
    emitter.on(event, on);
  });
}

async function connected(socket) {
  if (!socket.connected) await once(socket, 'connect');
  return socket;
}

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

function jwt(claims) {
  const head = b64url({ alg: 'HS256', typ: 'JWT' });
  const body = b64url({ iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 3600, ...claims });
  const sig = createHmac('sha256', SECRET).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

async function emitRoute(body) {
  const res = await fetch(`${url}/testing/emit`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200);
  return (await res.json()).recipients;
}

// POSTs every body to /testing/emit pipelined on one connection, so the server
// runs them in order without a round trip each; resolves to the recipient counts.
function pipelinedEmits(bodies, ms = 20000) {
  return new Promise((resolve, reject) => {
    const sock = net.connect(server.port, '127.0.0.1');
    let text = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`pipelined emits: no full answer within ${ms} ms`));
    }, ms);
    sock.setEncoding('latin1');
    sock.on('error', reject);
    sock.on('connect', () => {
      for (const b of bodies) {
        const json = JSON.stringify(b);
        sock.write(`POST /testing/emit HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`);
      }
    });
    sock.on('data', (d) => {
      text += d;
      const res = parseResponses(text);
      if (res.length < bodies.length || res[res.length - 1].body.length < Number(res[res.length - 1].headers['content-length'])) return;
      clearTimeout(timer);
      sock.destroy();
      resolve(res.map((r) => (r.status === 200 ? JSON.parse(r.body).recipients : `HTTP ${r.status}`)));
    });
  });
}

async function stats() {
  const res = await fetch(`${url}/testing/stats`);
  assert.equal(res.status, 200);
  return res.json();
}

// Arguments of every JSON type, including ones a naive encoder gets wrong.
const MIXED = [
  1,
  -2.5,
  'two "quoted" \u00e9\u4e2d\ud83d\ude00',
  { three: 3, nested: { list: [4, '5', null, false], empty: {} } },
  [6, [7, [8]]],
  null,
  true,
  false,
  '',
];

async function echoMixed(socket) {
  const back = once(socket, 'message-back');
  socket.emit('message', ...MIXED);
  assert.deepEqual(await back, MIXED);
}

const TRANSPORTS = [
  ['polling', ['polling']],
  ['websocket', ['websocket']],
];

// ---------------------------------------------------------------- transports

test('polling only: connects, stays on polling, echoes mixed arguments', async () => {
  const s = await connected(client({ transports: ['polling'] }));
  assert.equal(s.io.engine.transport.name, 'polling');
  await echoMixed(s);
  await echoMixed(s);
  assert.equal(s.io.engine.transport.name, 'polling');
});

test('websocket only: connects over WebSocket and echoes mixed arguments', async () => {
  const s = await connected(client({ transports: ['websocket'] }));
  assert.equal(s.io.engine.transport.name, 'websocket');
  await echoMixed(s);
});

test('default transports: starts on polling, upgrades to WebSocket, echoes after the upgrade', async () => {
  const before = (await stats()).upgrades;
  const s = client();
  const upgraded = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no upgrade')), WAIT_MS);
    s.io.on('open', () => {
      assert.equal(s.io.engine.transport.name, 'polling', 'the session opens on polling');
      s.io.engine.once('upgrade', (transport) => {
        clearTimeout(timer);
        resolve(transport.name);
      });
    });
  });
  await connected(s);
  assert.equal(await upgraded, 'websocket');
  assert.equal(s.io.engine.transport.name, 'websocket');
  await echoMixed(s);
  assert.equal((await stats()).upgrades, before + 1, 'the server counted the upgrade');
});

test('events sent before connect, during the upgrade and after it arrive once each, in order', async () => {
  const s = client();
  const seen = [];
  const count = (i) => seen.push(i);
  s.on('message-back', count);
  const backs = collect(s, 'message-back', 300);
  const upgraded = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no upgrade')), WAIT_MS);
    s.io.on('open', () => {
      // The probe succeeded and polling is pausing: these wait in the client
      // and leave over whichever transport ends up carrying them.
      s.io.engine.once('upgrading', () => {
        for (let i = 100; i < 200; i++) s.emit('message', i);
      });
      s.io.engine.once('upgrade', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  });
  for (let i = 0; i < 100; i++) s.emit('message', i); // buffered until connect
  await upgraded;
  assert.equal(s.io.engine.transport.name, 'websocket');
  for (let i = 200; i < 300; i++) s.emit('message', i);
  assert.deepEqual(await backs, [...Array(300).keys()]);
  await new Promise((r) => setTimeout(r, 50));
  s.off('message-back', count);
  await echoMixed(s);
  assert.deepEqual(seen, [...Array(300).keys()], 'nothing delivered twice');
});

// ---------------------------------------------------------------- acks

for (const [name, transports] of TRANSPORTS) {
  test(`${name}: client -> server ack returns the arguments`, async () => {
    const s = await connected(client({ transports }));
    assert.deepEqual(await s.timeout(WAIT_MS).emitWithAck('message-with-ack', { a: [1, 2] }), { a: [1, 2] });
    const all = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no ack')), WAIT_MS);
      s.emit('message-with-ack', 1, 'two', [3], null, { four: 4 }, (...ack) => {
        clearTimeout(timer);
        resolve(ack);
      });
    });
    assert.deepEqual(all, [1, 'two', [3], null, { four: 4 }]);
  });

  test(`${name}: server -> client ack comes back as ack-response`, async () => {
    const s = await connected(client({ transports }));
    const requested = once(s, 'ack-request');
    const response = once(s, 'ack-response');
    s.on('ack-request', (data, ack) => {
      assert.equal(typeof ack, 'function', 'the server asked for an ack');
      ack('ack-value', data, 42);
    });
    s.emit('request-ack', { ask: 'me' }, 'extra arg is not forwarded');
    assert.deepEqual((await requested)[0], { ask: 'me' });
    assert.deepEqual(await response, [['ack-value', { ask: 'me' }, 42]]);
  });
}

for (const [name, transports] of TRANSPORTS) {
  test(`${name}: binary in a client's ack to a server emit reaches the server as bytes`, async () => {
    const s = await connected(client({ transports }));
    s.on('ack-request', (data, ack) => ack(Buffer.from([9, 8, 7]), 'text'));
    const response = once(s, 'ack-response');
    s.emit('request-ack', 'binary please');
    const [[blob, text]] = await response;
    assert.deepEqual(Buffer.from(blob), Buffer.from([9, 8, 7]));
    assert.equal(text, 'text');
  });
}

// ---------------------------------------------------------------- binary

const bytes = (n, seed) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

for (const [name, transports] of TRANSPORTS) {
  test(`${name}: binary attachments both ways, nested and several`, async () => {
    const s = await connected(client({ transports }));
    const a = bytes(1, 1);
    const b = new Uint8Array(bytes(300, 2));
    const c = bytes(70000, 3);
    const empty = Buffer.alloc(0);
    const back = once(s, 'message-back');
    s.emit('message', a, { label: 'nested', inner: { b, list: ['x', c, { empty }] } }, 7);
    const [ra, rObj, r7] = await back;
    assert.ok(Buffer.isBuffer(ra), 'top-level attachment arrives as bytes');
    assert.deepEqual(Buffer.from(ra), a);
    assert.equal(rObj.label, 'nested');
    assert.equal(rObj.inner.list[0], 'x');
    assert.deepEqual(Buffer.from(rObj.inner.b), Buffer.from(b));
    assert.deepEqual(Buffer.from(rObj.inner.list[1]), c);
    assert.equal(Buffer.from(rObj.inner.list[2].empty).length, 0);
    assert.equal(r7, 7);

    // Binary in an ack, both directions at once.
    const acked = await s.timeout(WAIT_MS).emitWithAck('message-with-ack', { blob: bytes(1000, 9) });
    assert.deepEqual(Buffer.from(acked.blob), bytes(1000, 9));
  });
}

for (const [name, transports] of TRANSPORTS) {
  test(`${name}: ten attachments in one packet are fine, an eleventh ends the connection`, async () => {
    // The same bound as the reference parser's default (maxAttachments 10).
    const s = await connected(client({ transports }));
    const ten = Array.from({ length: 10 }, (_, i) => bytes(i + 1, i));
    const back = once(s, 'message-back');
    s.emit('message', ...ten);
    const got = await back;
    assert.equal(got.length, 10);
    got.forEach((b, i) => assert.deepEqual(Buffer.from(b), ten[i]));

    const other = await connected(client({ transports }));
    const disconnected = once(s, 'disconnect');
    s.emit('message', ...ten, bytes(11, 11));
    assert.equal((await disconnected)[0], 'transport close');
    await echoMixed(other);
  });
}

// ---------------------------------------------------------------- text

for (const [name, transports] of TRANSPORTS) {
  test(`${name}: control characters, separators and non-BMP text round-trip exactly`, async () => {
    const s = await connected(client({ transports }));
    let ctl = '';
    for (let i = 0; i < 0x20; i++) ctl += String.fromCharCode(i);
    // \x1e is the polling packet separator; U+2028/2029 are valid in JSON strings.
    const args = [ctl, '\x1e\x1e', '\u2028\u2029\x7f', '\ud83d\ude00\u{10ffff}', { '\x1e key \u00fc': 'v\x00' }];
    const back = once(s, 'message-back');
    s.emit('message', ...args);
    assert.deepEqual(await back, args);
  });

  test(`${name}: a 600 kB string echoes whole`, async () => {
    const s = await connected(client({ transports }));
    const big = 'abcdefghij'.repeat(60000);
    const back = once(s, 'message-back');
    s.emit('message', big, 1);
    const [got, one] = await back;
    assert.equal(got.length, big.length);
    assert.ok(got === big);
    assert.equal(one, 1);
  });

  test(`${name}: a lone surrogate keeps the client connected and arrives as U+FFFD`, async () => {
    // JSON.stringify writes a lone surrogate as the escape \ud800. UTF-8 cannot hold it,
    // so the server delivers U+FFFD in its place (the reference echoes it unchanged).
    const s = await connected(client({ transports }));
    const back = once(s, 'message-back');
    s.emit('message', 'lone \ud800 surrogate', '\udc00', '\ud83d\ude00');
    assert.deepEqual(await back, ['lone \ufffd surrogate', '\ufffd', '\ud83d\ude00']);
    assert.equal(s.connected, true);
  });
}

// ---------------------------------------------------------------- ordering

const N = 1000;

for (const [name, transports] of TRANSPORTS) {
  test(`${name}: ${N} client events sent at once are echoed in order`, async () => {
    const s = await connected(client({ transports }));
    const backs = collect(s, 'message-back', N, 20000);
    for (let i = 0; i < N; i++) s.emit('message', i, `payload-${i}`);
    const got = await backs;
    assert.deepEqual(got, [...Array(N).keys()]);
  });

  test(`${name}: ${N} server emits to a user and a room arrive in order`, async () => {
    const user = `order-${name}`;
    const token = jwt({ sub: user });
    const s = await connected(client({ transports, auth: { token } }));
    const got = collect(s, 'seq', N, 20000);
    // Alternate between the user room and the socket's own room: one stream.
    const bodies = [...Array(N).keys()].map((i) => ({ ...(i % 2 ? { room: s.id } : { userId: user }), event: 'seq', payload: { i } }));
    const answers = await pipelinedEmits(bodies);
    assert.deepEqual(answers, Array(N).fill(1), 'every emit reached the one socket');
    assert.deepEqual((await got).map((p) => p.i), [...Array(N).keys()]);
  });
}

// ---------------------------------------------------------------- namespaces

test('namespaces: /custom connects with its own auth; an unknown one fails, "/" keeps working', async () => {
  const m = new Manager(url, { forceNew: true, reconnection: false, transports: ['websocket'] });
  open.push(m);
  const main = m.socket('/');
  const custom = m.socket('/custom', { auth: { space: 'custom', n: 1 } });
  const unknown = m.socket('/does-not-exist');
  open.push(main, custom, unknown);
  const customAuth = once(custom, 'auth');
  const mainConnected = once(main, 'connect');
  const [err] = await once(unknown, 'connect_error');
  assert.equal(err.message, 'Invalid namespace');
  assert.equal(unknown.connected, false);
  await mainConnected;
  await connected(custom);
  assert.deepEqual((await customAuth)[0], { space: 'custom', n: 1 });
  assert.equal(custom.nsp, '/custom');
  // One Engine.IO session carries both namespaces, and the failure touched neither.
  assert.equal(main.io, custom.io);
  assert.ok(main.connected && custom.connected);
  await echoMixed(main);
  // "/custom" has no message handler: nothing comes back there.
  let echoedOnCustom = false;
  custom.on('message-back', () => (echoedOnCustom = true));
  custom.emit('message', 'x');
  await echoMixed(main);
  assert.equal(echoedOnCustom, false);
});

test('namespaces: a server emit to /custom reaches only the /custom socket', async () => {
  const m = new Manager(url, { forceNew: true, reconnection: false, transports: ['polling'] });
  open.push(m);
  const main = m.socket('/');
  const custom = m.socket('/custom');
  open.push(main, custom);
  await connected(main);
  await connected(custom);
  let onMain = 0;
  main.on('only-custom', () => onMain++);
  const got = once(custom, 'only-custom');
  assert.equal(await emitRoute({ nsp: '/custom', room: custom.id, event: 'only-custom', payload: 'hi' }), 1);
  assert.deepEqual(await got, ['hi']);
  await echoMixed(main); // a round trip on "/" after the emit
  assert.equal(onMain, 0);
});

// ---------------------------------------------------------------- auth

for (const [name, transports] of TRANSPORTS) {
  test(`${name}: the auth event carries the client's auth option`, async () => {
    const s = client({ transports, auth: { token: 'x' } });
    const [auth] = await once(s, 'auth');
    assert.deepEqual(auth, { token: 'x' });
    await connected(s);
    // A token that does not verify still connects, but joins no user room.
    let reached = false;
    s.on('authenticated-only', () => (reached = true));
    await emitRoute({ authenticated: true, event: 'authenticated-only', payload: 1 });
    await echoMixed(s); // a round trip after the emit
    assert.equal(reached, false);
  });
}

test('auth option with a valid token: auth event echoes it and the socket is in user:{sub}', async () => {
  const token = jwt({ sub: 'auth-user' });
  const s = client({ transports: ['websocket'], auth: { token, extra: [1, 2] } });
  const [auth] = await once(s, 'auth');
  assert.deepEqual(auth, { token, extra: [1, 2] });
  await connected(s);
  const got = once(s, 'notification');
  assert.equal(await emitRoute({ userId: 'auth-user', event: 'notification', payload: { id: 'n1' } }), 1);
  assert.deepEqual(await got, [{ id: 'n1' }]);
});
