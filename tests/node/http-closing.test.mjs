// Closing under pressure: WebSockets closed by shutdown get 1001 (going away), and a
// connection whose client stopped reading is closed after idle_timeout_ms even while
// closing (an upgraded connection, or a long poll answered with Connection: close).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';
import { startServer, parseResponses } from './lib/server.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One request on a connection of its own (no pooled keep-alive connection that the server's
// idle timeout may close while the request is being written). Resolves to {status, text}.
function request(url, { method = 'GET', body } = {}) {
  return new Promise((res, rej) => {
    const req = http.request(url, { method, agent: false }, (r) => {
      let text = '';
      r.setEncoding('latin1');
      r.on('data', (d) => (text += d));
      r.on('end', () => res({ status: r.statusCode, text }));
    });
    req.on('error', rej);
    req.end(body);
  });
}

// TCP state of the server's end of the connection from clientPort to serverPort, as the
// kernel reports it (Linux): '01' ESTABLISHED (the server still holds it), '04' FIN_WAIT1
// (closed by the server, unsent data draining), ..., or null when gone.
function serverSideState(serverPort, clientPort) {
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length < 4) continue;
      const local = parseInt(cols[1].split(':').pop(), 16);
      const remote = parseInt(cols[2].split(':').pop(), 16);
      if (local === serverPort && remote === clientPort) return cols[3];
    }
  }
  return null;
}

async function waitFor(pred, ms) {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await sleep(25);
  return pred();
}

test(
  'WebSockets open at SIGTERM are closed with 1001 (going away)',
  async () => {
    const srv = await startServer('');
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/socket.io/?EIO=4&transport=websocket`);
    try {
      await new Promise((res, rej) => {
        ws.once('message', res);
        ws.once('error', rej);
        setTimeout(() => rej(new Error('no open packet')), 5000);
      });
      const closed = new Promise((res) => ws.once('close', (code) => res(code)));
      srv.proc.kill('SIGTERM');
      const code = await Promise.race([closed, sleep(5000).then(() => 'timeout')]);
      assert.deepEqual(await srv.exited, { code: 0, signal: null });
      assert.equal(code, 1001);
    } finally {
      ws.terminate();
      await srv.stop();
    }
  },
);

test(
  'a WebSocket whose client stopped reading is not held once its session has ended',
  async () => {
    const srv = await startServer(
      '[log]\nlevel = "debug"\n[http]\nidle_timeout_ms = 1000\n' +
        '[socketio]\nping_interval_ms = 1500\nping_timeout_ms = 1000\n' +
        '[limits]\nmax_outbox_bytes = 104857600\n[testing]\nemit_routes = true\n',
    );
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/socket.io/?EIO=4&transport=websocket`);
    try {
      const msgs = [];
      ws.on('message', (d) => msgs.push(d.toString().slice(0, 80)));
      ws.on('error', () => {});
      await new Promise((res) => ws.once('open', res));
      ws.send('40');
      assert.ok(await waitFor(() => msgs.some((m) => m.startsWith('40')), 3000), 'connected');
      const sid = JSON.parse(msgs.find((m) => m.startsWith('40')).slice(2)).sid;
      ws._socket.pause(); // never read again
      const clientPort = ws._socket.localPort;
      // About 27 MB for this socket: more than the kernel buffers hold, under the outbox limit.
      const payload = 'x'.repeat(900000);
      for (let i = 0; i < 30; i++) {
        const res = await fetch(`http://127.0.0.1:${srv.port}/testing/emit`, {
          method: 'POST',
          body: JSON.stringify({ room: sid, event: 'e', payload }),
        });
        assert.equal(res.status, 200);
        await res.text();
      }
      // The client answers no ping: the session ends with a ping timeout.
      assert.ok(await waitFor(() => /closed: ping timeout/.test(srv.logs()), 6000), 'ping timeout');
      await sleep(3000); // three times idle_timeout_ms after the session ended
      assert.notEqual(
        serverSideState(srv.port, clientPort),
        '01',
        'the server still holds the connection (ESTABLISHED)',
      );
    } finally {
      ws.terminate();
      await srv.stop();
    }
  },
);

test(
  'a response that closes the connection is still under the write deadline',
  async () => {
    const srv = await startServer(
      '[http]\nidle_timeout_ms = 300\nmax_body_bytes = 33554432\n' +
        '[socketio]\nmax_payload_bytes = 33554432\nping_interval_ms = 20000\n' +
        '[testing]\nengineio_echo_path = "/echo/"\n[limits]\nmax_outbox_bytes = 67108864\n',
    );
    const s = net.connect(srv.port, '127.0.0.1');
    s.on('error', () => {});
    try {
      await new Promise((res, rej) => {
        s.once('connect', res);
        setTimeout(() => rej(new Error('connect timed out')), 5000);
      });
      const base = `http://127.0.0.1:${srv.port}/echo/?EIO=4&transport=polling`;
      const sid = JSON.parse((await request(base)).text.slice(1)).sid;
      s.pause(); // never read the answer
      // A long poll that waits (nothing queued yet), asking to close after its answer.
      s.write(
        `GET /echo/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`,
      );
      await sleep(200);
      // The echo answers that poll with 12 MB: more than the kernel buffers hold. A new
      // connection whose request has not begun within idle_timeout_ms is closed, which a
      // loaded machine can bring about: then nothing was read, and the POST is sent again.
      const post = () => request(`${base}&sid=${sid}`, { method: 'POST', body: '4' + 'a'.repeat(12e6) });
      const res = await post().catch((e) => (['EPIPE', 'ECONNRESET'].includes(e.code) ? post() : Promise.reject(e)));
      assert.equal(res.text, 'ok');
      // The write deadline (idle_timeout_ms without progress) closes it; bounded wait.
      const deadline = Date.now() + 20000;
      while (serverSideState(srv.port, s.localPort) === '01' && Date.now() < deadline) await sleep(50);
      assert.notEqual(
        serverSideState(srv.port, s.localPort),
        '01',
        'the server still holds the connection (ESTABLISHED)',
      );
    } finally {
      s.destroy();
      await srv.stop();
    }
  },
);

// HTTP/1.1 answers in request order: when the client half-closes behind a long poll that is
// still waiting, nothing pipelined after the poll may be answered in its place.
test('a client half-close does not hand a later answer to an earlier pipelined request', async () => {
  const server = await startServer('');
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const t = await (await fetch(`${base}/socket.io/?EIO=4&transport=polling`)).text();
    const sid = JSON.parse(t.slice(1)).sid;
    const sock = net.connect(server.port, '127.0.0.1');
    let out = '';
    sock.on('data', (d) => (out += d.toString('latin1')));
    const closed = new Promise((res) => sock.on('close', res));
    await new Promise((res) => sock.on('connect', res));
    // a long poll (nothing to deliver yet), then a health check, then FIN
    sock.end(
      `GET /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: x\r\n\r\n` +
        'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    await Promise.race([closed, new Promise((res) => setTimeout(res, 3000))]);
    sock.destroy();
    const responses = parseResponses(out);
    // Whatever the server does with the unanswered long poll, the first response on the
    // wire is read by the client as the long poll's answer: it must not be /healthz's.
    if (responses.length) assert.notEqual(responses[0].body, '{"status":"ok"}', out);
  } finally {
    await server.stop();
  }
});
