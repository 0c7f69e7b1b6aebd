// Proxy hooks (spec §9) with the official centrifuge-js SDK: this file starts its
// own backend (a Node HTTP server) and its own `chorus` (process.env.CHORUS_BIN)
// with a proxy config on free ports, and stops both at the end. Every hook is
// exercised: connect (cookie forwarded), refresh, subscribe, publish, rpc and
// sub_refresh, with the backend's errors and disconnects reaching the SDK.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import {
  Centrifuge,
  FORMAT,
  Recorder,
  dec,
  enc,
  safeJson,
  scenario,
  sleep,
  tappedWebSocket,
} from '../lib/helpers.js';

const name = (s) => `[${FORMAT}] proxy: ${s}`;
const CHORUS_BIN = process.env.CHORUS_BIN;
const now = () => Math.floor(Date.now() / 1000);

// ------------------------------------------------------------------ backend
const seen = [];
function answer(event, body, headers) {
  const data = body.data ?? {};
  if (data.reject) return { error: { code: data.reject, message: 'rejected by backend' } };
  if (data.disconnect) return { disconnect: { code: data.disconnect, reason: 'backend says bye' } };
  switch (event) {
    case 'connect': {
      const cookie = /session=([a-z]+)/.exec(headers.cookie || '');
      const user = data.user || (cookie ? cookie[1] : '');
      if (!user) return { error: { code: 1401, message: 'no session' } };
      const result = { user, data: { hello: user } };
      if (data.expire_in) result.expire_at = now() + data.expire_in;
      return { result };
    }
    case 'subscribe':
      if (body.channel.endsWith('deny')) {
        return { error: { code: 1403, message: 'not your channel', temporary: false } };
      }
      return {
        result: {
          data: { welcome: body.channel },
          ...(body.channel.includes('short') ? { expire_at: now() + 1 } : {}),
        },
      };
    case 'publish':
      return { result: { data: { ...data, checked: true } } };
    case 'rpc':
      if (body.method === 'fail') return { error: { code: 1500, message: 'rpc failed' } };
      return { result: { data: { method: body.method, echo: data } } };
    case 'refresh':
    case 'sub_refresh':
      return { result: { expire_at: now() + 100 } };
    default:
      return null;
  }
}

const backend = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const event = req.url.slice(1);
    const body = JSON.parse(Buffer.concat(chunks).toString() || '{}');
    seen.push({ event, body, headers: req.headers });
    const reply = answer(event, body, req.headers);
    if (!reply) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(reply));
  });
});

async function waitSeen(event, pred = () => true, timeout = 5000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const found = seen.find((s) => s.event === event && pred(s));
    if (found) return found;
    if (Date.now() > deadline) {
      throw new Error(`backend never saw ${event}; saw: ${safeJson(seen.map((s) => s.event))}`);
    }
    await sleep(20);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

// ------------------------------------------------------------------ server
let chorus;
let chorusLog = '';
let dir;
let wsUrl;

before(async () => {
  if (!CHORUS_BIN) {
    throw new Error('CHORUS_BIN is not set: run the suites through e2e/run');
  }
  await new Promise((resolve) => backend.listen(0, '127.0.0.1', resolve));
  const b = `http://127.0.0.1:${backend.address().port}`;
  const port = await freePort();
  const proxy = (event) => ({ endpoint: `${b}/${event}`, timeout: '2s' });
  const config = {
    http_server: { address: '127.0.0.1', port },
    health: { enabled: true },
    client: {
      allowed_origins: ['*'],
      expired_sub_close_delay: '0s',
      proxy: {
        connect: { enabled: true, ...proxy('connect'), http_headers: ['Cookie'] },
        refresh: { enabled: true, ...proxy('refresh') },
      },
    },
    channel: {
      proxy: { subscribe: proxy('subscribe'), publish: proxy('publish'), sub_refresh: proxy('sub_refresh') },
      namespaces: [
        { name: 'px', subscribe_proxy_enabled: true, publish_proxy_enabled: true, sub_refresh_proxy_enabled: true },
      ],
    },
    rpc: { proxy: proxy('rpc'), without_namespace: { proxy_enabled: true } },
  };
  dir = mkdtempSync(join(tmpdir(), 'chorus-proxy-e2e-'));
  const path = join(dir, 'config.json');
  writeFileSync(path, JSON.stringify(config));
  chorus = spawn(CHORUS_BIN, ['--config', path], { stdio: ['ignore', 'pipe', 'pipe'] });
  chorus.stdout.on('data', (d) => { chorusLog += d; });
  chorus.stderr.on('data', (d) => { chorusLog += d; });
  wsUrl = `ws://127.0.0.1:${port}/connection/websocket`;
  const deadline = Date.now() + 15000;
  for (;;) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      if (r.ok) break;
    } catch {
      // not up yet
    }
    if (chorus.exitCode !== null || Date.now() > deadline) {
      throw new Error(`chorus did not start (exit ${chorus.exitCode}):\n${chorusLog}`);
    }
    await sleep(50);
  }
});

