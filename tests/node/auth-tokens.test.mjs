// Token verification seen from the wire: a socket with a refused token is
// connected but belongs to no user, so emit_to_user for the sub it claims (and
// emits to authenticated sockets) never reach it, while a socket of the same
// user with a good token does. Covers HS256, RS256 and ES256 servers, the
// algorithm allow-list, "none", the algorithm-confusion attack, and the claim
// rules of [auth]: exp required by default, iss and aud when configured.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  signJwt,
  nowS,
  httpApi,
  connectClient,
  emitAndCheck,
  emitBatchAndCheck,
  waitFor,
  sleep,
  useServer,
} from './lib/auth-helpers.mjs';

const SECRET = 'tokens-test-secret-0123456789abcdef';
const hs = (claims, opts = {}) => signJwt(claims, { secret: SECRET, ...opts });
const claims = (sub, extra = {}) => ({ sub, iat: nowS(), exp: nowS() + 3600, ...extra });

const keyDir = mkdtempSync(join(tmpdir(), 'iogate-auth-keys-'));
const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsaPem = rsa.publicKey.export({ type: 'spki', format: 'pem' });
const rsaFile = join(keyDir, 'rsa.pub.pem');
writeFileSync(rsaFile, rsaPem);
const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ecPem = ec.publicKey.export({ type: 'spki', format: 'pem' });
const ecFile = join(keyDir, 'ec.pub.pem');
writeFileSync(ecFile, ecPem);
const otherRsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
const otherEc = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
after(() => rmSync(keyDir, { recursive: true, force: true }));


// Connects a socket with `badToken` claiming `sub` next to a control socket of the
// same user with `goodToken`, then checks that emit_to_user(sub) and the emit to
// every authenticated socket reach the control only, and how the counters moved.
async function expectRefused(ctx, { badToken, sub, goodToken, transports, failed = 1, controlInRoom = true }) {
  const s0 = await ctx.api.stats();
  const bad = await ctx.connect(badToken === undefined ? { transports } : { cookie: `token=${badToken}`, transports });
  const s1 = await ctx.api.stats();
  assert.equal(s1.authFailed - s0.authFailed, failed, 'authFailed after the refused token');
  assert.equal(s1.authOk - s0.authOk, 0, 'authOk after the refused token');
  assert.ok(bad.socket.connected, 'a refused token still gets a connected socket');

  const control = await ctx.connect({ cookie: `token=${goodToken}` });
  const s2 = await ctx.api.stats();
  assert.equal(s2.authOk - s1.authOk, 1, 'authOk after the control token');
  assert.equal(s2.authFailed - s1.authFailed, 0);

  const inRoom = controlInRoom ? 1 : 0;
  const [r1, r2, r3] = await emitBatchAndCheck(ctx.api, [
    { target: { userId: sub }, expect: [[bad, 0], [control, inRoom]] },
    { target: { authenticated: true }, expect: [[bad, 0], [control, 1]] },
    // The refused socket does get room-less broadcasts: it is connected, just anonymous.
    { target: {}, expect: [[bad, 1], [control, 1]] },
  ]);
  assert.equal(r1.recipients, inRoom, `emit_to_user(${JSON.stringify(sub)}) recipients`);
  assert.deepEqual(r1.counts, [0, inRoom]);
  assert.equal(r2.recipients, 1, 'authenticated-only emit recipients');
  assert.deepEqual(r2.counts, [0, 1]);
  assert.equal(r3.recipients, 2);
  assert.deepEqual(r3.counts, [1, 1]);
  bad.close();
  control.close();
  await waitFor(async () => (await ctx.api.stats()).sockets === 0, { what: 'sockets closed' });
}

async function expectAccepted(ctx, { token, sub, transports }) {
  const s0 = await ctx.api.stats();
  const c = await ctx.connect({ cookie: `token=${token}`, transports });
  const s1 = await ctx.api.stats();
  assert.equal(s1.authOk - s0.authOk, 1, 'authOk');
  assert.equal(s1.authFailed - s0.authFailed, 0, 'authFailed');
  const r = await emitAndCheck(ctx.api, { userId: sub }, [[c, 1]]);
  assert.equal(r.recipients, 1);
  assert.deepEqual(r.counts, [1]);
  c.close();
  await waitFor(async () => (await ctx.api.stats()).sockets === 0, { what: 'socket closed' });
}

