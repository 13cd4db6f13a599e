// bench/notifications.mjs - the notifications plugin's benchmark client (run by
// bench/notifications.sh, which starts the servers). Phases (--phases, comma-separated):
//
//   creates    POST /notifications over K keep-alive connections (--conns 8,64: one run
//              each), each with one request in flight, until COUNT creates or SECONDS
//              pass; every answer must be 201 (a create is answered after COMMIT).
//   latency    U users connected with the official socket.io-client (WebSocket); then
//              POST /notifications to a random one of them, paced at RATE requests/s for
//              LSECONDS (a schedule of send times: a slow answer does not delay the next
//              request); for each, the time from sending the request to its answer and
//              to the user's receipt of the "notification" event.
//   broadcast  N authenticated WebSocket users (raw Engine.IO v4 / Socket.IO v5 over the
//              `ws` package that socket.io-client ships with), then M POST
//              /notifications/broadcast; for each, the time from sending the POST to the
//              first and to the last delivery, and the users that got it (must be N).
//   list       GET /notifications?limit=20 for random users u0..u(LUSERS-1) of a seeded
//              database, then the page after it (?before=nextCursor), over LCONNS
//              connections for LISTSECONDS: p50/p99 of each.
//
//   node bench/notifications.mjs --port P --secret S [--phases LIST] [--json FILE]
//        [--creates COUNT] [--seconds S] [--conns K,K] [--latency-rate RATE]
//        [--latency-seconds LSECONDS] [--latency-users U] [--users N] [--broadcasts M]
//        [--concurrency C] [--list-seconds LISTSECONDS] [--list-conns LCONNS]
//        [--list-users LUSERS] [--label NAME]
//   node bench/notifications.mjs report LABEL=FILE[,FILE...] ...   the table of results
//
// Loopback only; every loop and wait is bounded.
import crypto from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const ROOT = resolve(new URL('..', import.meta.url).pathname);
const requireTest = createRequire(join(ROOT, 'tests/node/package.json'));
const WebSocket = requireTest('ws');
const { io } = requireTest('socket.io-client');

const pct = (sorted, p) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : NaN);
const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

if (process.argv[2] === 'report') {
  report(process.argv.slice(3));
  process.exit(0);
}

const opts = {
  host: '127.0.0.1',
  port: 0,
  secret: process.env.IOGATE_BENCH_SECRET || '',
  phases: 'creates,latency,broadcast',
  json: '',
  label: '',
  creates: 20000,
  seconds: 8,
  conns: '8,64',
  'latency-rate': 1000,
  'latency-seconds': 10,
  'latency-users': 100,
  users: 1000,
  broadcasts: 3,
  concurrency: 200,
  'list-seconds': 8,
  'list-conns': 4,
  'list-users': 10000,
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
const phases = new Set(opts.phases.split(',').filter(Boolean));
const connList = opts.conns.split(',').map(Number);
if (connList.some((k) => !(k >= 1 && k <= 1000))) {
  console.error('--conns takes numbers from 1 to 1000, comma-separated');
  process.exit(2);
}

function jwt(claims) {
  const b64u = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = `${b64u({ alg: 'HS256', typ: 'JWT' })}.${b64u(claims)}`;
  return `${input}.${crypto.createHmac('sha256', opts.secret).update(input).digest('base64url')}`;
}
const exp = Math.floor(Date.now() / 1000) + 3600;
const ADMIN = jwt({ sub: 'bench-admin', role: 'admin', exp });

// One HTTP request; resolves to { status, headers, body }. `sent` (when given) is called
// with the time the request was handed to the socket.
function request(agent, method, path, { body, token = ADMIN, sent } = {}) {
  return new Promise((resolveP, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const headers = { authorization: `Bearer ${token}` };
    if (data !== undefined) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = Buffer.byteLength(data);
    }
    const req = http.request({ host: opts.host, port: opts.port, method, path, agent, timeout: 30000, headers }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolveP({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(data);
    if (sent) sent(nowMs());
  });
}

const round = (v) => Math.round(v * 100) / 100;

async function benchCreates(conns) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
  const deadline = nowMs() + opts.seconds * 1000;
  let issued = 0;
  let failed = 0;
  const latencies = [];
  const t0 = nowMs();
  const loop = async (w) => {
    while (issued < opts.creates && nowMs() < deadline) {
      const n = issued++;
      const s = nowMs();
      const r = await request(agent, 'POST', '/notifications', { body: { userId: `u${n % 1000}`, message: `bench ${w}/${n}`, type: 'info' } });
      if (r.status === 201) latencies.push(nowMs() - s);
      else failed++;
    }
  };
  await Promise.all(Array.from({ length: conns }, (_, w) => loop(w)));
  const elapsed = (nowMs() - t0) / 1000;
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const result = { conns, ok: latencies.length, failed, seconds: round(elapsed), rate: Math.round(latencies.length / elapsed), p50: round(pct(latencies, 50)), p99: round(pct(latencies, 99)) };
  console.log(
    `creates: ${result.ok} answered 201 (${failed} failed) in ${elapsed.toFixed(2)} s over ${conns} connections` +
      ` = ${result.rate} notifications/s; latency p50 ${result.p50} ms, p99 ${result.p99} ms`,
  );
  return result;
}

// U users with the official client; resolves to the sockets once all are connected.
async function connectClients(count, onNotification) {
  const sockets = [];
  const t0 = nowMs();
  for (let i = 0; i < count; i += 50) {
    const batch = Array.from({ length: Math.min(50, count - i) }, (_, k) => {
      const user = `lat-${i + k}`;
      const socket = io(`http://${opts.host}:${opts.port}`, {
        transports: ['websocket'],
        auth: { token: jwt({ sub: user, exp }) },
        reconnection: false,
        forceNew: true,
      });
      socket.on('notification', (payload) => onNotification(nowMs(), payload));
      sockets.push(socket);
      return new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`${user}: no connect within 30 s`)), 30000);
        socket.once('connect', () => {
          clearTimeout(timer);
          res();
        });
        socket.once('connect_error', (e) => {
          clearTimeout(timer);
          rej(e);
        });
      });
    });
    await Promise.all(batch);
  }
  console.log(`latency: ${count} socket.io-client users connected in ${((nowMs() - t0) / 1000).toFixed(2)} s`);
  return sockets;
}

