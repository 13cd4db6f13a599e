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

// ------------------------------------------------------------------ long polls with bodies

test('a long-poll GET with a body is refused at once and its body is not kept', async () => {
  const srv = await serve('');
  for (const framing of ['content-length', 'chunked']) {
    const { sid } = await handshake(srv.port);
    const body = Buffer.alloc(1000000, 0x78);
    const head =
      framing === 'chunked'
        ? get(eio(`&sid=${sid}`), 'Transfer-Encoding: chunked\r\n')
        : get(eio(`&sid=${sid}`), `Content-Length: ${body.length}\r\n`);
    const data =
      framing === 'chunked'
        ? [head, `${body.length.toString(16)}\r\n`, body, '\r\n0\r\n\r\n']
        : [head, body];
    const s = await exchange(srv.port, data);
    const [r] = s.responses();
    assert.equal(r.status, 400, framing);
    assert.equal(r.body, EIO_BAD_REQUEST);
    // Not kept with a pending poll: nothing is left held for clients but this request's
    // own head once it is answered.
    const st = await stats(srv);
    assert.ok(st.clientBytes < 16384, `${st.clientBytes} bytes still held (${framing})`);
    // The session ended, as after an overlapping poll.
    const again = await exchange(srv.port, get(eio(`&sid=${sid}`)));
    assert.equal(again.responses()[0].body, '{"code":1,"message":"Session ID unknown"}');
  }
});

test('a head of many short headers is held to max_header_bytes, its index included', async () => {
  const srv = await serve('');
  // 2,000 short headers: 11 KB of text, but an index of 32 KB.
  const many = (n) => Array.from({ length: n }, (_, i) => `h${i}:1\r\n`).join('');
  const s = await exchange(srv.port, get('/healthz', many(2000)));
  assert.equal(s.responses()[0].status, 431);
  const ok = await exchange(srv.port, get('/healthz', many(20)));
  assert.equal(ok.responses()[0].status, 200);
});

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

// ------------------------------------------------------------------ pending attachments

test('a binary packet whose last attachment never comes is dropped at attachment_timeout_ms', async () => {
  const srv = await serve('[socketio]\nattachment_timeout_ms = 400\n');
  const sid = await joinedSession(srv.port);
  // Ten attachments announced, nine sent.
  const parts = [binaryHeader(10), ...Array.from({ length: 9 }, () => attachment(1000))];
  assert.equal((await post(srv.port, sid, parts.join('\x1e'))).text, 'ok');
  const held = await stats(srv);
  assert.ok(held.clientBytes >= 9000, `the pending packet is charged: ${held.clientBytes}`);
  const poll = await longPoll(srv.port, sid);
  const { body, at } = await poll.answer;
  assert.equal(body, '1', 'the server closed the session');
  assert.ok(at - poll.started >= 200, `closed after ${at - poll.started} ms, before the deadline`);
  await waitFor(async () => (await stats(srv)).sessions === 0, { what: 'the session to go' });
  const st = await stats(srv);
  assert.equal(st.binaryPacketsDropped, 1);
  assert.ok(st.clientBytes < 16384, `${st.clientBytes} bytes still held`);
});

test('a binary packet past max_binary_packet_bytes closes its client', async () => {
  const srv = await serve('[socketio]\nmax_binary_packet_bytes = 8192\n');
  const sid = await joinedSession(srv.port);
  const poll = await longPoll(srv.port, sid);
  assert.equal((await post(srv.port, sid, binaryHeader(10))).text, 'ok');
  for (let i = 0; i < 2; i++) assert.equal((await post(srv.port, sid, attachment(3000))).text, 'ok');
  assert.equal((await stats(srv)).binaryPacketsDropped, 0); // 6,000 bytes and the text: fine
  await post(srv.port, sid, attachment(3000)); // past 8,192
  assert.equal((await poll.answer).body, '1', 'the server closed the session');
  const st = await stats(srv);
  assert.equal(st.binaryPacketsDropped, 1);
  assert.ok(st.clientBytes < 16384, `${st.clientBytes} bytes still held`);
});

