#!/usr/bin/env node
// watch.mjs URL TOKEN - a socket to watch: connects the official socket.io-client (installed
// in tests/node by `make node-deps` or `make demo`) to URL with TOKEN in the CONNECT auth
// payload, then prints each event it receives as one line, `EVENT JSON-ARGS`. The server
// puts the socket in the room user:SUB of TOKEN, so `emit_to_user` (a notification to that
// user, for one) shows up here. Ctrl-C ends it.
import { createRequire } from 'node:module';

const [url, token] = process.argv.slice(2);
if (!url) {
  console.error('usage: node scripts/watch.mjs URL [TOKEN]   (for instance http://127.0.0.1:3000 "$TOKEN")');
  process.exit(2);
}
let io;
try {
  ({ io } = createRequire(new URL('../tests/node/package.json', import.meta.url))('socket.io-client'));
} catch {
  console.error('watch: socket.io-client is not installed: run `make node-deps` first');
  process.exit(1);
}
const socket = io(url, { auth: token ? { token } : {}, reconnectionDelayMax: 2000 });
socket.on('connect', () =>
  console.log(`connected to ${url} as ${socket.id} (${token ? 'with' : 'without'} a token), ` +
    `transport ${socket.io.engine.transport.name}; waiting for events`));
socket.on('connect_error', (e) => console.log(`connect_error: ${e.message}`));
socket.on('disconnect', (reason) => console.log(`disconnected: ${reason}`));
socket.onAny((event, ...args) => console.log(`${event} ${JSON.stringify(args.length === 1 ? args[0] : args)}`));
process.on('SIGINT', () => {
  socket.close();
  process.exit(0);
});
