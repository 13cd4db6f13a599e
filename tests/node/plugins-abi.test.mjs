// The plugin ABI end to end: the abi_full test plugin (tests/plugins/abi_full.c)
// calls every host API entry; these tests drive it through the real loader,
// over REST and with the official socket.io-client. Broken plugins, and plugins
// another user could replace, stop startup with a message naming the file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, copyFileSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { io } from 'socket.io-client';
import { startServer, BIN, BUILD_DIR, ROOT } from './lib/server.mjs';
import { once } from './lib/events.mjs';
import { waitFor, signJwt, nowS } from './lib/auth-helpers.mjs';

const PLUGINS = join(BUILD_DIR, 'test-plugins');
const SECRET = 'abi-test-secret-0123456789abcdef0123';

// exp: undefined drops the claim (a test needs a token without one).
const token = (claims) => signJwt({ exp: nowS() + 600, ...claims }, { secret: SECRET });

let server;
let base;

before(async () => {
  server = await startServer(`
[auth]
jwt_secret = "${SECRET}"
[plugins]
dir = "${PLUGINS}"
load = ["abi_full", "abi_older_minor"]
[plugin.abi_full]
greeting = "bonjour"
count = 3
ratio = 0.25
enabled = true
`);
  base = `http://127.0.0.1:${server.port}`;
});
after(async () => {
  const r = await server.stop();
  assert.equal(r.code, 0);
  // fini runs once at shutdown for a plugin whose init succeeded.
  assert.equal(server.logs().match(/\[abi_full\] fini after a successful init/g)?.length, 1);
});

test('init-time entries: config getters, type errors, strerror, timers', async () => {
  // Once the timers have fired (the one-shot, and the repeating one three times).
  const report = await waitFor(async () => {
    const r = await (await fetch(`${base}/abi/report`)).json();
    return r.timerFired && r.repeatTicks === 3 && r;
  }, { what: 'the timers' });
  assert.deepEqual(report, {
    greeting: 'bonjour', count: 3, ratio: 0.25, enabled: true, typeErrorOk: true,
    unknownKeyOk: true, strerrorOk: true, timerFired: true, repeatTicks: 3, hostAbi: 103,
  });
});

test('an older-minor plugin loads and serves its route', async () => {
  const body = await (await fetch(`${base}/old-plugin`)).json();
  assert.deepEqual(body, { abi: '1.0', hostMinor: 3, hasEmitJson: true });
});

test('authenticated route: 401 without a token, principal and accessors with one', async () => {
  let res = await fetch(`${base}/abi/whoami`);
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error.code, 'unauthorized');
  res = await fetch(`${base}/abi/whoami?x=a%20b`, {
    headers: { authorization: `Bearer ${token({ sub: 'u1', role: 'admin' })}`, 'x-test': 'hdr' },
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-abi-test'), 'yes');
  const me = await res.json();
  assert.equal(me.user, 'u1');
  assert.equal(me.role, 'admin');
  assert.equal(me.claims.sub, 'u1');
  assert.equal(me.method, 'GET');
  assert.equal(me.path, '/abi/whoami');
  assert.equal(me.x, 'a b');
  assert.equal(me.header, 'hdr');
  assert.equal(me.remote, '127.0.0.1');
  assert.equal(me.aborted, false);
  // principal_claim refuses a copy of the principal, and one kept past its request.
  assert.equal(me.copyRefused, true);
  assert.deepEqual(await (await fetch(`${base}/abi/kept-claim`)).json(), { kept: true, refused: true });
  // The cookie works as well as the Bearer header.
  res = await fetch(`${base}/abi/whoami`, { headers: { cookie: `token=${token({ sub: 'u2' })}` } });
  assert.equal((await res.json()).user, 'u2');
  // A token without exp is refused ([auth] require_exp defaults to true).
  res = await fetch(`${base}/abi/whoami`, { headers: { authorization: `Bearer ${token({ sub: 'u3', exp: undefined })}` } });
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error.code, 'unauthorized');
});

test('path parameters are decoded and the body reaches the plugin', async () => {
  const res = await fetch(`${base}/abi/params/x%2Fy/%C3%A9`, { method: 'POST', body: 'payload!' });
  assert.equal(res.status, 201);
  assert.deepEqual(await res.json(), { a: 'x/y', b: 'é', missing: true, bodyLength: 8, body: 'payload!' });
});