// ------------------------------------------------------------------ sessions that never join

test('handshakes past the unjoined bounds, per address and in all, are refused with 503 and counted', async () => {
  const srv = await serve('[socketio]\nmax_unjoined_per_address = 3\nmax_unjoined_sessions = 5\n');
  const sids = [];
  for (let i = 0; i < 3; i++) {
    const h = await handshake(srv.port);
    assert.equal(h.status, 200);
    sids.push(h.sid);
  }
  // The fourth from 127.0.0.1, over polling and over WebSocket.
  const refused = await handshake(srv.port);
  assert.equal(refused.status, 503);
  assert.deepEqual(JSON.parse(refused.body), {
    error: {
      code: 'service_unavailable',
      message: 'too many sessions from this address waiting to join a namespace',
    },
  });
  const ws = await exchange(
    srv.port,
    'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n' +
      'Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  assert.equal(ws.responses()[0].status, 503);
  await ws.gone; // and the connection closes
  // Another address has room until the total is reached.
  for (let i = 0; i < 2; i++)
    assert.equal((await handshake(srv.port, { localAddress: '127.0.0.2' })).status, 200);
  const full = await handshake(srv.port, { localAddress: '127.0.0.3' });
  assert.equal(full.status, 503);
  assert.match(full.body, /too many sessions waiting to join a namespace/);
  let st = await stats(srv);
  assert.equal(st.unjoined, 5);
  assert.equal(st.handshakesRefused, 3);
  // A session that joins leaves the count: room for one more.
  assert.equal((await post(srv.port, sids[0], '40')).text, 'ok');
  st = await stats(srv);
  assert.equal(st.unjoined, 4);
  assert.equal((await handshake(srv.port)).status, 200);
  assert.equal((await handshake(srv.port)).status, 503); // 127.0.0.1 is at 3 again
  const refusedClient = await connectClient(srv.port, { transports: ['websocket'] }).catch((e) => e);
  assert.ok(refusedClient instanceof Error, 'a client is refused while the bounds are reached');
  // With room again, clients connect as ever: counted from the handshake to their join.
  for (const sid of sids.slice(1)) assert.equal((await post(srv.port, sid, '40')).text, 'ok');
  const c = await connectClient(srv.port, { transports: ['websocket'] });
  assert.equal(c.socket.connected, true);
  st = await stats(srv);
  assert.equal(st.unjoined, 3);
  assert.equal(st.handshakesRefused, 5);
  c.close();
});

test('an unjoined session closed by the server goes at once and leaves the count', async () => {
  const srv = await serve('[socketio]\nconnect_timeout_ms = 300\n');
  const { sid } = await handshake(srv.port);
  // Something queued that the client never polls: a CONNECT_ERROR.
  assert.equal((await post(srv.port, sid, '40/nowhere,')).text, 'ok');
  const before = await stats(srv);
  // No last poll is waited for (it would be ping interval + timeout, 45 s).
  await waitFor(async () => (await stats(srv)).sessions === 0, {
    timeoutMs: 5000,
    what: 'the timed-out session to be freed',
  });
  assert.equal(before.unjoined, 1);
  assert.equal((await stats(srv)).unjoined, 0);
});

// ------------------------------------------------------------------ the global budget

test('past max_client_bytes request bodies get 503, the server stays up and logs once per episode', async () => {
  const srv = await serve('[limits]\nmax_client_bytes = 1048576\n');
  for (let episode = 1; episode <= 2; episode++) {
    // Six uploads of which 300,000 bytes arrive, and the rest never does.
    const conns = [];
    for (let i = 0; i < 6; i++) {
      const s = await connect(srv.port);
      s.write(`POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 500000\r\n\r\n`);
      s.write(Buffer.alloc(300000, 0x41));
      conns.push(s);
    }
    await waitFor(() => conns.filter((s) => s.responses().length).length >= 2, {
      what: 'uploads refused',
    });
    await sleep(200);
    const answered = conns.filter((s) => s.responses().length);
    for (const s of answered) {
      assert.equal(s.responses()[0].status, 503);
      assert.equal(JSON.parse(s.responses()[0].body).error.code, 'service_unavailable');
      await s.gone;
    }
    assert.ok(answered.length < 6, 'the uploads under the budget are still being received');
    const health = await fetch(`http://127.0.0.1:${srv.port}/healthz`);
    assert.equal(health.status, 200);
    const st = await stats(srv);
    assert.ok(st.clientBytes <= 1048576, `${st.clientBytes} bytes held`);
    assert.ok(st.clientBytesShed >= answered.length);
    assert.equal(st.clientBytesEpisodes, episode);
    assert.equal(srv.logs().match(EPISODE_LINE)?.length, episode, srv.logs().slice(-2000));
    // The clients go; the total falls back and the episode ends.
    for (const s of conns) s.destroy();
    await waitFor(async () => (await stats(srv)).clientBytes < 65536, { what: 'bytes released' });
  }
  assert.equal(srv.proc.exitCode, null);
});

test('past max_client_bytes a WebSocket message still arriving closes its connection with 1013', async () => {
  const srv = await serve('[limits]\nmax_client_bytes = 1048576\n');
  // Three sessions each send 400,000 bytes of a 900,000-byte text frame, and no more.
  const conns = [];
  for (let i = 0; i < 3; i++) {
    const s = await connect(srv.port);
    s.write(
      'GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n' +
        'Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    await waitFor(() => s.text().includes('"sid"'), { what: 'the open packet' });
    const head = Buffer.from([0x81, 0x80 | 127, 0, 0, 0, 0, 0, 0x0d, 0xbb, 0xa0, 0, 0, 0, 0]);
    s.write(Buffer.concat([head, Buffer.alloc(400000, 0x34)])); // mask 0: "444..."
    conns.push(s);
  }
  const tryAgainLater = (s) => s.text().includes('\x88\x0d\x03\xf5'); // close 1013 "server busy"
  await waitFor(() => conns.some(tryAgainLater), { what: 'a close with 1013' });
  const closed = conns.filter(tryAgainLater);
  assert.ok(closed.length < 3, 'the messages under the budget are still being received');
  for (const s of closed) await s.gone;
  const st = await stats(srv);
  assert.ok(st.clientBytes <= 1048576, `${st.clientBytes} bytes held`);
  assert.ok(st.clientBytesShed >= 1);
  for (const s of conns) s.destroy();
  await waitFor(async () => (await stats(srv)).clientBytes < 65536, { what: 'bytes released' });
});

test('past max_client_bytes sessions over their share are dropped, and a reading client is not', async () => {
  const srv = await serve('[limits]\nmax_client_bytes = 1048576\n');
  // Four polling sessions that joined and then never poll again: their outboxes grow.
  for (let i = 0; i < 4; i++) await joinedSession(srv.port);
  const reader = await connectClient(srv.port, { transports: ['websocket'] });
  const payload = JSON.stringify('x'.repeat(100000));
  let delivered = 0;
  for (let i = 0; i < 16; i++) {
    const res = await fetch(`http://127.0.0.1:${srv.port}/testing/emit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"event":"big","payload":${payload}}`,
    });
    if (res.status === 200) delivered++;
    else assert.equal(res.status, 503);
  }
  await waitFor(async () => (await stats(srv)).slowConsumersDropped === 4, {
    what: 'the four silent sessions to be dropped',
  });
  await waitFor(() => reader.received('big').length === delivered, { what: 'every emit to arrive' });
  assert.ok(delivered >= 8, `only ${delivered} of 16 emits were taken`);
  assert.equal(reader.socket.connected, true);
  assert.equal(reader.disconnects.length, 0);
  const st = await stats(srv);
  assert.ok(st.clientBytesShed >= 4);
  assert.ok(st.clientBytes < 65536, `${st.clientBytes} bytes still held`);
  // One warning per episode (the total may fall under half between two drops).
  assert.ok(st.clientBytesEpisodes >= 1);
  assert.equal(srv.logs().match(EPISODE_LINE)?.length, st.clientBytesEpisodes);
  reader.close();
});
