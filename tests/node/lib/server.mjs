// Starts the real iogate binary on a free port with a generated config file and
// stops it at the end of a test. Used by every integration test.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import net from 'node:net';

export const ROOT = resolve(new URL('../../..', import.meta.url).pathname);
export const BIN = process.env.IOGATE_BIN || join(ROOT, 'build', 'iogate');
export const BUILD_DIR = process.env.IOGATE_BUILD_DIR || join(ROOT, 'build');

// Config lines loading the conformance test plugin (tests/plugins/conformance.c): the
// handlers of the official suites plus "request-ack" for server-to-client acks.
export const CONFORMANCE_PLUGIN = `[plugins]\ndir = "${join(BUILD_DIR, 'test-plugins')}"\nload = ["conformance"]\n`;

// Starts iogate with `config` (TOML text, without [server] port/host, which are
// added here). `port` picks a fixed port (0, the default, a free one), e.g. to
// restart a server where its clients expect it. `prefix` runs the binary through a command
// (e.g. ['prlimit', '--nofile=200:400', '--']). Resolves to { port, proc, logs(),
// waitForLog(), stop() }.
export async function startServer(config = '', { env = {}, args = [], port: wantPort = 0, prefix = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'iogate-test-'));
  const file = join(dir, 'iogate.toml');
  const hasServer = /^\s*\[server\]/m.test(config);
  let text = hasServer
    ? config.replace(/^\s*\[server\]\s*$/m, `[server]\nhost = "127.0.0.1"\nport = ${wantPort}`)
    : `[server]\nhost = "127.0.0.1"\nport = ${wantPort}\n${config}`;
  // The embedded defaults load the notifications plugin (with its database under
  // the working directory): a test gets plugins only when it asks for them.
  if (!/^\s*\[plugins\]/m.test(text)) text += '\n[plugins]\nload = []\n';
  writeFileSync(file, text);
  const [command, ...commandArgs] = [...prefix, BIN, '--config', file, ...args];
  const proc = spawn(command, commandArgs, {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  proc.stdout.on('data', (d) => (output += d));
  proc.stderr.on('data', (d) => (output += d));
  const exited = new Promise((res) => proc.on('exit', (code, signal) => res({ code, signal })));
  const port = await new Promise((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`server did not start:\n${output}`)), 10000);
    const check = () => {
      const m = output.match(/listening on http:\/\/[^:]+:(\d+)/);
      if (m) {
        clearTimeout(timer);
        res(Number(m[1]));
      }
    };
    proc.stderr.on('data', check);
    proc.on('exit', () => {
      clearTimeout(timer);
      rej(new Error(`server exited early:\n${output}`));
    });
  });
  return {
    port,
    proc,
    dir,
    exited,
    logs: () => output,
    // Resolves once the output matches re (it is read as it arrives); rejects after ms.
    waitForLog(re, ms = 5000) {
      if (re.test(output)) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          proc.stderr.off('data', check);
          reject(new Error(`no log line ${re} within ${ms} ms:\n${output}`));
        }, ms);
        const check = () => {
          if (!re.test(output)) return;
          clearTimeout(timer);
          proc.stderr.off('data', check);
          resolve();
        };
        proc.stderr.on('data', check);
      });
    },
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      const r = await exited;
      rmSync(dir, { recursive: true, force: true });
      return r;
    },
  };
}

// Sends raw bytes on a fresh TCP connection and collects everything until the
// server closes, `idleMs` passes without data, or `until(text so far)` is true.
export function rawRequest(port, data, { idleMs = 1500, waitClose = true, until = null } = {}) {
  return new Promise((res, rej) => {
    const sock = net.connect(port, '127.0.0.1');
    let out = Buffer.alloc(0);
    let timer;
    const finish = (closed) => {
      clearTimeout(timer);
      sock.destroy();
      res({ text: out.toString('latin1'), closed });
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(false), idleMs);
    };
    sock.on('connect', () => {
      for (const chunk of [].concat(data)) sock.write(chunk);
      arm();
    });
    sock.on('data', (d) => {
      out = Buffer.concat([out, d]);
      if (until && until(out.toString('latin1'))) finish(false);
      else arm();
    });
    sock.on('end', () => finish(true));
    sock.on('close', () => finish(true));
    sock.on('error', (e) => (e.code === 'ECONNRESET' ? finish(true) : rej(e)));
  });
}

// Splits a byte stream of HTTP responses into [{status, headers, body}].
export function parseResponses(text) {
  const out = [];
  let rest = text;
  while (rest.length) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const head = rest.slice(0, end).split('\r\n');
    const status = Number(head[0].split(' ')[1]);
    const headers = {};
    for (const line of head.slice(1)) {
      const i = line.indexOf(':');
      headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
    }
    rest = rest.slice(end + 4);
    const len = status >= 200 && status !== 204 ? Number(headers['content-length'] || 0) : 0;
    out.push({ status, headers, body: rest.slice(0, len) });
    rest = rest.slice(len);
  }
  return out;
}
