// Multi-node (issue 6): three `chorus` processes (process.env.CHORUS_BIN) on one
// real Redis, then three on a NATS broker with a Redis presence manager, with the
// official centrifuge-js SDK. This file starts its own redis-server, nats-server
// and nodes on free ports and kills them all at the end. A missing redis-server
// or nats-server skips the file loudly, or fails it under CI=true.
//
//   a. fan-out: a client on node A and one on node B get node C's API publish
//   b. presence asked on node B lists the clients of nodes A and C
//   c. `info` on every node lists the three nodes (discovery over Redis)
//   d. node A is SIGKILLed under a recovering client behind a TCP balancer: the
//      client moves to node B and recovers every publication it missed, once, in order
//   e. Redis is killed and restarted (AOF persistence) during a stream of publishes:
//      every successful publish reaches the client once, in order
//   f. the same fan-out as (a) over a NATS broker + Redis presence manager
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after } from 'node:test';
import { Balancer, ChorusNode, Redis, killAll, requireBinary, scratchDir, startNats, started } from '../lib/cluster.js';
import {
  Centrifuge,
  FORMAT,
  Recorder,
  connToken,
  dec,
  safeJson,
  scenario,
  sleep,
  tappedWebSocket,
  uniqueChannel,
} from '../lib/helpers.js';

const name = (s) => `[${FORMAT}] multinode: ${s}`;
const CHORUS_BIN = process.env.CHORUS_BIN;
const SECRET = 'chorus-multinode-e2e-hmac-secret';
const API_KEY = 'multinode-e2e-api-key';

// Channels without a namespace: presence, history and recovery (Redis engine).
const RECOVERING = {
  allow_subscribe_for_client: true,
  presence: true,
  history_size: 100,
  history_ttl: '300s',
  force_recovery: true,
};

function baseConfig() {
  return {
    log: { level: process.env.E2E_DEBUG === '1' ? 'debug' : 'info' },
    health: { enabled: true },
    http_api: { key: API_KEY },
    client: {
      token: { hmac_secret_key: SECRET },
      allowed_origins: ['*'],
      ping_interval: '3s',
      pong_timeout: '2s',
    },
  };
}

// ------------------------------------------------------------------ clusters
let redisCluster;
let natsCluster;

/** Redis (AOF, so scenario e can restart it) + nodes A, B, C; started once. */
function getRedisCluster() {
  redisCluster ??= (async () => {
    const redisBin = requireBinary('redis-server');
    if (!redisBin) return null;
    const dir = scratchDir('chorus-multinode-');
    const redisDir = join(dir, 'redis');
    mkdirSync(redisDir);
    const redis = await Redis.start(redisBin, { persistentDir: redisDir });
    const nodeProcs = [];
    // The Redis process changes when scenario e restarts it.
    const c = { redis, nodes: {}, get procs() { return [redis.proc, ...nodeProcs]; } };
    const config = {
      ...baseConfig(),
      engine: {
        type: 'redis',
        redis: { address: redis.url, prefix: `mn${randomBytes(4).toString('hex')}` },
      },
      channel: { without_namespace: RECOVERING },
    };
    const nodes = await Promise.all(
      ['A', 'B', 'C'].map((n) => ChorusNode.start(CHORUS_BIN, n, config, { dir, apiKey: API_KEY })),
    );
    for (const node of nodes) {
      c.nodes[node.name] = node;
      nodeProcs.push(node.proc);
    }
    return c;
  })();
  return redisCluster;
}

