// Wire compatibility of chorus with the official centrifuge-js SDK, unmodified.
// Runs once per protocol: CENTRIFUGE_FORMAT=json (default) or protobuf.
import assert from 'node:assert/strict';
import jwt from 'jsonwebtoken';
import {
  FORMAT,
  HMAC_SECRET,
  IS_PROTOBUF,
  Recorder,
  State,
  api,
  apiOk,
  connToken,
  connect,
  dec,
  enc,
  makeClient,
  safeJson,
  scenario,
  sleep,
  subscribe,
  uniqueChannel,
  within,
} from '../lib/helpers.js';

const name = (s) => `[${FORMAT}] ${s}`;

// (a)
scenario(name('connect with a valid token emits connected with a client id'), 15000, async (t) => {
  const { client, connected } = await connect(t, { token: connToken('alice') });
  assert.equal(typeof connected.client, 'string', `connected ctx: ${safeJson(connected)}`);
  assert.ok(connected.client.length > 0, 'client id must not be empty');
  assert.equal(connected.transport, 'websocket');
  assert.equal(client.state, State.Connected);
});

// (b)
scenario(name('subscribe, publish via HTTP API, receive the publication'), 20000, async (t) => {
  const channel = uniqueChannel('api-pub');
  const { client } = await connect(t, { token: connToken('bob') });
  const { events, subscribed } = await subscribe(t, client, channel);

  // force_recovery in the namespace: positioned + recoverable with a stream position.
  assert.equal(subscribed.recoverable, true, `subscribed ctx: ${safeJson(subscribed)}`);
  assert.equal(subscribed.positioned, true, `subscribed ctx: ${safeJson(subscribed)}`);
  assert.ok(subscribed.streamPosition, 'streamPosition expected for a recoverable subscription');
  assert.equal(typeof subscribed.streamPosition.epoch, 'string');
  assert.ok(subscribed.streamPosition.epoch.length > 0, 'epoch must not be empty');
  assert.equal(subscribed.streamPosition.offset, 0, 'a new channel starts at offset 0');

  const data = { text: 'hello from the API', n: 42, nested: { list: [1, 'two', true, null] } };
  const res = await api('publish', { channel, data });
  assert.equal(res.status, 200, `HTTP ${res.status} ${res.text}`);
  assert.ok(res.body, `API reply is not JSON: ${res.text}`);
  assert.deepEqual(Object.keys(res.body), ['result'], `API reply: ${res.text}`);
  const result = res.body.result;
  assert.equal(typeof result.offset, 'number', `publish result: ${res.text}`);
  assert.equal(result.offset, 1, `first publication offset: ${res.text}`);
  assert.equal(result.epoch, subscribed.streamPosition.epoch, 'API epoch = subscription epoch');

  const pub = await events.wait('publication', { timeout: 5000 });
  assert.deepEqual(dec(pub.data), data);
  assert.equal(pub.channel, channel);
  assert.equal(pub.offset, result.offset);
  assert.equal(pub.info, undefined, 'API publications carry no publisher info');
});

// (c)
scenario(name('client-side publish reaches another subscriber'), 20000, async (t) => {
  const channel = uniqueChannel('client-pub');
  const alice = await connect(t, { token: connToken('alice') });
  const bob = await connect(t, { token: connToken('bob') });
  const subA = await subscribe(t, alice.client, channel);
  const subB = await subscribe(t, bob.client, channel);

  const data = { from: 'alice', text: 'hi bob', at: Date.now() };
  const reply = await within(subA.sub.publish(enc(data)), 5000, 'sub.publish');
  assert.deepEqual(reply, {});

  const got = await subB.events.wait('publication', { timeout: 5000 });
  assert.deepEqual(dec(got.data), data);
  assert.equal(got.channel, channel);
  assert.ok(got.info, `client publications carry publisher info: ${safeJson(got)}`);
  assert.equal(got.info.user, 'alice');
  assert.equal(got.info.client, alice.connected.client);
  assert.equal(got.offset, 1);

  // The publisher, subscribed as well, receives its own publication.
  const own = await subA.events.wait('publication', { timeout: 5000 });
  assert.deepEqual(dec(own.data), data);
});