test('respond_bytes: a route answers with HTML', async () => {
  const res = await fetch(`${base}/abi/page`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.equal(await res.text(), '<!doctype html><title>abi</title><p>hello</p>');
});

test('a request answered once: every later call with its handle is refused, nothing is sent', async () => {
  const res = await fetch(`${base}/abi/double?x=1`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('x-late'), null);
  assert.equal(await res.text(), '{"first":true}');
  const after = (await (await fetch(`${base}/abi/returns`)).json()).double;
  assert.deepEqual(after, {
    respond: -5, respondError: -5, respondBytes: -5, header: -5, // IOG_ESTATE
    nullRespond: -1, // IOG_EINVAL
    path: '', paramNull: true, aborted: 1,
  });
});

// The entries whose return conventions differ from "0 or a negative code", pinned as
// iogate.h states them.
test('return conventions: statuses out of range, counts, timer_start, room_size', async () => {
  const cases = [
    ['respond', 204, 204], ['respond', 700, 500], ['respond', 199, 500],
    ['error', 404, 404], ['error', 200, 500], ['bytes', 201, 201], ['bytes', 99, 500],
  ];
  for (const [kind, code, want] of cases) {
    const res = await fetch(`${base}/abi/status?kind=${kind}&code=${code}`);
    assert.equal(res.status, want, `${kind} ${code}`);
    await res.arrayBuffer();
    const returns = await (await fetch(`${base}/abi/returns`)).json();
    assert.equal(returns.status, 0, `${kind} ${code} returns 0`);
  }
  const name = { respond: 'respond', error: 'respond_error', bytes: 'respond_bytes' };
  for (const [kind, code, want] of cases.filter(([, c, w]) => c !== w)) {
    const lowest = kind === 'error' ? 400 : 200;
    await server.waitForLog(new RegExp(`warn  \\[abi_full\\] ${name[kind]}: status ${code} is not ${lowest} to 599; answered ${want} instead`));
  }
  const returns = await (await fetch(`${base}/abi/returns`)).json();
  assert.equal(returns.timerNull, true);
  assert.equal(returns.roomSizeNoNamespace, 0);
  assert.equal(returns.roomSizeNullRoom, -1); // IOG_EINVAL
});

test('work_queue: a route answers later from the loop after off-loop work', async () => {
  const body = await (await fetch(`${base}/abi/async`)).json();
  assert.deepEqual(body, { result: 42, status: 0 });
});

test('namespaces, hooks, rooms, events, emits, acks with binary, disconnect', async () => {
  const alice = io(`${base}/abi`, { forceNew: true, extraHeaders: { cookie: `token=${token({ sub: 'alice', role: 'pilot' })}` }, auth: { hi: 1 } });
  const [welcome] = await once(alice, 'welcome');
  assert.deepEqual(welcome, { roomSize: 1, user: 'alice', role: 'pilot', auth: { hi: 1 } });
  const anon = io(`${base}/abi`, { forceNew: true });
  const [welcome2] = await once(anon, 'welcome');
  assert.deepEqual(welcome2, { roomSize: 2, user: null, role: null, auth: {} });

  // Emits through registered serializers, to a room, with an except list, to authenticated only.
  const got = { alice: [], anon: [] };
  alice.on('abi:ping', (p) => got.alice.push(p));
  anon.on('abi:ping', (p) => got.anon.push(p));
  let r = await (await fetch(`${base}/abi/emit?kind=room&id=abi-room`, { method: 'POST' })).json();
  assert.equal(r.recipients, 2);
  r = await (await fetch(`${base}/abi/emit?kind=authenticated`, { method: 'POST' })).json();
  assert.equal(r.recipients, 1);
  r = await (await fetch(`${base}/abi/emit?kind=all&except=abi-room`, { method: 'POST' })).json();
  assert.equal(r.recipients, 0);
  // IOG_USER_ROOM_PREFIX names the room the host joined alice's socket to.
  r = await (await fetch(`${base}/abi/emit?kind=userroom&id=alice`, { method: 'POST' })).json();
  assert.equal(r.recipients, 1);
  const missing = await fetch(`${base}/abi/emit?kind=missing&id=alice`, { method: 'POST' });
  assert.equal(missing.status, 404);
  await waitFor(() => got.alice.length >= 3 && got.anon.length >= 1, { what: 'the pings' });
  assert.equal(got.alice.length, 3);
  assert.equal(got.anon.length, 1);
  assert.deepEqual(got.alice[0], {
    seq: got.alice[0].seq, greeting: 'bonjour', prefix: 'bo', ratio: 0.25, enabled: true,
    nothing: null, list: [1, { raw: [true] }],
  });
  const json = once(anon, 'abi:json');
  r = await (await fetch(`${base}/abi/emit?kind=json&id=abi-room`, { method: 'POST' })).json();
  assert.equal(r.recipients, 2);
  assert.deepEqual((await json)[0], { free: 'form' });

  // Client events with acks, text and binary.
  assert.deepEqual(await alice.emitWithAck('echo', 1, 'two', { three: [3] }), 1);
  const bin = await new Promise((res) => alice.emit('echo', Buffer.from([1, 2, 3]), 'x', (...a) => res(a)));
  assert.deepEqual([...bin[0]], [1, 2, 3]);
  assert.equal(bin[1], 'x');
  // emit_with_ack: the server asks, the client's ack comes back to the plugin.
  alice.on('question', (a, b, ack) => ack({ sum: a + b }, 'ok'));
  const answered = once(alice, 'answered');
  alice.emit('ask', 2, 3);
  assert.deepEqual((await answered)[0], [{ sum: 5 }, 'ok']);
  // leave: the room shrinks; kick: the server disconnects the socket.
  assert.equal(await anon.emitWithAck('leave'), 1);
  const gone = once(anon, 'disconnect');
  anon.emit('kick');
  assert.equal((await gone)[0], 'io server disconnect');
  // emit_to_socket counts its one socket; emit_with_ack returns 0 (its callback reports).
  const returns = await (await fetch(`${base}/abi/returns`)).json();
  assert.equal(returns.emitToSocket, 1);
  assert.equal(returns.emitWithAck, 0);
  alice.close();
  anon.close();
  await server.waitForLog(/\[abi_full\] socket \S+ left \/abi: server namespace disconnect/);
});

test('broken plugins stop startup with a message naming the file', () => {
  const cases = [
    ['abi_wrong_major', /abi_wrong_major\.so: refused: it was built for plugin ABI 2\.0, this iogate provides 1\.3/],
    ['abi_newer_minor', /abi_newer_minor\.so: refused: it needs plugin ABI 1\.4, this iogate provides only 1\.3/],
    ['abi_no_entry', /abi_no_entry\.so: no entry symbol iogate_plugin_entry/],
    ['abi_failing_init', /abi_failing_init\.so \(abi_failing_init 1\.0\.0\): init failed \(I\/O or internal error\): database unreachable/],
    ['missing_plugin', /missing_plugin\.so: cannot load/],
  ];
  const dir = mkdtempSync(join(tmpdir(), 'iogate-abi-'));
  const run = (text) => {
    const file = join(dir, 'iogate.toml');
    writeFileSync(file, text);
    return spawnSync(BIN, ['--config', file], { cwd: ROOT, encoding: 'utf8', timeout: 10000 });
  };
  for (const [name, re] of cases) {
    const r = run(`[server]\nport = 0\n[plugins]\ndir = "${PLUGINS}"\nload = ["${name}"]\n`);
    assert.equal(r.status, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr, re, name);
    if (name === 'abi_failing_init') {
      // The line iogate.h documents, and no fini after the failed init.
      assert.match(r.stderr, /^\S+ error \[gateway\] plugin \/\S+\/abi_failing_init\.so \(abi_failing_init 1\.0\.0\): init failed \(I\/O or internal error\): database unreachable \(deliberate test failure\)$/m);
      assert.doesNotMatch(r.stderr, /fini called/);
    }
  }
  const bad = run(`[server]\nport = 0\n[plugins]\nload = ["../x"]\n`);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /invalid plugin name "\.\.\/x"/);
});

