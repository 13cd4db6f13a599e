// The command line: --version, --help, --check-config with good and bad files (the
// notifications plugin's settings too, read without connecting to its database), a clean
// exit on SIGINT with a request in flight, `genconfig` and `token` (its tokens used by the
// official socket.io-client and on REST against a running server), and `make run`'s hints.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync, copyFileSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync,
  symlinkSync, writeFileSync,
} from 'node:fs';
import net from 'node:net';
import { io } from 'socket.io-client';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, BUILD_DIR, ROOT, startServer } from './lib/server.mjs';
import { freePort } from './lib/redis.mjs';

const dir = mkdtempSync(join(tmpdir(), 'iogate-cli-'));
const run = (...args) => spawnSync(BIN, args, { cwd: ROOT, encoding: 'utf8' });

test('--version and --help', () => {
  assert.match(run('--version').stdout, /^iogate \d+\.\d+\.\d+/);
  const help = run('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--check-config/);
  assert.match(help.stdout, /iogate genconfig \[--force\] \[FILE\]/);
  assert.match(help.stdout, /iogate token --config FILE --sub ID \[--claim k=v\]\.\.\. \[--ttl 1h\]/);
  assert.equal(run('--bogus').status, 2);
});

test('--check-config accepts the shipped configuration', () => {
  const r = run('--check-config', 'config/iogate.toml');
  assert.equal(r.status, 0, r.stderr);
});

test('--check-config rejects a misspelt key with file:line:column and a suggestion', () => {
  const file = join(dir, 'typo.toml');
  writeFileSync(file, '[server]\nhost = "127.0.0.1"\nprot = 3000\n');
  const r = run('--check-config', file);
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`${file.replace(/[.]/g, '\\.')}:3:1: unknown key 'prot' in \\[server\\] \\(did you mean 'port'\\?\\)`));
});

test('--check-config rejects bad values, unknown tables and TOML syntax errors', () => {
  const cases = [
    ['[server]\nport = 70000\n', /:2:1: \[server\] port must be between 0 and 65535/],
    ['[server]\nport = "3000"\n', /:2:1: \[server\] port must be an integer/],
    ['[sever]\nport = 1\n', /:1:\d+: unknown table \[sever\] \(did you mean \[server\]\?\)/],
    ['[log]\nlevel = "loud"\n', /:2:1: \[log\] level must be one of/],
    ['[server]\nport = 30 00\n', /:2:\d+: /],
    ['[plugins]\nload = ["../evil"]\n', /invalid plugin name/],
  ];
  for (const [text, re] of cases) {
    const file = join(dir, 'bad.toml');
    writeFileSync(file, text);
    const r = run('--check-config', file);
    assert.equal(r.status, 1, text);
    assert.match(r.stderr, re, text);
  }
  assert.equal(run('--check-config', join(dir, 'missing.toml')).status, 1);
});

test('--check-config refuses an HMAC secret shorter than the hash, inline or from a file', () => {
  const cases = [
    // [auth] lines, the message (after "iogate: ")
    ['jwt_secret = "change-me"', /bad\.toml:2:1: \[auth\] jwt_secret: HS256 needs at least 32 bytes, this one has 9 \(RFC 7518 section 3\.2/],
    [`jwt_secret = "${'x'.repeat(40)}"\nalgorithms = ["HS256", "HS512"]`, /:2:1: \[auth\] jwt_secret: HS512 needs at least 64 bytes, this one has 40/],
  ];
  const secretFile = join(dir, 'jwt.secret');
  writeFileSync(secretFile, 'short-secret-from-a-file\n'); // the newline is not part of it
  cases.push([`jwt_secret_file = "${secretFile}"`, new RegExp(`\\[auth\\] jwt_secret_file "${secretFile.replace(/[.]/g, '\\.')}": HS256 needs at least 32 bytes, this one has 24 \\(RFC 7518`)]);
  for (const [auth, re] of cases) {
    const file = join(dir, 'bad.toml');
    writeFileSync(file, `[auth]\n${auth}\n`);
    const r = run('--check-config', file);
    assert.equal(r.status, 1, auth);
    assert.match(r.stderr, re, auth);
    // The server refuses to start with the same message.
    const start = spawnSync(BIN, ['--config', file], { cwd: ROOT, encoding: 'utf8', timeout: 20000 });
    assert.equal(start.status, 1, auth);
    assert.match(start.stderr, re, auth);
  }
  // 32 bytes are enough for HS256, inline or from a file.
  writeFileSync(secretFile, `${'s'.repeat(32)}\n`);
  for (const auth of [`jwt_secret = "${'s'.repeat(32)}"`, `jwt_secret_file = "${secretFile}"`]) {
    const file = join(dir, 'good.toml');
    writeFileSync(file, `[auth]\n${auth}\n`);
    const r = run('--check-config', file);
    assert.equal(r.status, 0, r.stderr);
  }
  // An unreadable key file is found by --check-config too.
  const file = join(dir, 'missing-key.toml');
  writeFileSync(file, `[auth]\njwt_secret_file = "${join(dir, 'no-such-secret')}"\n`);
  const r = run('--check-config', file);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot read .*no-such-secret/);
});

