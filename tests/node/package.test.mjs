// The Debian package as an operator gets it: CPack builds iogate_VERSION_ARCH.deb from this
// build; its control data (Depends from dpkg-shlibdeps, the conffile) and its files are
// checked; it is extracted into a scratch root (dpkg -x), where the installed binary starts
// with the installed configuration (paths moved into a temporary directory) and answers
// /healthz and /readyz, pkg-config and CMake's find_package find the SDK under that root
// as they would under /, systemd-analyze verifies the unit and rates its sandbox, and
// lintian reports no error (its warnings are printed). Skipped in a sanitizer build (the
// package is made from a normal one) and when dpkg-deb or cpack are missing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, BUILD_DIR, ROOT } from './lib/server.mjs';

const cache = existsSync(join(BUILD_DIR, 'CMakeCache.txt')) ? readFileSync(join(BUILD_DIR, 'CMakeCache.txt'), 'utf8') : '';
const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
let skip = false;
if (/^IOGATE_SANITIZE:BOOL=ON$/m.test(cache)) skip = 'a sanitizer build: the package is built and tested from the normal build';
else if (!have('cpack') || !have('dpkg-deb')) skip = 'cpack or dpkg-deb is not installed';

const run = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
};

let work, deb, root;

before(() => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'iogate-package-'));
  run('cpack', ['-G', 'DEB', '--config', join(BUILD_DIR, 'CPackConfig.cmake'), '-B', join(work, 'out')], { cwd: BUILD_DIR });
  const version = run(BIN, ['--version']).trim().split(' ')[1];
  const arch = run('dpkg', ['--print-architecture']).trim();
  deb = join(work, 'out', `iogate_${version}_${arch}.deb`);
  assert.ok(existsSync(deb), `no ${deb} in ${readdirSync(join(work, 'out'))}`);
  root = join(work, 'root');
  run('dpkg', ['-x', deb, root]);
});

after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test('control: Depends computed from the linked libraries, the configuration a conffile', { skip }, () => {
  const depends = run('dpkg-deb', ['-f', deb, 'Depends']);
  for (const lib of ['libc6', 'libuv1', 'libjansson4', 'libjwt', 'libssl3', 'libhiredis', 'libsystemd0', 'libsqlite3-0', 'libpq5'])
    assert.match(depends, new RegExp(`(^|, )${lib}`), `Depends: ${depends}`);
  assert.equal(run('dpkg-deb', ['-I', deb, 'conffiles']).trim(), '/etc/iogate/iogate.toml');
  for (const script of ['postinst', 'prerm', 'postrm']) run('dpkg-deb', ['-I', deb, script]);
});

test('files: binary, plugins, configuration, unit, man pages, copyright and the SDK', { skip }, () => {
  const files = [
    'usr/bin/iogate',
    'usr/lib/iogate/plugins/notifications.so',
    'etc/iogate/iogate.toml',
    'usr/lib/systemd/system/iogate.service',
    'usr/share/man/man1/iogate.1.gz',
    'usr/share/man/man5/iogate.toml.5.gz',
    'usr/share/doc/iogate/copyright',
    'usr/share/doc/iogate/changelog.gz',
    'usr/include/iogate/iogate.h',
    'usr/share/pkgconfig/iogate.pc',
    'usr/lib/cmake/iogate/iogateConfig.cmake',
    'usr/share/iogate/new-plugin.sh',
  ];
  for (const f of files) assert.ok(existsSync(join(root, f)), `${f} is not in the package`);
  assert.ok(statSync(join(root, 'usr/bin/iogate')).mode & 0o111);
  const config = readFileSync(join(root, 'etc/iogate/iogate.toml'), 'utf8');
  assert.match(config, /^dir = "\/usr\/lib\/iogate\/plugins"$/m);
  assert.match(config, /^database = "\/var\/lib\/iogate\/iogate\.db"$/m);
  // MemoryDenyWriteExecute= in the unit: every object maps its code without writing it.
  for (const f of ['usr/bin/iogate', 'usr/lib/iogate/plugins/notifications.so']) {
    assert.doesNotMatch(run('readelf', ['-dW', join(root, f)]), /TEXTREL/, `${f} has text relocations`);
    assert.match(run('readelf', ['-lW', join(root, f)]), /GNU_STACK.* RW  /, `${f} wants an executable stack`);
  }
});

