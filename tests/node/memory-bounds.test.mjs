// What unauthenticated clients can make the server hold, bounded in total: a long poll
// with a body, a binary packet whose attachments never come, sessions that never join a
// namespace, and one budget for every byte held on behalf of clients ([limits]
// max_client_bytes). Memory is read through the server's own counters (GET
// /testing/stats), which mean the same under AddressSanitizer as without it.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startServer, parseResponses } from './lib/server.mjs';
import { connectClient, waitFor, sleep } from './lib/auth-helpers.mjs';

const EIO_BAD_REQUEST = '{"code":3,"message":"Bad request"}';
const EPISODE_LINE = /shedding \(.*\); logged once until under half/g;

const servers = [];
const sockets = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) {
    const r = await s.stop();
    assert.equal(r.code, 0, `clean exit:\n${s.logs().slice(-3000)}`);
  }
});

async function serve(config) {
  const s = await startServer(`${config}\n[testing]\nemit_routes = true\n`);
  servers.push(s);
  return s;
}

async function stats(srv) {
  const res = await fetch(`http://127.0.0.1:${srv.port}/testing/stats`);
  assert.equal(res.status, 200);
  return res.json();
}

// A raw connection (optionally from another loopback source address) that collects what
// the server sends; `responses()` parses it, `closed` settles when the server closes (`gone`).
async function connect(port, { localAddress } = {}) {
  const s = net.connect({ port, host: '127.0.0.1', localAddress });
  sockets.push(s);
  s.on('error', () => {});
  let text = '';
  s.on('data', (d) => (text += d.toString('latin1')));
  s.gone = new Promise((res) => s.on('close', res));
  s.responses = () => parseResponses(text);
  s.text = () => text;
  await new Promise((res, rej) => {
    s.once('connect', res);
    s.once('error', rej);
  });
  return s;
}

// Writes data on a fresh connection and waits for `count` complete responses.
async function exchange(port, data, { count = 1, localAddress, timeoutMs = 10000 } = {}) {
  const s = await connect(port, { localAddress });
  for (const chunk of [].concat(data)) s.write(chunk);
  await waitFor(() => complete(s, count), { timeoutMs, what: `${count} response(s)` });
  return s;
}

// True once the connection holds `count` responses whose bodies arrived whole.
function complete(s, count) {
  const all = s.responses();
  if (all.length < count) return false;
  const last = all[count - 1];
  return last.body.length === Number(last.headers['content-length'] ?? 0);
}

const get = (path, extra = '') => `GET ${path} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;
const eio = (query) => `/socket.io/?EIO=4&transport=polling${query}`;

async function handshake(port, { localAddress } = {}) {
  const s = await exchange(port, get(eio(''), 'Connection: close\r\n'), { localAddress });
  const [r] = s.responses();
  return { status: r.status, body: r.body, sid: r.status === 200 ? JSON.parse(r.body.slice(1)).sid : null };
}

async function post(port, sid, body) {
  const res = await fetch(`http://127.0.0.1:${port}${eio(`&sid=${sid}`)}`, {
    method: 'POST',
    headers: { 'content-type': 'text/plain;charset=UTF-8' },
    body,
  });
  return { status: res.status, text: await res.text() };
}

// A polling session that joined the main namespace and took its CONNECT reply.
async function joinedSession(port) {
  const { sid } = await handshake(port);
  assert.equal((await post(port, sid, '40')).text, 'ok');
  const s = await exchange(port, get(eio(`&sid=${sid}`), 'Connection: close\r\n'));
  assert.match(s.responses()[0].body, /^40\{"sid":/);
  return sid;
}

// A long poll left pending; resolves with its body (and when it came) once answered.
async function longPoll(port, sid) {
  const s = await connect(port);
  const started = Date.now();
  s.write(get(eio(`&sid=${sid}`)));
  return {
    started,
    answer: waitFor(() => complete(s, 1) && { body: s.responses()[0].body, at: Date.now() }, {
      timeoutMs: 15000,
      what: 'the long poll to be answered',
    }),
  };
}

const placeholder = (n) => `{"_placeholder":true,"num":${n}}`;
const binaryHeader = (n) => `45${n}-["upload",${placeholder(0)}]`;
const attachment = (bytes) => 'b' + Buffer.alloc(bytes, 0x61).toString('base64');

// ------------------------------------------------------------------ fixed bodies

test('Engine.IO 400 bodies are the JSON text exactly, with no trailing NUL', async () => {
  const srv = await serve('');
  const check = (s, what) => {
    const raw = s.text();
    const [r] = s.responses();
    assert.equal(r.status, 400, what);
    assert.equal(r.headers['content-length'], String(EIO_BAD_REQUEST.length), what);
    assert.ok(raw.endsWith(`\r\n\r\n${EIO_BAD_REQUEST}`), `${what}: ${JSON.stringify(raw.slice(-60))}`);
    assert.ok(!raw.includes('\0'), `${what}: a NUL byte in the answer`);
  };
  // A second GET while one is pending.
  let { sid } = await handshake(srv.port);
  const pending = await connect(srv.port);
  pending.write(get(eio(`&sid=${sid}`)));
  await sleep(100);
  check(await exchange(srv.port, get(eio(`&sid=${sid}`), 'Connection: close\r\n')), 'overlapping GET');
  // A binary POST body, which Engine.IO v4 polling does not take.
  ({ sid } = await handshake(srv.port));
  const octets = `POST ${eio(`&sid=${sid}`)} HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: 2\r\nConnection: close\r\n\r\n40`;
  check(await exchange(srv.port, octets), 'octet-stream POST');
  // A payload that does not decode.
  ({ sid } = await handshake(srv.port));
  const bad = `POST ${eio(`&sid=${sid}`)} HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\n9zz`;
  check(await exchange(srv.port, bad), 'undecodable payload');
});
