// Channels in depth with the official centrifuge-js SDK: recovery of many missed
// publications, history trimming, Fossil delta compression (the SDK applies the
// deltas), tags filters and cache recovery without a position.
// Namespaces come from the e2e config (e2e/run): `small`, `delta`, `tags`, `cache`.
import assert from 'node:assert/strict';
import {
  FORMAT,
  apiOk,
  connToken,
  connect,
  dec,
  safeJson,
  scenario,
  subscribe,
  uniqueChannel,
  within,
} from '../lib/helpers.js';

const name = (s) => `[${FORMAT}] ${s}`;

scenario(name('50 publications missed while disconnected arrive exactly once, in order'), 30000, async (t) => {
  const channel = uniqueChannel('missed');
  const reader = await connect(t, { token: connToken('mia') });
  const r = await subscribe(t, reader.client, channel);
  await apiOk('publish', { channel, data: { seq: 0 } });
  await r.events.wait('publication', { pred: (p) => dec(p.data).seq === 0, what: 'publication 0' });

  reader.client.disconnect();
  await reader.events.wait('disconnected', { timeout: 5000 });
  for (let seq = 1; seq <= 50; seq++) {
    await apiOk('publish', { channel, data: { seq } });
  }
  reader.client.connect();
  const ctx = await r.events.wait('subscribed', {
    timeout: 5000,
    pred: (c) => c.wasRecovering,
    what: 'subscribed after recovery',
  });
  assert.equal(ctx.recovered, true, `subscribed ctx: ${safeJson(ctx)}`);
  await r.events.wait('publication', { pred: (p) => dec(p.data).seq === 50, what: 'publication 50', timeout: 10000 });
  // One more live publication after recovery: the stream continues seamlessly.
  await apiOk('publish', { channel, data: { seq: 51 } });
  await r.events.wait('publication', { pred: (p) => dec(p.data).seq === 51, what: 'publication 51' });
  const seqs = r.events.all('publication').map((p) => dec(p.data).seq);
  assert.deepEqual(seqs, Array.from({ length: 52 }, (_, i) => i), 'every publication once, in order');
  const offsets = r.events.all('publication').map((p) => p.offset);
  assert.deepEqual(offsets, Array.from({ length: 52 }, (_, i) => i + 1));
});

scenario(name('history longer than history_size is trimmed to the newest'), 20000, async (t) => {
  // Namespace `small`: history_size 5.
  const channel = `small:${uniqueChannel('trim')}`;
  for (let seq = 1; seq <= 8; seq++) {
    await apiOk('publish', { channel, data: { seq } });
  }
  const viaApi = await apiOk('history', { channel, limit: 100 });
  assert.deepEqual(viaApi.publications.map((p) => p.data.seq), [4, 5, 6, 7, 8], safeJson(viaApi));
  assert.equal(viaApi.offset, 8);

  const { client } = await connect(t, { token: connToken('nat') });
  const { sub } = await subscribe(t, client, channel);
  const viaClient = await within(sub.history({ limit: 100 }), 5000, 'sub.history');
  assert.deepEqual(viaClient.publications.map((p) => dec(p.data).seq), [4, 5, 6, 7, 8]);
  assert.equal(viaClient.offset, 8);
});

function document(version) {
  // A large, mostly unchanged document: what delta compression is for.
  return {
    title: 'match report',
    version,
    score: { home: version, away: 1 },
    commentary: Array.from({ length: 20 }, (_, i) => `minute ${i}: nothing much happened`),
  };
}

