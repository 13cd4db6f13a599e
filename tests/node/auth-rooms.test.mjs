// Authenticated user rooms with the official socket.io-client: every socket of a
// user joins user:{sub} and gets emit_to_user; the token comes from the cookie
// (any cookie name, tolerant parsing) or the CONNECT auth payload; a socket whose
// token expires is disconnected by the server.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  signJwt,
  nowS,
  httpApi,
  connectClient,
  emitAndCheck,
  waitFor,
  sleep,
  useServer as useAuthServer,
} from './lib/auth-helpers.mjs';

const SECRET = 'rooms-test-secret-0123456789abcdef';
const token = (sub, extra = {}) => signJwt({ sub, iat: nowS(), exp: nowS() + 3600, ...extra }, { secret: SECRET });

// Starts a server for one describe block: the shared secret plus extraAuth lines.
const useServer = (extraAuth) => useAuthServer(`jwt_secret = "${SECRET}"\n${extraAuth}`);

describe('user rooms (default auth settings)', () => {
  const ctx = useServer('');

  test('two tabs of one user both get emit_to_user; another user gets nothing', async () => {
    const before = await ctx.api.stats();
    // One tab stays on polling, the other is WebSocket only: the cookie works on both.
    const tab1 = await ctx.connect({ cookie: `token=${token('alice')}`, transports: ['polling'] });
    const tab2 = await ctx.connect({ cookie: `token=${token('alice')}`, transports: ['websocket'] });
    const bob = await ctx.connect({ cookie: `token=${token('bob')}` });
    const anon = await ctx.connect({});

    const r = await emitAndCheck(ctx.api, { userId: 'alice' }, [[tab1, 1], [tab2, 1], [bob, 0], [anon, 0]]);
    assert.equal(r.recipients, 2);
    assert.deepEqual(r.counts, r.expected);

    const r2 = await emitAndCheck(ctx.api, { userId: 'bob' }, [[tab1, 0], [tab2, 0], [bob, 1], [anon, 0]]);
    assert.equal(r2.recipients, 1);
    assert.deepEqual(r2.counts, r2.expected);

    // A user with no socket: nobody.
    const r3 = await emitAndCheck(ctx.api, { userId: 'carol' }, [[tab1, 0], [tab2, 0], [bob, 0], [anon, 0]]);
    assert.equal(r3.recipients, 0);
    assert.deepEqual(r3.counts, r3.expected);

    // The room name is user:{sub}; emitting to it as a room reaches the same sockets.
    const r4 = await emitAndCheck(ctx.api, { room: 'user:alice' }, [[tab1, 1], [tab2, 1], [bob, 0], [anon, 0]]);
    assert.equal(r4.recipients, 2);
    assert.deepEqual(r4.counts, r4.expected);

    // Only authenticated sockets get {"authenticated": true}.
    const r5 = await emitAndCheck(ctx.api, { authenticated: true }, [[tab1, 1], [tab2, 1], [bob, 1], [anon, 0]]);
    assert.equal(r5.recipients, 3);
    assert.deepEqual(r5.counts, r5.expected);

    const after = await ctx.api.stats();
    assert.equal(after.authOk - before.authOk, 3, 'three cookie tokens verified');
    assert.equal(after.authFailed - before.authFailed, 0);

    // A tab that leaves stops counting as a recipient.
    tab1.close();
    await waitFor(async () => (await ctx.api.stats()).sockets === 3, { what: 'tab1 gone' });
    const r6 = await emitAndCheck(ctx.api, { userId: 'alice' }, [[tab1, 0], [tab2, 1], [bob, 0]]);
    assert.equal(r6.recipients, 1);
    assert.deepEqual(r6.counts, r6.expected);
  });

  test('the CONNECT auth payload token authenticates; a cookie token wins over it', async () => {
    const before = await ctx.api.stats();
    const viaPayload = await ctx.connect({ auth: { token: token('dave') } });
    const r = await emitAndCheck(ctx.api, { userId: 'dave' }, [[viaPayload, 1]]);
    assert.equal(r.recipients, 1);
    assert.deepEqual(r.counts, [1]);

    // Over WebSocket only, too.
    const viaPayloadWs = await ctx.connect({ auth: { token: token('dave') }, transports: ['websocket'] });
    const r1 = await emitAndCheck(ctx.api, { userId: 'dave' }, [[viaPayload, 1], [viaPayloadWs, 1]]);
    assert.equal(r1.recipients, 2);
    assert.deepEqual(r1.counts, [1, 1]);

    // Cookie says erin, payload says frank: the socket is erin's only.
    const both = await ctx.connect({ cookie: `token=${token('erin')}`, auth: { token: token('frank') } });
    const r2 = await emitAndCheck(ctx.api, { userId: 'frank' }, [[both, 0]]);
    assert.equal(r2.recipients, 0);
    assert.deepEqual(r2.counts, [0]);
    const r3 = await emitAndCheck(ctx.api, { userId: 'erin' }, [[both, 1]]);
    assert.equal(r3.recipients, 1);
    assert.deepEqual(r3.counts, [1]);

    // A payload token that does not verify authenticates nobody.
    const forged = signJwt({ sub: 'gina', exp: nowS() + 60 }, { secret: 'wrong-secret' });
    const bad = await ctx.connect({ auth: { token: forged } });
    const r4 = await emitAndCheck(ctx.api, { userId: 'gina' }, [[bad, 0]]);
    assert.equal(r4.recipients, 0);
    assert.deepEqual(r4.counts, [0]);
    // Not a string: ignored.
    const notString = await ctx.connect({ auth: { token: { sub: 'gina' } } });
    const r5 = await emitAndCheck(ctx.api, { userId: 'gina' }, [[bad, 0], [notString, 0]]);
    assert.equal(r5.recipients, 0);

    const after = await ctx.api.stats();
    assert.equal(after.authOk - before.authOk, 3, 'dave twice and erin (frank is never checked)');
    assert.equal(after.authFailed - before.authFailed, 1, 'the forged payload token');
  });

  test('cookie parsing: several cookies, whitespace, quotes, first pair wins', async () => {
    const cases = [
      ['h1', (t) => `theme=dark; token=${t}; lang=en`],
      ['h2', (t) => `  a=1 ;   token =  ${t}  ;b=2`],
      ['h3', (t) => `token="${t}"`],
      ['h4', (t) => `other=x;token=${t}`],
      ['h5', (t) => `x="quoted; not a separator";token=${t}`],
      ['h6', (t) => `tok=bad; tokens=bad; token=${t}`],
    ];
    const clients = [];
    for (const [user, header] of cases) clients.push(await ctx.connect({ cookie: header(token(user)) }));
    for (let i = 0; i < cases.length; i++) {
      const expect = clients.map((c, j) => [c, i === j ? 1 : 0]);
      const r = await emitAndCheck(ctx.api, { userId: cases[i][0] }, expect);
      assert.equal(r.recipients, 1, `cookie header case ${cases[i][0]}`);
      assert.deepEqual(r.counts, r.expected, `cookie header case ${cases[i][0]}`);
    }

    // Two `token` pairs: the first one is the session.
    const dup = await ctx.connect({ cookie: `token=${token('first')}; token=${token('second')}` });
    const r1 = await emitAndCheck(ctx.api, { userId: 'first' }, [[dup, 1]]);
    assert.equal(r1.recipients, 1);
    const r2 = await emitAndCheck(ctx.api, { userId: 'second' }, [[dup, 0]]);
    assert.equal(r2.recipients, 0);
    assert.deepEqual(r2.counts, [0]);

    // A cookie whose name only resembles the configured one is not read.
    const lookalike = await ctx.connect({ cookie: `Token=${token('caps')}; xtoken=${token('caps')}` });
    const r3 = await emitAndCheck(ctx.api, { userId: 'caps' }, [[lookalike, 0]]);
    assert.equal(r3.recipients, 0);
    assert.deepEqual(r3.counts, [0]);
  });
});

