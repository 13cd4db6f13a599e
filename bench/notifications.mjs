// bench/notifications.mjs - the notifications plugin's benchmark client (run by
// bench/notifications.sh, which starts the server). Two figures:
//
//   1. creates/s   POST /notifications over K keep-alive connections, each with
//                  one request in flight, until COUNT creates or SECONDS pass;
//                  every answer must be 201 (a create is answered after COMMIT).
//   2. broadcast   N authenticated WebSocket users (raw Engine.IO v4 / Socket.IO v5
//                  over the `ws` package that socket.io-client ships with), then M
//                  POST /notifications/broadcast; for each, the time from sending
//                  the POST to the first and to the last delivery of its
//                  "notification" event, and the users that got it (must be N).
//
// Loopback only; every loop and wait is bounded.
//   node bench/notifications.mjs --port P --secret S [--users N] [--creates COUNT]
//        [--seconds S] [--conns K] [--broadcasts M] [--concurrency C]
import crypto from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = resolve(new URL('..', import.meta.url).pathname);
const WebSocket = createRequire(join(ROOT, 'tests/node/package.json'))('ws');

const opts = {
  host: '127.0.0.1',
  port: 0,
  secret: process.env.IOGATE_BENCH_SECRET || '',
  users: 10000,
  creates: 20000,
  seconds: 10,
  conns: 8,
  broadcasts: 3,
  concurrency: 200,
};
for (let i = 2; i < process.argv.length; i += 2) {
  const key = process.argv[i].replace(/^--/, '');
  const value = process.argv[i + 1];
  if (!(key in opts) || value === undefined) {
    console.error(`unknown or incomplete option ${process.argv[i]}`);
    process.exit(2);
  }
  opts[key] = typeof opts[key] === 'number' ? Number(value) : value;
}
if (!opts.port || !opts.secret) {
  console.error('usage: node bench/notifications.mjs --port P --secret S [options]');
  process.exit(2);
}
if (!/^127\./.test(opts.host)) {
  console.error('loopback targets only');
  process.exit(2);
}

function jwt(claims) {
  const b64u = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64u({ alg: 'HS256', typ: 'JWT' })}.${b64u(claims)}`;
  return `${input}.${crypto.createHmac('sha256', opts.secret).update(input).digest('base64url')}`;
}
const exp = Math.floor(Date.now() / 1000) + 3600;
const ADMIN = jwt({ sub: 'bench-admin', role: 'admin', exp });
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

const agent = new http.Agent({ keepAlive: true, maxSockets: Math.max(opts.conns, 1) });

function post(path, body) {
  return new Promise((resolveP, reject) => {
    const data = JSON.stringify(body);
    const req = http.request(
      {
        host: opts.host,
        port: opts.port,
        method: 'POST',
        path,
        agent,
        timeout: 30000,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(data),
          authorization: `Bearer ${ADMIN}`,
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolveP({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(data);
  });
}

const pct = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];

async function benchCreates() {
  const deadline = nowMs() + opts.seconds * 1000;
  let issued = 0;
  let failed = 0;
  const latencies = [];
  const t0 = nowMs();
  const loop = async (w) => {
    while (issued < opts.creates && nowMs() < deadline) {
      const n = issued++;
      const s = nowMs();
      const r = await post('/notifications', { userId: `u${n % 1000}`, message: `bench ${w}/${n}`, type: 'info' });
      if (r.status === 201) latencies.push(nowMs() - s);
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: opts.conns }, (_, w) => loop(w)));
  const elapsed = (nowMs() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  console.log(
    `creates: ${latencies.length} answered 201 (${failed} failed) in ${elapsed.toFixed(2)} s over ${opts.conns} connections` +
      ` = ${(latencies.length / elapsed).toFixed(0)} notifications/s;` +
      ` latency p50 ${pct(latencies, 50).toFixed(2)} ms, p99 ${pct(latencies, 99).toFixed(2)} ms`,
  );
  return failed === 0;
}

// One raw Socket.IO user over WebSocket. onEvent(name, payload, tMs).
function openUser(i, onEvent) {
  return new Promise((resolveU, reject) => {
    const ws = new WebSocket(`ws://${opts.host}:${opts.port}/socket.io/?EIO=4&transport=websocket`, {
      headers: { cookie: `token=${jwt({ sub: `user-${i}`, exp })}` },
      perMessageDeflate: false,
    });
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`user ${i}: no Socket.IO connect within 30 s`));
    }, 30000);
    ws.on('message', (data) => {
      const t = nowMs();
      const text = data.toString();
      if (text[0] === '0') ws.send('40'); // Engine.IO open -> Socket.IO CONNECT to "/"
      else if (text === '2') ws.send('3'); // ping -> pong
      else if (text.startsWith('40')) {
        clearTimeout(timer);
        resolveU(ws);
      } else if (text.startsWith('44')) {
        clearTimeout(timer);
        reject(new Error(`user ${i}: connect error ${text}`));
      } else if (text.startsWith('42')) {
        const [name, payload] = JSON.parse(text.slice(2));
        onEvent(name, payload, t);
      }
    });
    ws.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

