// CORS on the Socket.IO endpoint ([socketio] cors_origins): the polling
// handshake, requests on an open session, errors and preflights, for a list of
// exact origins (answered with credentials) and for "*" (without).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { io } from 'socket.io-client';
import { startServer, CONFORMANCE_PLUGIN } from './lib/server.mjs';

const APP = 'http://app.example';
const EVIL = 'http://evil.example';
const HANDSHAKE = '/socket.io/?EIO=4&transport=polling';

let exact;
let star;
let none;
before(async () => {
  [exact, star, none] = await Promise.all([
    startServer(`[socketio]\ncors_origins = ["http://other.example", "${APP}"]\n${CONFORMANCE_PLUGIN}`),
    startServer(`[socketio]\ncors_origins = ["*"]\n`),
    startServer(''),
  ]);
});
after(async () => {
  for (const s of [exact, star, none]) assert.equal((await s.stop()).code, 0);
});

function request(server, method, path, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: server.port, method, path, headers, agent: false }, (res) => {
      let data = '';
      res.setEncoding('latin1');
      res.on('data', (d) => (data += d));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

// Opens a polling session and returns its sid.
async function handshake(server, headers = {}) {
  const res = await request(server, 'GET', HANDSHAKE, headers);
  assert.equal(res.status, 200);
  assert.equal(res.body[0], '0', 'an Engine.IO open packet');
  return { res, sid: JSON.parse(res.body.slice(1)).sid };
}

test('exact origin: the handshake answers the origin back with credentials', async () => {
  const { res } = await handshake(exact, { Origin: APP });
  assert.equal(res.headers['access-control-allow-origin'], APP);
  assert.equal(res.headers['access-control-allow-credentials'], 'true');
  assert.match(res.headers.vary || '', /\bOrigin\b/i, 'caches must key on Origin');
});

test('exact origin: another origin gets no CORS headers (the handshake itself still works)', async () => {
  for (const origin of [EVIL, 'http://app.example.evil', 'https://app.example', 'http://app.example:8080']) {
    const { res } = await handshake(exact, { Origin: origin });
    assert.equal(res.headers['access-control-allow-origin'], undefined, origin);
    assert.equal(res.headers['access-control-allow-credentials'], undefined, origin);
  }
  const { res } = await handshake(exact);
  assert.equal(res.headers['access-control-allow-origin'], undefined, 'no Origin header, no CORS');
});

test('exact origin: polls, posts and errors on the session carry the headers too', async () => {
  const { sid } = await handshake(exact, { Origin: APP });
  const path = `${HANDSHAKE}&sid=${sid}`;
  const post = await request(exact, 'POST', path, { Origin: APP, 'Content-Type': 'text/plain;charset=UTF-8' }, '40');
  assert.equal(post.status, 200);
  assert.equal(post.body, 'ok');
  assert.equal(post.headers['access-control-allow-origin'], APP);
  assert.equal(post.headers['access-control-allow-credentials'], 'true');
  const poll = await request(exact, 'GET', path, { Origin: APP });
  assert.equal(poll.status, 200);
  assert.match(poll.body, /^40\{"sid":"[^"]+"\}/, 'the namespace CONNECT answer');
  assert.equal(poll.headers['access-control-allow-origin'], APP);

  const unknown = await request(exact, 'GET', `${HANDSHAKE}&sid=nope`, { Origin: APP });
  assert.equal(unknown.status, 400);
  assert.deepEqual(JSON.parse(unknown.body), { code: 1, message: 'Session ID unknown' });
  assert.equal(unknown.headers['access-control-allow-origin'], APP, 'a browser must be able to read the error');
  const foreign = await request(exact, 'POST', path, { Origin: EVIL, 'Content-Type': 'text/plain;charset=UTF-8' }, '1');
  assert.equal(foreign.headers['access-control-allow-origin'], undefined);
});

test('exact origin: preflight is 204 with the allow headers', async () => {
  const res = await request(exact, 'OPTIONS', HANDSHAKE, {
    Origin: APP,
    'Access-Control-Request-Method': 'POST',
    'Access-Control-Request-Headers': 'content-type, x-custom',
  });
  assert.equal(res.status, 204);
  assert.equal(res.body, '');
  assert.equal(res.headers['access-control-allow-origin'], APP);
  assert.equal(res.headers['access-control-allow-credentials'], 'true');
  const methods = res.headers['access-control-allow-methods'].split(',').map((m) => m.trim());
  for (const m of ['GET', 'POST']) assert.ok(methods.includes(m), `${m} in ${methods}`);
  assert.equal(res.headers['access-control-allow-headers'], 'content-type, x-custom');

  const plain = await request(exact, 'OPTIONS', HANDSHAKE, { Origin: APP, 'Access-Control-Request-Method': 'GET' });
  assert.equal(plain.status, 204);
  assert.equal(plain.headers['access-control-allow-origin'], APP);
  assert.ok(plain.headers['access-control-allow-methods'].includes('GET'));

  const foreign = await request(exact, 'OPTIONS', HANDSHAKE, {
    Origin: EVIL,
    'Access-Control-Request-Method': 'POST',
  });
  assert.equal(foreign.headers['access-control-allow-origin'], undefined);
  assert.equal(foreign.headers['access-control-allow-credentials'], undefined);
});

test('"*": any origin is answered with * and never with credentials', async () => {
  for (const origin of [APP, EVIL]) {
    const { res } = await handshake(star, { Origin: origin });
    assert.equal(res.headers['access-control-allow-origin'], '*');
    assert.equal(res.headers['access-control-allow-credentials'], undefined);
  }
  const pre = await request(star, 'OPTIONS', HANDSHAKE, {
    Origin: EVIL,
    'Access-Control-Request-Method': 'POST',
    'Access-Control-Request-Headers': 'content-type',
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers['access-control-allow-origin'], '*');
  assert.equal(pre.headers['access-control-allow-credentials'], undefined);
  assert.ok(pre.headers['access-control-allow-methods'].includes('POST'));
  assert.equal(pre.headers['access-control-allow-headers'], 'content-type');
});

test('no cors_origins: no CORS headers at all', async () => {
  const { res } = await handshake(none, { Origin: APP });
  assert.equal(res.headers['access-control-allow-origin'], undefined);
  const pre = await request(none, 'OPTIONS', HANDSHAKE, { Origin: APP, 'Access-Control-Request-Method': 'POST' });
  assert.equal(pre.headers['access-control-allow-origin'], undefined);
  assert.equal(pre.headers['access-control-allow-methods'], undefined);
});

test('the official client sending an allowed Origin connects and echoes over polling', async () => {
  const s = io(`http://127.0.0.1:${exact.port}`, {
    forceNew: true,
    reconnection: false,
    transports: ['polling'],
    extraHeaders: { Origin: APP },
  });
  try {
    let timer;
    const auth = new Promise((resolve, reject) => {
      s.once('auth', resolve);
      s.once('connect_error', reject);
      timer = setTimeout(() => reject(new Error('no auth event')), 5000);
    });
    await auth.finally(() => clearTimeout(timer));
    const back = new Promise((resolve) => s.once('message-back', (...a) => resolve(a)));
    s.emit('message', 'cors', 1);
    assert.deepEqual(await back, ['cors', 1]);
  } finally {
    s.disconnect();
  }
});