describe('HS256 server (algorithms = ["HS256"], clock_skew_s = 30)', () => {
  const ctx = useServer(`jwt_secret = "${SECRET}"\nalgorithms = ["HS256"]`);

  test('a valid HS256 token authenticates (polling and websocket)', async () => {
    await expectAccepted(ctx, { token: hs(claims('ok-1')), sub: 'ok-1', transports: ['polling'] });
    await expectAccepted(ctx, { token: hs(claims('ok-2')), sub: 'ok-2', transports: ['websocket'] });
    // Within the 30 s leeway for nbf.
    await expectAccepted(ctx, { token: hs(claims('ok-3', { nbf: nowS() + 10 })), sub: 'ok-3' });
  });

  test('an Authorization: Bearer header on the handshake authenticates like the cookie, and wins over it', async () => {
    for (const transports of [['polling'], ['websocket']]) {
      const sub = `bearer-${transports[0]}`;
      const s0 = await ctx.api.stats();
      const c = await ctx.connect({ authorization: `Bearer ${hs(claims(sub))}`, transports });
      // A forged Bearer is refused even next to a good cookie: the header is what was offered.
      const forged = signJwt(claims(sub), { secret: 'some-other-secret' });
      const bad = await ctx.connect({ authorization: `Bearer ${forged}`, cookie: `token=${hs(claims(sub))}`, transports });
      const s1 = await ctx.api.stats();
      assert.equal(s1.authOk - s0.authOk, 1, 'authOk');
      assert.equal(s1.authFailed - s0.authFailed, 1, 'authFailed');
      const r = await emitAndCheck(ctx.api, { userId: sub }, [[c, 1], [bad, 0]]);
      assert.equal(r.recipients, 1);
      c.close();
      bad.close();
      await waitFor(async () => (await ctx.api.stats()).sockets === 0, { what: 'sockets closed' });
    }
  });

  test('no cookie: connected, anonymous, no counter moves', async () => {
    await expectRefused(ctx, { badToken: undefined, sub: 'u-none', goodToken: hs(claims('u-none')), failed: 0 });
  });

  test('bad signature', async () => {
    const forged = signJwt(claims('u-badsig'), { secret: 'some-other-secret' });
    await expectRefused(ctx, { badToken: forged, sub: 'u-badsig', goodToken: hs(claims('u-badsig')) });
    // A genuine signature moved onto a payload claiming another user.
    const genuine = hs(claims('u-honest')).split('.');
    const swapped = Buffer.from(JSON.stringify(claims('u-swapped'))).toString('base64url');
    const tampered = `${genuine[0]}.${swapped}.${genuine[2]}`;
    await expectRefused(ctx, {
      badToken: tampered,
      sub: 'u-swapped',
      goodToken: hs(claims('u-swapped')),
      transports: ['websocket'],
    });
    // Signature stripped.
    const stripped = hs(claims('u-stripped')).split('.').slice(0, 2).join('.') + '.';
    await expectRefused(ctx, { badToken: stripped, sub: 'u-stripped', goodToken: hs(claims('u-stripped')) });
  });

  test('expired beyond the skew, and not yet valid beyond the skew', async () => {
    const expired = hs(claims('u-expired', { iat: nowS() - 7200, exp: nowS() - 120 }));
    await expectRefused(ctx, { badToken: expired, sub: 'u-expired', goodToken: hs(claims('u-expired')) });
    const early = hs(claims('u-nbf', { nbf: nowS() + 120 }));
    await expectRefused(ctx, { badToken: early, sub: 'u-nbf', goodToken: hs(claims('u-nbf')) });
    // exp must be a number.
    const stringExp = hs(claims('u-strexp', { exp: String(nowS() + 3600) }));
    await expectRefused(ctx, { badToken: stringExp, sub: 'u-strexp', goodToken: hs(claims('u-strexp')) });
  });

  test('alg "none" is refused, with or without a signature, in any case', async () => {
    for (const alg of ['none', 'None', 'NONE']) {
      const sub = `u-${alg}`;
      const badToken = signJwt(claims(sub), { alg: 'none', header: { alg } });
      await expectRefused(ctx, { badToken, sub, goodToken: hs(claims(sub)) });
    }
    // "none" in the header over a valid HS256 signature.
    const t = hs(claims('u-none-sig'), { header: { alg: 'none' } });
    await expectRefused(ctx, { badToken: t, sub: 'u-none-sig', goodToken: hs(claims('u-none-sig')) });
  });

  test('algorithms outside the allow-list are refused even with the right secret', async () => {
    for (const alg of ['HS384', 'HS512']) {
      const sub = `u-${alg}`;
      await expectRefused(ctx, { badToken: hs(claims(sub), { alg }), sub, goodToken: hs(claims(sub)) });
    }
    // An RS256 token on a server without any public key.
    const rs = signJwt(claims('u-rs-on-hs'), { alg: 'RS256', key: rsa.privateKey });
    await expectRefused(ctx, { badToken: rs, sub: 'u-rs-on-hs', goodToken: hs(claims('u-rs-on-hs')) });
  });

  test('sub must be a non-empty string', async () => {
    // A numeric sub is refused, so emit_to_user("42") does not reach it.
    await expectRefused(ctx, { badToken: hs(claims(42)), sub: '42', goodToken: hs(claims('42')) });
    // An empty sub would name the room "user:"; the control socket here is someone else's.
    const someone = hs(claims('someone'));
    await expectRefused(ctx, { badToken: hs(claims('')), sub: '', goodToken: someone, controlInRoom: false });
    // Other non-string subs.
    for (const sub of [null, true, ['a'], { id: 'a' }]) {
      await expectRefused(ctx, { badToken: hs(claims(sub)), sub: String(sub), goodToken: hs(claims(String(sub))) });
    }
  });

  test('malformed tokens', async () => {
    const good = hs(claims('u-malformed'));
    for (const bad of ['garbage', 'a.b.c', good.slice(0, -3) + '!!!', `${good}.extra`, hs('not json')]) {
      await expectRefused(ctx, { badToken: bad, sub: 'u-malformed', goodToken: good });
    }
    const noSub = hs({ exp: nowS() + 3600 });
    await expectRefused(ctx, { badToken: noSub, sub: 'undefined', goodToken: hs(claims('undefined')) });
  });
});