describe('[auth] allow_auth_payload = false', () => {
  const ctx = useServer('allow_auth_payload = false');

  test('the CONNECT payload token is ignored, the cookie still works', async () => {
    const before = await ctx.api.stats();
    const viaPayload = await ctx.connect({ auth: { token: token('henry') } });
    const viaCookie = await ctx.connect({ cookie: `token=${token('henry')}` });
    const r = await emitAndCheck(ctx.api, { userId: 'henry' }, [[viaPayload, 0], [viaCookie, 1]]);
    assert.equal(r.recipients, 1);
    assert.deepEqual(r.counts, r.expected);
    const after = await ctx.api.stats();
    assert.equal(after.authOk - before.authOk, 1, 'the payload token is not even verified');
    assert.equal(after.authFailed - before.authFailed, 0);
  });
});

describe('[auth] cookie_name = "session"', () => {
  const ctx = useServer('cookie_name = "session"');

  test('the token is read from the configured cookie only', async () => {
    const custom = await ctx.connect({ cookie: `token=${token('ivan-wrong')}; session=${token('ivan')}` });
    const plain = await ctx.connect({ cookie: `token=${token('judy')}` });
    const spaced = await ctx.connect({ cookie: ` lang=fr ;  session = "${token('kate')}" ` });
    const r = await emitAndCheck(ctx.api, { userId: 'ivan' }, [[custom, 1], [plain, 0], [spaced, 0]]);
    assert.equal(r.recipients, 1);
    assert.deepEqual(r.counts, r.expected);
    const r2 = await emitAndCheck(ctx.api, { userId: 'ivan-wrong' }, [[custom, 0], [plain, 0], [spaced, 0]]);
    assert.equal(r2.recipients, 0);
    const r3 = await emitAndCheck(ctx.api, { userId: 'judy' }, [[custom, 0], [plain, 0], [spaced, 0]]);
    assert.equal(r3.recipients, 0);
    assert.deepEqual(r3.counts, r3.expected);
    const r4 = await emitAndCheck(ctx.api, { userId: 'kate' }, [[custom, 0], [plain, 0], [spaced, 1]]);
    assert.equal(r4.recipients, 1);
    assert.deepEqual(r4.counts, r4.expected);
  });
});

