// The web demo (examples/web-demo, plugin `webdemo`) in a real browser: Debian's Chromium
// driven by playwright-core, against the real server with the `notifications` plugin
// ($IOGATE_BUILD_DIR/plugins) and `webdemo` ($IOGATE_BUILD_DIR/examples-plugins, built by
// scripts/build-examples.sh). Three browser contexts (alice, bob, admin) sign in through
// the page; the scenario runs once with the page forced to long-polling and once with
// the default transports (polling, then the upgrade to WebSocket).
//
// Skipped, with the reason, when /usr/bin/chromium (or $IOGATE_CHROMIUM), playwright-core,
// the plugins or the socket.io browser client are missing. The route tests of webdemo
// itself need no browser and run whenever the plugins are built.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { existsSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startServer, BUILD_DIR, ROOT } from './lib/server.mjs';

const CHROMIUM = process.env.IOGATE_CHROMIUM || '/usr/bin/chromium';
const PLUGINS = {
  notifications: join(BUILD_DIR, 'plugins', 'notifications.so'),
  webdemo: join(BUILD_DIR, 'examples-plugins', 'webdemo.so'),
};
const CLIENT_JS = join(ROOT, 'tests/node/node_modules/socket.io-client/dist/socket.io.min.js');
const SCREENSHOT = join(BUILD_DIR, 'browser-demo.png');

const missingPlugins = Object.values(PLUGINS).filter((f) => !existsSync(f));
const pluginSkip = missingPlugins.length
  ? `plugins not built (${missingPlugins.join(', ')} missing); build ${BUILD_DIR} and run ` +
    `scripts/build-examples.sh ${BUILD_DIR}`
  : false;

let chromium = null;
let playwrightError = null;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  playwrightError = e;
}
const browserSkip =
  pluginSkip ||
  (!existsSync(CHROMIUM)
    ? `no Chromium at ${CHROMIUM} (apt-get install chromium, or set IOGATE_CHROMIUM)`
    : playwrightError
      ? `playwright-core cannot be loaded (npm ci in tests/node): ${playwrightError.message}`
      : !existsSync(CLIENT_JS)
        ? `the socket.io browser client is missing (${CLIENT_JS}); npm ci in tests/node`
        : false);

const SECRET = 'browser-test-secret-0123456789abcdef';
const WAIT_MS = 8000; // bound on every wait for something that should happen
const SETTLE_MS = 600; // how long something that should not happen is given to show up

// A config loading both plugins from one directory of links, with the database in it.
function setup(extraWebdemo = '') {
  const dir = mkdtempSync(join(tmpdir(), 'iogate-browser-'));
  for (const [name, file] of Object.entries(PLUGINS)) symlinkSync(file, join(dir, `${name}.so`));
  const config = `
[auth]
jwt_secret = "${SECRET}"

[plugins]
dir = "${dir}"
load = ["notifications", "webdemo"]

[plugin.notifications]
database = "${join(dir, 'notifications.db')}"

[plugin.webdemo]
jwt_secret = "${SECRET}"
${extraWebdemo}
`;
  return { dir, config };
}

// ---------------------------------------------------------------- the routes

function verifyJwt(token) {
  const [h, p, s] = token.split('.');
  const want = crypto.createHmac('sha256', SECRET).update(`${h}.${p}`).digest('base64url');
  assert.equal(s, want, 'HS256 signature with the shared secret');
  assert.deepEqual(JSON.parse(Buffer.from(h, 'base64url')), { alg: 'HS256', typ: 'JWT' });
  return JSON.parse(Buffer.from(p, 'base64url'));
}