test('--print-config prints the effective configuration as valid TOML', () => {
  const r = run('--print-config');
  assert.equal(r.status, 0);
  assert.match(r.stdout, /\[server\]\nhost = "127.0.0.1"\nport = 3000/);
  const file = join(dir, 'printed.toml');
  writeFileSync(file, r.stdout);
  assert.equal(run('--check-config', file).status, 0);
});

test('SIGINT stops the server cleanly with exit code 0', async () => {
  const server = await startServer('[server]\nshutdown_grace_ms = 2000\n');
  const res = await fetch(`http://127.0.0.1:${server.port}/healthz`);
  assert.equal(res.status, 200);
  const r = await server.stop('SIGINT');
  assert.equal(r.code, 0);
  assert.match(server.logs(), /shutting down/);
});

test('--check-config finds the plugins that would not load: missing, or writable by others', () => {
  const plugins = mkdtempSync(join(tmpdir(), 'iogate-cli-plugins-'));
  const file = join(dir, 'plugins.toml');
  writeFileSync(file, `[plugins]\ndir = "${plugins}"\nload = ["nothere"]\n`);
  let r = run('--check-config', file);
  assert.equal(r.status, 1);
  assert.match(r.stderr, new RegExp(`plugin ${plugins}/nothere\\.so: cannot load: No such file`));

  copyFileSync(join(BUILD_DIR, 'plugins', 'notifications.so'), join(plugins, 'notifications.so'));
  chmodSync(plugins, 0o755);
  writeFileSync(file, `[plugins]\ndir = "${plugins}"\nload = ["notifications"]\n`);
  r = run('--check-config', file);
  assert.equal(r.status, 0, r.stderr);
  chmodSync(join(plugins, 'notifications.so'), 0o666);
  r = run('--check-config', file);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /notifications\.so: refused: the file .* is writable by group and others \(mode 0666\)/);
  writeFileSync(file, `[plugins]\ndir = "${plugins}"\nload = ["notifications"]\nallow_insecure_permissions = true\n`);
  assert.equal(run('--check-config', file).status, 0);
  rmSync(plugins, { recursive: true, force: true });
});

