// The man pages against what they describe: iogate.toml(5) documents exactly the keys of the
// config schema (`iogate --print-config`) with their defaults, and those the notifications
// plugin reads; iogate(1) names every command and option of `iogate --help`; man and groff
// format both pages without a warning.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, BUILD_DIR, ROOT } from './lib/server.mjs';

const source = (page) => readFileSync(join(ROOT, 'docs', 'man', `${page}.in`), 'utf8');

// roff text to plain text: the escapes these pages use.
const plain = (s) =>
  s
    .replace(/\\f[BIRP]/g, '')
    .replace(/\\-/g, '-')
    .replace(/\\\(dq/g, '"')
    .replace(/\\&/g, '')
    .replace(/\\e/g, '\\');

// "table.key" -> default as TOML writes it, or null when unset by default.
function documentedKeys() {
  const keys = new Map();
  const lines = source('iogate.toml.5').split('\n');
  let table = null;
  for (let i = 0; i < lines.length; i++) {
    const ss = lines[i].match(/^\.SS \[([a-z_.]+)\]$/);
    if (ss) table = ss[1];
    else if (lines[i].startsWith('.SH')) table = null;
    if (lines[i] !== '.TP' || !table) continue;
    const m = lines[i + 1].match(/^\\fB([a-z_]+)\\fR(?: = (.*))?$/);
    if (!m) continue;
    const name = `${table}.${m[1]}`;
    assert.ok(!keys.has(name), `${name} is documented twice`);
    keys.set(name, m[2] === undefined ? null : plain(m[2]));
  }
  return keys;
}

// The schema's keys and defaults, as --print-config writes them without a file.
function schemaKeys() {
  const r = spawnSync(BIN, ['--print-config'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const keys = new Map();
  let table = null;
  for (const line of r.stdout.split('\n')) {
    let m;
    if ((m = line.match(/^\[([a-z_.]+)\]$/))) table = m[1];
    else if ((m = line.match(/^([a-z_]+) = (.*)$/))) keys.set(`${table}.${m[1]}`, m[2]);
    else if ((m = line.match(/^# ([a-z_]+) is not set$/))) keys.set(`${table}.${m[1]}`, null);
    else assert.equal(line, '', `unexpected --print-config line: ${line}`);
  }
  return keys;
}

// The keys the notifications plugin reads, from its config getters: (p, "key", default, ...).
function notificationsKeys() {
  const text = readFileSync(join(ROOT, 'plugins', 'notifications', 'notifications.c'), 'utf8');
  const keys = new Map();
  for (const m of text.matchAll(/api->config_(string|int|double|bool)\(p, "([a-z_]+)", ([^,]+),/g)) {
    let value = m[3].trim();
    if (m[1] === 'bool') value = value === '0' ? 'false' : 'true';
    keys.set(`plugin.notifications.${m[2]}`, value);
  }
  assert.ok(keys.size > 0, 'no config_* call found in notifications.c');
  return keys;
}

function compare(documented, expected, what) {
  const problems = [];
  for (const [name, value] of expected) {
    if (!documented.has(name)) problems.push(`${name} (${what}) is not in iogate.toml(5)`);
    else if (documented.get(name) !== value)
      problems.push(
        `${name}: iogate.toml(5) says ${documented.get(name) ?? '(unset)'}, ${what} ${value ?? '(unset)'}`,
      );
  }
  return problems;
}

test('iogate.toml(5) documents every key of the schema and of the notifications plugin, with its default', () => {
  const documented = documentedKeys();
  const schema = schemaKeys();
  const plugin = notificationsKeys();
  const problems = [...compare(documented, schema, '--print-config'), ...compare(documented, plugin, 'notifications.c')];
  for (const name of documented.keys())
    if (!schema.has(name) && !plugin.has(name)) problems.push(`${name} is in iogate.toml(5) but iogate does not accept it`);
  assert.deepEqual(problems, []);
});

test('iogate(1) names every command and option of --help', () => {
  const r = spawnSync(BIN, ['--help'], { encoding: 'utf8' });
  assert.equal(r.status, 0);
  const page = plain(source('iogate.1'));
  const words = new Set();
  for (const m of r.stdout.matchAll(/(?<![\w-])(--?[a-z][a-z-]*)/g)) words.add(m[1]);
  for (const m of r.stdout.matchAll(/^(?:usage:)?\s+iogate ([a-z][a-z-]*)/gm)) words.add(m[1]);
  assert.ok(words.has('--config') && words.has('new-plugin'), [...words].join(' '));
  const missing = [...words].filter((w) => !new RegExp(`(?<![\\w-])${w}(?![\\w-])`).test(page));
  assert.deepEqual(missing, []);
});

const pages = ['man1/iogate.1', 'man5/iogate.toml.5'].map((p) => join(BUILD_DIR, 'man', p.split('/')[1]));
const noMan = spawnSync('man', ['--version']).status === 0 ? false : 'man is not installed (man-db)';

test('man and groff format both pages without warnings', { skip: noMan }, () => {
  for (const page of pages) {
    assert.ok(existsSync(page), `${page} is not built`);
    const env = { ...process.env, LC_ALL: 'C.UTF-8', MANWIDTH: '80' };
    const r = spawnSync('man', ['--warnings', '-E', 'UTF-8', '-l', page], { encoding: 'utf8', env });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '', `${page}: ${r.stderr}`);
    assert.match(r.stdout, /NAME/);
    const g = spawnSync('groff', ['-man', '-ww', '-z', page], { encoding: 'utf8' });
    assert.equal(g.status, 0, g.stderr);
    assert.equal(g.stderr, '', `${page}: ${g.stderr}`);
  }
});