async function benchLatency() {
  const rate = opts['latency-rate'];
  const total = Math.round(rate * opts['latency-seconds']);
  const sentAt = new Float64Array(total).fill(NaN);
  const answeredAt = new Float64Array(total).fill(NaN);
  const receivedAt = new Float64Array(total).fill(NaN);
  let received = 0;
  let strays = 0;
  const sockets = await connectClients(opts['latency-users'], (t, payload) => {
    const m = /^lat (\d+)$/.exec(payload?.message || '');
    const seq = m ? Number(m[1]) : -1;
    if (seq < 0 || seq >= total || !Number.isNaN(receivedAt[seq])) {
      strays++;
      return;
    }
    receivedAt[seq] = t;
    received++;
  });
  // Enough sockets that a slow answer never holds the schedule back.
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  let failed = 0;
  let behind = 0; // the most the sender fell behind its schedule, ms
  const pending = [];
  const t0 = nowMs() + 50;
  let next = 0;
  while (next < total) {
    const now = nowMs();
    const due = Math.min(total, Math.floor(((now - t0) * rate) / 1000) + 1);
    for (; next < due; next++) {
      const seq = next;
      behind = Math.max(behind, now - (t0 + (seq * 1000) / rate));
      const user = `lat-${Math.floor(Math.random() * sockets.length)}`;
      pending.push(
        request(agent, 'POST', '/notifications', { body: { userId: user, message: `lat ${seq}`, type: 'info' }, sent: (t) => (sentAt[seq] = t) }).then(
          (r) => {
            if (r.status === 201) answeredAt[seq] = nowMs();
            else failed++;
          },
          () => failed++,
        ),
      );
    }
    await sleep(1);
  }
  const elapsed = (nowMs() - t0) / 1000;
  await Promise.all(pending);
  const deadline = nowMs() + 10000;
  while (received < total - failed && nowMs() < deadline) await sleep(10);
  for (const s of sockets) s.close();
  agent.destroy();
  const toEvent = [];
  const toAnswer = [];
  for (let i = 0; i < total; i++) {
    if (!Number.isNaN(receivedAt[i])) toEvent.push(receivedAt[i] - sentAt[i]);
    if (!Number.isNaN(answeredAt[i])) toAnswer.push(answeredAt[i] - sentAt[i]);
  }
  toEvent.sort((a, b) => a - b);
  toAnswer.sort((a, b) => a - b);
  const result = {
    rate,
    sent: total,
    achieved: Math.round(total / elapsed),
    failed,
    received,
    lost: total - failed - received,
    strays,
    behindMs: round(behind),
    event: { p50: round(pct(toEvent, 50)), p99: round(pct(toEvent, 99)), max: round(toEvent.at(-1)) },
    answer: { p50: round(pct(toAnswer, 50)), p99: round(pct(toAnswer, 99)), max: round(toAnswer.at(-1)) },
    users: sockets.length,
  };
  console.log(
    `latency: ${total} POST /notifications at ${rate}/s (sent at ${result.achieved}/s, at most ${result.behindMs} ms behind schedule) to ${sockets.length} users:` +
      ` ${total - failed} answered 201, ${received} events received, ${result.lost} lost, ${strays} unexpected;` +
      ` request to event p50 ${result.event.p50} ms, p99 ${result.event.p99} ms, max ${result.event.max} ms;` +
      ` request to 201 p50 ${result.answer.p50} ms, p99 ${result.answer.p99} ms`,
  );
  return result;
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
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
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
  console.log(`broadcast: ${sockets.length} authenticated WebSocket users connected in ${((nowMs() - t0) / 1000).toFixed(2)} s`);
  await sleep(500);

  const results = [];
  for (let b = 0; b < opts.broadcasts; b++) {
    const sent = nowMs();
    const r = await request(agent, 'POST', '/notifications/broadcast', { body: { message: `broadcast ${b}`, type: 'info' } });
    const answered = nowMs();
    if (r.status !== 201) {
      console.log(`broadcast ${b}: HTTP ${r.status} ${r.body}`);
      results.push({ complete: false });
      continue;
    }
    const id = JSON.parse(r.body).id;
    const deadline = nowMs() + 30000;
    while ((received.get(id)?.count || 0) < opts.users && nowMs() < deadline) await sleep(5);
    const got = received.get(id) || { first: NaN, last: NaN, count: 0, users: new Set() };
    const complete = got.count === opts.users && got.users.size === opts.users;
    results.push({ complete, users: got.users.size, answered: round(answered - sent), first: round(got.first - sent), last: round(got.last - sent) });
    console.log(
      `broadcast ${b}: ${got.users.size}/${opts.users} users (${got.count} deliveries, server counted ${r.headers['x-notification-recipients']} sockets);` +
        ` POST answered in ${(answered - sent).toFixed(1)} ms; from sending the POST: first delivery ${(got.first - sent).toFixed(1)} ms,` +
        ` last ${(got.last - sent).toFixed(1)} ms; first to last ${(got.last - got.first).toFixed(1)} ms${complete ? '' : ' INCOMPLETE'}`,
    );
    await sleep(200);
  }
  for (const ws of sockets) ws.terminate();
  agent.destroy();
  return { users: opts.users, runs: results };
}