scenario(name('fossil delta: the SDK rebuilds every payload, most travel as deltas'), 30000, async (t) => {
  // Namespace `delta`: allowed_delta_types ["fossil"], delta_publish, recovery.
  const channel = `delta:${uniqueChannel('doc')}`;
  const { client, events: clientEvents } = await connect(t, { token: connToken('olive') });
  const s = await subscribe(t, client, channel, { delta: 'fossil' });
  for (let v = 1; v <= 5; v++) {
    await apiOk('publish', { channel, data: document(v) });
    await s.events.wait('publication', { pred: (p) => dec(p.data).version === v, what: `version ${v}` });
  }
  for (const [i, p] of s.events.all('publication').entries()) {
    assert.deepEqual(dec(p.data), document(i + 1), `payload ${i + 1} rebuilt exactly`);
  }
  const stats = s.sub.deltaStats();
  assert.equal(stats.numPublications, 5, safeJson(stats));
  assert.equal(stats.numFullPayloads, 1, `only the first is full: ${safeJson(stats)}`);
  assert.equal(stats.numDeltaPayloads, 4, safeJson(stats));
  assert.ok(stats.bytesReceived < stats.bytesDecoded / 2, `deltas save bandwidth: ${safeJson(stats)}`);

  // Recovered publications are delta-encoded too (the first one in full).
  client.disconnect();
  await clientEvents.wait('disconnected', { timeout: 5000 });
  for (let v = 6; v <= 8; v++) {
    await apiOk('publish', { channel, data: document(v) });
  }
  client.connect();
  await s.events.wait('subscribed', { pred: (c) => c.wasRecovering && c.recovered, what: 'recovered' });
  await s.events.wait('publication', { pred: (p) => dec(p.data).version === 8, what: 'version 8' });
  await apiOk('publish', { channel, data: document(9) });
  await s.events.wait('publication', { pred: (p) => dec(p.data).version === 9, what: 'version 9' });
  const versions = s.events.all('publication').map((p) => dec(p.data));
  assert.deepEqual(versions, Array.from({ length: 9 }, (_, i) => document(i + 1)));
});

scenario(name('tags filter: only matching publications are delivered and recovered'), 30000, async (t) => {
  // Namespace `tags`: allow_tags_filter, recovery.
  const channel = `tags:${uniqueChannel('scores')}`;
  const { client, events: clientEvents } = await connect(t, { token: connToken('pia') });
  const s = await subscribe(t, client, channel, {
    tagsFilter: { op: 'or', nodes: [{ key: 'team', cmp: 'eq', val: 'red' }, { key: 'points', cmp: 'gte', val: '10' }] },
  });
  const send = (n, team, points) => apiOk('publish', { channel, data: { n }, tags: { team, points: String(points) } });
  await send(1, 'blue', 1); // no
  await send(2, 'red', 1); // yes: red
  await send(3, 'blue', 12); // yes: points >= 10
  await send(4, 'green', 9); // no
  await s.events.wait('publication', { pred: (p) => dec(p.data).n === 3, what: 'publication 3' });

  client.disconnect();
  await clientEvents.wait('disconnected', { timeout: 5000 });
  await send(5, 'red', 0); // yes
  await send(6, 'blue', 0); // no
  client.connect();
  await s.events.wait('subscribed', { pred: (c) => c.wasRecovering && c.recovered, what: 'recovered' });
  await s.events.wait('publication', { pred: (p) => dec(p.data).n === 5, what: 'publication 5' });
  await send(7, 'red', 3); // yes, live
  await s.events.wait('publication', { pred: (p) => dec(p.data).n === 7, what: 'publication 7' });
  const got = s.events.all('publication').map((p) => dec(p.data).n);
  assert.deepEqual(got, [2, 3, 5, 7]);
  assert.equal(s.events.all('publication')[0].tags.team, 'red', 'tags reach the client');
});

scenario(name('cache recovery: a new subscriber gets the latest publication at once'), 20000, async (t) => {
  // Namespace `cache`: force_recovery, force_recovery_mode cache, auto_cache_recover.
  const channel = `cache:${uniqueChannel('state')}`;
  await apiOk('publish', { channel, data: { state: 'old' } });
  await apiOk('publish', { channel, data: { state: 'current' } });
  const { client } = await connect(t, { token: connToken('quinn') });
  const s = await subscribe(t, client, channel);
  const first = await s.events.wait('publication', { what: 'the cached publication' });
  assert.deepEqual(dec(first.data), { state: 'current' });
  assert.equal(s.events.all('publication').length, 1, 'only the latest');
});
