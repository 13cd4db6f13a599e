// Bytes buffered behind a request that is answered and then ends the connection: a refused
// upgrade, a request that closes, a parse error, a timeout, a half-close, a 100-continue
// refused before its body. Whatever follows must be dropped, never parsed, and the server
// must stay up (under the ASan build a fault aborts the process). Also the header rules
// that keep a proxy in front and this server reading the same request: no obs-fold, no
// transfer coding but a single final "chunked".
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, rawRequest, parseResponses } from './lib/server.mjs';

let srv;
before(async () => {
  srv = await startServer(
    '[http]\nheader_timeout_ms = 2000\nmax_body_bytes = 1024\n[socketio]\nping_interval_ms = 300\nping_timeout_ms = 10000\n',
  );
});
after(async () => {
  const r = await srv.stop();
  assert.equal(r.code, 0, `server exit ${JSON.stringify(r)}\n${srv.logs()}`);
});

async function assertAlive(what) {
  assert.equal(srv.proc.exitCode, null, `server died after ${what}:\n${srv.logs()}`);
  assert.equal(srv.proc.signalCode, null, `server killed after ${what}:\n${srv.logs()}`);
  const res = await fetch(`http://127.0.0.1:${srv.port}/healthz`);
  assert.equal(res.status, 200, `health check after ${what}`);
}

const UPGRADE_HEAD = 'Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n';
const WS_HEADERS = 'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
const HEALTH = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';

// Sends `data` in one write and returns the responses, asserting that the server closed.
async function exchange(data, what) {
  const { text, closed } = await rawRequest(srv.port, data, { idleMs: 5000 });
  assert.ok(closed, `${what}: the server did not close the connection: ${JSON.stringify(text)}`);
  return parseResponses(text);
}

for (const [name, target] of [
  ['a path with no upgrade', '/healthz'],
  ['a REST path that does not exist', '/nowhere'],
  ['an Engine.IO version the server does not speak', '/socket.io/?EIO=3&transport=websocket'],
  ['an unknown session id', '/socket.io/?EIO=4&transport=websocket&sid=nope'],
]) {
  test(`a refused upgrade (${name}) with bytes behind it is answered once and closed`, async () => {
    for (const tail of ['X', HEALTH, `${HEALTH}${HEALTH}`, '\x81\x85abcd\x00\x00\x00\x00\x00']) {
      const responses = await exchange(`GET ${target} HTTP/1.1\r\n${UPGRADE_HEAD}${WS_HEADERS}\r\n${tail}`, name);
      assert.equal(responses.length, 1, `one answer for ${JSON.stringify(tail)}: ${JSON.stringify(responses)}`);
      assert.equal(responses[0].status, 400);
      assert.equal(responses[0].headers.connection, 'close');
      await assertAlive(`${name} + ${JSON.stringify(tail)}`);
    }
  });
}

test('a refused upgrade arriving in pieces, the tail after the answer, still closes', async () => {
  const { text, closed } = await rawRequest(
    srv.port,
    [`GET /healthz HTTP/1.1\r\n${UPGRADE_HEAD}\r\n`],
    { idleMs: 5000 },
  );
  assert.ok(closed);
  assert.equal(parseResponses(text)[0].status, 400);
  await assertAlive('an upgrade refused on its own');
});

test('an upgrade pipelined behind an answered request is served; behind a pending one it is refused', async () => {
  // Behind an answered request the upgrade is at the head of the queue: it may switch.
  const { text } = await rawRequest(
    srv.port,
    `${HEALTH}GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n${UPGRADE_HEAD}${WS_HEADERS}\r\n`,
    // Done once both answers are in, however long a busy machine takes for them.
    { idleMs: 30000, waitClose: false, until: (t) => parseResponses(t).length >= 2 },
  );
  assert.deepEqual(parseResponses(text).map((r) => r.status), [200, 101], text);
  // Behind a long poll that waits (answered at the next ping), it is refused after it.
  const hs = await (await fetch(`http://127.0.0.1:${srv.port}/socket.io/?EIO=4&transport=polling`)).text();
  const sid = JSON.parse(hs.slice(1)).sid;
  const responses = await exchange(
    `GET /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: x\r\n\r\n` +
      `GET /socket.io/?EIO=4&transport=websocket&sid=${sid} HTTP/1.1\r\n${UPGRADE_HEAD}${WS_HEADERS}\r\n${HEALTH}X`,
    'upgrade behind a long poll',
  );
  assert.deepEqual(responses.map((r) => r.status), [200, 400], JSON.stringify(responses));
  assert.equal(responses[0].body, '2', 'the long poll is answered by the ping');
  await assertAlive('a pipelined upgrade');
});

test('a request that closes the connection: nothing pipelined behind it is answered', async () => {
  const responses = await exchange(
    `GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n${HEALTH}${HEALTH}garbage`,
    'Connection: close',
  );
  assert.equal(responses.length, 1);
  assert.equal(responses[0].status, 200);
  await assertAlive('Connection: close with a tail');
});

test('a parse error after answered requests: answers in order, one 400, nothing after it', async () => {
  const responses = await exchange(`${HEALTH}${HEALTH}GET / HTTP/1.1\r\nBad Header\r\n\r\n${HEALTH}`, 'parse error');
  assert.deepEqual(responses.map((r) => r.status), [200, 200, 400]);
  await assertAlive('a parse error with a tail');
});

