// Plugins built against the headers that shipped: abi_v1_0 (tests/plugins/abi_v1_0.c,
// compiled with the frozen 1.0 header), abi_v1_1, abi_v1_2 and abi_v1_3 (the frozen 1.1, 1.2
// and 1.3 headers), loaded by today's host. Every entry they call must keep the meaning their header gave it; a
// shipped entry never changes meaning.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { io } from 'socket.io-client';
import { startServer, BUILD_DIR, BIN, ROOT } from './lib/server.mjs';
import { once, connected } from './lib/events.mjs';
import { signJwt, nowS } from './lib/auth-helpers.mjs';

const PLUGINS = join(BUILD_DIR, 'test-plugins');
const SECRET = 'frozen-abi-secret-0123456789abcdef012';

const token = (claims) => signJwt({ exp: nowS() + 600, ...claims }, { secret: SECRET });

let server;
let base;
before(async () => {
  server = await startServer(`
[auth]
jwt_secret = "${SECRET}"
[plugins]
dir = "${PLUGINS}"
load = ["abi_v1_0", "abi_v1_1", "abi_v1_2", "abi_v1_3"]
[plugin.abi_v1_0]
word = "frozen"
n = 10
x = 1.5
flag = true
`);
  base = `http://127.0.0.1:${server.port}`;
});
after(async () => {
  assert.equal((await server.stop()).code, 0);
});

// A socket.io-client socket of the user `sub`, with `extra` in its CONNECT payload; closed
// after each test, whatever its outcome.
let sockets = [];
const socket = (nsp, sub, extra = {}) => {
  const s = io(`${base}${nsp}`, { forceNew: true, auth: { token: token({ sub }), ...extra } });
  sockets.push(s);
  return s;
};
afterEach(() => {
  for (const s of sockets) s.close();
  sockets = [];
});

test('1.0: loaded as a 1.0 plugin; config, writer, strerror, timer', async () => {
  assert.match(server.logs(), /loaded abi_v1_0 1\.0\.0 \(ABI 1\.0\)/);
  assert.match(server.logs(), /loaded abi_v1_1 1\.1\.0 \(ABI 1\.1\)/);
  assert.match(server.logs(), /loaded abi_v1_2 1\.2\.0 \(ABI 1\.2\)/);
  assert.match(server.logs(), /loaded abi_v1_3 1\.3\.0 \(ABI 1\.3\)/);
  await server.waitForLog(/\[abi_v1_0\] v10 timer fired/);
  const report = await (await fetch(`${base}/v10/report`)).json();
  assert.deepEqual(report, {
    word: 'frozen', prefix: 'fr', n: 10, x: 1.5, flag: true,
    typeError: -6, // IOG_ETYPE
    secondRespond: 0, // no request answered twice yet
    hostAbi: report.hostAbi, tableCoversV10: true, strerror: 'not found', nothing: null,
  });
  assert.equal(report.hostAbi[0], 1);
  assert.ok(report.hostAbi[1] >= 1);
});