/** NATS broker + Redis presence manager + nodes A, B, C; started once. */
function getNatsCluster() {
  natsCluster ??= (async () => {
    const natsBin = requireBinary('nats-server');
    const redisBin = requireBinary('redis-server');
    if (!natsBin || !redisBin) return null;
    const dir = scratchDir('chorus-multinode-nats-');
    const [nats, redis] = await Promise.all([startNats(natsBin), Redis.start(redisBin)]);
    const c = { procs: [nats.proc, redis.proc], nodes: {} };
    const prefix = `mn${randomBytes(4).toString('hex')}`;
    const config = {
      ...baseConfig(),
      broker: { enabled: true, type: 'nats', nats: { url: nats.url, prefix } },
      presence_manager: { enabled: true, type: 'redis', redis: { address: redis.url, prefix } },
      // NATS keeps no history: the server refuses history/recovery with it.
      channel: { without_namespace: { allow_subscribe_for_client: true, presence: true } },
    };
    const nodes = await Promise.all(
      ['A', 'B', 'C'].map((n) => ChorusNode.start(CHORUS_BIN, `nats-${n}`, config, { dir, apiKey: API_KEY })),
    );
    for (const node of nodes) {
      c.nodes[node.name.slice('nats-'.length)] = node;
      c.procs.push(node.proc);
    }
    return c;
  })();
  return natsCluster;
}

after(async () => {
  // Full process logs next to the other suites' output (e2e/run sets E2E_OUT).
  if (process.env.E2E_OUT) {
    try {
      for (const p of started) {
        const file = `multinode-${FORMAT}-${p.label.replace(/[^A-Za-z0-9-]+/g, '_')}.log`;
        writeFileSync(join(process.env.E2E_OUT, file), p.log);
      }
    } catch (err) {
      console.warn(`multinode: could not save process logs: ${err}`);
    }
  }
  await killAll();
});

/**
 * A scenario that gets its cluster first (skipping the test when a service
 * binary is missing outside CI) and, on failure, appends the tails of the
 * cluster's process logs to the error.
 */
function clusterScenario(title, timeout, getCluster, fn) {
  return scenario(title, timeout, async (t) => {
    if (!CHORUS_BIN) throw new Error('CHORUS_BIN is not set: run the suites through e2e/run');
    const c = await getCluster();
    if (!c) {
      t.skip('redis-server / nats-server not installed (see scripts/install-deps)');
      return;
    }
    try {
      await fn(t, c);
    } catch (err) {
      const logs = c.procs.map((p) => `--- ${p.label} (last lines) ---\n${p.tail(40)}`).join('\n');
      if (err && typeof err === 'object') {
        try {
          err.message = `${err.message}\n${logs}`;
        } catch {
          // read-only
        }
      }
      throw err;
    }
  });
}

// ------------------------------------------------------------------ clients
function client(t, url, user) {
  const wire = [];
  t.wires.push(wire);
  const c = new Centrifuge(url, {
    websocket: tappedWebSocket(wire),
    token: connToken(user, { secret: SECRET }),
    minReconnectDelay: 100,
    maxReconnectDelay: 500,
    timeout: 4000,
    debug: process.env.E2E_DEBUG === '1',
  });
  const events = new Recorder(c, ['connecting', 'connected', 'disconnected', 'error']);
  t.after(() => c.disconnect());
  c.connect();
  return { client: c, events };
}

async function connected(t, url, user) {
  const c = client(t, url, user);
  c.connected = await c.events.wait('connected', { what: `${user} connected to ${url}` });
  return c;
}

async function subscribed(c, channel) {
  const sub = c.client.newSubscription(channel);
  const events = new Recorder(sub, ['subscribing', 'subscribed', 'unsubscribed', 'error', 'publication']);
  sub.subscribe();
  const ctx = await events.wait('subscribed', { what: `subscribed to ${channel}` });
  return { sub, events, ctx };
}

/** The received publications as { offset, data } (data decoded). */
function received(events) {
  return events.all('publication').map((p) => ({ offset: p.offset, data: dec(p.data) }));
}

/** Waits for a publication whose decoded data satisfies `pred`. */
function waitPub(events, pred, timeout, what) {
  return events.wait('publication', { timeout, what, pred: (p) => pred(dec(p.data), p) });
}

