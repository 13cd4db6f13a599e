// Cross-site WebSocket hijacking, tried from a real browser: Chromium holds the user's `token`
// cookie for 127.0.0.1, and a page served from another origin (another port of 127.0.0.1,
// so the browser does send the cookie: ports do not separate cookies, nor sites) opens a
// Socket.IO connection to iogate with credentials. From a foreign page the cookie must not
// authenticate the socket; from a page of an origin in cors_origins it must.
//
// Skipped, with the reason, when Chromium, playwright-core or the socket.io browser client
// is missing.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startServer, ROOT } from './lib/server.mjs';
import { signJwt, nowS, waitFor } from './lib/auth-helpers.mjs';

const CHROMIUM = process.env.IOGATE_CHROMIUM || '/usr/bin/chromium';
const CLIENT_JS = join(ROOT, 'tests/node/node_modules/socket.io-client/dist/socket.io.min.js');
const SECRET = 'browser-origin-secret-0123456789abcdef';

let chromium = null;
let skip = false;
try {
  ({ chromium } = await import('playwright-core'));
} catch (e) {
  skip = `playwright-core cannot be loaded (npm ci in tests/node): ${e.message}`;
}
if (!skip && !existsSync(CHROMIUM)) skip = `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
if (!skip && !existsSync(CLIENT_JS)) skip = `the socket.io browser client is missing (${CLIENT_JS})`;

// A page server on its own port: "/" connects to iogate with the given transport and
// records what arrives in window.got; "/client.js" is the official browser client.
function pageServer() {
  const client = existsSync(CLIENT_JS) ? readFileSync(CLIENT_JS) : '';
  const server = http.createServer((req, res) => {
    if (req.url === '/client.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(client);
      return;
    }
    const u = new URL(req.url, 'http://x');
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(`<!doctype html><script src="/client.js"></script><script>
      window.got = [];
      const s = io(${JSON.stringify(u.searchParams.get('target'))}, {
        transports: [${JSON.stringify(u.searchParams.get('transport'))}],
        withCredentials: true, reconnection: false });
      s.on('connect', () => { window.sid = s.id; });
      s.on('connect_error', (e) => { window.failed = String(e && e.message); });
      s.onAny((event) => window.got.push(event));
    </script>`);
  });
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res(server)));
}

describe('cookies from a foreign page in Chromium', { skip }, () => {
  let browser, srv, foreign, listed;
  before(async () => {
    foreign = await pageServer();
    listed = await pageServer();
    srv = await startServer(
      `[auth]\njwt_secret = "${SECRET}"\n[testing]\nemit_routes = true\n` +
        `[socketio]\ncors_origins = ["http://127.0.0.1:${listed.address().port}"]\n`,
    );
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      timeout: 30000,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  after(async () => {
    if (browser) await browser.close();
    foreign?.close();
    listed?.close();
    if (srv) assert.equal((await srv.stop()).code, 0, srv.logs());
  });

  async function emit(body) {
    const r = await fetch(`http://127.0.0.1:${srv.port}/testing/emit`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(r.status, 200, await r.text());
  }

  for (const transport of ['websocket', 'polling']) {
    test(`${transport}: the foreign page's socket is not the user's; the listed page's is`, async () => {
      const user = `victim-${transport}`;
      const context = await browser.newContext();
      try {
        await context.addCookies([
          {
            name: 'token',
            value: signJwt({ sub: user, exp: nowS() + 600 }, { secret: SECRET }),
            domain: '127.0.0.1',
            path: '/',
          },
        ]);
        const target = `http://127.0.0.1:${srv.port}`;
        const pages = {};
        for (const [name, server] of [['foreign', foreign], ['listed', listed]]) {
          const page = await context.newPage();
          const url = `http://127.0.0.1:${server.address().port}/?transport=${transport}&target=${encodeURIComponent(target)}`;
          await page.goto(url);
          await page.waitForFunction(() => window.sid || window.failed, null, { timeout: 10000 });
          const failed = await page.evaluate(() => window.failed);
          if (name === 'foreign' && transport === 'polling') {
            // CORS already keeps a foreign page from reading polling answers with
            // credentials: the browser refuses them, so the page cannot even connect.
            assert.equal(failed, 'xhr poll error');
            continue;
          }
          assert.equal(failed, undefined, `${name} page failed to connect`);
          pages[name] = page;
        }
        await emit({ userId: user, event: 'for-the-user', payload: 1 });
        await emit({ event: 'barrier', payload: 2 });
        const got = {};
        await waitFor(
          async () => {
            for (const [name, page] of Object.entries(pages)) got[name] = await page.evaluate(() => window.got.slice());
            return Object.values(got).every((events) => events.includes('barrier'));
          },
          { timeoutMs: 10000, what: 'the barrier in both pages' },
        );
        if (pages.foreign)
          assert.deepEqual(got.foreign, ['barrier'], 'the foreign page got the user event: its cookie authenticated it');
        assert.deepEqual(got.listed, ['for-the-user', 'barrier']);
      } finally {
        await context.close();
      }
    });
  }
});