test('1.0: REST accessors, principal, headers, errors; a second respond is IOG_ESTATE', async () => {
  assert.equal((await fetch(`${base}/v10/me`)).status, 401);
  const res = await fetch(`${base}/v10/me?q=a%20b`, {
    headers: { authorization: `Bearer ${token({ sub: 'carol', role: 'chief' })}`, 'x-v10': 'hdr' },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-v10'), 'yes');
  const me = await res.json();
  assert.deepEqual(me, {
    user: 'carol', claims: me.claims, exp: true, principalSize: true, role: 'chief',
    method: 'GET', path: '/v10/me', q: 'a b', header: 'hdr',
  });
  assert.equal(me.claims.sub, 'carol');
  // The 1.0 header promised IOG_ESTATE for a second respond().
  assert.equal((await (await fetch(`${base}/v10/report`)).json()).secondRespond, -5);

  const item = await fetch(`${base}/v10/items/x%2Fy`, { method: 'POST', body: 'hello' });
  assert.equal(item.status, 201);
  assert.deepEqual(await item.json(), { id: 'x/y', body: 'hello', aborted: 0 });
  const teapot = await fetch(`${base}/v10/teapot`);
  assert.equal(teapot.status, 418);
  assert.deepEqual(await teapot.json(), { error: { code: 'teapot', message: 'short and stout' } });
  assert.deepEqual(await (await fetch(`${base}/v10/async`)).json(), { result: 42, status: 0 });
});

test('1.0: namespace, hooks, rooms, emits, acks, disconnect', async () => {
  const dave = socket('/v10', 'dave', { hi: 1 });
  const [welcome] = await once(dave, 'v10:note');
  assert.equal(welcome.kind, 'welcome');
  assert.deepEqual(welcome.data, { user: 'dave', auth: welcome.data.auth, roomSize: 1, sized: true });
  assert.equal(welcome.data.auth.hi, 1);

  // emit to a room of /v10, and emit_to_user (the main namespace).
  const inRoom = once(dave, 'v10:note');
  let r = await (await fetch(`${base}/v10/emit?to=room&id=v10-room`, { method: 'POST' })).json();
  assert.equal(r.recipients, 1);
  assert.deepEqual((await inRoom)[0], { kind: 'emitted', data: [1, 2] });
  const main = socket('/', 'dave');
  await connected(main);
  const toUser = once(main, 'v10:note');
  r = await (await fetch(`${base}/v10/emit?to=user&id=dave`, { method: 'POST' })).json();
  assert.equal(r.recipients, 1);
  assert.deepEqual((await toUser)[0], { kind: 'emitted', data: [1, 2] });

  // A client event read through the 1.0 layout of iog_client_event_t, acked.
  const echo = await dave.emitWithAck('echo', 'one', { two: 2 });
  assert.deepEqual(echo, { event: 'echo', args: ['one', { two: 2 }], user: 'dave', sized: true });
  assert.equal(await dave.emitWithAck('leave'), 0);
  const gone = once(dave, 'disconnect');
  dave.emit('kick');
  assert.equal((await gone)[0], 'io server disconnect');
  await server.waitForLog(/\[abi_v1_0\] v10 socket left: server namespace disconnect/);
});

test('1.1: respond_bytes, request_remote_addr, emit_json', async () => {
  const page = await fetch(`${base}/v11/page`);
  assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(await page.text(), '<p>127.0.0.1</p>');
  const erin = socket('/v11', 'erin');
  await once(erin, 'v11:welcome');
  const json = once(erin, 'v11:json');
  const r = await (await fetch(`${base}/v11/emit-json?room=${erin.id}`, { method: 'POST' })).json();
  assert.equal(r.recipients, 1);
  assert.deepEqual((await json)[0], { free: 'form' });
});

test('1.1: emit_to_socket and ack_binary with attachments, emit_with_ack', async () => {
  const frank = socket('/v11', 'frank');
  const [hello, bytes] = await once(frank, 'v11:welcome');
  assert.deepEqual(hello, { user: 'frank' });
  assert.deepEqual([...bytes], [1, 2, 3]);
  const echoed = await frank.emitWithAck('echo', Buffer.from([9, 8]), 'text');
  assert.deepEqual([...echoed], [9, 8]);
  // The server asks; the client's answer, binary included, comes back to the plugin.
  frank.on('v11:question', (n, bin, ack) => ack({ doubled: n * 2 }, Buffer.from(bin).reverse()));
  const answered = once(frank, 'v11:answered');
  frank.emit('ask', 21, Buffer.from([4, 5, 6]));
  const [answer] = await answered;
  assert.deepEqual(answer[0], { doubled: 42 });
  assert.deepEqual([...answer[1]], [6, 5, 4]);
});

const readyz = async () => {
  const res = await fetch(`${base}/readyz`);
  return { status: res.status, body: await res.json() };
};

test('1.2: ready_check: /readyz names a plugin check while it fails; its rules', async () => {
  assert.deepEqual(await readyz(), { status: 200, body: { status: 'ready' } });
  assert.equal((await fetch(`${base}/v12/ready?down=maintenance`, { method: 'POST' })).status, 204);
  assert.deepEqual(await readyz(), { status: 503, body: { status: 'not_ready', failing: { v12: 'maintenance' } } });
  assert.equal((await fetch(`${base}/v12/ready`, { method: 'POST' })).status, 204);
  assert.deepEqual(await readyz(), { status: 200, body: { status: 'ready' } });
  const report = await (await fetch(`${base}/v12/report`)).json();
  assert.deepEqual(report, {
    badCheck: -1, hostCheck: -3, takenCheck: -3, // IOG_EINVAL, IOG_EEXIST
    hostEvent: -1, // "iogate:broadcast" is the host's own
    emitNoNamespace: -4, countNoNamespace: -4, countNoCallback: -1, // IOG_ENOENT, IOG_EINVAL
    partial: -11,
  });
});

test('1.2: alone, the fleet is this node: fleet_room_size, server_emit, local volatile emits', async () => {
  const gina = socket('/v12', 'gina');
  await connected(gina);
  assert.deepEqual(await (await fetch(`${base}/v12/room-size?room=${gina.id}`)).json(), { count: 1, status: 0 });
  assert.deepEqual(await (await fetch(`${base}/v12/room-size?room=nobody`)).json(), { count: 0, status: 0 });
  // Nobody else hears it, and a node's own handlers never do.
  assert.deepEqual(await (await fetch(`${base}/v12/server-emit`, { method: 'POST' })).json(), { result: 0, heard: 0 });
  const local = once(gina, 'v12:local');
  const r = await (await fetch(`${base}/v12/emit?room=${gina.id}`, { method: 'POST' })).json();
  assert.equal(r.recipients, 1);
  assert.deepEqual((await local)[0], { local: true });
});

test('1.3: the plugin\'s metrics on /metrics, and the rules of metric_register and its updates', async () => {
  for (const kind of ['a', 'a', 'b']) assert.equal((await fetch(`${base}/v13/hit?kind=${kind}`, { method: 'POST' })).status, 204);
  const page = await (await fetch(`${base}/metrics`)).text();
  const value = (series) => {
    const line = page.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };
  const P = 'iogate_plugin_abi_v1_3_';
  assert.match(page, /^# TYPE iogate_plugin_abi_v1_3_v13_hits_total counter$/m);
  assert.equal(value(`${P}v13_hits_total{kind="a"}`), 2);
  assert.equal(value(`${P}v13_hits_total{kind="b"}`), 1);
  assert.match(page, /^# TYPE iogate_plugin_abi_v1_3_v13_level gauge$/m);
  assert.equal(value(`${P}v13_level`), 3);
  assert.match(page, /^# TYPE iogate_plugin_abi_v1_3_v13_took_seconds histogram$/m);
  assert.equal(value(`${P}v13_took_seconds_bucket{le="0.1"}`), 0);
  assert.equal(value(`${P}v13_took_seconds_bucket{le="0.5"}`), 3);
  assert.equal(value(`${P}v13_took_seconds_bucket{le="+Inf"}`), 3);
  assert.equal(value(`${P}v13_took_seconds_count`), 3);
  assert.ok(Math.abs(value(`${P}v13_took_seconds_sum`) - 0.6) < 1e-9);
  // The refused calls changed nothing: no v13_misses, no set or negative add on a counter.
  assert.doesNotMatch(page, /v13_misses/);
  const r = await (await fetch(`${base}/v13/report`)).json();
  assert.deepEqual(r, {
    counterWithoutTotal: 1, nameTaken: 1,
    updateFamily: r.einval, negativeAdd: r.einval, setOnCounter: r.einval,
    recoverableNotOurs: r.enoent,
    einval: -1, enoent: -4,
  });
});

test('1.3: --check-config calls the descriptor\'s check(), which reads [plugin.abi_v1_3]', () => {
  const dir = mkdtempSync(join(tmpdir(), 'iogate-abi13-'));
  const check = (table) => {
    const file = join(dir, 'iogate.toml');
    writeFileSync(file, `[plugins]\ndir = "${PLUGINS}"\nload = ["abi_v1_3"]\n${table}`);
    return spawnSync(BIN, ['--check-config', file], { cwd: ROOT, encoding: 'utf8', timeout: 30000 });
  };
  try {
    const good = check('[plugin.abi_v1_3]\nlevel = 4\n');
    assert.equal(good.status, 0, good.stderr);
    assert.match(good.stdout + good.stderr, /would run at level 4/);
    const absent = check('');
    assert.equal(absent.status, 0, absent.stderr);
    assert.match(absent.stdout + absent.stderr, /would run at level 3/);
    const bad = check('[plugin.abi_v1_3]\nlevel = 12\n');
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /\[plugin\.abi_v1_3\] level = 12 is out of range/);
    const unknown = check('[plugin.abi_v1_3]\nlevle = 1\n');
    assert.notEqual(unknown.status, 0);
    assert.match(unknown.stderr, /levle/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