// (d)
scenario(name('presence, presence stats and join/leave'), 25000, async (t) => {
  const channel = uniqueChannel('presence');
  const alice = await connect(t, { token: connToken('alice', { info: { name: 'Alice' } }) });
  const subA = await subscribe(t, alice.client, channel);

  const bob = await connect(t, { token: connToken('bob') });
  const subB = await subscribe(t, bob.client, channel);

  // force_push_join_leave: alice sees bob join.
  const join = await subA.events.wait('join', {
    timeout: 5000,
    pred: (ctx) => ctx.info && ctx.info.user === 'bob',
    what: 'join of bob',
  });
  assert.equal(join.channel, channel);
  assert.equal(join.info.client, bob.connected.client);

  const stats = await within(subA.sub.presenceStats(), 5000, 'presenceStats');
  assert.deepEqual(stats, { numClients: 2, numUsers: 2 });

  const presence = await within(subB.sub.presence(), 5000, 'presence');
  const clients = presence.clients;
  assert.deepEqual(
    Object.keys(clients).sort(),
    [alice.connected.client, bob.connected.client].sort(),
    `presence: ${safeJson(presence)}`,
  );
  assert.equal(clients[alice.connected.client].user, 'alice');
  assert.equal(clients[alice.connected.client].client, alice.connected.client);
  assert.equal(clients[bob.connected.client].user, 'bob');
  // The token's info claim is the connection info shown in presence.
  assert.deepEqual(dec(clients[alice.connected.client].connInfo), { name: 'Alice' });

  // Bob leaves: alice gets a leave, stats drop to one.
  bob.client.disconnect();
  const leave = await subA.events.wait('leave', {
    timeout: 5000,
    pred: (ctx) => ctx.info && ctx.info.user === 'bob',
    what: 'leave of bob',
  });
  assert.equal(leave.info.client, bob.connected.client);
  // The leave and the presence removal need not be ordered: allow a short delay.
  let after;
  for (let i = 0; i < 20; i++) {
    after = await within(subA.sub.presenceStats(), 5000, 'presenceStats after leave');
    if (after.numClients === 1) {
      break;
    }
    await sleep(100);
  }
  assert.deepEqual(after, { numClients: 1, numUsers: 1 });
});

// (e)
scenario(name('history after API publishes: order, offsets, limit, reverse, since'), 25000, async (t) => {
  const channel = uniqueChannel('history');
  const { client } = await connect(t, { token: connToken('carol') });
  const { sub, events } = await subscribe(t, client, channel);

  const N = 5;
  let epoch = '';
  for (let i = 1; i <= N; i++) {
    const result = await apiOk('publish', { channel, data: { seq: i } });
    assert.equal(result.offset, i, `publish #${i} offset: ${safeJson(result)}`);
    if (epoch) {
      assert.equal(result.epoch, epoch, 'epoch stays the same');
    }
    epoch = result.epoch;
  }
  // Live delivery in order too.
  await events.wait('publication', { pred: (p) => p.offset === N, what: `publication offset ${N}` });
  assert.deepEqual(events.all('publication').map((p) => dec(p.data).seq), [1, 2, 3, 4, 5]);

  const all = await within(sub.history({ limit: 100 }), 5000, 'history limit 100');
  assert.equal(all.epoch, epoch);
  assert.equal(all.offset, N, 'history offset = top of the stream');
  assert.deepEqual(all.publications.map((p) => p.offset), [1, 2, 3, 4, 5]);
  assert.deepEqual(all.publications.map((p) => dec(p.data)), [1, 2, 3, 4, 5].map((seq) => ({ seq })));

  const first3 = await within(sub.history({ limit: 3 }), 5000, 'history limit 3');
  assert.deepEqual(first3.publications.map((p) => p.offset), [1, 2, 3]);
  assert.equal(first3.offset, N);

  const last2 = await within(sub.history({ limit: 2, reverse: true }), 5000, 'history reverse');
  assert.deepEqual(last2.publications.map((p) => p.offset), [5, 4]);

  const since = await within(sub.history({ limit: 10, since: { offset: 2, epoch } }), 5000, 'history since');
  assert.deepEqual(since.publications.map((p) => p.offset), [3, 4, 5]);

  // limit 0 (the SDK default): only the stream position.
  const top = await within(sub.history(), 5000, 'history without limit');
  assert.deepEqual(top.publications, []);
  assert.equal(top.offset, N);
  assert.equal(top.epoch, epoch);
});

// (f)
scenario(name('rpc with no handler configured is rejected with 108 not available'), 15000, async (t) => {
  const { client } = await connect(t, { token: connToken('dave') });
  let err;
  try {
    await within(client.rpc('no.such.method', enc({ x: 1 })), 5000, 'rpc');
  } catch (e) {
    err = e;
  }
  assert.ok(err, 'rpc must be rejected');
  assert.equal(err.code, 108, `rpc error: ${safeJson(err)}`);
  assert.equal(client.state, State.Connected, 'an RPC error does not end the connection');
});

