// Starts a private PostgreSQL (Debian's `postgresql` package: initdb, then the
// postgres server itself as our child) in a temporary directory on a free port,
// for the notifications tests; stopped by PID at the end. When the tests run as
// root it runs as the `postgres` user (which the package creates), since the
// server refuses to run as root. Also runs SQL through psql.
import { spawn, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './redis.mjs';

// The directory of initdb and postgres: on PATH, else the newest under
// /usr/lib/postgresql (Debian does not put the server's programs on PATH).
function binDir() {
  for (const dir of (process.env.PATH || '').split(':')) {
    if (dir && existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'postgres'))) return dir;
  }
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base)
    ? readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a))
    : [];
  if (!versions.length) throw new Error('PostgreSQL server programs not found (apt-get install postgresql)');
  return join(base, versions[0], 'bin');
}

// uid/gid to run the server as: ourselves, or the `postgres` user when we are root.
function account() {
  if (process.getuid() !== 0) return {};
  const line = execFileSync('getent', ['passwd', 'postgres'], { encoding: 'utf8' }).trim();
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

export const PG_USER = 'postgres';

// Resolves to { port, url(db), psql(sql, db), createDatabase(name), stop(), restart(),
// kill9(), logs() } once the server accepts connections. `settings` are extra
// `-c name=value` server settings.
export async function startPostgres({ settings = [] } = {}) {
  const bin = binDir();
  const who = account();
  const dir = mkdtempSync(join(tmpdir(), 'iogate-pg-'));
  chmodSync(dir, 0o700);
  if (who.uid !== undefined) chownSync(dir, who.uid, who.gid);
  const data = join(dir, 'data');
  execFileSync(join(bin, 'initdb'), ['-D', data, '-U', PG_USER, '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync'], {
    ...who,
    cwd: dir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const port = await freePort();
  let output = '';
  const ctx = { port, dir, proc: null };
  // fsync off: the tests kill iogate, never the machine; the server's own crash
  // safety is not what they check.
  const args = ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${dir}`,
    '-c', 'fsync=off', '-c', 'max_connections=200', ...settings.flatMap((s) => ['-c', s])];
  const launch = () =>
    new Promise((res, rej) => {
      const proc = spawn(join(bin, 'postgres'), args, { ...who, cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
      ctx.proc = proc;
      let started = false;
      const from = output.length;
      const onData = (d) => {
        output += d;
        if (!started && /database system is ready to accept connections/.test(output.slice(from))) {
          started = true;
          res(proc);
        }
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      proc.on('exit', (code, signal) => {
        if (!started) rej(new Error(`postgres exited (${code ?? signal}):\n${output}`));
      });
    });
  const exited = () =>
    new Promise((res) => (ctx.proc.exitCode !== null || ctx.proc.signalCode ? res() : ctx.proc.once('exit', () => res())));
  await launch();

  ctx.url = (db = 'postgres') => `postgresql://${PG_USER}@127.0.0.1:${port}/${db}`;
  ctx.logs = () => output;
  // Runs SQL with psql; resolves to its output (unaligned, tuples only), rejects on an error.
  ctx.psql = (sql, db = 'postgres') =>
    new Promise((res, rej) => {
      const p = spawn('psql', ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', PG_USER, '-d', db, '-c', sql], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (err += d));
      p.on('exit', (code) => (code === 0 ? res(out.trim()) : rej(new Error(`psql: ${err}`))));
    });
  let n = 0;
  ctx.createDatabase = async (prefix = 'notif') => {
    const name = `${prefix}_${process.pid}_${++n}`;
    await ctx.psql(`CREATE DATABASE ${name}`);
    return name;
  };
  // A psql session kept open: send(sql) writes a line; waitFor(re) waits for output.
  ctx.session = (db = 'postgres') => {
    const p = spawn('psql', ['-X', '-A', '-t', '-h', '127.0.0.1', '-p', String(port), '-U', PG_USER, '-d', db], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    const waiters = [];
    const check = () => {
      for (const w of [...waiters]) {
        if (w.re.test(out)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.res(out);
        }
      }
    };
    p.stdout.on('data', (d) => {
      out += d;
      check();
    });
    p.stderr.on('data', (d) => {
      out += d;
      check();
    });
    return {
      send: (sql) => p.stdin.write(`${sql}\n`),
      waitFor: (re) => new Promise((res) => {
        waiters.push({ re, res });
        check();
      }),
      close: () =>
        new Promise((res) => {
          if (p.exitCode !== null) return res();
          p.once('exit', () => res());
          p.stdin.end('\\q\n');
        }),
    };
  };
  // A fast shutdown (connections are closed) and a start on the same port and data.
  ctx.stop = async () => {
    if (ctx.proc.exitCode === null && !ctx.proc.signalCode) {
      ctx.proc.kill('SIGINT');
      await exited();
    }
  };
  ctx.start = () => launch();
  ctx.restart = async () => {
    await ctx.stop();
    await launch();
  };
  ctx.destroy = async () => {
    await ctx.stop();
    rmSync(dir, { recursive: true, force: true });
  };
  return ctx;
}