async function fanOut(nodes, t) {
  const channel = uniqueChannel('mn-fan');
  const a = await connected(t, nodes.A.wsUrl, 'alice');
  const b = await connected(t, nodes.B.wsUrl, 'bob');
  const sa = await subscribed(a, channel);
  const sb = await subscribed(b, channel);
  const pub = await nodes.C.apiOk('publish', { channel, data: { from: 'C', n: 1 } });
  const [pa, pb] = await Promise.all([
    waitPub(sa.events, (d) => d.n === 1, 5000, 'publication on node A'),
    waitPub(sb.events, (d) => d.n === 1, 5000, 'publication on node B'),
  ]);
  assert.deepEqual(dec(pa.data), { from: 'C', n: 1 });
  assert.deepEqual(dec(pb.data), { from: 'C', n: 1 });
  return { pub, pa, pb };
}

// ------------------------------------------------------------------ scenarios
clusterScenario(name('a. a publish through node C reaches clients on nodes A and B'), 25000, getRedisCluster, async (t, c) => {
  const { pub, pa, pb } = await fanOut(c.nodes, t);
  // The Redis stream's offset travels with the publication to both nodes.
  assert.equal(pa.offset, pub.offset, safeJson({ pub, pa }));
  assert.equal(pb.offset, pub.offset, safeJson({ pub, pb }));
});

clusterScenario(name('b. presence asked on node B lists the clients of nodes A and C'), 10000, getRedisCluster, async (t, c) => {
  const { A, B, C } = c.nodes;
  const channel = uniqueChannel('mn-presence');
  const onA = await connected(t, A.wsUrl, 'ann');
  const onC = await connected(t, C.wsUrl, 'cid');
  await subscribed(onA, channel);
  await subscribed(onC, channel);
  const { presence } = await B.apiOk('presence', { channel });
  const got = Object.values(presence || {}).map((p) => `${p.user}/${p.client}`).sort();
  assert.deepEqual(got, [`ann/${onA.connected.client}`, `cid/${onC.connected.client}`].sort());
  const stats = await B.apiOk('presence_stats', { channel });
  assert.deepEqual({ clients: stats.num_clients, users: stats.num_users }, { clients: 2, users: 2 });
});

clusterScenario(name('c. info on every node lists all three nodes'), 15000, getRedisCluster, async (t, c) => {
  // Nodes announce themselves over Redis every few seconds: poll, bounded.
  const deadline = Date.now() + 10000;
  const last = {};
  for (const node of Object.values(c.nodes)) {
    for (;;) {
      const info = await node.apiOk('info', {});
      last[node.name] = info;
      if ((info.nodes || []).length === 3 || Date.now() > deadline) break;
      await sleep(200);
    }
    const nodes = last[node.name].nodes || [];
    assert.deepEqual(nodes.map((n) => n.name).sort(), ['A', 'B', 'C'], `info on ${node.name}: ${safeJson(last[node.name])}`);
    assert.equal(new Set(nodes.map((n) => n.uid)).size, 3, `distinct uids: ${safeJson(nodes)}`);
  }
});

clusterScenario(name('d. a client of a killed node moves to another node and recovers every missed publication'), 25000, getRedisCluster, async (t, c) => {
  const { A, B, C } = c.nodes;
  const channel = uniqueChannel('mn-failover');
  const lb = await Balancer.start(A.port);
  t.after(() => lb.close());
  const cl = await connected(t, lb.wsUrl, 'dora');
  const s = await subscribed(cl, channel);
  assert.equal(s.ctx.recoverable, true, safeJson(s.ctx));
  assert.equal(s.ctx.positioned, true, safeJson(s.ctx));

  const offsets = [];
  for (let i = 0; i < 3; i++) {
    offsets.push((await C.apiOk('publish', { channel, data: { i } })).offset);
  }
  await waitPub(s.events, (d) => d.i === 2, 5000, 'live publication 2 on node A');

  // Node A dies; the balancer has no healthy backend until B is put in.
  lb.down();
  await A.proc.kill('SIGKILL');
  // (The first 'connecting', code 0, was the initial connect.)
  await cl.events.wait('connecting', {
    timeout: 5000,
    what: 'connecting after node A died',
    pred: (ctx) => ctx.code !== 0,
  });
  const N = 10;
  for (let i = 3; i < 3 + N; i++) {
    offsets.push((await C.apiOk('publish', { channel, data: { i } })).offset);
  }
  lb.to(B.port);

  const again = await s.events.wait('subscribed', {
    timeout: 8000,
    what: 'subscribed again (through node B)',
    pred: (ctx) => ctx.wasRecovering,
  });
  assert.equal(again.recovered, true, `recovered on node B: ${safeJson(again)}`);
  await waitPub(s.events, (d) => d.i === 2 + N, 5000, `recovered publication ${2 + N}`);
  assert.equal(lb.accepted[lb.accepted.length - 1], B.port, 'the last connection went to node B');

  // One more, live from node B.
  offsets.push((await C.apiOk('publish', { channel, data: { i: 3 + N } })).offset);
  await waitPub(s.events, (d) => d.i === 3 + N, 5000, 'live publication on node B');
  const want = offsets.map((offset, i) => ({ offset, data: { i } }));
  assert.deepEqual(received(s.events), want, 'every publication exactly once, in order');
});

