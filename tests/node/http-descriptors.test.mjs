// Running out of file descriptors: with its limit lowered below the connections offered,
// the server logs the failed accepts, rests its listener instead of spinning on it, keeps
// serving the connections it holds, and accepts again once descriptors come back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { startServer, rawRequest } from './lib/server.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The server's CPU time (user + system) in seconds, from /proc.
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime (clock ticks)
}

function openFds(pid) {
  return execFileSync('ls', [`/proc/${pid}/fd`]).toString().trim().split('\n').length;
}

test('out of descriptors: accepts pause without spinning and resume', async (t) => {
  const srv = await startServer('');
  t.after(() => srv.stop());
  const pid = srv.proc.pid;
  // Room for a handful of connections beyond what the server holds open already.
  const limit = openFds(pid) + 8;
  execFileSync('prlimit', [`--pid=${pid}`, `--nofile=${limit}:${limit}`]);

  const sockets = [];
  for (let i = 0; i < 30; i++) {
    const s = net.connect(srv.port, '127.0.0.1');
    s.on('error', () => {});
    sockets.push(s);
  }
  await Promise.all(sockets.map((s) => new Promise((r) => s.once('connect', r))));
  // The kernel completed every handshake (the backlog); the server could take only some.
  const before = cpuSeconds(pid);
  await sleep(1000);
  const spent = cpuSeconds(pid) - before;
  const failures = (srv.logs().match(/accept failed/g) || []).length;
  assert.ok(failures >= 1, `expected "accept failed" in the log:\n${srv.logs()}`);
  // One attempt per 100 ms rest, not a busy loop on the level-triggered listener.
  assert.ok(failures <= 15, `${failures} accept failures logged in about 1 s`);
  assert.ok(spent < 0.3, `server used ${spent.toFixed(2)} s of CPU in 1 s while out of descriptors`);

  // A connection it holds is still served.
  const held = sockets[0];
  const answer = new Promise((res) => {
    let out = '';
    held.on('data', (d) => {
      out += d;
      if (out.includes('\r\n\r\n')) res(out);
    });
  });
  held.write('GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.match(await answer, /^HTTP\/1\.1 404 /);

  // Descriptors come back: new connections are accepted and answered again.
  for (const s of sockets) s.destroy();
  await sleep(300);
  const r = await rawRequest(srv.port, 'GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
  assert.match(r.text, /^HTTP\/1\.1 404 /);
});

// Sends a request on each of n fresh connections, all held open, and returns the statuses.
async function statusesOfHeldConnections(port, n) {
  const sockets = [];
  const statuses = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => {});
    sockets.push(s);
    statuses.push(
      new Promise((res) => {
        let out = '';
        const status = () => Number(out.match(/^HTTP\/1\.1 (\d+)/)?.[1] ?? 0);
        s.on('data', (d) => {
          out += d;
          if (status() && out.includes('\r\n\r\n')) res(status());
        });
        s.on('close', () => res(status()));
      }),
    );
    await new Promise((r) => s.once('connect', r));
    s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await statuses[i]; // in order: the server sees connection i before i + 1
  }
  const out = await Promise.all(statuses);
  for (const s of sockets) s.destroy();
  return out;
}

test('max_connections defaults to what the open-file limit allows, raising the soft limit', async (t) => {
  // A soft limit of 200 under a hard one of 400: the server raises it and keeps 128.
  const srv = await startServer('', { prefix: ['prlimit', '--nofile=200:400', '--'] });
  t.after(() => srv.stop());
  assert.match(srv.logs(), /accepting up to 272 connections \(open-file limit 400, 128 kept/);
  const limits = readFileSync(`/proc/${srv.proc.pid}/limits`, 'utf8');
  assert.match(limits, /Max open files\s+400\s+400/);
  const statuses = await statusesOfHeldConnections(srv.port, 276);
  assert.equal(statuses.filter((s) => s === 200).length, 272, JSON.stringify(statuses.slice(268)));
  assert.deepEqual(statuses.slice(272), [503, 503, 503, 503]);
});

test('a max_connections past the open-file limit is lowered to it, with a warning', async (t) => {
  const srv = await startServer('[http]\nmax_connections = 5000\n', { prefix: ['prlimit', '--nofile=300:300', '--'] });
  t.after(() => srv.stop());
  assert.match(srv.logs(), /max_connections = 5000 lowered to 172: the open-file limit is 300/);
  const small = await startServer('[http]\nmax_connections = 100\n', { prefix: ['prlimit', '--nofile=300:300', '--'] });
  t.after(() => small.stop());
  assert.match(small.logs(), /accepting up to 100 connections/);
});