// (g)
scenario(name('token refresh keeps the connection past the token expiry'), 25000, async (t) => {
  let getTokenCalls = 0;
  const { client, events } = await connect(t, {
    token: connToken('erin', { expiresIn: 3 }),
    getToken: async () => {
      getTokenCalls += 1;
      return connToken('erin', { expiresIn: 3 });
    },
  });
  // The config closes an unrefreshed connection 2 s after expiry (3005, reconnect),
  // so staying connected for 8 s needs working refreshes.
  await sleep(8000);
  const connectedAt = events.events.findIndex((e) => e.name === 'connected');
  const trouble = events.events.slice(connectedAt + 1);
  assert.deepEqual(trouble.map((e) => `${e.name} ${safeJson(e.ctx)}`), [], 'no connecting/disconnected/error events');
  assert.equal(client.state, State.Connected);
  // First refresh from ConnectResult.ttl, the second from RefreshResult.ttl: both
  // only happen when the server answers with expires/ttl.
  assert.ok(getTokenCalls >= 2, `getToken called ${getTokenCalls} times, expected >= 2`);
  // The connection still answers commands (an RPC gets its 108 reply: no handler).
  const err = await within(client.rpc('still-here', enc({})).then(() => null, (e) => e), 5000, 'rpc after refresh');
  assert.equal(err && err.code, 108, `rpc after refresh: ${safeJson(err)}`);
});

// (h)
scenario(name('token with a wrong signature: disconnected 3500, no reconnect'), 15000, async (t) => {
  const { client, events } = makeClient(t, {
    token: connToken('mallory', { secret: 'not-the-server-secret-but-long-enough-for-hs256' }),
  });
  client.connect();
  const ctx = await events.wait('disconnected', { timeout: 5000 });
  assert.equal(ctx.code, 3500, `disconnected ctx: ${safeJson(ctx)}`);
  assert.equal(client.state, State.Disconnected);
  await sleep(1500);
  assert.equal(events.all('connected').length, 0);
  assert.equal(client.state, State.Disconnected, 'the client must not reconnect after 3500');
  const connecting = events.all('connecting');
  assert.equal(connecting.length, 1, `only the initial connecting event: ${safeJson(connecting)}`);
});

// (i)
scenario(name('expired token without getToken: 109, then unauthorized'), 15000, async (t) => {
  // centrifuge-js: a connect reply with error 109 emits an `error` event of type
  // 'connect' and goes to connecting for a new token; without getToken it emits a
  // 'configuration' error and ends `disconnected` with code 1 (unauthorized).
  const { client, events } = makeClient(t, {
    token: connToken('frank', { expiresIn: -60 }),
  });
  client.connect();
  const err = await events.wait('error', { timeout: 5000, pred: (e) => e.type === 'connect', what: 'connect error' });
  assert.equal(err.error.code, 109, `connect error: ${safeJson(err)}`);
  const ctx = await events.wait('disconnected', { timeout: 5000 });
  assert.equal(ctx.code, 1, `disconnected ctx: ${safeJson(ctx)}`);
  assert.equal(ctx.reason, 'unauthorized');
  assert.equal(client.state, State.Disconnected);
  assert.equal(events.all('connected').length, 0);
  assert.ok(
    events.all('error').some((e) => e.type === 'configuration'),
    'configuration error: token expired but no getToken',
  );
});

// (j)
scenario(name('subscribe to a namespace without permissions: 103'), 15000, async (t) => {
  const { client } = await connect(t, { token: connToken('gina') });
  const sub = client.newSubscription(`secure:${uniqueChannel('x')}`);
  const states = [];
  sub.on('subscribed', (ctx) => states.push(['subscribed', ctx]));
  const unsubscribed = new Promise((resolve) => sub.on('unsubscribed', resolve));
  sub.subscribe();
  const ctx = await within(unsubscribed, 5000, 'unsubscribed event');
  assert.equal(ctx.code, 103, `unsubscribed ctx: ${safeJson(ctx)}`);
  assert.equal(states.length, 0, 'never subscribed');
  await assert.rejects(sub.ready(1000), (e) => e.code !== undefined);
  assert.equal(client.state, State.Connected, 'a subscribe error does not end the connection');
});

