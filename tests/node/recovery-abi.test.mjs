// The connection state recovery entries of ABI 1.3, through the test plugin
// tests/plugins/recovery.c: what init may and may not register, the `recovered` flag of a
// connection, and a store-backed source answering a client that comes back after a restart:
// its missed events first, in order, then the live ones that waited, each once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from './lib/events.mjs';
import {
  TEST_PLUGINS,
  token,
  startRecoveryServer,
  recoveringClient,
  post,
  metrics,
  waitMetrics,
  cutAndWaitKept,
  reconnect,
} from './lib/recovery-helpers.mjs';

const report = async (port) => (await fetch(`http://127.0.0.1:${port}/recovery/report`)).json();

test('init: a source needs a valid name and key, once; only events the plugin registered', async () => {
  const srv = await startRecoveryServer();
  try {
    const r = await report(srv.port);
    assert.equal(r.unknownEvent, -4, 'set_recoverable of an event not its own: IOG_ENOENT');
    assert.equal(r.badName, -1, 'a name outside [A-Za-z0-9_.:-]: IOG_EINVAL');
    assert.equal(r.badSource, -1, 'a cursor_key outside it: IOG_EINVAL');
    assert.equal(r.duplicate, -3, 'a second source for one event: IOG_EEXIST');
    assert.deepEqual(await post(srv.port, '/recovery/mode?mode=normal'), { result: -5 }, 'after init: IOG_ESTATE');
  } finally {
    await srv.stop();
  }
});

test('with recovery off the entries succeed and nothing is kept', async () => {
  const srv = await startRecoveryServer({ recovery: false });
  try {
    const r = await report(srv.port);
    assert.equal(r.duplicate, -3);
    const client = await recoveringClient(srv.port, () => token('u1'));
    const story = once(client.socket, 'story');
    await post(srv.port, '/recovery/story?user=u1&text=one');
    assert.equal((await story).length, 1, 'no offset');
    assert.equal((await report(srv.port)).lastRecovered, 0);
    await client.close();
  } finally {
    await srv.stop();
  }
});

test('after a restart the store replays what the client missed, then what waited, each once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'iogate-recovery-'));
  const plugins = `[plugins]\ndir = "${TEST_PLUGINS}"\nload = ["recovery"]\n[plugin.recovery]\nfile = "${join(dir, 'stories')}"\n`;
  let srv = await startRecoveryServer({ extra: plugins });
  try {
    const client = await recoveringClient(srv.port, () => token('u1'));
    const { socket } = client;
    const oldId = socket.id;
    const first = once(socket, 'story');
    await post(srv.port, '/recovery/story?user=u1&text=s1');
    const [, offset] = await first;
    assert.match(offset, /~story=1$/, 'the offset carries the source cursor');
    await cutAndWaitKept(srv.port, client);
    const port = srv.port;
    await srv.stop();
    srv = await startRecoveryServer({ extra: plugins, port });
    await post(srv.port, '/recovery/story?user=u1&text=s2'); // missed: nobody here to get it
    await post(srv.port, '/recovery/story?user=u2&text=not-mine');
    await post(srv.port, '/recovery/mode?mode=hold');
    await reconnect(client);
    assert.equal(socket.recovered, false, 'another incarnation: the session is not here');
    assert.notEqual(socket.id, oldId);
    const asked = await report(srv.port);
    assert.equal(asked.held, 1);
    assert.equal(asked.event, 'story');
    assert.equal(asked.after, '1');
    assert.equal(asked.user, 'u1');
    assert.equal(asked.maxEvents, 1000);
    assert.ok(asked.notBeforeMs > Date.now() - 130000 && asked.notBeforeMs < Date.now() - 110000);
    // A live story while the replay runs: it waits, and is not given twice.
    await post(srv.port, '/recovery/story?user=u1&text=s3');
    await post(srv.port, '/testing/emit', { userId: 'u1', event: 'ev', payload: { n: 1 } });
    assert.deepEqual(client.payloads('story').map((s) => s.text), ['s1']);
    const done = new Promise((res) => socket.on('ev', res));
    assert.deepEqual(await post(srv.port, '/recovery/release'), { result: 1 });
    await done;
    assert.deepEqual(client.payloads('story').map((s) => s.text), ['s1', 's2', 's3']);
    assert.deepEqual(client.events.map((e) => e.event), ['story', 'story', 'story', 'ev']);
    const r = await report(srv.port);
    assert.equal(r.emitAfterEnd, -4, 'recovery_emit after the end: IOG_ENOENT');
    assert.equal(r.endAfterEnd, -4, 'a second recovery_end: IOG_ENOENT');
    const m = await metrics(srv.port);
    assert.equal(m['iogate_recovery_store_replays_total{result="ok"}'], 1);
    assert.equal(m.iogate_recovery_store_events_total, 2);

    // The offsets now name s3 (id 4): a later cut and restart asks after it; a failing store gives
    // nothing but lets the live events through.
    const [, last] = client.events.find((e) => e.args[0]?.text === 's3').args;
    assert.match(last, /~story=4$/, 's3 is the fourth story (u2 had the third)');
    await cutAndWaitKept(srv.port, client);
    await srv.stop();
    srv = await startRecoveryServer({ extra: plugins, port });
    await post(srv.port, '/recovery/story?user=u1&text=s4');
    await post(srv.port, '/recovery/mode?mode=fail');
    await reconnect(client);
    await waitMetrics(srv.port, (x) => x['iogate_recovery_store_replays_total{result="failed"}'] === 1, 'the failed replay');
    assert.equal((await report(srv.port)).after, '4');
    const live = once(socket, 'story');
    await post(srv.port, '/recovery/story?user=u1&text=s5');
    await live;
    assert.deepEqual(client.payloads('story').map((s) => s.text), ['s1', 's2', 's3', 's5']);
    await client.close();
  } finally {
    await srv.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a connection hook learns whether the socket recovered', async () => {
  const srv = await startRecoveryServer();
  try {
    const client = await recoveringClient(srv.port, () => token('u1'));
    assert.equal((await report(srv.port)).lastRecovered, 0);
    await cutAndWaitKept(srv.port, client);
    await reconnect(client);
    assert.equal(client.socket.recovered, true);
    const r = await report(srv.port);
    assert.equal(r.connects, 2);
    assert.equal(r.lastRecovered, 1);
    assert.equal(r.requests, 0, 'restored here: no store is asked');
    await client.close();
  } finally {
    await srv.stop();
  }
});
