// The server HTTP API (spec §8) as an application backend uses it, with its effects
// observed through centrifuge-js. SDK-visible scenarios run in both protocol runs;
// plain HTTP checks (reply shapes, auth forms, errors) only in the JSON run.
import assert from 'node:assert/strict';
import {
  API_KEY,
  FORMAT,
  HTTP_URL,
  IS_PROTOBUF,
  State,
  api,
  apiOk,
  connToken,
  connect,
  dec,
  safeJson,
  scenario,
  sleep,
  subscribe,
  uniqueChannel,
} from '../lib/helpers.js';

const name = (s) => `[${FORMAT}] api: ${s}`;

async function rawPost(path, body, headers = {}) {
  const res = await fetch(`${HTTP_URL}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body,
  });
  return { status: res.status, text: await res.text() };
}

scenario(name('disconnect a user: SDK ends disconnected with 3503, no reconnect'), 15000, async (t) => {
  const user = `victim-${FORMAT}-${Date.now()}`;
  const { client, events } = await connect(t, { token: connToken(user) });
  const result = await apiOk('disconnect', { user });
  assert.deepEqual(result, {});
  const ctx = await events.wait('disconnected', { timeout: 5000 });
  assert.equal(ctx.code, 3503, `disconnected ctx: ${safeJson(ctx)}`);
  await sleep(1000);
  assert.equal(client.state, State.Disconnected, 'no reconnect after 3503');
});

scenario(name('disconnect with a custom code 4000: SDK reconnects'), 15000, async (t) => {
  const user = `bouncer-${FORMAT}-${Date.now()}`;
  const { client, events } = await connect(t, { token: connToken(user) });
  await apiOk('disconnect', { user, disconnect: { code: 4000, reason: 'go away' } });
  const ctx = await events.wait('connecting', { pred: (c) => c.code === 4000, timeout: 5000, what: 'connecting with code 4000' });
  assert.equal(ctx.reason, 'go away');
  // 4000-4499: reconnect. The user is not blocked, so the client comes back.
  await events.wait('connected', { pred: () => events.all('connected').length >= 2, timeout: 5000, what: 'second connected' });
  assert.equal(client.state, State.Connected);
});

scenario(name('unsubscribe a user: subscription ends unsubscribed with 2000'), 15000, async (t) => {
  const user = `unsub-${FORMAT}-${Date.now()}`;
  const channel = uniqueChannel('api-unsub');
  const { client } = await connect(t, { token: connToken(user) });
  const { events } = await subscribe(t, client, channel);
  assert.deepEqual(await apiOk('unsubscribe', { user, channel }), {});
  const ctx = await events.wait('unsubscribed', { timeout: 5000 });
  assert.equal(ctx.code, 2000, `unsubscribed ctx: ${safeJson(ctx)}`);
  assert.equal(client.state, State.Connected);
});

scenario(name('subscribe a user server-side: subscribed event and publications on the client'), 15000, async (t) => {
  const user = `serversub-${FORMAT}-${Date.now()}`;
  const channel = uniqueChannel('api-sub');
  const { client, events } = await connect(t, { token: connToken(user) });
  const got = [];
  client.on('subscribed', (ctx) => got.push(['subscribed', ctx]));
  const publication = new Promise((resolve) => client.on('publication', resolve));
  assert.deepEqual(await apiOk('subscribe', { user, channel }), {});
  for (let i = 0; i < 50 && got.length === 0; i++) {
    await sleep(100);
  }
  assert.equal(got.length, 1, `client 'subscribed' events: ${safeJson(got)}; client events: ${safeJson(events.events)}`);
  assert.equal(got[0][1].channel, channel);
  await apiOk('publish', { channel, data: { server: 'side' } });
  const pub = await Promise.race([publication, sleep(5000).then(() => null)]);
  assert.ok(pub, 'publication of the server-side subscription');
  assert.equal(pub.channel, channel);
  assert.deepEqual(dec(pub.data), { server: 'side' });
});

scenario(name('broadcast reaches every channel'), 15000, async (t) => {
  const channels = [uniqueChannel('bc1'), uniqueChannel('bc2')];
  const { client } = await connect(t, { token: connToken('bcast') });
  const subs = [];
  for (const ch of channels) {
    subs.push(await subscribe(t, client, ch));
  }
  const res = await api('broadcast', { channels, data: { to: 'all' } });
  assert.equal(res.status, 200, res.text);
  assert.ok(res.body && res.body.result && Array.isArray(res.body.result.responses), `broadcast reply: ${res.text}`);
  assert.equal(res.body.result.responses.length, 2, res.text);
  for (const r of res.body.result.responses) {
    assert.equal(r.error, undefined, res.text);
    assert.equal(r.result.offset, 1, res.text);
  }
  for (const s of subs) {
    const pub = await s.events.wait('publication', { timeout: 5000 });
    assert.deepEqual(dec(pub.data), { to: 'all' });
  }
});

if (!IS_PROTOBUF) {
  scenario(name('presence, presence_stats and history reply shapes'), 15000, async (t) => {
    const channel = uniqueChannel('api-shapes');
    const { client, connected } = await connect(t, { token: connToken('shape', { info: { k: 'v' } }) });
    await subscribe(t, client, channel);

    const stats = await api('presence_stats', { channel });
    assert.deepEqual(stats.body, { result: { num_clients: 1, num_users: 1 } }, stats.text);

    const presence = await api('presence', { channel });
    assert.deepEqual(
      presence.body,
      { result: { presence: { [connected.client]: { user: 'shape', client: connected.client, conn_info: { k: 'v' } } } } },
      presence.text,
    );

    const empty = await api('history', { channel, limit: 10 });
    assert.equal(empty.status, 200, empty.text);
    assert.ok(empty.body && empty.body.result, empty.text);
    // publications, epoch and offset are always present (spec §8.3).
    assert.ok('publications' in empty.body.result, `history of an empty stream: ${empty.text}`);
    assert.ok('epoch' in empty.body.result && 'offset' in empty.body.result, empty.text);

    await apiOk('publish', { channel, data: { a: 1 } });
    await apiOk('publish', { channel, data: { a: 2 }, tags: { kind: 'test' } });
    const hist = await api('history', { channel, limit: 10 });
    const r = hist.body.result;
    assert.deepEqual(r.publications, [{ data: { a: 1 }, offset: 1 }, { data: { a: 2 }, offset: 2, tags: { kind: 'test' } }], hist.text);
    assert.equal(r.offset, 2);
    assert.equal(typeof r.epoch, 'string');

    const info = await api('info', {});
    assert.equal(info.status, 200, info.text);
    assert.ok(Array.isArray(info.body?.result?.nodes) && info.body.result.nodes.length === 1, `info: ${info.text}`);
    const node = info.body.result.nodes[0];
    assert.equal(typeof node.uid, 'string', info.text);
    assert.ok(node.num_clients >= 1, info.text);

    const chans = await api('channels', { pattern: channel });
    assert.deepEqual(chans.body, { result: { channels: { [channel]: { num_clients: 1 } } } }, chans.text);
  });

  scenario(name('errors: unknown namespace 102, missing channel 107, HTTP 200'), 10000, async () => {
    const unknown = await api('publish', { channel: 'nosuchns:x', data: {} });
    assert.equal(unknown.status, 200, unknown.text);
    assert.equal(unknown.body?.error?.code, 102, unknown.text);
    const bad = await api('publish', { data: {} });
    assert.equal(bad.status, 200, bad.text);
    assert.equal(bad.body?.error?.code, 107, bad.text);
  });

  scenario(name('auth: Authorization apikey and ?api_key= accepted, missing key 401'), 10000, async () => {
    const channel = uniqueChannel('auth');
    const body = JSON.stringify({ channel, data: { x: 1 } });
    const viaHeader = await rawPost('/api/publish', body, { Authorization: `apikey ${API_KEY}` });
    assert.equal(viaHeader.status, 200, viaHeader.text);
    assert.ok(JSON.parse(viaHeader.text).result, viaHeader.text);
    const viaQuery = await rawPost(`/api/publish?api_key=${encodeURIComponent(API_KEY)}`, body);
    assert.equal(viaQuery.status, 200, viaQuery.text);
    const none = await rawPost('/api/publish', body);
    assert.equal(none.status, 401, none.text);
  });

  scenario(name('legacy POST /api with method/params'), 10000, async () => {
    const channel = uniqueChannel('legacy');
    const res = await rawPost(
      '/api',
      JSON.stringify({ id: 7, method: 'publish', params: { channel, data: { legacy: true } } }),
      { 'X-API-Key': API_KEY },
    );
    assert.equal(res.status, 200, res.text);
    const reply = JSON.parse(res.text.trim());
    assert.equal(reply.id, 7, res.text);
    assert.equal(reply.result.offset, 1, res.text);
  });

  scenario(name('batch of publishes'), 10000, async () => {
    const channel = uniqueChannel('batch');
    const res = await api('batch', {
      commands: [
        { publish: { channel, data: { n: 1 } } },
        { publish: { channel, data: { n: 2 } } },
      ],
    });
    assert.equal(res.status, 200, res.text);
    // BatchResponse is `{replies: [...]}` itself, with no result/error wrapper
    // (centrifugo api.proto: message BatchResponse { repeated Reply replies = 1; }).
    const replies = res.body?.replies;
    assert.ok(Array.isArray(replies) && replies.length === 2, `batch reply: ${res.text}`);
    assert.deepEqual(replies.map((r) => r.publish?.offset), [1, 2], res.text);
  });
}