// (k)
scenario(name('connect and subscribe batched in one frame'), 15000, async (t) => {
  // A subscription created before connect() goes out in the same WebSocket frame as
  // the connect command (spec §1.1): the server must process both, in order.
  const channel = uniqueChannel('batched');
  const { client, events } = makeClient(t, { token: connToken('hank') });
  const sub = client.newSubscription(channel);
  const subEvents = new Recorder(sub, ['subscribing', 'subscribed', 'unsubscribed', 'error', 'publication']);
  sub.subscribe();
  client.connect();
  await events.wait('connected', { timeout: 5000 });
  const ctx = await subEvents.wait('subscribed', { timeout: 5000 });
  assert.equal(ctx.channel, channel);
  assert.equal(subEvents.all('unsubscribed').length, 0);
  const result = await apiOk('publish', { channel, data: { batched: true } });
  assert.equal(result.offset, 1);
  const pub = await subEvents.wait('publication', { timeout: 5000 });
  assert.deepEqual(dec(pub.data), { batched: true });
});

// (l)
scenario(name('recovery of missed publications after a reconnect'), 20000, async (t) => {
  // force_recovery: on reconnect centrifuge-js resubscribes with recover/offset/epoch
  // and the server returns the missed publications (spec §7).
  const channel = uniqueChannel('recover');
  const reader = await connect(t, { token: connToken('ivan') });
  const publisher = await connect(t, { token: connToken('judy') });
  const r = await subscribe(t, reader.client, channel);
  const p = await subscribe(t, publisher.client, channel);

  await within(p.sub.publish(enc({ seq: 1 })), 5000, 'publish 1');
  await r.events.wait('publication', { pred: (x) => x.offset === 1, what: 'publication 1' });

  reader.client.disconnect();
  await reader.events.wait('disconnected', { timeout: 5000 });
  for (let seq = 2; seq <= 4; seq++) {
    await within(p.sub.publish(enc({ seq })), 5000, `publish ${seq}`);
  }
  reader.client.connect();
  const ctx = await r.events.wait('subscribed', {
    timeout: 5000,
    pred: (c) => c.wasRecovering,
    what: 'subscribed with wasRecovering',
  });
  assert.equal(ctx.recovered, true, `subscribed ctx: ${safeJson(ctx)}`);
  assert.equal(ctx.streamPosition.epoch, r.subscribed.streamPosition.epoch);
  await r.events.wait('publication', { pred: (x) => x.offset === 4, what: 'publication 4' });
  const pubs = r.events.all('publication');
  assert.deepEqual(pubs.map((x) => x.offset), [1, 2, 3, 4]);
  assert.deepEqual(pubs.map((x) => dec(x.data).seq), [1, 2, 3, 4]);
});

// (m)
scenario(name('a browser-like Origin header is accepted with allowed_origins ["*"]'), 15000, async (t) => {
  const { connected } = await connect(t, {
    token: connToken('kate'),
    wsOptions: { origin: 'https://app.example.com' },
  });
  assert.ok(connected.client);
});

// (n)
scenario(name('server pings at the advertised interval and accepts pongs'), 20000, async (t) => {
  // The test config sets client.ping_interval 3s / pong_timeout 2s. With
  // maxServerPingDelay 1.5 s the SDK reconnects if no frame comes within 4.5 s; the
  // server disconnects (3012) if the SDK's pongs are not taken (spec §3.2).
  const { client, events, wire } = await connect(t, {
    token: connToken('leo'),
    maxServerPingDelay: 1500,
  });
  await sleep(10000);
  const connectedAt = events.events.findIndex((e) => e.name === 'connected');
  const trouble = events.events.slice(connectedAt + 1);
  assert.deepEqual(trouble.map((e) => `${e.name} ${safeJson(e.ctx)}`), [], 'no connecting/disconnected/error events');
  assert.equal(client.state, State.Connected);
  const empty = IS_PROTOBUF ? 'hex:00' : '{}';
  const pings = wire.filter((l) => l.endsWith(`<- ${empty}`)).length;
  const pongs = wire.filter((l) => l.endsWith(`-> ${empty}`)).length;
  assert.ok(pings >= 2, `server pings in 10 s: ${pings}`);
  assert.ok(pongs >= 2, `client pongs in 10 s: ${pongs}`);
});

