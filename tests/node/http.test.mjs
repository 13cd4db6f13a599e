// HTTP/1.1 behaviour of the real binary over real sockets: routing, keep-alive,
// pipelining, chunked bodies, Expect: 100-continue, HEAD, limits, timeouts,
// malformed input and graceful shutdown.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, rawRequest, parseResponses } from './lib/server.mjs';

let server;
before(async () => {
  server = await startServer(`
[http]
max_header_bytes = 2048
max_body_bytes = 4096
header_timeout_ms = 400
max_connections = 50
`);
});
after(async () => {
  const r = await server.stop();
  assert.equal(r.code, 0, 'clean exit on SIGTERM');
});

const get = (path, extra = '') => `GET ${path} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;

test('GET /healthz answers {"status":"ok"} as JSON', async () => {
  const res = await fetch(`http://127.0.0.1:${server.port}/healthz`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^application\/json/);
  assert.deepEqual(await res.json(), { status: 'ok' });
});

test('unknown path is 404 and wrong method 405 with Allow, both in the error shape', async () => {
  let res = await fetch(`http://127.0.0.1:${server.port}/nope`);
  assert.equal(res.status, 404);
  assert.deepEqual(Object.keys((await res.json()).error).sort(), ['code', 'message']);
  res = await fetch(`http://127.0.0.1:${server.port}/healthz`, { method: 'DELETE' });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get('allow'), 'GET, HEAD');
  assert.equal((await res.json()).error.code, 'method_not_allowed');
});

test('pipelined requests are answered in order on one connection', async () => {
  const { text } = await rawRequest(server.port, get('/healthz') + get('/missing') + get('/healthz', 'Connection: close\r\n'));
  const res = parseResponses(text);
  assert.deepEqual(res.map((r) => r.status), [200, 404, 200]);
  assert.equal(res[2].headers.connection, 'close');
});

test('keep-alive: several requests sent one after another share a connection', async () => {
  const { text, closed } = await rawRequest(server.port, [get('/healthz'), get('/healthz')], { idleMs: 300 });
  assert.equal(parseResponses(text).length, 2);
  assert.equal(closed, false, 'connection stays open after keep-alive responses');
});

test('HEAD gets the GET headers without a body', async () => {
  const { text } = await rawRequest(server.port, `HEAD /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(text, /Content-Length: 15\r\n/);
  assert.ok(text.endsWith('\r\n\r\n'), 'no body after the head');
});

test('chunked request body is read whole before the answer', async () => {
  const body = '5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n';
  const { text } = await rawRequest(server.port,
    `POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n${body}` + get('/healthz', 'Connection: close\r\n'));
  assert.deepEqual(parseResponses(text).map((r) => r.status), [405, 200]);
});

test('bad chunk size is 400 and the connection closes; the server keeps serving', async () => {
  const { text, closed } = await rawRequest(server.port,
    `POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n`);
  assert.match(text, /^HTTP\/1\.1 400 /);
  assert.match(text, /"code":"bad_request"/);
  assert.equal(closed, true);
  const res = await fetch(`http://127.0.0.1:${server.port}/healthz`);
  assert.equal(res.status, 200);
});

test('Expect: 100-continue gets an interim 100 before the body is sent', async () => {
  const { text } = await rawRequest(server.port, [
    `POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n`,
  ], { idleMs: 400 });
  assert.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\n/);
});

test('Expect with a body over the limit is refused with 413 before the body', async () => {
  const { text, closed } = await rawRequest(server.port,
    `POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n`);
  assert.match(text, /^HTTP\/1\.1 413 /);
  assert.equal(closed, true);
});

test('garbage gets 400 and closes', async () => {
  for (const junk of ['\x00\x01\x02\r\n\r\n', 'HELLO\r\n\r\n', 'GET / HTTP/9.9\r\n\r\n', 'GET /\r\n\r\n', 'GET / HTTP/1.1\r\nBad Header\r\n\r\n']) {
    const { text, closed } = await rawRequest(server.port, junk);
    assert.match(text, /^HTTP\/1\.1 400 /, JSON.stringify(junk));
    assert.equal(closed, true);
  }
  assert.equal((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status, 200);
});

test('oversized headers get 431, oversized URL 414, oversized body 413', async () => {
  let r = await rawRequest(server.port, `GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(4000)}\r\n\r\n`);
  assert.match(r.text, /^HTTP\/1\.1 431 /);
  r = await rawRequest(server.port, `GET /${'a'.repeat(4000)} HTTP/1.1\r\nHost: t\r\n\r\n`);
  assert.match(r.text, /^HTTP\/1\.1 414 /);
  r = await rawRequest(server.port, `POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n${'x'.repeat(5000)}`);
  assert.match(r.text, /^HTTP\/1\.1 413 /);
  const chunk = `${(3000).toString(16)}\r\n${'y'.repeat(3000)}\r\n`;
  r = await rawRequest(server.port, `POST /healthz HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n${chunk}${chunk}0\r\n\r\n`);
  assert.match(r.text, /^HTTP\/1\.1 413 /, 'chunked body over the limit');
  assert.equal((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status, 200);
});

test('a request whose headers never finish gets 408 and the connection closes', async () => {
  const start = Date.now();
  const { text, closed } = await rawRequest(server.port, 'GET /healthz HTTP/1.1\r\nHost: t\r\n', { idleMs: 3000 });
  assert.match(text, /^HTTP\/1\.1 408 /);
  assert.equal(closed, true);
  assert.ok(Date.now() - start >= 350, 'not before the configured timeout');
});

test('connections over max_connections get 503 while existing ones keep working', async () => {
  const net = await import('node:net');
  const held = [];
  for (let i = 0; i < 50; i++) {
    held.push(await new Promise((res) => { const s = net.connect(server.port, '127.0.0.1', () => res(s)); s.on('error', () => {}); }));
  }
  const { text } = await rawRequest(server.port, get('/healthz'));
  assert.match(text, /^HTTP\/1\.1 503 /);
  for (const s of held) s.destroy();
  await new Promise((r) => setTimeout(r, 200));
  assert.equal((await fetch(`http://127.0.0.1:${server.port}/healthz`)).status, 200);
});
