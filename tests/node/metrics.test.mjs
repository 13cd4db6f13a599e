// GET /metrics: the Prometheus text format, checked by promtool (Debian's prometheus
// package), values that follow what happens, and who may scrape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer } from './lib/server.mjs';
import { connectClient, waitFor } from './lib/auth-helpers.mjs';

async function scrape(port, headers = {}) {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers });
  return { status: res.status, type: res.headers.get('content-type'), text: await res.text() };
}

function value(text, series) {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('the page passes promtool and follows the sockets', async () => {
  const srv = await startServer('');
  try {
    const first = await scrape(srv.port);
    assert.equal(first.status, 200);
    assert.equal(first.type, 'text/plain; version=0.0.4; charset=utf-8');
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: first.text, encoding: 'utf8' });
    assert.equal(lint.error, undefined, 'promtool runs (scripts/install-deps.sh --test installs it)');
    assert.equal(lint.status, 0, `${lint.stdout}${lint.stderr}`);
    assert.equal(value(first.text, 'iogate_socketio_sockets{namespace="/"}'), 0);
    assert.ok(value(first.text, 'process_resident_memory_bytes') > 1e6);
    assert.ok(value(first.text, 'process_open_fds') > 3);
    assert.ok(Math.abs(value(first.text, 'process_start_time_seconds') - Date.now() / 1000) < 600);

    const c = await connectClient(srv.port, { transports: ['websocket'] });
    const second = await scrape(srv.port);
    assert.equal(value(second.text, 'iogate_socketio_sockets{namespace="/"}'), 1);
    assert.equal(value(second.text, 'iogate_socketio_connects_total') - value(first.text, 'iogate_socketio_connects_total'), 1);
    assert.equal(value(second.text, 'iogate_engineio_sessions'), 1);
    c.close();
    await waitFor(async () => value((await scrape(srv.port)).text, 'iogate_socketio_sockets{namespace="/"}') === 0, {
      what: 'the socket gone from the page',
    });
  } finally {
    assert.equal((await srv.stop()).code, 0);
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