clusterScenario(name('e. Redis restarts during a publish stream: every successful publish arrives once, in order'), 40000, getRedisCluster, async (t, c) => {
  const { B, C } = c.nodes;
  const channel = uniqueChannel('mn-redis-restart');
  const cl = await connected(t, B.wsUrl, 'erin');
  const s = await subscribed(cl, channel);
  assert.equal(s.ctx.recoverable, true, safeJson(s.ctx));

  const M = 40;
  const ok = [];
  let failures = 0;
  let restart;
  const deadline = Date.now() + 25000;
  for (let i = 0; i < M; i++) {
    if (i === 10) {
      restart = (async () => {
        await c.redis.stop();
        await sleep(700);
        await c.redis.startAgain();
      })();
    }
    // Retry until it succeeds; the idempotency key makes a retry of a publish whose
    // reply was lost return the first result instead of publishing twice.
    for (;;) {
      let res;
      try {
        res = await C.api('publish', { channel, data: { i }, idempotency_key: `${channel}-${i}` }, { timeout: 7000 });
      } catch (err) {
        res = { status: 0, text: String(err) };
      }
      if (res.status === 200 && res.body && res.body.result && !res.body.error) {
        ok.push({ offset: res.body.result.offset, data: { i } });
        break;
      }
      failures += 1;
      assert.ok(Date.now() < deadline, `publish ${i} keeps failing: ${res.status} ${res.text}`);
      await sleep(100);
    }
    await sleep(25);
  }
  await restart;
  assert.ok(failures > 0, 'some publishes failed while Redis was down (else the outage was not exercised)');
  const last = M - 1;
  await waitPub(s.events, (d) => d.i === last, 15000, `publication ${last} after the Redis restart`);
  assert.deepEqual(received(s.events), ok, `every successful publish once, in order (${failures} failed attempts)`);
  // A resubscribe (after the broker reported the interrupted stream) must recover.
  const again = s.events.all('subscribed').slice(1);
  assert.ok(again.length >= 1, 'the interrupted stream made the client subscribe again');
  for (const ctx of again) assert.equal(ctx.recovered, true, `resubscribed without recovery: ${safeJson(ctx)}`);
  t.diagnostic(`${failures} failed publish attempts; ${again.length} resubscribe(s); ${cl.events.all('connecting').length - 1} reconnect(s)`);
});

clusterScenario(name('f. NATS broker + Redis presence: a publish through node C reaches nodes A and B'), 20000, getNatsCluster, async (t, c) => {
  const { pa, pb } = await fanOut(c.nodes, t);
  assert.equal(pa.offset, undefined, 'no stream offsets without history');
  assert.equal(pb.offset, undefined);
  const channel = pa.channel;
  const { presence } = await c.nodes.C.apiOk('presence', { channel });
  assert.deepEqual(Object.values(presence || {}).map((p) => p.user).sort(), ['alice', 'bob']);
});