async function benchBroadcast() {
  const received = new Map(); // notification id -> { first, last, count, users:Set }
  const onEvent = (user) => (name, payload, t) => {
    if (name !== 'notification') return;
    let r = received.get(payload.id);
    if (!r) received.set(payload.id, (r = { first: t, last: t, count: 0, users: new Set() }));
    r.first = Math.min(r.first, t);
    r.last = Math.max(r.last, t);
    r.count++;
    r.users.add(user);
  };
  const sockets = [];
  const t0 = nowMs();
  let next = 0;
  const opener = async () => {
    while (next < opts.users) {
      const i = next++;
      sockets.push(await openUser(i, onEvent(i)));
    }
  };
  await Promise.all(Array.from({ length: Math.min(opts.concurrency, opts.users) }, opener));
  console.log(`users: ${sockets.length} authenticated WebSocket users connected in ${((nowMs() - t0) / 1000).toFixed(2)} s`);
  await sleep(500);

  let ok = true;
  for (let b = 0; b < opts.broadcasts; b++) {
    const sent = nowMs();
    const r = await post('/notifications/broadcast', { message: `broadcast ${b}`, type: 'info' });
    const answered = nowMs();
    if (r.status !== 201) {
      console.log(`broadcast ${b}: HTTP ${r.status} ${r.body}`);
      ok = false;
      continue;
    }
    const id = JSON.parse(r.body).id;
    const deadline = nowMs() + 30000;
    while ((received.get(id)?.count || 0) < opts.users && nowMs() < deadline) await sleep(5);
    const got = received.get(id) || { first: NaN, last: NaN, count: 0, users: new Set() };
    const complete = got.count === opts.users && got.users.size === opts.users;
    ok = ok && complete;
    console.log(
      `broadcast ${b}: ${got.users.size}/${opts.users} users (${got.count} deliveries, server counted ${r.headers['x-notification-recipients']} sockets);` +
        ` POST answered in ${(answered - sent).toFixed(1)} ms; from sending the POST: first delivery ${(got.first - sent).toFixed(1)} ms,` +
        ` last ${(got.last - sent).toFixed(1)} ms; first to last ${(got.last - got.first).toFixed(1)} ms${complete ? '' : ' INCOMPLETE'}`,
    );
    await sleep(200);
  }
  for (const ws of sockets) ws.terminate();
  return ok;
}

let ok = true;
if (opts.creates > 0 && opts.seconds > 0) ok = (await benchCreates()) && ok;
if (opts.users > 0 && opts.broadcasts > 0) ok = (await benchBroadcast()) && ok;
agent.destroy();
process.exit(ok ? 0 : 1);
