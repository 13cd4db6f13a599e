// Adversarial clients against the HTTP, WebSocket and Engine.IO core: each test drives
// the real binary over raw sockets into a corner (a request timing out behind a pending
// long-poll, pipelining or pinging without ever reading, a reset right after an upgrade
// request, a half-closed client) and checks that the server stays up, bounded and
// correct.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import http from 'node:http';
import { readFileSync, readdirSync } from 'node:fs';
import { startServer } from './lib/server.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Resident memory of a process in KiB (Linux).
// AddressSanitizer's quarantine keeps freed memory, so RSS says little under it.
function sanitized(pid) {
  return readFileSync(`/proc/${pid}/maps`, 'utf8').includes('libasan');
}

function rssKiB(pid) {
  return Number(readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/)[1]);
}

async function connect(port) {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  await new Promise((res, rej) => {
    s.once('connect', res);
    s.once('error', rej);
  });
  return s;
}

// Writes chunk repeatedly until total bytes are sent, the deadline passes or the socket
// closes; waits for drain in between so the client itself stays bounded.
async function pump(s, chunk, total, ms) {
  let sent = 0;
  const end = Date.now() + ms;
  while (sent < total && Date.now() < end && !s.destroyed) {
    const ok = s.write(chunk);
    sent += chunk.length;
    if (!ok) {
      await new Promise((r) => {
        const t = setTimeout(done, Math.max(1, end - Date.now()));
        function done() {
          clearTimeout(t);
          s.off('drain', done);
          s.off('close', done);
          r();
        }
        s.once('drain', done);
        s.once('close', done);
      });
    }
  }
  return sent;
}

// One request on a connection of its own. fetch() pools keep-alive connections, and with a
// short idle_timeout_ms the server may close a pooled one just as a loaded machine's client
// sends the next request on it ("fetch failed").
function request(url, { method = 'GET', body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent: false }, (res) => {
      let text = '';
      res.setEncoding('latin1');
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function pollingHandshake(port, path = '/socket.io/') {
  const res = await fetch(`http://127.0.0.1:${port}${path}?EIO=4&transport=polling`);
  const text = await res.text();
  return JSON.parse(text.slice(1)).sid;
}

const WS_UPGRADE = (path) =>
  `GET ${path}?EIO=4&transport=websocket HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\n` +
  'Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n';

test(
  'a request that times out behind a pending long-poll does not crash the server when more of it arrives',
  async () => {
    const srv = await startServer('[http]\nheader_timeout_ms = 300\n');
    try {
      const sid = await pollingHandshake(srv.port);
      const s = await connect(srv.port);
      s.on('data', () => {});
      // A long-poll GET (stays unanswered), then the start of a second request.
      s.write(`GET /socket.io/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: t\r\n\r\nGET /healthz HTTP/1.1\r\nHo`);
      await sleep(700); // the second request's header deadline passes: 408, queued behind the poll
      s.write('st: t\r\nX-More: 1\r\n\r\n');
      await sleep(500);
      s.destroy();
      assert.equal(srv.proc.exitCode, null, `server exited:\n${srv.logs().slice(-1500)}`);
      assert.equal(srv.proc.signalCode, null, `server killed by a signal:\n${srv.logs().slice(-1500)}`);
      const res = await fetch(`http://127.0.0.1:${srv.port}/healthz`);
      assert.equal(res.status, 200);
    } finally {
      await srv.stop();
    }
  },
);

test(
  'a client that pipelines requests but never reads cannot grow server memory without bound',
  async () => {
    const srv = await startServer('');
    try {
      const before = rssKiB(srv.proc.pid);
      const s = await connect(srv.port);
      s.pause(); // never read a response
      const chunk = Buffer.from('GET /nope HTTP/1.1\r\nHost: t\r\n\r\n'.repeat(2000));
      await pump(s, chunk, 12e6, 8000);
      await sleep(300);
      // The server stops reading once its answers back up: what the client managed to
      // hand over is bounded by the socket buffers, not the 12 MB it tried to send.
      const accepted = s.bytesWritten;
      const grown = rssKiB(srv.proc.pid) - before;
      s.destroy();
      assert.ok(accepted < 8e6, `the server read ${(accepted / 1e6).toFixed(1)} MB of requests`);
      // RSS is meaningful without AddressSanitizer (its quarantine holds freed memory).
      if (!sanitized(srv.proc.pid))
        assert.ok(grown < 64 * 1024, `server memory grew by ${(grown / 1024).toFixed(0)} MiB`);
    } finally {
      await srv.stop();
    }
  },
);

test(
  'a WebSocket client that sends pings but never reads the pongs is held to max_outbox_bytes',
  async () => {
    const srv = await startServer('[limits]\nmax_outbox_bytes = 1048576\n');
    try {
      const before = rssKiB(srv.proc.pid);
      const s = await connect(srv.port);
      s.write(WS_UPGRADE('/socket.io/'));
      s.pause(); // never read: pongs and everything else stay with the server
      const ping = Buffer.concat([Buffer.from([0x89, 0x80 | 125, 1, 2, 3, 4]), Buffer.alloc(125, 0x70)]);
      const chunk = Buffer.concat(Array(1000).fill(ping));
      await pump(s, chunk, 24e6, 8000);
      await sleep(300);
      // The server drops the connection once its pongs pass the limit: the client could
      // not hand over its 24 MB, and the server counted the drop.
      const accepted = s.bytesWritten;
      const grown = rssKiB(srv.proc.pid) - before;
      s.destroy();
      assert.ok(accepted < 20e6, `the server read ${(accepted / 1e6).toFixed(1)} MB of pings`);
      // RSS is meaningful without AddressSanitizer (its quarantine holds freed memory).
      if (!sanitized(srv.proc.pid))
        assert.ok(grown < 24 * 1024, `server memory grew by ${(grown / 1024).toFixed(0)} MiB with a 1 MiB outbox limit`);
    } finally {
      await srv.stop();
    }
  },
);

test(
  'a connection reset right after an upgrade request with trailing bytes does not block shutdown',
  async () => {
    const srv = await startServer('[server]\nshutdown_grace_ms = 300\n');
    let exited = false;
    try {
      // The upgrade request and a masked WebSocket frame ("4x") in one segment, then RST:
      // the server reads both, and its 101 write fails.
      const frame = Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0x34, 0x78]);
      for (let i = 0; i < 8; i++) {
        const s = await connect(srv.port);
        s.write(Buffer.concat([Buffer.from(WS_UPGRADE('/socket.io/')), frame]));
        s.resetAndDestroy();
        await sleep(30);
      }
      await sleep(200);
      srv.proc.kill('SIGTERM');
      // A blocked shutdown never ends; a slow machine may still take seconds.
      const r = await Promise.race([srv.exited, sleep(30000).then(() => 'timeout')]);
      exited = r !== 'timeout';
      assert.notEqual(r, 'timeout', 'SIGTERM did not stop the server within 30 s (grace 300 ms)');
      assert.equal(r.code, 0);
    } finally {
      if (!exited) srv.proc.kill('SIGKILL');
      await srv.stop();
    }
  },
);