describe('token expiry while connected (clock_skew_s = 0)', () => {
  const ctx = useServer('clock_skew_s = 0');

  test('the server disconnects the socket at exp and the user is gone', async () => {
    // Align to the start of a second so exp is 2 s away (not 1.x s).
    await sleep(1000 - (Date.now() % 1000) + 20);
    const exp = nowS() + 2;
    const shortLived = await ctx.connect({ cookie: `token=${token('leo', { exp })}`, transports: ['websocket'] });
    const longLived = await ctx.connect({ cookie: `token=${token('leo', { exp: nowS() + 3600 })}` });
    // Polling only; polling upgraded to WebSocket after the handshake; and a token
    // from the CONNECT payload: the expiry applies on every path.
    const other = await ctx.connect({ cookie: `token=${token('mia', { exp })}`, transports: ['polling'] });
    const upgraded = await ctx.connect({ cookie: `token=${token('omar', { exp })}` });
    const viaPayload = await ctx.connect({ auth: { token: token('pia', { exp }) } });
    const r = await emitAndCheck(ctx.api, { userId: 'leo' }, [[shortLived, 1], [longLived, 1]], { settleMs: 50 });
    assert.equal(r.recipients, 2);
    const expiring = [shortLived, other, upgraded, viaPayload];
    for (const u of ['mia', 'omar', 'pia']) assert.equal((await ctx.api.emit({ userId: u, event: 'pre' })).recipients, 1);

    await waitFor(() => expiring.every((c) => c.disconnects.length > 0), {
      timeoutMs: 4000,
      what: 'server disconnect at exp',
    });
    for (const c of expiring) {
      assert.equal(c.disconnects.length, 1);
      assert.equal(c.disconnects[0].reason, 'io server disconnect');
      // Never before exp, and promptly after it.
      assert.ok(c.disconnects[0].at >= exp * 1000 - 50, `disconnected ${exp * 1000 - c.disconnects[0].at} ms early`);
      assert.ok(c.disconnects[0].at <= exp * 1000 + 1000, `disconnected ${c.disconnects[0].at - exp * 1000} ms late`);
    }
    assert.equal(longLived.disconnects.length, 0);
    assert.ok(longLived.socket.connected);

    const r2 = await emitAndCheck(ctx.api, { userId: 'leo' }, [[shortLived, 0], [longLived, 1]]);
    assert.equal(r2.recipients, 1, 'only the socket with the long-lived token is left');
    for (const [u, c] of [['mia', other], ['omar', upgraded], ['pia', viaPayload]]) {
      const r3 = await emitAndCheck(ctx.api, { userId: u }, [[c, 0]]);
      assert.equal(r3.recipients, 0);
      assert.deepEqual(r3.counts, [0]);
    }
    await waitFor(async () => (await ctx.api.stats()).sockets === 1, { what: 'expired sockets removed' });
  });

  test('an already expired token is refused at connect (no skew)', async () => {
    const before = await ctx.api.stats();
    const c = await ctx.connect({ cookie: `token=${token('nina', { exp: nowS() - 1 })}` });
    const r = await emitAndCheck(ctx.api, { userId: 'nina' }, [[c, 0]]);
    assert.equal(r.recipients, 0);
    assert.ok(c.socket.connected, 'still connected, only unauthenticated');
    const after = await ctx.api.stats();
    assert.equal(after.authFailed - before.authFailed, 1);
  });
});
