// Waiting for events in tests, always with a bound.

// Resolves with the arguments of the next `event` on `emitter` (a socket.io-client
// socket, a manager, any EventEmitter), or rejects after `ms`.
export function once(emitter, event, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no "${event}" within ${ms} ms`));
    }, ms);
    const on = (...args) => {
      clearTimeout(timer);
      resolve(args);
    };
    emitter.once(event, on);
  });
}