describe('webdemo routes', { skip: pluginSkip }, () => {
  let server, dir, base;
  before(async () => {
    const s = setup();
    dir = s.dir;
    server = await startServer(s.config);
    base = `http://127.0.0.1:${server.port}`;
  });
  after(async () => {
    if (server) assert.equal((await server.stop()).code, 0, server.logs());
    rmSync(dir, { recursive: true, force: true });
  });

  const login = (body, headers = { 'content-type': 'application/json' }) =>
    fetch(`${base}/demo/login`, {
      method: 'POST',
      headers,
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });

  test('the page, its script and style are served with a strict content security policy', async () => {
    assert.match(server.logs(), /DEVELOPMENT ONLY/);
    for (const [path, type] of [
      ['/demo', /^text\/html/],
      ['/demo/app.js', /^text\/javascript/],
      ['/demo/style.css', /^text\/css/],
    ]) {
      const res = await fetch(base + path);
      assert.equal(res.status, 200, path);
      assert.match(res.headers.get('content-type'), type);
      assert.match(res.headers.get('content-security-policy'), /script-src 'self';/);
      assert.ok((await res.text()).length > 100);
    }
    const html = await (await fetch(`${base}/demo`)).text();
    assert.match(html, /<script src="\/demo\/socket\.io\.min\.js"/);
    assert.doesNotMatch(html, /<script>/, 'no inline script');
  });

  test('login signs an HS256 token in an HttpOnly cookie that the server accepts', async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await login({ userId: 'alice' });
    assert.equal(res.status, 200);
    const body = await res.json();
    assert.equal(body.userId, 'alice');
    assert.equal(body.admin, false);
    const cookie = res.headers.get('set-cookie');
    const m = cookie.match(/^token=([^;]+); (.*)$/);
    assert.ok(m, cookie);
    const attrs = m[2].split('; ');
    for (const a of ['Path=/', 'HttpOnly', 'SameSite=Lax', 'Max-Age=3600']) assert.ok(attrs.includes(a), cookie);
    const claims = verifyJwt(m[1]);
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.role, undefined);
    assert.ok(claims.exp >= before + 3600 && claims.exp <= before + 3602, `exp ${claims.exp}`);
    assert.equal(body.expiresAt, claims.exp);

    const auth = { cookie: `token=${m[1]}` };
    assert.deepEqual(await (await fetch(`${base}/demo/me`, { headers: auth })).json(), body);
    assert.equal((await fetch(`${base}/notifications`, { headers: auth })).status, 200);
    // Not an admin: the notifications plugin refuses it the create routes.
    const post = await fetch(`${base}/notifications`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'bob', message: 'x' }),
    });
    assert.equal(post.status, 403);
    assert.equal((await fetch(`${base}/demo/me`)).status, 401);
  });

  test('admin: true adds role "admin", which may create notifications', async () => {
    const res = await login({ userId: 'root 👑', admin: true });
    assert.equal(res.status, 200);
    const token = res.headers.get('set-cookie').match(/^token=([^;]+)/)[1];
    assert.deepEqual(
      { sub: verifyJwt(token).sub, role: verifyJwt(token).role },
      { sub: 'root 👑', role: 'admin' },
    );
    const post = await fetch(`${base}/notifications`, {
      method: 'POST',
      headers: { cookie: `token=${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'bob', message: 'from the demo admin' }),
    });
    assert.equal(post.status, 201);
    const me = await (await fetch(`${base}/demo/me`, { headers: { cookie: `token=${token}` } })).json();
    assert.equal(me.admin, true);
  });

  test('login rejects bad bodies; logout clears the cookie', async () => {
    const bad = [{}, { userId: '' }, { userId: 7 }, { userId: 'a\nb' }, { userId: 'x'.repeat(65) },
      { userId: 'a', admin: 'yes' }, [1], 'not json', '{"userId":"a","userId":"b"}'];
    for (const body of bad) {
      const res = await login(body);
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal((await res.json()).error.code, 'bad_request');
      assert.equal(res.headers.get('set-cookie'), null);
    }
    assert.equal((await login({ userId: 'é'.repeat(64) })).status, 200, '64 characters, not bytes');
    const form = await login('userId=alice', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(form.status, 415, 'a cross-site form cannot log a visitor in');
    const out = await fetch(`${base}/demo/logout`, { method: 'POST' });
    assert.equal(out.status, 200);
    assert.match(out.headers.get('set-cookie'), /^token=; Path=\/; Max-Age=0; HttpOnly; SameSite=Lax$/);
  });

  test('the browser client is served from client_js; a missing file is a clear 404', async () => {
    const ok = await fetch(`${base}/demo/socket.io.min.js`);
    if (existsSync(CLIENT_JS)) {
      assert.equal(ok.status, 200);
      assert.match(ok.headers.get('content-type'), /^text\/javascript/);
      assert.match(await ok.text(), /Socket\.IO v4/);
    }
    const other = setup('client_js = "/nonexistent/socket.io.min.js"');
    const s2 = await startServer(other.config);
    try {
      const res = await fetch(`http://127.0.0.1:${s2.port}/demo/socket.io.min.js`);
      assert.equal(res.status, 404);
      const { error } = await res.json();
      assert.equal(error.code, 'client_js_missing');
      assert.match(error.message, /\/nonexistent\/socket\.io\.min\.js.*client_js/);
    } finally {
      await s2.stop();
      rmSync(other.dir, { recursive: true, force: true });
    }
  });

  test('startup fails without [plugin.webdemo] jwt_secret', async () => {
    const bare = setup();
    try {
      await assert.rejects(
        startServer(bare.config.replace(/\[plugin\.webdemo\]\njwt_secret = .*\n/, '')),
        /jwt_secret is required/,
      );
    } finally {
      rmSync(bare.dir, { recursive: true, force: true });
    }
  });
});

