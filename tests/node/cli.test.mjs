// The command line: --version, --help, --check-config with good and bad files (the
// notifications plugin's settings too, read without connecting to its database), and a
// clean exit on SIGINT with a request in flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, BUILD_DIR, ROOT, startServer } from './lib/server.mjs';

const dir = mkdtempSync(join(tmpdir(), 'iogate-cli-'));
const run = (...args) => spawnSync(BIN, args, { cwd: ROOT, encoding: 'utf8' });

test('--version and --help', () => {
  assert.match(run('--version').stdout, /^iogate \d+\.\d+\.\d+/);
  const help = run('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--check-config/);
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