after(async () => {
  if (chorus && chorus.exitCode === null) {
    const exited = new Promise((resolve) => chorus.once('exit', resolve));
    chorus.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (chorus.exitCode === null) chorus.kill('SIGKILL');
  }
  await new Promise((resolve) => backend.close(resolve));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// ------------------------------------------------------------------ clients
function client(t, options = {}) {
  const { wsOptions, ...sdkOptions } = options;
  const wire = [];
  t.wires.push(wire);
  const c = new Centrifuge(wsUrl, {
    websocket: tappedWebSocket(wire, wsOptions),
    minReconnectDelay: 200,
    maxReconnectDelay: 1000,
    timeout: 4000,
    ...sdkOptions,
  });
  const events = new Recorder(c, ['connecting', 'connected', 'disconnected', 'error']);
  t.after(() => c.disconnect());
  c.connect();
  return { client: c, events };
}

function subscription(c, channel) {
  const sub = c.newSubscription(channel);
  const events = new Recorder(sub, ['subscribing', 'subscribed', 'unsubscribed', 'error', 'publication']);
  sub.subscribe();
  return { sub, events };
}

scenario(name('connect is authenticated by the cookie the backend sees'), 10000, async (t) => {
  const { events } = client(t, { name: 'js', wsOptions: { headers: { Cookie: 'session=carol' } } });
  const ctx = await events.wait('connected');
  assert.deepEqual(dec(ctx.data), { hello: 'carol' });
  const s = await waitSeen('connect', (x) => (x.headers.cookie || '').includes('carol'));
  assert.equal(s.body.name, 'js');
  assert.equal(s.body.transport, 'websocket');
  assert.equal(s.body.protocol, FORMAT);
});

scenario(name('a backend error and a backend disconnect reach the SDK'), 10000, async (t) => {
  const rejected = client(t, { data: enc({ reject: 1401 }) });
  const d1 = await rejected.events.wait('disconnected');
  assert.equal(d1.code, 1401, safeJson(d1));
  const bye = client(t, { data: enc({ disconnect: 4501 }) });
  const d2 = await bye.events.wait('disconnected');
  assert.equal(d2.code, 4501, safeJson(d2));
  assert.equal(d2.reason, 'backend says bye');
});

scenario(name('subscribe is decided by the backend, with its data'), 10000, async (t) => {
  const { client: c, events } = client(t, { data: enc({ user: 'dan' }) });
  await events.wait('connected');
  const ok = subscription(c, 'px:room');
  const ctx = await ok.events.wait('subscribed');
  assert.deepEqual(dec(ctx.data), { welcome: 'px:room' });
  const denied = subscription(c, 'px:deny');
  const u = await denied.events.wait('unsubscribed');
  assert.equal(u.code, 1403, safeJson(u));
});

scenario(name('publish goes through the backend, which rewrites the data'), 10000, async (t) => {
  const { client: c, events } = client(t, { data: enc({ user: 'eve' }) });
  await events.wait('connected');
  const s = subscription(c, 'px:chat');
  await s.events.wait('subscribed');
  await s.sub.publish(enc({ text: 'hi' }));
  const p = await s.events.wait('publication');
  assert.deepEqual(dec(p.data), { text: 'hi', checked: true });
  const pub = await waitSeen('publish', (x) => x.body.channel === 'px:chat');
  assert.equal(pub.body.user, 'eve');
});

scenario(name('rpc is answered by the backend, errors included'), 10000, async (t) => {
  const { client: c, events } = client(t, { data: enc({ user: 'fay' }) });
  await events.wait('connected');
  const r = await c.rpc('sum', enc({ a: 1 }));
  assert.deepEqual(dec(r.data), { method: 'sum', echo: { a: 1 } });
  await assert.rejects(c.rpc('fail', enc({})), (e) => e.code === 1500);
});

scenario(name('refresh and sub_refresh keep an expiring client connected and subscribed'), 15000, async (t) => {
  const { client: c, events } = client(t, { data: enc({ user: 'gus', expire_in: 1 }) });
  await events.wait('connected');
  const s = subscription(c, 'px:short');
  await s.events.wait('subscribed');
  await waitSeen('refresh', (x) => x.body.user === 'gus');
  await waitSeen('sub_refresh', (x) => x.body.user === 'gus' && x.body.channel === 'px:short');
  await sleep(300);
  assert.equal(events.all('disconnected').length, 0, 'still connected');
  assert.equal(s.events.all('unsubscribed').length, 0, 'still subscribed');
  await s.sub.publish(enc({ still: 'here' }));
  const p = await s.events.wait('publication');
  assert.deepEqual(dec(p.data), { still: 'here', checked: true });
});