// (o) error replies the SDK surfaces (spec §4.1, §6.2, §2.3)
scenario(name('error paths: 102, 103 on publish, 108, 112'), 20000, async (t) => {
  const { client } = await connect(t, { token: connToken('olga') });
  const failure = (p) => p.then((v) => ({ ok: v }), (e) => e);

  // Unknown namespace: subscribe fails with 102.
  const sub = client.newSubscription(`nosuchns:${uniqueChannel('x')}`);
  const unsubscribed = new Promise((resolve) => sub.on('unsubscribed', resolve));
  sub.subscribe();
  const u = await within(unsubscribed, 5000, 'unsubscribed (unknown namespace)');
  assert.equal(u.code, 102, `unsubscribed ctx: ${safeJson(u)}`);

  // allow_publish_for_subscriber only: publishing without a subscription is denied.
  const pubErr = await within(failure(client.publish(uniqueChannel('not-subscribed'), enc({ a: 1 }))), 5000, 'publish');
  assert.equal(pubErr.code, 103, `publish without subscription: ${safeJson(pubErr)}`);

  // Presence disabled in the namespace: 108 (checked before permissions).
  const presErr = await within(failure(client.presence(`secure:${uniqueChannel('p')}`)), 5000, 'presence');
  assert.equal(presErr.code, 108, `presence in a namespace without presence: ${safeJson(presErr)}`);

  // History since a position of another epoch: 112 unrecoverable position.
  const channel = uniqueChannel('epoch');
  const s = await subscribe(t, client, channel);
  await apiOk('publish', { channel, data: { n: 1 } });
  await s.events.wait('publication');
  const histErr = await within(
    failure(s.sub.history({ limit: 10, since: { offset: 0, epoch: 'not-the-epoch' } })),
    5000,
    'history with a wrong epoch',
  );
  assert.equal(histErr.code, 112, `history since another epoch: ${safeJson(histErr)}`);
  assert.equal(client.state, State.Connected, 'error replies do not end the connection');
});

// (p) a connection token carrying a `channel` claim is invalid (spec §5.2, §13.8)
scenario(name('connection token with a channel claim: disconnected 3500'), 15000, async (t) => {
  const token = jwt.sign(
    { sub: 'pat', channel: 'news', exp: Math.floor(Date.now() / 1000) + 3600 },
    HMAC_SECRET,
    { algorithm: 'HS256' },
  );
  const { client, events } = makeClient(t, { token });
  client.connect();
  const ctx = await events.wait('disconnected', { timeout: 5000 });
  assert.equal(ctx.code, 3500, `disconnected ctx: ${safeJson(ctx)}`);
  assert.equal(events.all('connected').length, 0);
});

// (q) an inbound message over websocket.message_size_limit (64 KiB) → close 1009,
// which centrifuge-js turns into a terminal disconnect code 3 (spec §1.2)
scenario(name('message over 64 KiB: closed 1009, SDK disconnected "message size limit exceeded"'), 15000, async (t) => {
  const channel = uniqueChannel('big');
  const { client, events } = await connect(t, { token: connToken('quinn') });
  const { sub } = await subscribe(t, client, channel);
  sub.publish(enc({ big: 'x'.repeat(70 * 1024) })).catch(() => {});
  const ctx = await events.wait('disconnected', { timeout: 5000 });
  assert.equal(ctx.code, 3, `disconnected ctx: ${safeJson(ctx)}`);
  assert.equal(ctx.reason, 'message size limit exceeded');
});

// Extra: the API authenticates with X-API-Key.
scenario(name('HTTP API rejects a wrong key with 401'), 10000, async () => {
  const res = await api('publish', { channel: uniqueChannel('auth'), data: {} }, { key: 'wrong' });
  assert.equal(res.status, 401, `HTTP ${res.status} ${res.text}`);
});

if (IS_PROTOBUF) {
  // Extra: arbitrary bytes survive a Protobuf round trip (no JSON in between).
  scenario(name('binary payload round trip over Protobuf'), 20000, async (t) => {
    const channel = uniqueChannel('binary');
    const alice = await connect(t, { token: connToken('alice') });
    const bob = await connect(t, { token: connToken('bob') });
    const subA = await subscribe(t, alice.client, channel);
    const subB = await subscribe(t, bob.client, channel);
    const bytes = new Uint8Array([0, 1, 2, 255, 254, 10, 13, 0]);
    await within(subA.sub.publish(bytes), 5000, 'publish bytes');
    const got = await subB.events.wait('publication', { timeout: 5000 });
    assert.deepEqual(Array.from(got.data), Array.from(bytes));
  });
}
