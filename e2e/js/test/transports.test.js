// Bidirectional emulation with the official centrifuge-js SDK, unmodified: the
// `http_stream` and `sse` transports (spec §1.3) with commands posted to
// /emulation, and the fallback from an unreachable WebSocket endpoint.
// HTTP-streaming runs in both protocols; SSE is JSON only (the SDK sends the
// connect command in a URL parameter), so its scenarios are skipped under
// CENTRIFUGE_FORMAT=protobuf.
import assert from 'node:assert/strict';
import { EventSource } from 'eventsource';
import WebSocket from 'ws';
import {
  Centrifuge,
  FORMAT,
  HTTP_URL,
  IS_PROTOBUF,
  Recorder,
  State,
  apiOk,
  connToken,
  dec,
  describeEvents,
  enc,
  safeJson,
  scenario,
  subscribe,
  uniqueChannel,
  within,
} from '../lib/helpers.js';

const name = (s) => `[${FORMAT}] ${s}`;
const HTTP_STREAM = { transport: 'http_stream', endpoint: `${HTTP_URL}/connection/http_stream` };
const SSE = { transport: 'sse', endpoint: `${HTTP_URL}/connection/sse` };

/** A client over the given transport list; disconnected when the test ends. */
function makeEmulatedClient(t, transports, options = {}) {
  const client = new Centrifuge(transports, {
    emulationEndpoint: `${HTTP_URL}/emulation`,
    eventsource: EventSource,
    websocket: WebSocket,
    minReconnectDelay: 200,
    maxReconnectDelay: 1000,
    timeout: 4000,
    debug: process.env.E2E_DEBUG === '1',
    ...options,
  });
  const events = new Recorder(client, ['connecting', 'connected', 'disconnected', 'error']);
  t.after(() => client.disconnect());
  return { client, events };
}

/** Connects over the transport list and waits for `connected`. */
async function connectEmulated(t, transports, options = {}) {
  const c = makeEmulatedClient(t, transports, options);
  c.client.connect();
  try {
    c.connected = await c.events.wait('connected', { timeout: 8000 });
  } catch (err) {
    err.message = `${err.message}\nclient events:\n    ${describeEvents(c.events.events).join('\n    ')}`;
    throw err;
  }
  return c;
}

const transportCases = [
  { label: 'http_stream', list: [HTTP_STREAM], skip: false },
  { label: 'sse', list: [SSE], skip: IS_PROTOBUF },
];

for (const { label, list, skip } of transportCases) {
  const run = skip ? () => {} : scenario;

  run(name(`${label}: connect, subscribe, receive an API publication, publish`), 20000, async (t) => {
    const channel = uniqueChannel(`${label}-pub`);
    const { client, connected } = await connectEmulated(t, list, { token: connToken(`${label}-alice`) });
    assert.equal(connected.transport, label, `connected ctx: ${safeJson(connected)}`);
    assert.ok(connected.client.length > 0);
    assert.equal(client.state, State.Connected);

    const { sub, events, subscribed } = await subscribe(t, client, channel);
    assert.equal(subscribed.recoverable, true, `subscribed ctx: ${safeJson(subscribed)}`);

    const result = await apiOk('publish', { channel, data: { via: 'api' } });
    const fromApi = await events.wait('publication', { pred: (p) => p.offset === result.offset });
    assert.deepEqual(dec(fromApi.data), { via: 'api' });

    // A command over /emulation, and its publication back over the stream.
    await within(sub.publish(enc({ via: 'client' })), 5000, 'client publish');
    const fromClient = await events.wait('publication', { pred: (p) => p.offset === result.offset + 1 });
    assert.deepEqual(dec(fromClient.data), { via: 'client' });
  });

  run(name(`${label}: presence and history`), 20000, async (t) => {
    const channel = uniqueChannel(`${label}-ph`);
    const { client } = await connectEmulated(t, list, { token: connToken(`${label}-bob`) });
    const { sub } = await subscribe(t, client, channel);
    for (let n = 1; n <= 3; n++) {
      await apiOk('publish', { channel, data: { n } });
    }
    const presence = await within(sub.presence(), 5000, 'presence');
    const users = Object.values(presence.clients).map((c) => c.user);
    assert.deepEqual(users, [`${label}-bob`], `presence: ${safeJson(presence)}`);
    const stats = await within(sub.presenceStats(), 5000, 'presence stats');
    assert.equal(stats.numClients, 1);
    const history = await within(sub.history({ limit: 10 }), 5000, 'history');
    assert.deepEqual(history.publications.map((p) => dec(p.data).n), [1, 2, 3]);
  });

  run(name(`${label}: recovery after a server-initiated reconnect`), 25000, async (t) => {
    const channel = uniqueChannel(`${label}-rec`);
    const user = `${label}-carol-${Date.now()}`;
    const { client, events: clientEvents } = await connectEmulated(t, list, { token: connToken(user) });
    const r = await subscribe(t, client, channel);
    await apiOk('publish', { channel, data: { seq: 1 } });
    await r.events.wait('publication', { pred: (p) => p.offset === 1 });

    // 4000 reconnects: the disconnect arrives as a push in the stream.
    await apiOk('disconnect', { user, disconnect: { code: 4000, reason: 'go away' } });
    const gone = await clientEvents.wait('connecting', { pred: (c) => c.code === 4000, what: 'connecting 4000' });
    assert.equal(gone.reason, 'go away');
    for (let seq = 2; seq <= 3; seq++) {
      await apiOk('publish', { channel, data: { seq } });
    }
    const ctx = await r.events.wait('subscribed', {
      timeout: 8000,
      pred: (c) => c.wasRecovering,
      what: 'subscribed with wasRecovering',
    });
    assert.equal(ctx.recovered, true, `subscribed ctx: ${safeJson(ctx)}`);
    await r.events.wait('publication', { pred: (p) => p.offset === 3, what: 'publication 3' });
    assert.deepEqual(r.events.all('publication').map((p) => dec(p.data).seq), [1, 2, 3]);
  });

  run(name(`${label}: a terminal server disconnect reaches the client`), 15000, async (t) => {
    const user = `${label}-dave-${Date.now()}`;
    const { events } = await connectEmulated(t, list, { token: connToken(user) });
    await apiOk('disconnect', { user });
    const ctx = await events.wait('disconnected', { timeout: 5000 });
    assert.equal(ctx.code, 3503, `disconnected ctx: ${safeJson(ctx)}`);
  });
}

scenario(name('falls back to http_stream when the WebSocket endpoint is missing'), 20000, async (t) => {
  const wsUrl = HTTP_URL.replace(/^http/, 'ws');
  const transports = [
    { transport: 'websocket', endpoint: `${wsUrl}/connection/no-such-websocket` },
    HTTP_STREAM,
  ];
  const { connected, events } = await connectEmulated(t, transports, { token: connToken('erin') });
  assert.equal(connected.transport, 'http_stream', `connected ctx: ${safeJson(connected)}`);
  const transportErrors = events.all('error').filter((e) => e.type === 'transport');
  assert.ok(transportErrors.length >= 1, `events: ${describeEvents(events.events).join('; ')}`);
});
