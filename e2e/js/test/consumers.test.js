// Async consumers (issue 20): rows an application inserts into a PostgreSQL
// outbox table, in the transaction of its own write, reach the official
// centrifuge-js SDK through a `chorus` node (process.env.CHORUS_BIN) with a
// `postgresql` consumer. This file starts its own PostgreSQL (Debian package
// `postgresql`) and node on free ports; a missing PostgreSQL skips the file
// loudly, or fails it under CI.
import assert from 'node:assert/strict';
import { after } from 'node:test';
import { ChorusNode, killAll, scratchDir, startPostgres } from '../lib/cluster.js';
import {
  Centrifuge,
  FORMAT,
  Recorder,
  connToken,
  dec,
  scenario,
  sleep,
  tappedWebSocket,
  uniqueChannel,
} from '../lib/helpers.js';

const CHORUS_BIN = process.env.CHORUS_BIN;
const SECRET = 'chorus-consumers-e2e-hmac-secret';

after(killAll);

scenario(`[${FORMAT}] consumers: outbox rows reach subscribers in order`, 30000, async (t) => {
  if (!CHORUS_BIN) throw new Error('CHORUS_BIN is not set: run the suites through e2e/run');
  const pg = await startPostgres();
  if (!pg) {
    t.skip('PostgreSQL not installed (see scripts/install-deps)');
    return;
  }
  await pg.sql(`CREATE TABLE chorus_outbox (
      id BIGSERIAL PRIMARY KEY,
      method TEXT NOT NULL,
      payload JSONB NOT NULL,
      partition INTEGER NOT NULL DEFAULT 0,
      created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE TABLE orders (id INT PRIMARY KEY, status TEXT);`);
  const node = await ChorusNode.start(
    CHORUS_BIN,
    'consumers',
    {
      log: { level: process.env.E2E_DEBUG === '1' ? 'debug' : 'info' },
      health: { enabled: true },
      client: { token: { hmac_secret_key: SECRET }, allowed_origins: ['*'] },
      channel: { without_namespace: { allow_subscribe_for_client: true } },
      consumers: [
        {
          name: 'outbox',
          enabled: true,
          type: 'postgresql',
          postgresql: {
            dsn: pg.dsn,
            outbox_table_name: 'chorus_outbox',
            num_partitions: 2,
            // Only a notification can wake the partition within the test.
            partition_poll_interval: '1h',
            partition_notification_channel: 'chorus_outbox',
          },
        },
      ],
    },
    { dir: scratchDir('chorus-consumers-') },
  );
  try {
    const wire = [];
    t.wires.push(wire);
    const client = new Centrifuge(node.wsUrl, {
      websocket: tappedWebSocket(wire),
      token: connToken('alice', { secret: SECRET }),
      timeout: 4000,
      debug: process.env.E2E_DEBUG === '1',
    });
    t.after(() => client.disconnect());
    const clientEvents = new Recorder(client, ['connected', 'disconnected', 'error']);
    client.connect();
    await clientEvents.wait('connected', { what: 'connected' });
    const channel = uniqueChannel('orders');
    const sub = client.newSubscription(channel);
    const events = new Recorder(sub, ['subscribed', 'error', 'publication']);
    sub.subscribe();
    await events.wait('subscribed', { what: `subscribed to ${channel}` });

    // The app's write and its announcements commit together; NOTIFY wakes
    // partition 1 at commit. The second row carries its payload as a JSON string.
    await pg.sql(`BEGIN;
      INSERT INTO orders VALUES (42, 'shipped');
      INSERT INTO chorus_outbox (method, payload, partition) VALUES
        ('publish', jsonb_build_object('channel', '${channel}', 'data', jsonb_build_object('n', 1)), 1),
        ('publish', to_jsonb('{"channel": "${channel}", "data": {"n": 2}}'::text), 1),
        ('broadcast', jsonb_build_object('channels', jsonb_build_array('${channel}'), 'data', jsonb_build_object('n', 3)), 1);
      SELECT pg_notify('chorus_outbox', '1');
      COMMIT;`);
    await events.wait('publication', { timeout: 10000, what: 'third publication', pred: (p) => dec(p.data).n === 3 });
    assert.deepEqual(
      events.all('publication').map((p) => dec(p.data).n),
      [1, 2, 3],
    );
    // The rows are deleted in the batch's commit, right after the dispatch.
    const deadline = Date.now() + 5000;
    while ((await pg.sql('SELECT count(*) FROM chorus_outbox')) !== '0') {
      assert.ok(Date.now() < deadline, 'outbox rows were not deleted');
      await sleep(50);
    }
  } catch (err) {
    err.message = `${err.message}\n--- chorus ---\n${node.proc.tail(40)}\n--- postgres ---\n${pg.proc.tail(20)}`;
    throw err;
  }
});