// ---------------------------------------------------------------- the browser

let browser;

// A browser context (own cookies) on the demo page, with what the page reported.
async function openPage(base, query) {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (msg) => {
    // The page asks /demo/me before signing in: that 401 is expected.
    if (msg.type() === 'error' && !/status of 401/.test(msg.text())) problems.push(msg.text());
  });
  await page.goto(`${base}/demo${query}`);
  await page.waitForSelector('body[data-ready]');
  return { context, page, problems };
}

async function signIn(u, userId, admin) {
  const { page } = u;
  assert.equal(await page.isVisible('#login-card'), true);
  await page.fill('#login-user', userId);
  if (admin) await page.check('#login-admin');
  await page.click('#login-button');
  await page.waitForSelector(`body[data-user="${userId}"]`);
  await page.waitForSelector('#conn[data-state="connected"]');
}

const text = (page, sel) => page.locator(sel).textContent();
const count = (page, sel) => page.locator(sel).count();
// The list's items as [{id, text, read}], newest first as shown.
const listed = (page) =>
  page.$$eval('#list li', (lis) =>
    lis.map((li) => ({
      id: li.dataset.id,
      text: li.querySelector('.text').textContent,
      read: li.classList.contains('read'),
    })),
  );
const toasts = (page, message) =>
  page.$$eval('#toasts .toast .text', (ts, m) => ts.filter((t) => t.textContent === m).length, message);

async function waitFor(page, fn, arg, what) {
  try {
    await page.waitForFunction(fn, arg, { timeout: WAIT_MS });
  } catch (e) {
    throw new Error(`timed out waiting for ${what}: ${e.message.split('\n')[0]}`);
  }
}