describe('RS256 server (jwt_public_key_file, algorithms = ["RS256"])', () => {
  const ctx = useServer(`jwt_public_key_file = "${rsaFile}"\nalgorithms = ["RS256"]`);
  const rs = (c) => signJwt(c, { alg: 'RS256', key: rsa.privateKey });

  test('a valid RS256 token authenticates', async () => {
    await expectAccepted(ctx, { token: rs(claims('r-ok')), sub: 'r-ok' });
    await expectAccepted(ctx, { token: rs(claims('r-ok-ws')), sub: 'r-ok-ws', transports: ['websocket'] });
  });

  test('algorithm confusion: HS256 signed with the public key PEM is refused', async () => {
    for (const secret of [rsaPem, rsaPem.trim(), rsa.publicKey.export({ type: 'spki', format: 'der' })]) {
      const t = signJwt(claims('r-confused'), { alg: 'HS256', secret });
      await expectRefused(ctx, { badToken: t, sub: 'r-confused', goodToken: rs(claims('r-confused')) });
    }
  });

  test('RS256 signed by another key, and RS512 with the right key, are refused', async () => {
    const other = signJwt(claims('r-other'), { alg: 'RS256', key: otherRsa.privateKey });
    await expectRefused(ctx, { badToken: other, sub: 'r-other', goodToken: rs(claims('r-other')) });
    const rs512 = signJwt(claims('r-512'), { alg: 'RS512', key: rsa.privateKey });
    await expectRefused(ctx, { badToken: rs512, sub: 'r-512', goodToken: rs(claims('r-512')) });
  });
});

describe('HS256 + RS256 server (secret and public key both configured)', () => {
  const ctx = useServer(`jwt_secret = "${SECRET}"\njwt_public_key_file = "${rsaFile}"\nalgorithms = ["HS256", "RS256"]`);
  const rs = (c) => signJwt(c, { alg: 'RS256', key: rsa.privateKey });

  test('both algorithms authenticate with their own key', async () => {
    await expectAccepted(ctx, { token: hs(claims('m-hs')), sub: 'm-hs' });
    await expectAccepted(ctx, { token: rs(claims('m-rs')), sub: 'm-rs' });
  });

  test('algorithm confusion with HS256 allowed: the PEM is never an HMAC key', async () => {
    const t = signJwt(claims('m-confused'), { alg: 'HS256', secret: rsaPem });
    await expectRefused(ctx, { badToken: t, sub: 'm-confused', goodToken: hs(claims('m-confused')) });
    // And the secret is never an RSA key: an RS256 header over an HMAC signature.
    const mac = hs(claims('m-confused2'), { header: { alg: 'RS256' } });
    await expectRefused(ctx, { badToken: mac, sub: 'm-confused2', goodToken: rs(claims('m-confused2')) });
  });
});