test('a plugin directory or file others can write stops startup, unless allowed', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'iogate-perm-'));
  try {
    const so = join(dir, 'abi_older_minor.so');
    copyFileSync(join(PLUGINS, 'abi_older_minor.so'), so);
    chmodSync(so, 0o755);
    const config = (extra = '') => `[plugins]\ndir = "${dir}"\nload = ["abi_older_minor"]\n${extra}`;
    const file = join(dir, 'iogate.toml');
    const start = (text) => {
      writeFileSync(file, `[server]\nport = 0\n${text}`);
      return spawnSync(BIN, ['--config', file], { cwd: ROOT, encoding: 'utf8', timeout: 10000 });
    };
    chmodSync(dir, 0o777);
    let r = start(config());
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`the directory ${dir} is writable by group and others \\(mode 0777\\).*allow_insecure_permissions = true`));
    chmodSync(dir, 0o755);
    chmodSync(so, 0o757);
    r = start(config());
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`the file ${so} is writable by others \\(mode 0757\\)`));
    // The key lets it load, with a warning naming the path.
    const server = await startServer(config('allow_insecure_permissions = true'));
    const body = await (await fetch(`http://127.0.0.1:${server.port}/old-plugin`)).json();
    assert.deepEqual(body, { abi: '1.0', hostMinor: 3, hasEmitJson: true });
    assert.match(server.logs(), new RegExp(`the file ${so} is writable by others.*loading .* anyway`));
    assert.equal((await server.stop()).code, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
