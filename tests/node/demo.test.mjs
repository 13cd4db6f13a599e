// `make demo`'s startup path: scripts/demo.sh on a free port with its state in a temporary
// directory. The page is served with its development-only warnings, a login through it
// works, the token commands it prints mint tokens the server takes, and SIGINT stops it
// with exit code 0: the script became the server (exec), so nothing is left behind.
// The page itself, in a browser, is tests/node/browser.test.mjs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BUILD_DIR, ROOT } from './lib/server.mjs';
import { freePort } from './lib/redis.mjs';

const NEEDED = [
  join(BUILD_DIR, 'plugins', 'notifications.so'),
  join(BUILD_DIR, 'examples-plugins', 'webdemo.so'),
  join(ROOT, 'tests/node/node_modules/socket.io-client/dist/socket.io.min.js'),
];
const missing = NEEDED.filter((f) => !existsSync(f));
const skip = missing.length ? `not built: ${missing.join(', ')} (make demo builds them)` : false;

test('the demo starts on loopback, prints what to open and how to get tokens, and stops on SIGINT', { skip }, async () => {
  const state = mkdtempSync(join(tmpdir(), 'iogate-demo-'));
  const port = await freePort();
  const child = spawn(join(ROOT, 'scripts/demo.sh'), [BUILD_DIR], {
    cwd: ROOT,
    env: { ...process.env, IOGATE_DEMO_PORT: String(port), IOGATE_DEMO_DIR: state },
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  try {
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`did not start:\n${out}`)), 15000);
      const check = () => {
        if (/listening on http:\/\/127\.0\.0\.1:\d+/.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      };
      child.stdout.on('data', check);
      child.stderr.on('data', check);
      child.on('exit', () => reject(new Error(`exited:\n${out}`)));
    });
    const base = `http://127.0.0.1:${port}`;
    assert.match(out, new RegExp(`listening on ${base}`), 'on loopback, on the port asked for');
    assert.match(out, new RegExp(`Open ${base}/demo in two browser windows`));
    assert.match(out, /DEVELOPMENT ONLY/);
    // The script is gone: the process it started as is the server itself.
    assert.equal(readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim(), 'iogate');
    assert.equal(statSync(state).mode & 0o777, 0o700);
    assert.equal(statSync(join(state, 'iogate.toml')).mode & 0o777, 0o600);

    const page = await fetch(`${base}/demo`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /Development login: anyone can sign in as anyone\. Never expose this page in production\./);
    assert.equal((await fetch(`${base}/demo/socket.io.min.js`)).status, 200);
    const login = await fetch(`${base}/demo/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'alice' }),
    });
    assert.equal(login.status, 200);
    const cookie = login.headers.get('set-cookie').split(';')[0];
    assert.equal((await fetch(`${base}/notifications`, { headers: { cookie } })).status, 200);

    // The token commands, run as printed.
    const minted = {};
    for (const name of ['TOKEN', 'ADMIN']) {
      const cmd = out.match(new RegExp(`^ +${name}=\\$\\((.*)\\)$`, 'm'))?.[1];
      assert.ok(cmd, `${name} line in:\n${out}`);
      const r = spawnSync('sh', ['-c', cmd], { cwd: ROOT, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      minted[name] = r.stdout.trim();
    }
    const post = await fetch(`${base}/notifications`, {
      method: 'POST',
      headers: { authorization: `Bearer ${minted.ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'alice', message: 'Hello' }),
    });
    assert.equal(post.status, 201);
    const list = await fetch(`${base}/notifications`, { headers: { authorization: `Bearer ${minted.TOKEN}` } });
    assert.equal((await list.json()).items[0].message, 'Hello');
  } finally {
    child.kill('SIGINT');
    const r = await exited;
    rmSync(state, { recursive: true, force: true });
    assert.deepEqual(r, { code: 0, signal: null }, out);
  }
});

test('the demo refuses a bad port before starting anything', { skip }, () => {
  const r = spawnSync(join(ROOT, 'scripts/demo.sh'), [BUILD_DIR], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, IOGATE_DEMO_PORT: 'x', IOGATE_DEMO_DIR: join(tmpdir(), 'iogate-demo-unused') },
  });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /IOGATE_DEMO_PORT must be a port number \(got 'x'\)/);
  assert.ok(!existsSync(join(tmpdir(), 'iogate-demo-unused')));
});