// Runs iogate asynchronously (so that a listener of this process can accept meanwhile).
const runAsync = (...args) =>
  new Promise((res) => {
    const p = spawn(BIN, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('exit', (status) => res({ status, stdout, stderr }));
  });

test('--check-config reads a PostgreSQL database setting without connecting to it', async () => {
  // A listener where the URL points: --check-config must never connect to it.
  let connections = 0;
  const listener = net.createServer((s) => {
    connections++;
    s.destroy();
  });
  await new Promise((res) => listener.listen(0, '127.0.0.1', res));
  const port = listener.address().port;
  const file = join(dir, 'pg.toml');
  try {
    const good = [
      [`postgresql://bob:s3cret-pw@127.0.0.1:${port}/app?sslmode=require`, `host 127.0.0.1 port ${port} database app user bob sslmode require`],
      [`postgres://127.0.0.1:${port}/other`, `host 127.0.0.1 port ${port} database other`],
      [`host=127.0.0.1 port=${port} dbname=kv user=carol password=s3cret-pw connect_timeout=3`, `host 127.0.0.1 port ${port} database kv user carol`],
    ];
    for (const [url, where] of good) {
      writeFileSync(file, `[plugin.notifications]\ndatabase = "${url}"\npool_size = 16\nstatement_timeout_ms = 2500\n`);
      const r = await runAsync('--check-config', file);
      assert.equal(r.status, 0, r.stderr);
      assert.ok(
        r.stdout.includes(`plugin notifications 1.0.0: store: PostgreSQL ${where}, pool of 16, statement timeout 2500 ms (not connected`),
        r.stdout,
      );
      assert.match(r.stdout, /configuration is valid/);
      assert.doesNotMatch(r.stdout + r.stderr, /s3cret-pw/);
    }
    assert.equal(connections, 0, 'nothing connected to the database server');
  } finally {
    listener.close();
  }
});

test('--check-config refuses bad notifications settings, naming the key; the server refuses them the same way', () => {
  const file = join(dir, 'pg-bad.toml');
  const url = 'postgresql://bob:s3cret-pw@127.0.0.1:5432/app';
  const cases = [
    // [plugin.notifications] lines, the message
    [`database = "postgresql://bob:s3cret-pw@127.0.0.1:99999/app"`, /database: port "99999" is not a port number \(1\.\.65535\)/],
    [`database = "${url}?sslmode=sometimes"`, /database: sslmode "sometimes" is not one of disable allow prefer require verify-ca verify-full/],
    [`database = "${url}?nosuchoption=1"`, /database: not a PostgreSQL connection string: invalid URI query parameter: "nosuchoption"/],
    [`database = "postgresql://bob:s3cret-pw@[::1/app"`, /database: not a PostgreSQL connection string: .*"postgresql:\/\/bob:\*\*\*@\[::1\/app"/],
    [`database = "host=a,b port=1,2,3 dbname=x"`, /database: 3 ports for 2 hosts/],
    [`database = "host=a connect_timeout=soon"`, /database: connect_timeout "soon" is not a number of seconds/],
    [`database = "mysql://bob:s3cret-pw@db/app"`, /database: unknown scheme "mysql:\/\/"/],
    [`database = ""`, /\[plugin\.notifications\] database must not be empty/],
    [`database = "${url}"\npool_size = 0`, /\[plugin\.notifications\] pool_size = 0 is out of range \(1\.\.64\)/],
    [`database = "${url}"\npool_size = 65`, /pool_size = 65 is out of range/],
    [`database = "${url}"\nstatement_timeout_ms = -1`, /statement_timeout_ms = -1 is out of range \(0\.\.3600000\)/],
    [`database = "${url}"\nstatement_timeout_ms = "10s"`, /pg-bad\.toml:\d+:1: \[plugin\.notifications\] statement_timeout_ms must be an integer/],
    [`database = "${url}"\npool = 4`, /pg-bad\.toml:\d+:1: unknown key 'pool' in \[plugin\.notifications\]/],
  ];
  for (const [lines, re] of cases) {
    writeFileSync(file, `[plugin.notifications]\n${lines}\n`);
    const r = run('--check-config', file);
    assert.equal(r.status, 1, lines);
    assert.match(r.stderr, /^iogate: plugin \S+notifications\.so \(notifications 1\.0\.0\): invalid configuration/, lines);
    assert.match(r.stderr, re, lines);
    assert.doesNotMatch(r.stderr, /s3cret-pw/, lines);
    // The server refuses to start with the same message, before connecting to anything.
    writeFileSync(file, `[server]\nport = 0\n[plugin.notifications]\n${lines}\n`);
    const start = spawnSync(BIN, ['--config', file], { cwd: ROOT, encoding: 'utf8', timeout: 20000 });
    assert.equal(start.status, 1, lines);
    assert.match(start.stderr, re, lines);
    assert.doesNotMatch(start.stderr, /s3cret-pw/, lines);
  }
});

test('--check-config names the SQLite file it would use and does not create it', () => {
  const db = join(dir, 'not-yet', 'notifications.db');
  const file = join(dir, 'sqlite.toml');
  writeFileSync(file, `[plugin.notifications]\ndatabase = "${db}"\n`);
  const r = run('--check-config', file);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.stdout.includes(`plugin notifications 1.0.0: store: SQLite ${db} (created at start, with its directory)`), r.stdout);
  assert.equal(existsSync(join(dir, 'not-yet')), false);
  writeFileSync(file, `[plugin.notifications]\ndatabase = "${dir}"\n`);
  const d = run('--check-config', file);
  assert.equal(d.status, 1);
  assert.match(d.stderr, /database: .* is a directory/);
});

// ---------------------------------------------------------------- genconfig and token

