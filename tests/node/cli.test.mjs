// The command line: --version, --help, --check-config with good and bad files,
// and a clean exit on SIGINT with a request in flight.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