async function benchList() {
  const conns = opts['list-conns'];
  const agent = new http.Agent({ keepAlive: true, maxSockets: conns });
  const tokens = new Map();
  const token = (u) => tokens.get(u) || (tokens.set(u, jwt({ sub: u, exp })), tokens.get(u));
  const first = [];
  const cursor = [];
  const bad = [];
  let rows = 0;
  const deadline = nowMs() + opts['list-seconds'] * 1000;
  const t0 = nowMs();
  const loop = async () => {
    while (nowMs() < deadline) {
      const user = `u${Math.floor(Math.random() * opts['list-users'])}`;
      let s = nowMs();
      const r = await request(agent, 'GET', '/notifications?limit=20', { token: token(user) });
      if (r.status !== 200) {
        bad.push(`${r.status} ${r.body}`);
        continue;
      }
      first.push(nowMs() - s);
      const page = JSON.parse(r.body);
      rows += page.items.length;
      if (!page.nextCursor) continue;
      s = nowMs();
      const r2 = await request(agent, 'GET', `/notifications?limit=20&before=${encodeURIComponent(page.nextCursor)}`, { token: token(user) });
      if (r2.status !== 200) {
        bad.push(`${r2.status} ${r2.body}`);
        continue;
      }
      cursor.push(nowMs() - s);
      rows += JSON.parse(r2.body).items.length;
    }
  };
  await Promise.all(Array.from({ length: conns }, loop));
  const elapsed = (nowMs() - t0) / 1000;
  agent.destroy();
  first.sort((a, b) => a - b);
  cursor.sort((a, b) => a - b);
  const result = {
    conns,
    requests: first.length + cursor.length,
    rps: Math.round((first.length + cursor.length) / elapsed),
    failed: bad.length,
    rowsPerPage: round(rows / Math.max(1, first.length + cursor.length)),
    first: { n: first.length, p50: round(pct(first, 50)), p99: round(pct(first, 99)) },
    cursor: { n: cursor.length, p50: round(pct(cursor, 50)), p99: round(pct(cursor, 99)) },
  };
  console.log(
    `list: ${result.requests} GETs in ${elapsed.toFixed(2)} s over ${conns} connections (${result.rps}/s, ${bad.length} failed${bad.length ? `: ${bad[0]}` : ''}), ${result.rowsPerPage} rows a page;` +
      ` first page p50 ${result.first.p50} ms, p99 ${result.first.p99} ms (${first.length});` +
      ` next page (cursor) p50 ${result.cursor.p50} ms, p99 ${result.cursor.p99} ms (${cursor.length})`,
  );
  return result;
}

