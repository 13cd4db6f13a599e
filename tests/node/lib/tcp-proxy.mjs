// A TCP relay on a free loopback port to a target port, which a test can cut: every relayed
// connection is destroyed and new ones are closed at once until restore(). It makes "Redis
// unreachable" for the processes behind it while the test's own clients keep a direct line.
// retarget(port) sends the connections made from then on to another port (a client that
// reconnects to another node of a fleet). cutClientSide() is cut() for the clients' ends only:
// the target keeps connections that are silent, as after a network change nobody was told of.
import net from 'node:net';

export async function startProxy(targetPort) {
  const live = new Set();
  const silent = new Set();
  let cut = false;
  let target = targetPort;
  const server = net.createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target, '127.0.0.1');
    const pair = [client, upstream];
    live.add(pair);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      live.delete(pair);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((res) => server.listen(0, '127.0.0.1', res));
  return {
    port: server.address().port,
    cut() {
      cut = true;
      for (const [a, b] of live) {
        a.destroy();
        b.destroy();
      }
      live.clear();
    },
    restore() {
      cut = false;
    },
    retarget(port) {
      target = port;
    },
    cutClientSide() {
      cut = true;
      for (const [a, b] of live) {
        a.removeAllListeners('close').removeAllListeners('error').on('error', () => {});
        b.removeAllListeners('close');
        a.unpipe(b);
        b.unpipe(a);
        b.on('data', () => {}); // read and drop what the target still writes
        a.destroy();
        silent.add(b);
      }
      live.clear();
    },
    close() {
      for (const b of silent) b.destroy();
      silent.clear();
      this.cut();
      return new Promise((res) => server.close(res));
    },
  };
}