async function send(admin, { to, message, type }) {
  const { page } = admin;
  if (to) {
    await page.check('#target-user');
    await page.fill('#send-user', to);
  } else {
    await page.check('#target-all');
  }
  await page.fill('#send-message', message);
  await page.selectOption('#send-type', type);
  const before = await text(page, '#send-result');
  await page.click('#send-button');
  await waitFor(page, (b) => document.getElementById('send-result').textContent !== b, before, 'the send result');
  const result = await text(page, '#send-result');
  const m = result.match(/^Sent #(\d+) to (.+) \(reached (\d+) open sockets?\)$/);
  assert.ok(m, `send failed: ${result}`);
  return { id: m[1], reached: Number(m[3]) };
}

const scenarios = [
  { name: 'forced long-polling', query: '?transport=polling', transport: 'polling' },
  { name: 'default transports (upgrades to WebSocket)', query: '', transport: 'websocket' },
];

describe('web demo in Chromium', { skip: browserSkip }, () => {
  before(async () => {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: 30000,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  after(async () => {
    if (browser) await browser.close();
  });

  for (const sc of scenarios) {
    describe(sc.name, () => {
      let server, dir, base;
      const users = {};
      const DIRECT = `Hello <b>alice</b> & "friends" ${sc.transport}`;
      const BROADCAST = `Maintenance at 18:00 <script>alert(1)</script> ${sc.transport}`;
      let directId, broadcastId;

      before(async () => {
        const s = setup();
        dir = s.dir;
        server = await startServer(s.config);
        base = `http://127.0.0.1:${server.port}`;
      });
      after(async () => {
        for (const u of Object.values(users)) await u.context.close();
        if (server) assert.equal((await server.stop()).code, 0, server.logs());
        rmSync(dir, { recursive: true, force: true });
      });

      test('alice, bob and admin sign in through the page and connect', async () => {
        for (const [name, admin] of [['alice', false], ['bob', false], ['admin', true]]) {
          users[name] = await openPage(base, sc.query);
          await signIn(users[name], name, admin);
        }
        for (const [name, u] of Object.entries(users)) {
          const { page, context } = u;
          await waitFor(page, (t) => document.getElementById('transport').textContent === t, sc.transport,
            `${name}'s transport to be ${sc.transport}`);
          assert.equal(await text(page, '#me-name'), name);
          assert.equal(await page.isVisible('#admin-card'), name === 'admin');
          assert.equal(await text(page, '#unread'), '0');
          assert.equal(await count(page, '#list li'), 0);
          // The token is in an HttpOnly cookie: the page's script cannot read it.
          const [cookie] = (await context.cookies()).filter((c) => c.name === 'token');
          assert.equal(cookie.httpOnly, true);
          assert.equal(cookie.sameSite, 'Lax');
          assert.equal(await page.evaluate(() => document.cookie.includes('token')), false);
        }
        if (sc.transport === 'polling') {
          await sleep(SETTLE_MS);
          assert.equal(await text(users.alice.page, '#transport'), 'polling', 'forced polling never upgrades');
        }
      });

      test('admin sends to alice: her toast and list update live; bob sees nothing', async () => {
        const { alice, bob, admin } = users;
        const sent = await send(admin, { to: 'alice', message: DIRECT, type: 'success' });
        directId = sent.id;
        assert.equal(sent.reached, 1, "alice's one socket");

        await waitFor(alice.page, (m) => [...document.querySelectorAll('#toasts .toast .text')]
          .some((t) => t.textContent === m), DIRECT, "alice's toast");
        await waitFor(alice.page, () => document.querySelectorAll('#list li').length === 1, null, "alice's list");
        assert.deepEqual(await listed(alice.page), [{ id: directId, text: DIRECT, read: false }]);
        assert.equal(await text(alice.page, '#unread'), '1');
        assert.equal(await alice.page.getAttribute(`#list li[data-id="${directId}"]`, 'data-type'), 'success');
        // The markup in the message stayed text.
        assert.equal(await count(alice.page, '#list b, #toasts b'), 0);

        await sleep(SETTLE_MS);
        assert.equal(await count(bob.page, '#toasts .toast'), 0);
        assert.equal(await count(bob.page, '#list li'), 0);
        assert.equal(await text(bob.page, '#unread'), '0');
        assert.equal(await count(admin.page, '#list li'), 0);
        assert.equal(await toasts(alice.page, DIRECT), 1, 'one toast');
      });

      test('admin broadcasts: alice and bob each see it once', async () => {
        const { alice, bob, admin } = users;
        const sent = await send(admin, { message: BROADCAST, type: 'warning' });
        broadcastId = sent.id;
        assert.equal(sent.reached, 3, 'every authenticated socket, the admin included');
        for (const [name, u, n] of [['alice', alice, 2], ['bob', bob, 1], ['admin', admin, 1]]) {
          await waitFor(u.page, (want) => document.querySelectorAll('#list li').length === want, n, `${name}'s list`);
          await waitFor(u.page, (m) => [...document.querySelectorAll('#toasts .toast .text')]
            .some((t) => t.textContent === m), BROADCAST, `${name}'s toast`);
        }
        await sleep(SETTLE_MS);
        assert.deepEqual(await listed(alice.page), [
          { id: broadcastId, text: BROADCAST, read: false },
          { id: directId, text: DIRECT, read: false },
        ]);
        assert.deepEqual(await listed(bob.page), [{ id: broadcastId, text: BROADCAST, read: false }]);
        assert.equal(await text(alice.page, '#unread'), '2');
        assert.equal(await text(bob.page, '#unread'), '1');
        for (const u of [alice, bob]) {
          assert.equal(await toasts(u.page, BROADCAST), 1, 'once');
          assert.equal(await count(u.page, '#list script, #toasts script'), 0);
        }
      });

      test('mark read and mark all read lower the unread count, on the server too', async () => {
        const { alice, bob } = users;
        await alice.page.click(`#list li[data-id="${directId}"] .mark-read`);
        await waitFor(alice.page, () => document.getElementById('unread').textContent === '1', null, 'unread 1');
        assert.deepEqual(await listed(alice.page), [
          { id: broadcastId, text: BROADCAST, read: false },
          { id: directId, text: DIRECT, read: true },
        ]);
        assert.equal(await alice.page.isVisible(`#list li[data-id="${directId}"] .mark-read`), false);
        const r = await alice.context.request.get(`${base}/notifications/unread-count`);
        assert.deepEqual(await r.json(), { unreadCount: 1 });

        await bob.page.click('#read-all-button');
        await waitFor(bob.page, () => document.getElementById('unread').textContent === '0', null, "bob's unread 0");
        assert.deepEqual(await listed(bob.page), [{ id: broadcastId, text: BROADCAST, read: true }]);
        // Read state is per user: the broadcast is still unread for alice.
        const again = await alice.context.request.get(`${base}/notifications/unread-count`);
        assert.deepEqual(await again.json(), { unreadCount: 1 });
      });

      test('alice reloads: the list is still there, and live events still arrive', async () => {
        const { alice, admin } = users;
        await alice.page.reload();
        await alice.page.waitForSelector('body[data-user="alice"][data-ready]');
        await waitFor(alice.page, () => document.querySelectorAll('#list li').length === 2, null, 'the reloaded list');
        assert.deepEqual(await listed(alice.page), [
          { id: broadcastId, text: BROADCAST, read: false },
          { id: directId, text: DIRECT, read: true },
        ]);
        assert.equal(await text(alice.page, '#unread'), '1');
        await waitFor(alice.page, (t) => document.getElementById('transport').textContent === t, sc.transport,
          `the transport after reload to be ${sc.transport}`);

        const later = `Your export is ready (${sc.transport})`;
        const sent = await send(admin, { to: 'alice', message: later, type: 'info' });
        assert.equal(sent.reached, 1, 'the reloaded page is the one socket of alice');
        await waitFor(alice.page, () => document.querySelectorAll('#list li').length === 3, null, 'the live item');
        assert.equal(await text(alice.page, '#unread'), '2');
        assert.equal(await toasts(alice.page, later), 1);
        if (sc.transport === 'websocket') await alice.page.screenshot({ path: SCREENSHOT, fullPage: true, animations: 'disabled' });
        // The cross dismisses a toast before its time.
        await alice.page.click('#toasts .toast .close', { timeout: 2000 });
        assert.equal(await toasts(alice.page, later), 0);
      });

      test('sign out clears the cookie, closes the socket and shows the login form', async () => {
        const { bob } = users;
        // Short timeout: the toasts still on screen must not cover the button.
        await bob.page.click('#logout-button', { timeout: 2000 });
        await bob.page.waitForSelector('#login-card:not([hidden])');
        assert.equal(await bob.page.getAttribute('#conn', 'data-state'), 'disconnected');
        assert.equal((await bob.context.cookies()).filter((c) => c.name === 'token').length, 0);
        assert.equal((await bob.context.request.get(`${base}/demo/me`)).status(), 401);
        for (const [name, u] of Object.entries(users)) assert.deepEqual(u.problems, [], `${name}'s page reported errors`);
      });
    });
  }
});