test('the installed binary runs the installed configuration and answers /healthz', { skip }, async () => {
  const state = join(work, 'state');
  mkdirSync(state);
  const config = readFileSync(join(root, 'etc/iogate/iogate.toml'), 'utf8')
    .replace(/^port = 3000$/m, 'port = 0')
    .replace('"/usr/lib/iogate/plugins"', JSON.stringify(join(root, 'usr/lib/iogate/plugins')))
    .replace('"/var/lib/iogate/iogate.db"', JSON.stringify(join(state, 'iogate.db')));
  const file = join(work, 'iogate.toml');
  writeFileSync(file, config);
  const bin = join(root, 'usr/bin/iogate');
  assert.match(run(bin, ['--check-config', file]), /configuration is valid/);

  const proc = spawn(bin, ['--config', file], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise((res) => proc.on('exit', (code, signal) => res({ code, signal })));
  try {
    const port = await new Promise((res, rej) => {
      const timer = setTimeout(() => rej(new Error(`the installed iogate did not start:\n${output}`)), 20000);
      proc.stderr.on('data', (d) => {
        output += d;
        const m = output.match(/listening on http:\/\/[^:]+:(\d+)/);
        if (m) {
          clearTimeout(timer);
          res(Number(m[1]));
        }
      });
      proc.on('exit', () => rej(new Error(`the installed iogate exited:\n${output}`)));
    });
    assert.match(output, /loaded notifications .* from .*\/usr\/lib\/iogate\/plugins\/notifications\.so/);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    assert.equal(ready.status, 200, await ready.text());
    assert.ok(existsSync(join(state, 'iogate.db')), 'the SQLite file is not where the configuration puts it');
  } finally {
    proc.kill('SIGTERM');
  }
  assert.deepEqual(await exited, { code: 0, signal: null }, output);
});

test('pkg-config and find_package find the SDK under the root', { skip }, () => {
  // As a cross build sees a sysroot: only the root's directories, and its prefix prepended.
  const env = {
    ...process.env,
    PKG_CONFIG_SYSROOT_DIR: root,
    PKG_CONFIG_LIBDIR: [join(root, 'usr/lib/pkgconfig'), join(root, 'usr/share/pkgconfig')].join(':'),
  };
  const cflags = run('pkg-config', ['--cflags', 'iogate'], { env }).trim();
  const inc = cflags.match(/^-I(\S+)$/);
  assert.ok(inc, cflags);
  assert.equal(realpathSync(join(inc[1], 'iogate', 'iogate.h')), join(realpathSync(root), 'usr/include/iogate/iogate.h'));
  assert.equal(run('pkg-config', ['--libs', 'iogate'], { env }).trim(), '');

  // CMake's own search under the root (no hint but the root): an example plugin builds.
  const build = join(work, 'presence');
  run('cmake', ['-S', join(ROOT, 'examples', 'presence'), '-B', build, `-DCMAKE_FIND_ROOT_PATH=${root}`,
    '-DCMAKE_FIND_ROOT_PATH_MODE_PACKAGE=ONLY', '-DCMAKE_C_FLAGS=-Werror']);
  run('cmake', ['--build', build]);
  assert.ok(existsSync(join(build, 'plugins', 'presence.so')));
});

const noAnalyze = have('systemd-analyze') ? false : 'systemd-analyze is not installed (Debian: systemd)';

test('systemd-analyze verifies the unit and rates its sandbox', { skip: skip || noAnalyze }, () => {
  // The unit as installed, its ExecStart pointed at the root's binary (verify checks that it
  // exists) and man pointed at the root's pages (for Documentation=).
  const unitDir = join(work, 'units');
  mkdirSync(unitDir);
  const unit = join(unitDir, 'iogate.service');
  const text = readFileSync(join(root, 'usr/lib/systemd/system/iogate.service'), 'utf8');
  assert.match(text, /^ExecStart=\/usr\/bin\/iogate --config \/etc\/iogate\/iogate\.toml$/m);
  assert.match(text, /^Type=notify$/m);
  writeFileSync(unit, text.replace(/^ExecStart=\/usr\/bin\/iogate/m, `ExecStart=${join(root, 'usr/bin/iogate')}`));
  const env = { ...process.env, MANPATH: join(root, 'usr/share/man'), SYSTEMD_LOG_LEVEL: 'notice' };
  const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', env });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '', r.stderr);
  // Exposure 0 (locked down) to 10 (unprotected): the unit rates 1.5; keep it under 2.
  const s = spawnSync('systemd-analyze', ['security', '--offline=yes', '--threshold=20', unit], { encoding: 'utf8', env });
  assert.equal(s.status, 0, `${s.stdout}\n${s.stderr}`);
});

const noLintian = have('lintian') ? false : 'lintian is not installed';

test('lintian reports no error', { skip: skip || noLintian }, (t) => {
  const r = spawnSync('lintian', ['--tag-display-limit', '0', '--display-info', deb], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const tags = r.stdout.split('\n').filter((l) => /^[EWIPX]: /.test(l));
  for (const line of tags) t.diagnostic(line);
  assert.deepEqual(tags.filter((l) => l.startsWith('E: ')), [], r.stdout + r.stderr);
  assert.ok(r.status === 0 || r.status === 1, `lintian failed to run:\n${r.stderr}`);
});
