// A socket's own-id room is virtual (a flag on the socket, found through the socket map),
// and another socket may still join a room of that name for real. The room count must stay
// exact whatever order the two leave in, here both dropped as slow consumers at once.
// The join goes through a tiny plugin (the host API's join), built here with the system
// C compiler against the public header.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, ROOT } from './lib/server.mjs';

const PLUGIN = String.raw`
#include <iogate/iogate.h>
#include <stdio.h>
#include <string.h>
static const iog_host_api_t *api;
static iog_plugin_t *self;
/* ["join", room]: the sender joins room (any name, another socket's id included) */
static void on_join(void *u, const iog_client_event_t *ev)
{
    (void)u;
    const char *a = strchr(ev->args_json, '"');
    const char *b = a ? strchr(a + 1, '"') : NULL;
    if (!b) return;
    char room[256];
    snprintf(room, sizeof room, "%.*s", (int)(b - a - 1), a + 1);
    int r = api->join(self, ev->nsp, ev->socket_id, room);
    char out[64];
    int n = snprintf(out, sizeof out, "[%d,%lld]", r, (long long)api->room_size(self, ev->nsp, room));
    if (ev->ack_id >= 0) api->ack(self, ev->nsp, ev->socket_id, ev->ack_id, out, (size_t)n);
}
static int init(iog_plugin_t *p, const iog_host_api_t *host, char *err, size_t err_size)
{
    api = host;
    self = p;
    int r = api->on_event(p, "/", "join", on_join, NULL);
    if (r) snprintf(err, err_size, "%s", api->plugin_error(p));
    return r;
}
IOG_PLUGIN("rooms_join_plugin", "0.0.1", init, NULL)
`;

let dir;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'iogate-rooms-'));
  writeFileSync(join(dir, 'rooms_join_plugin.c'), PLUGIN);
  execFileSync('cc', ['-shared', '-fPIC', '-I', join(ROOT, 'include'), '-o', join(dir, 'rooms_join_plugin.so'), join(dir, 'rooms_join_plugin.c')]);
});
after(() => rmSync(dir, { recursive: true, force: true }));

// A raw Engine.IO polling client joined to "/" that never polls again on its own.
async function pollClient(base) {
  const t = await (await fetch(`${base}/socket.io/?EIO=4&transport=polling`)).text();
  const sid = JSON.parse(t.slice(1)).sid;
  const url = `${base}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
  await fetch(url, { method: 'POST', body: '40' });
  const c = await (await fetch(url)).text();
  return { url, id: JSON.parse(c.slice(2)).sid };
}

test('room count stays right when a socket and the joiner of its id-room drop together', async () => {
  const server = await startServer(
    `[testing]\nemit_routes = true\n[limits]\nmax_outbox_bytes = 4096\n[plugins]\ndir = "${dir}"\nload = ["rooms_join_plugin"]\n`,
  );
  try {
    const base = `http://127.0.0.1:${server.port}`;
    const stats = async () => (await fetch(`${base}/testing/stats`)).json();
    const a = await pollClient(base);
    const b = await pollClient(base);
    assert.equal((await stats()).rooms, 2);
    // b joins a room named after a's id: one room of both (a virtually, b for real)
    await fetch(b.url, { method: 'POST', body: `421["join","${a.id}"]` });
    assert.equal(await (await fetch(b.url)).text(), '431[0,2]');
    assert.equal((await stats()).rooms, 2);
    // One broadcast to that room overflows both outboxes (neither polls): both are
    // dropped in one reap pass, b (marked dead last) finalized first.
    const r = await fetch(`${base}/testing/emit`, {
      method: 'POST',
      body: JSON.stringify({ room: a.id, event: 'big', payload: 'x'.repeat(8000) }),
    });
    assert.deepEqual(await r.json(), { recipients: 2 });
    let s;
    for (let i = 0; i < 100; i++) {
      s = await stats();
      if (s.sockets === 0) break;
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.equal(s.sockets, 0);
    assert.equal(s.slowConsumersDropped, 2);
    assert.equal(s.rooms, 0, `no socket is left, so no room (got ${s.rooms})`);
  } finally {
    const { code } = await server.stop();
    assert.equal(code, 0, server.logs());
  }
});
