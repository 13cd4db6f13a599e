// The whole notifications suite (routes, events, errors, configuration,
// durability with kill -9, connection state recovery) again, with the plugin on PostgreSQL: each server gets
// a fresh database of one private PostgreSQL server, started here and stopped by
// PID at the end.
import { after } from 'node:test';

process.env.IOGATE_TEST_STORE = 'postgres';
const { stopPostgres } = await import('./lib/notifications-helpers.mjs');
after(stopPostgres);
await import('./notifications.test.mjs');
await import('./notifications-durability.test.mjs');
await import('./recovery-notifications.test.mjs');