test(
  'a client that half-closes after its request still receives the whole response',
  async () => {
    const srv = await startServer(
      '[testing]\nengineio_echo_path = "/echo/"\n[limits]\nmax_outbox_bytes = 67108864\n',
    );
    try {
      const sid = await pollingHandshake(srv.port, '/echo/');
      const url = `http://127.0.0.1:${srv.port}/echo/?EIO=4&transport=polling&sid=${sid}`;
      // About 9 MB queued for the next poll: more than the kernel buffers hold.
      const body = '4' + 'a'.repeat(900000);
      for (let k = 0; k < 10; k++) {
        const res = await fetch(url, { method: 'POST', body });
        assert.equal(await res.text(), 'ok');
      }
      const s = await connect(srv.port);
      s.pause();
      s.end(`GET /echo/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: t\r\n\r\n`); // then FIN
      await sleep(300);
      const parts = [];
      s.on('data', (d) => parts.push(d));
      s.resume();
      await Promise.race([new Promise((r) => s.once('close', r)), sleep(30000)]);
      s.destroy();
      const out = Buffer.concat(parts);
      const headEnd = out.indexOf('\r\n\r\n');
      assert.ok(headEnd > 0, 'a response head arrived');
      const head = out.subarray(0, headEnd).toString('latin1');
      assert.match(head, /^HTTP\/1\.1 200 /);
      const length = Number(/content-length: (\d+)/i.exec(head)[1]);
      assert.ok(length > 8e6);
      assert.equal(out.length - headEnd - 4, length, 'body bytes received');
    } finally {
      await srv.stop();
    }
  },
);

test(
  'a connection whose client stops reading a large response is closed after a deadline',
  async () => {
    const srv = await startServer(
      '[http]\nidle_timeout_ms = 300\nheader_timeout_ms = 300\nbody_timeout_ms = 300\n' +
        '[testing]\nengineio_echo_path = "/echo/"\n[limits]\nmax_outbox_bytes = 67108864\n',
    );
    const fds = () => readdirSync(`/proc/${srv.proc.pid}/fd`).length;
    let s;
    try {
      const baseline = fds();
      const open = await request(`http://127.0.0.1:${srv.port}/echo/?EIO=4&transport=polling`);
      const sid = JSON.parse(open.text.slice(1)).sid;
      const url = `http://127.0.0.1:${srv.port}/echo/?EIO=4&transport=polling&sid=${sid}`;
      const body = '4' + 'a'.repeat(900000);
      for (let k = 0; k < 10; k++) assert.equal((await request(url, { method: 'POST', body })).text, 'ok');
      s = await connect(srv.port);
      s.pause(); // never read the ~9 MB answer
      s.write(`GET /echo/?EIO=4&transport=polling&sid=${sid} HTTP/1.1\r\nHost: t\r\n\r\n`);
      // Every other connection is idle and closes after 300 ms; without a deadline for a
      // stuck write this one would stay forever.
      const end = Date.now() + 30000;
      while (fds() !== baseline && Date.now() < end) await sleep(50);
      assert.equal(fds(), baseline, 'the server still holds a connection whose client stopped reading');
    } finally {
      s?.destroy();
      await srv.stop();
    }
  },
);