const SHIPPED = readFileSync(join(ROOT, 'config/iogate.toml'), 'utf8');
const SECRET_RE = /^jwt_secret = "([A-Za-z0-9+/]{86}==)"$/m;
const decodePart = (part) => JSON.parse(Buffer.from(part, 'base64url'));
const hmac = (hash, secret, data) => crypto.createHmac(hash, secret).update(data).digest('base64url');

// The generated text is the shipped file with its commented example secret replaced.
function withoutSecret(text) {
  return text
    .split('\n')
    .filter((l) => !/^(# )?jwt_secret = /.test(l) && !/^# (Written by `iogate genconfig`|whatever issues)/.test(l))
    .join('\n');
}

test('genconfig prints the shipped configuration with a fresh 64-byte secret', () => {
  const a = run('genconfig');
  const b = run('genconfig', '-');
  assert.equal(a.status, 0, a.stderr);
  assert.equal(b.status, 0, b.stderr);
  const sa = a.stdout.match(SECRET_RE)?.[1];
  const sb = b.stdout.match(SECRET_RE)?.[1];
  assert.ok(sa && sb, a.stdout);
  assert.equal(Buffer.from(sa, 'base64').length, 64);
  assert.notEqual(sa, sb, 'a new secret each time');
  assert.equal(withoutSecret(a.stdout), withoutSecret(SHIPPED), 'every key and comment of config/iogate.toml');
});

test('genconfig FILE: mode 0600, loads with --check-config, never clobbers nor follows a symlink', () => {
  const gdir = mkdtempSync(join(tmpdir(), 'iogate-genconfig-'));
  const file = join(gdir, 'iogate.toml');
  let r = run('genconfig', file);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`wrote ${file.replace(/[.]/g, '\\.')} \\(mode 0600\\)`));
  assert.match(r.stdout, /token --config .* --sub alice/);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  const first = readFileSync(file, 'utf8');
  assert.match(first, SECRET_RE);
  r = run('--check-config', file);
  assert.equal(r.status, 0, r.stderr);

  // An existing file is kept; --force replaces it, secret included.
  r = run('genconfig', file);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /iogate genconfig: .*iogate\.toml already exists \(--force replaces it/);
  assert.equal(readFileSync(file, 'utf8'), first);
  r = run('genconfig', '--force', file);
  assert.equal(r.status, 0, r.stderr);
  assert.notEqual(readFileSync(file, 'utf8').match(SECRET_RE)[1], first.match(SECRET_RE)[1]);

  // A symlink at FILE is never written through, even with --force (the link is replaced).
  const victim = join(gdir, 'victim');
  const link = join(gdir, 'link.toml');
  writeFileSync(victim, 'keep me\n');
  symlinkSync(victim, link);
  assert.equal(run('genconfig', link).status, 1);
  assert.equal(readFileSync(victim, 'utf8'), 'keep me\n');
  assert.equal(run('genconfig', '--force', link).status, 0);
  assert.equal(readFileSync(victim, 'utf8'), 'keep me\n');
  assert.ok(lstatSync(link).isFile());
  assert.deepEqual(readdirSync(gdir).sort(), ['iogate.toml', 'link.toml', 'victim'], 'no temporary file left');

  r = run('genconfig', join(gdir, 'no-such-dir', 'x.toml'));
  assert.equal(r.status, 1);
  assert.match(r.stderr, /cannot create .*no-such-dir\/x\.toml: No such file or directory/);
  assert.equal(run('genconfig', '--bogus').status, 2);
  assert.equal(run('genconfig', 'a.toml', 'b.toml').status, 2);
  assert.equal(run('genconfig', '--help').status, 0);
  rmSync(gdir, { recursive: true, force: true });
});