describe('ES256 server (P-256 public key, algorithms = ["ES256"])', () => {
  const ctx = useServer(`jwt_public_key_file = "${ecFile}"\nalgorithms = ["ES256"]`);
  const es = (c, key = ec.privateKey) => signJwt(c, { alg: 'ES256', key });

  test('a valid ES256 token authenticates', async () => {
    await expectAccepted(ctx, { token: es(claims('e-ok')), sub: 'e-ok' });
    await expectAccepted(ctx, { token: es(claims('e-ok-ws')), sub: 'e-ok-ws', transports: ['websocket'] });
  });

  test('ES256 by another key, HS256 with the PEM, and RS256 are refused', async () => {
    await expectRefused(ctx, { badToken: es(claims('e-other'), otherEc.privateKey), sub: 'e-other', goodToken: es(claims('e-other')) });
    const confused = signJwt(claims('e-confused'), { alg: 'HS256', secret: ecPem });
    await expectRefused(ctx, { badToken: confused, sub: 'e-confused', goodToken: es(claims('e-confused')) });
    const rs = signJwt(claims('e-rs'), { alg: 'RS256', key: rsa.privateKey });
    await expectRefused(ctx, { badToken: rs, sub: 'e-rs', goodToken: es(claims('e-rs')) });
  });
});

describe('clock_skew_s leeway while connected', () => {
  const ctx = useServer(`jwt_secret = "${SECRET}"\nclock_skew_s = 3`);

  // A token the verifier accepts because of the leeway (valid while now < exp + skew)
  // should not be cut off before exp + skew either.
  test(
    'a socket token already past exp (accepted only by the leeway) connects unauthenticated',
    async () => {
      // Sockets are cut off at exp, so a token past exp is not worth a user room: the socket
      // connects like one without a token, and is not disconnected.
      const exp = nowS() - 1; // expired, but within the 3 s leeway
      const c = await ctx.connect({ cookie: `token=${hs(claims('s-late', { exp }))}` });
      const r = await emitAndCheck(ctx.api, { userId: 's-late' }, [[c, 0]], { settleMs: 100 });
      assert.equal(r.recipients, 0);
      await sleep(300);
      assert.equal(c.disconnects.length, 0, 'still connected, as an anonymous socket');
    },
  );});

describe('a token without exp ([auth] require_exp, true by default)', () => {
  const ctx = useServer(`jwt_secret = "${SECRET}"`);

  test('is refused: the WebSocket client connects unauthenticated', async () => {
    const noExp = hs({ sub: 'u-noexp', iat: nowS() });
    await expectRefused(ctx, { badToken: noExp, sub: 'u-noexp', goodToken: hs(claims('u-noexp')), transports: ['websocket'] });
    await expectRefused(ctx, { badToken: noExp, sub: 'u-noexp', goodToken: hs(claims('u-noexp')), transports: ['polling'] });
  });
});

describe('a token without exp with require_exp = false', () => {
  const ctx = useServer(`jwt_secret = "${SECRET}"\nrequire_exp = false`);

  test('is accepted, deliberately, and never cut off', async () => {
    await expectAccepted(ctx, { token: hs({ sub: 'u-noexp-ok', iat: nowS() }), sub: 'u-noexp-ok', transports: ['websocket'] });
    // An expired token is still refused: only a missing exp is let through.
    const expired = hs(claims('u-expired-2', { exp: nowS() - 120 }));
    await expectRefused(ctx, { badToken: expired, sub: 'u-expired-2', goodToken: hs(claims('u-expired-2')) });
  });
});

describe('[auth] issuer and audience', () => {
  const ISS = 'https://auth.example.com';
  const ctx = useServer(`jwt_secret = "${SECRET}"\nissuer = "${ISS}"\naudience = "iogate"`);

  test('a token from that issuer for that audience (a string or in an array) is accepted', async () => {
    await expectAccepted(ctx, { token: hs(claims('ia-1', { iss: ISS, aud: 'iogate' })), sub: 'ia-1', transports: ['websocket'] });
    await expectAccepted(ctx, { token: hs(claims('ia-2', { iss: ISS, aud: ['rest-api', 'iogate'] })), sub: 'ia-2' });
  });

  test('a missing or different iss or aud is refused', async () => {
    const good = (sub) => hs(claims(sub, { iss: ISS, aud: 'iogate' }));
    const bad = {
      'ia-no-iss': { aud: 'iogate' },
      'ia-other-iss': { iss: 'https://other.example.com', aud: 'iogate' },
      'ia-no-aud': { iss: ISS },
      'ia-other-aud': { iss: ISS, aud: ['rest-api'] },
    };
    for (const [sub, extra] of Object.entries(bad))
      await expectRefused(ctx, { badToken: hs(claims(sub, extra)), sub, goodToken: good(sub), transports: ['websocket'] });
  });
});