test('a request refused before its body (413 on Content-Length, 100-continue) drops the body and what follows', async () => {
  const body = 'a'.repeat(4096);
  for (const expect of ['', 'Expect: 100-continue\r\n']) {
    const responses = await exchange(
      `POST /x HTTP/1.1\r\nHost: x\r\n${expect}Content-Length: ${body.length}\r\n\r\n${body}${HEALTH}`,
      `413 ${expect}`,
    );
    assert.equal(responses.length, 1, JSON.stringify(responses));
    assert.equal(responses[0].status, 413);
  }
  await assertAlive('413 with a body behind it');
});

test('a request whose headers time out: 408 after the answered ones, and late bytes are dropped', async () => {
  const net = await import('node:net');
  const s = net.connect(srv.port, '127.0.0.1');
  let out = '';
  s.on('data', (d) => (out += d.toString('latin1')));
  const closed = new Promise((res) => s.on('close', res));
  s.on('error', () => {});
  await new Promise((res) => s.on('connect', res));
  s.write(`${HEALTH}GET /healthz HTTP/1.1\r\nHo`);
  // The 408 (after the first answer) is the event to wait for; then the rest arrives late.
  const deadline = Date.now() + 30000;
  while (!out.includes(' 408 ') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.ok(out.includes(' 408 '), out);
  s.write(`st: x\r\n\r\n${HEALTH}`);
  await closed;
  assert.deepEqual(parseResponses(out).map((r) => r.status), [200, 408]);
  await assertAlive('a timed-out request with late bytes');
});

test('a half-close behind an answered request and a partial one closes cleanly', async () => {
  const net = await import('node:net');
  const s = net.connect(srv.port, '127.0.0.1');
  let out = '';
  s.on('data', (d) => (out += d.toString('latin1')));
  const closed = new Promise((res) => s.on('close', res));
  s.on('error', () => {});
  await new Promise((res) => s.on('connect', res));
  s.end(`${HEALTH}GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n${UPGRADE_HEAD}`);
  await closed;
  assert.deepEqual(parseResponses(out).map((r) => r.status), [200]);
  await assertAlive('a half-close with a partial upgrade');
});

test('obsolete line folding is refused in any header, Transfer-Encoding included', async () => {
  for (const head of [
    'Transfer-Encoding:\r\n chunked\r\n',
    'Transfer-Encoding: \r\n\tchunked\r\n',
    'X-Long: a\r\n b\r\n',
  ]) {
    const responses = await exchange(`POST /x HTTP/1.1\r\nHost: x\r\n${head}\r\n0\r\n\r\n${HEALTH}`, head);
    assert.equal(responses.length, 1, JSON.stringify({ head, responses }));
    assert.equal(responses[0].status, 400, head);
  }
  // Split so that the fold starts a new read of the server's.
  const { text } = await rawRequest(
    srv.port,
    ['POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n', ' chunked\r\n\r\n0\r\n\r\n'],
    { idleMs: 5000 },
  );
  assert.equal(parseResponses(text)[0]?.status, 400, text);
  await assertAlive('obs-fold');
});

test('an empty header value is not a fold, wherever the reads split it', async () => {
  for (const head of ['X-Empty:\r\nX-Next: y\r\n', 'X-Empty:   \r\nX-Also:\r\nX-Next: y\r\n', 'X-Empty:\r\n']) {
    const last = `GET /healthz HTTP/1.1\r\nHost: x\r\n${head}Connection: close\r\n\r\n`;
    const responses = await exchange(`${HEALTH}${last}`, head);
    assert.deepEqual(responses.map((r) => r.status), [200, 200], head);
  }
  const { text, closed } = await rawRequest(
    srv.port,
    ['GET /healthz HTTP/1.1\r\nHost: x\r\nX-Empty:\r\n', 'Connection: close\r\n\r\n'],
    { idleMs: 5000 },
  );
  assert.ok(closed, text);
  assert.equal(parseResponses(text)[0]?.status, 200, text);
});

test('transfer codings: only a single final "chunked" is accepted', async () => {
  const cases = [
    ['Transfer-Encoding: gzip, chunked\r\n', 501],
    ['Transfer-Encoding: chunked, chunked\r\n', 400],
    ['Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n', 400],
    ['Transfer-Encoding: identity\r\n', 400],
    ['Transfer-Encoding: chunked, gzip\r\n', 400],
    ['Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n', 501],
    ['Transfer-Encoding: ,\r\n', 400],
  ];
  for (const [head, status] of cases) {
    const responses = await exchange(`POST /x HTTP/1.1\r\nHost: x\r\n${head}\r\n0\r\n\r\n${HEALTH}`, head);
    assert.equal(responses.length, 1, JSON.stringify({ head, responses }));
    assert.equal(responses[0].status, status, head);
  }
  // The plain form still works (and a header value split across reads is not a fold).
  const { text } = await rawRequest(
    srv.port,
    ['POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chun', 'ked\r\nX-A: 1\r\n\r\n', '3\r\nabc\r\n0\r\n\r\n'],
    { idleMs: 1500, waitClose: false },
  );
  assert.equal(parseResponses(text)[0]?.status, 405, text);
  await assertAlive('transfer codings');
});