// A config file for the token tests that need no server.
function tokenConfig(name, text) {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

test('token: claims, lifetime, issuer and audience; HS256 by default, HS512 when that is what the server takes', () => {
  const secret = crypto.randomBytes(48).toString('base64');
  const file = tokenConfig('token.toml',
    `[auth]\njwt_secret = "${secret}"\nissuer = "https://issuer.example"\naudience = "iogate"\n`);
  const before = Math.floor(Date.now() / 1000);
  const r = run('token', '--config', file, '--sub', 'alice', '--ttl', '2h', '--claim', 'team=blue',
    '--claim', 'groups:=["a","b"]', '--claim', 'level:=3');
  assert.equal(r.status, 0, r.stderr);
  const token = r.stdout.trim();
  assert.equal(r.stdout, `${token}\n`, 'the token alone on stdout');
  const [h, p, s] = token.split('.');
  assert.deepEqual(decodePart(h), { alg: 'HS256', typ: 'JWT' });
  assert.equal(s, hmac('sha256', secret, `${h}.${p}`));
  const claims = decodePart(p);
  assert.ok(claims.iat >= before && claims.iat <= before + 5, `iat ${claims.iat}`);
  assert.deepEqual(claims, {
    sub: 'alice', iat: claims.iat, exp: claims.iat + 7200, iss: 'https://issuer.example', aud: 'iogate',
    team: 'blue', groups: ['a', 'b'], level: 3,
  });
  const plain = decodePart(run('token', '--config', file, '--sub', 'bob').stdout.split('.')[1]);
  assert.equal(plain.exp - plain.iat, 3600, 'default ttl 1h');

  // From a secret file, with the algorithm the server accepts.
  const secretFile = join(dir, 'hs512.secret');
  const long = crypto.randomBytes(64).toString('hex');
  writeFileSync(secretFile, `${long}\n`);
  const f512 = tokenConfig('hs512.toml', `[auth]\njwt_secret_file = "${secretFile}"\nalgorithms = ["HS512", "HS256"]\n`);
  const r512 = run('token', '--config', f512, '--sub', '42', '--ttl', '30m');
  assert.equal(r512.status, 0, r512.stderr);
  const t = r512.stdout.trim().split('.');
  assert.deepEqual(decodePart(t[0]), { alg: 'HS512', typ: 'JWT' });
  assert.equal(t[2], hmac('sha512', long, `${t[0]}.${t[1]}`));
});

test('token: bad arguments are usage errors (exit 2) that say what is wrong', () => {
  const file = tokenConfig('usage.toml', `[auth]\njwt_secret = "${'k'.repeat(32)}"\n`);
  const cases = [
    [[], /--config FILE is required/],
    [['--config', file], /--sub ID is required/],
    [['--config', file, '--sub', ''], /--sub must not be empty/],
    [['--config', file, '--sub'], /--sub needs a value/],
    [['--config', file, '--sub', 'a', '--ttl', '0'], /--ttl '0': expected a number and a unit \(s, m, h, d\), from 1s to 366d/],
    [['--config', file, '--sub', 'a', '--ttl', '1y'], /--ttl '1y'/],
    [['--config', file, '--sub', 'a', '--ttl', '367d'], /--ttl '367d'/],
    [['--config', file, '--sub', 'a', '--ttl', '-1h'], /--ttl '-1h'/],
    [['--config', file, '--sub', 'a', '--claim', 'novalue'], /--claim 'novalue': expected NAME=VALUE or NAME:=JSON/],
    [['--config', file, '--sub', 'a', '--claim', '=x'], /the claim name is empty/],
    [['--config', file, '--sub', 'a', '--claim', 'n:={bad'], /--claim n:=\.\.\.: not JSON/],
    [['--config', file, '--sub', 'a', '--claim', 'x=1', '--claim', 'x=2'], /--claim x: given twice/],
    [['--config', file, '--sub', 'a', '--claim', 'sub=b'], /--claim sub: set by --sub/],
    [['--config', file, '--sub', 'a', '--claim', 'exp:=1'], /--claim exp: set by --ttl/],
    [['--config', file, '--sub', 'a', '--bogus'], /unknown argument '--bogus'/],
  ];
  for (const [args, re] of cases) {
    const r = run('token', ...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, re, args.join(' '));
    assert.match(r.stderr, /usage: iogate token --config FILE --sub ID/);
    assert.equal(r.stdout, '');
  }
  const help = run('token', '--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--claim NAME=VALUE/);
});

test('token: a configuration it cannot sign for is refused (exit 1), saying what to do', () => {
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const pub = join(dir, 'ec.pub');
  writeFileSync(pub, ec.publicKey.export({ type: 'spki', format: 'pem' }));
  const issuerConfig = tokenConfig('iss.toml', `[auth]\njwt_secret = "${'k'.repeat(32)}"\nissuer = "me"\n`);
  const cases = [
    [join(dir, 'missing.toml'), /iogate token: .*missing\.toml: No such file/],
    [tokenConfig('nokey.toml', '[server]\nport = 0\n'), /configures no JWT key, so the server accepts no token\. Set \[auth\] jwt_secret \(32\+ bytes\), or start from a configuration that has one: .*iogate genconfig NEW-FILE/],
    [tokenConfig('pub.toml', `[auth]\njwt_public_key_file = "${pub}"\nalgorithms = ["ES256"]\n`), /verifies tokens with a public key \(\[auth\] jwt_public_key_file ".*ec\.pub"\): a public key cannot sign\. Sign tokens with the matching private key where they are issued/],
    [tokenConfig('nohs.toml', `[auth]\njwt_secret = "${'k'.repeat(32)}"\njwt_public_key_file = "${pub}"\nalgorithms = ["ES256"]\n`), /\[auth\] algorithms in .*nohs\.toml lists no HS256, HS384 or HS512/],
    [tokenConfig('short.toml', '[auth]\njwt_secret = "short"\n'), /short\.toml:2:1: \[auth\] jwt_secret: HS256 needs at least 32 bytes, this one has 5/],
    [tokenConfig('typo.toml', '[auth]\njwt_secert = "x"\n'), /typo\.toml:2:1: unknown key 'jwt_secert' in \[auth\] \(did you mean 'jwt_secret'\?\)/],
  ];
  for (const [file, re] of cases) {
    const r = run('token', '--config', file, '--sub', 'alice');
    assert.equal(r.status, 1, `${file}: ${r.stderr}`);
    assert.match(r.stderr, re, file);
    assert.equal(r.stdout, '');
  }
  // iss is the server's to check: a --claim cannot contradict [auth] issuer.
  const r = run('token', '--config', issuerConfig, '--sub', 'a', '--claim', 'iss=other');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--claim iss: set from \[auth\] issuer/);
});

test('without a key the server says how to get one', async () => {
  const server = await startServer('');
  assert.match(server.logs(), /no JWT key configured .*sockets connect unauthenticated\. For a configuration with a fresh secret: iogate genconfig FILE; then iogate token --config FILE --sub ID/);
  assert.equal((await server.stop('SIGINT')).code, 0);
});

// A line of `child`'s stdout matching re; rejects when it exits first or after ms.
function waitForLine(child, re, ms = 10000) {
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => done(new Error(`no line ${re} within ${ms} ms:\n${out}`)), ms);
    const onData = (d) => {
      out += d;
      const m = out.match(re);
      if (m) done(null, m);
    };
    const onExit = () => done(new Error(`exited before ${re}:\n${out}`));
    function done(err, m) {
      clearTimeout(timer);
      child.stdout.off('data', onData);
      child.off('exit', onExit);
      if (err) reject(err);
      else resolve(m);
    }
    child.stdout.on('data', onData);
    child.on('exit', onExit);
  });
}