// The results of each store side by side, as a Markdown table.
function report(args) {
  const cols = args.map((a) => {
    const [label, files] = a.split('=');
    const merged = {};
    for (const f of files.split(',')) {
      try {
        Object.assign(merged, JSON.parse(readFileSync(f, 'utf8')));
      } catch {
        // a phase that did not run leaves its cells empty
      }
    }
    return { label, r: merged };
  });
  const fmt = (v, unit = ' ms') => (v === undefined || Number.isNaN(v) || v === null ? '–' : `${v.toLocaleString('en-US')}${unit}`);
  const rows = [];
  const conns = [...new Set(cols.flatMap((c) => (c.r.creates || []).map((x) => x.conns)))];
  for (const k of conns) {
    rows.push([
      `creates/s, ${k} REST connections`,
      ...cols.map((c) => {
        const x = (c.r.creates || []).find((y) => y.conns === k);
        return x ? `${fmt(x.rate, '/s')} (p50 ${fmt(x.p50)}, p99 ${fmt(x.p99)})${x.failed ? `, ${x.failed} failed` : ''}` : '–';
      }),
    ]);
  }
  const lat = (c) => c.r.latency;
  if (cols.some(lat)) {
    const any = cols.find(lat).r.latency;
    rows.push([
      `POST /notifications → event, ${fmt(any.rate, '/s')} paced, p50 / p99`,
      ...cols.map((c) => (lat(c) ? `${fmt(lat(c).event.p50)} / ${fmt(lat(c).event.p99)}` : '–')),
    ]);
    rows.push([`… the 201 answer, p50 / p99`, ...cols.map((c) => (lat(c) ? `${fmt(lat(c).answer.p50)} / ${fmt(lat(c).answer.p99)}` : '–'))]);
    rows.push([`… events lost / late sends (most behind schedule)`, ...cols.map((c) => (lat(c) ? `${lat(c).lost + lat(c).failed} / ${fmt(lat(c).behindMs)}` : '–'))]);
  }
  const list = (c) => c.r.list;
  if (cols.some(list)) {
    rows.push([`GET /notifications?limit=20, 1M stored, first page p50 / p99`, ...cols.map((c) => (list(c) ? `${fmt(list(c).first.p50)} / ${fmt(list(c).first.p99)}` : '–'))]);
    rows.push([`… next page (cursor) p50 / p99`, ...cols.map((c) => (list(c) ? `${fmt(list(c).cursor.p50)} / ${fmt(list(c).cursor.p99)}` : '–'))]);
    rows.push([`… GETs/s over ${cols.find(list).r.list.conns} connections`, ...cols.map((c) => (list(c) ? `${fmt(list(c).rps, '/s')}${list(c).failed ? `, ${list(c).failed} failed` : ''}` : '–'))]);
  }
  const bc = (c) => c.r.broadcast?.runs?.length;
  if (cols.some(bc)) {
    const users = cols.find(bc).r.broadcast.users;
    rows.push([
      `broadcast to ${fmt(users, '')} users: first / last delivery (median of runs)`,
      ...cols.map((c) => {
        if (!bc(c)) return '–';
        const runs = c.r.broadcast.runs.filter((x) => x.complete);
        const med = (k) => runs.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(runs.length / 2)];
        return runs.length === c.r.broadcast.runs.length ? `${fmt(med('first'))} / ${fmt(med('last'))}` : 'INCOMPLETE';
      }),
    ]);
  }
  console.log(`| figure | ${cols.map((c) => c.label).join(' | ')} |`);
  console.log(`|---|${cols.map(() => '---').join('|')}|`);
  for (const r of rows) console.log(`| ${r.join(' | ')} |`);
}

const results = { label: opts.label };
let ok = true;
if (phases.has('creates') && opts.creates > 0 && opts.seconds > 0) {
  results.creates = [];
  for (const k of connList) results.creates.push(await benchCreates(k));
  ok = ok && results.creates.every((x) => x.failed === 0);
}
if (phases.has('latency') && opts['latency-rate'] > 0 && opts['latency-users'] > 0) {
  results.latency = await benchLatency();
  ok = ok && results.latency.lost === 0 && results.latency.failed === 0 && results.latency.strays === 0;
}
if (phases.has('broadcast') && opts.users > 0 && opts.broadcasts > 0) {
  results.broadcast = await benchBroadcast();
  ok = ok && results.broadcast.runs.every((x) => x.complete);
}
if (phases.has('list')) {
  results.list = await benchList();
  ok = ok && results.list.failed === 0;
}
if (opts.json) writeFileSync(opts.json, JSON.stringify(results, null, 1));
process.exit(ok ? 0 : 1);
