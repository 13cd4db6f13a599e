// Starts a private redis-server (Debian's package) on a free port in a temporary directory,
// without persistence, for the fleet tests; stopped by PID at the end.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import { createClient } from 'redis';

export function freePort() {
  return new Promise((res, rej) => {
    const srv = net.createServer();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => res(port));
    });
  });
}

// Resolves to { port, url, proc, stop(), kill9(), restart(), client() } once Redis accepts
// connections. `restart()` starts it again on the same port (after kill9 or stop).
export async function startRedis({ port: wantPort } = {}) {
  const port = wantPort || (await freePort());
  const dir = mkdtempSync(join(tmpdir(), 'iogate-redis-'));
  const clients = [];
  const ctx = { port, url: `redis://127.0.0.1:${port}`, proc: null };
  const launch = () =>
    new Promise((res, rej) => {
      const proc = spawn(
        'redis-server',
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let out = '';
      const onData = (d) => {
        out += d;
        if (/Ready to accept connections/.test(out)) res(proc);
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      proc.on('exit', (code) => rej(new Error(`redis-server exited (${code}):\n${out}`)));
      ctx.proc = proc;
    });
  await launch();
  ctx.exited = () => new Promise((res) => (ctx.proc.exitCode !== null || ctx.proc.signalCode ? res() : ctx.proc.on('exit', res)));
  ctx.kill9 = async () => {
    ctx.proc.kill('SIGKILL');
    await ctx.exited();
  };
  ctx.restart = () => launch();
  ctx.client = async () => {
    const c = createClient({ url: ctx.url });
    c.on('error', () => {});
    await c.connect();
    clients.push(c);
    return c;
  };
  ctx.stop = async () => {
    for (const c of clients) await c.quit().catch(() => {});
    if (ctx.proc.exitCode === null && !ctx.proc.signalCode) {
      ctx.proc.kill('SIGTERM');
      await ctx.exited();
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return ctx;
}