describe('tokens from `iogate token` against a running server', () => {
  const secret = crypto.randomBytes(32).toString('base64');
  let server, base, config, state;
  before(async () => {
    state = mkdtempSync(join(tmpdir(), 'iogate-token-'));
    server = await startServer(`[auth]
jwt_secret = "${secret}"
issuer = "iogate-test"
audience = "iogate-test-api"
[plugins]
load = ["notifications"]
[plugin.notifications]
database = "${join(state, 'n.db')}"
`);
    base = `http://127.0.0.1:${server.port}`;
    config = join(server.dir, 'iogate.toml');
  });
  after(async () => {
    assert.equal((await server.stop('SIGINT')).code, 0, server.logs());
    rmSync(state, { recursive: true, force: true });
  });
  const token = (...args) => {
    const r = run('token', '--config', config, ...args);
    assert.equal(r.status, 0, r.stderr);
    return r.stdout.trim();
  };

  test('a socket connected with it is in its user room; REST takes it as a Bearer token', async () => {
    const alice = token('--sub', 'alice');
    const admin = token('--sub', 'admin', '--claim', 'role=admin');
    // The official client, as an app would connect, and scripts/watch.mjs, as `make run` suggests.
    const socket = io(base, { auth: { token: alice }, forceNew: true, reconnection: false, transports: ['websocket'] });
    const watch = spawn(process.execPath, [join(ROOT, 'scripts/watch.mjs'), base, alice], { cwd: ROOT });
    try {
      const got = new Promise((resolve) => socket.on('notification', resolve));
      await new Promise((resolve, reject) => {
        socket.on('connect', resolve);
        socket.on('connect_error', reject);
      });
      await waitForLine(watch, /^connected to .* \(with a token\)/m);
      const watched = waitForLine(watch, /^notification (.*)$/m);
      const post = await fetch(`${base}/notifications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'alice', message: 'from the token test' }),
      });
      assert.equal(post.status, 201, await post.clone().text());
      assert.equal(post.headers.get('x-notification-recipients'), '2', 'both of alice\'s sockets');
      assert.equal((await got).message, 'from the token test');
      assert.equal(JSON.parse((await watched)[1]).message, 'from the token test');
      const list = await fetch(`${base}/notifications`, { headers: { authorization: `Bearer ${alice}` } });
      assert.equal(list.status, 200);
      assert.equal((await list.json()).items[0].message, 'from the token test');
      // Not an admin: the claim is what makes one.
      const refused = await fetch(`${base}/notifications`, {
        method: 'POST',
        headers: { authorization: `Bearer ${alice}`, 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'bob', message: 'x' }),
      });
      assert.equal(refused.status, 403);
    } finally {
      socket.close();
      watch.kill('SIGINT');
    }
    assert.equal((await new Promise((resolve) => watch.on('exit', resolve))), 0);
  });

  test('a token the server would refuse is not printed', () => {
    // nbf in the future: signed fine, but not yet valid for the server.
    const r = run('token', '--config', config, '--sub', 'a', '--claim', `nbf:=${Math.floor(Date.now() / 1000) + 3600}`);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /the server would refuse this token/);
    assert.equal(r.stdout, '');
    // Longer than the server reads.
    const big = run('token', '--config', config, '--sub', 'a', '--claim', `pad=${'x'.repeat(7000)}`);
    assert.equal(big.status, 1);
    assert.match(big.stderr, /the token is \d+ bytes, over the 8192 the server reads/);
  });
});

const hasCurl = spawnSync('sh', ['-c', 'command -v curl'], { encoding: 'utf8' }).status === 0;

test('make run: the commands it prints work as printed', { skip: !hasCurl && 'curl is not installed' }, async () => {
  const state = mkdtempSync(join(tmpdir(), 'iogate-run-'));
  const config = join(state, 'dev.toml');
  assert.equal(run('genconfig', config).status, 0);
  const port = await freePort();
  writeFileSync(config, readFileSync(config, 'utf8')
    .replace(/^port = 3000$/m, `port = ${port}`)
    .replace(/^database = ".*"$/m, `database = "${join(state, 'n.db')}"`));
  const child = spawn(join(ROOT, 'scripts/run.sh'), [BIN, config, '--create'], { cwd: ROOT });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  try {
    const m = await waitForLine(child, /then, in another shell:\n([^]*?)\n\n/i);
    const hints = m[1];
    assert.match(hints, new RegExp(`curl http://127\\.0\\.0\\.1:${port}/healthz`));
    assert.match(hints, /node scripts\/watch\.mjs http:\/\/127\.0\.0\.1:\d+ "\$TOKEN" &/);
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not listening:\n${stderr}`)), 10000);
      const check = () => /listening on/.test(stderr) && (clearTimeout(timer), resolve());
      child.stderr.on('data', check);
      check();
    });
    // Everything but the background watcher (tested above), run as a user would paste it.
    const script = hints.split('\n').filter((l) => !/watch\.mjs/.test(l)).join('\n');
    const r = spawnSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: ROOT, encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 0, `${script}\n${r.stderr}`);
    assert.match(r.stdout, /^\{"status":"ok"\}/);
    assert.match(r.stdout, /\{"id":"1","userId":"alice","message":"Hello"/);
    assert.match(r.stdout, /\{"items":\[\{"id":"1","userId":"alice","message":"Hello".*"unreadCount":1/);
  } finally {
    child.kill('SIGINT');
  }
  assert.deepEqual(await exited, { code: 0, signal: null }, 'run.sh became the server, which stops cleanly');

  // A development configuration that no longer loads is named, with what to do.
  writeFileSync(config, '[server]\nprot = 1\n');
  const stale = spawnSync(join(ROOT, 'scripts/run.sh'), [BIN, config, '--create'], { cwd: ROOT, encoding: 'utf8' });
  assert.equal(stale.status, 1);
  assert.match(stale.stderr, /dev\.toml \(written by an earlier `make run`\) no longer loads: delete it/);
  rmSync(state, { recursive: true, force: true });
});
