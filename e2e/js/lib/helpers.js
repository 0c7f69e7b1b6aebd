// Shared helpers of the centrifuge-js suites: environment, tokens, clients,
// event waiting, payload encoding and the server HTTP API.
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import jwt from 'jsonwebtoken';
import WebSocket from 'ws';
import * as jsonBuild from 'centrifuge';
import * as protobufBuild from 'centrifuge/build/protobuf';

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: run the suites through e2e/run`);
  }
  return value;
}

export const FORMAT = (process.env.CENTRIFUGE_FORMAT || 'json').toLowerCase();
if (FORMAT !== 'json' && FORMAT !== 'protobuf') {
  throw new Error(`CENTRIFUGE_FORMAT must be json or protobuf, got ${FORMAT}`);
}
export const IS_PROTOBUF = FORMAT === 'protobuf';
const sdk = IS_PROTOBUF ? protobufBuild : jsonBuild;
export const { Centrifuge, State, SubscriptionState } = sdk;

export const WS_URL = required('CHORUS_WS_URL');
export const HTTP_URL = required('CHORUS_HTTP_URL');
export const HMAC_SECRET = required('CHORUS_HMAC_SECRET');
export const API_KEY = required('CHORUS_API_KEY');

/** A channel name no other test (or the other protocol's run) uses. */
export function uniqueChannel(prefix = 'e2e') {
  return `${prefix}-${FORMAT}-${randomBytes(6).toString('hex')}`;
}

/** HS256 connection token. `expiresIn` seconds from now (may be negative). */
export function connToken(user, { expiresIn = 3600, secret = HMAC_SECRET, info } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const claims = { sub: user, exp: now + expiresIn, iat: now };
  if (info !== undefined) {
    claims.info = info;
  }
  return jwt.sign(claims, secret, { algorithm: 'HS256', noTimestamp: true });
}

/** Payload as the SDK wants it: an object (JSON) or bytes of its JSON (Protobuf). */
export function enc(value) {
  return IS_PROTOBUF ? new TextEncoder().encode(JSON.stringify(value)) : value;
}

/** Payload as the application sees it: the SDK gives bytes over Protobuf. */
export function dec(data) {
  if (!IS_PROTOBUF) {
    return data;
  }
  if (data === undefined || data === null) {
    return data;
  }
  return JSON.parse(new TextDecoder().decode(data));
}

/**
 * Records the events of an emitter (client or subscription) so that a test can
 * wait for one that has already happened as well as for one still to come.
 */
export class Recorder {
  constructor(emitter, names) {
    this.events = [];
    this.waiters = [];
    for (const name of names) {
      emitter.on(name, (ctx) => {
        const ev = { name, ctx, at: Date.now() };
        this.events.push(ev);
        for (const w of [...this.waiters]) {
          if (w.name === name && w.pred(ctx)) {
            this.waiters.splice(this.waiters.indexOf(w), 1);
            clearTimeout(w.timer);
            w.resolve(ctx);
          }
        }
      });
    }
  }

  /** Drops the pending waiters for `name` (their promises never settle). */
  cancel(name) {
    for (const w of [...this.waiters]) {
      if (w.name === name) {
        clearTimeout(w.timer);
        this.waiters.splice(this.waiters.indexOf(w), 1);
      }
    }
  }

  all(name) {
    return this.events.filter((e) => e.name === name).map((e) => e.ctx);
  }

  /** Resolves with the first `name` event (past or future) matching `pred`. */
  wait(name, { timeout = 5000, pred = () => true, what } = {}) {
    const seen = this.events.find((e) => e.name === name && pred(e.ctx));
    if (seen) {
      return Promise.resolve(seen.ctx);
    }
    return new Promise((resolve, reject) => {
      const w = { name, pred, resolve };
      w.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        const history = describeEvents(this.events).join('\n    ');
        reject(new Error(
          `timed out after ${timeout} ms waiting for '${what || name}'; events so far:\n    ${history || '(none)'}`,
        ));
      }, timeout);
      this.waiters.push(w);
    });
  }
}

/** Event lines for a failure message, consecutive repeats collapsed ("×N"). */
export function describeEvents(events) {
  const lines = [];
  for (const e of events) {
    const line = `${e.name} ${safeJson(e.ctx)}`;
    const last = lines[lines.length - 1];
    if (last && last.line === line) {
      last.count += 1;
    } else {
      lines.push({ line, count: 1 });
    }
  }
  return lines.map((l) => (l.count > 1 ? `${l.line} ×${l.count}` : l.line));
}

export function safeJson(value) {
  try {
    return JSON.stringify(value, (k, v) => (v instanceof Uint8Array ? `bytes(${new TextDecoder().decode(v)})` : v));
  } catch {
    return String(value);
  }
}

/** Printable form of one WebSocket message: text as is, binary as hex. */
function frameText(data) {
  const max = 600;
  let text;
  if (typeof data === 'string') {
    text = data;
  } else {
    const bytes = data instanceof ArrayBuffer ? new Uint8Array(data) : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    text = `hex:${Buffer.from(bytes).toString('hex')}`;
  }
  return text.length > max ? `${text.slice(0, max)}…(${text.length} chars)` : text;
}

/**
 * A `ws` WebSocket class that records every frame in `wire` (the SDK is unchanged:
 * it only gets this class as its `websocket` option), with extra `ws` options such
 * as a browser-like `origin`.
 */
export function tappedWebSocket(wire, wsOptions = {}) {
  return class TappedWebSocket extends WebSocket {
    constructor(url, protocols) {
      super(url, protocols, wsOptions);
      const started = Date.now();
      const at = () => `+${Date.now() - started}ms`;
      wire.push(`${at()} open ${url} protocols=${JSON.stringify(protocols ?? null)}`);
      this.addEventListener('open', () => wire.push(`${at()} opened protocol=${JSON.stringify(this.protocol)}`));
      this.addEventListener('message', (ev) => wire.push(`${at()} <- ${frameText(ev.data)}`));
      this.addEventListener('close', (ev) => wire.push(`${at()} closed code=${ev.code} reason=${JSON.stringify(ev.reason)}`));
      this.addEventListener('error', (ev) => wire.push(`${at()} error ${ev.message || ev.error || ''}`));
      this._at = at;
    }

    send(data, ...rest) {
      wire.push(`${this._at()} -> ${frameText(data)}`);
      return super.send(data, ...rest);
    }
  };
}

/**
 * Defines a test whose failure message ends with the WebSocket frames of every
 * client it created: the evidence of what the SDK sent and what the server did.
 */
export function scenario(title, timeout, fn) {
  return test(title, { timeout }, async (t) => {
    t.wires = [];
    try {
      await fn(t);
    } catch (err) {
      const dump = t.wires
        .map((w, i) => `  client #${i + 1}:\n    ${w.length ? w.join('\n    ') : '(no frames)'}`)
        .join('\n');
      if (err && typeof err === 'object' && dump) {
        const section = `\n--- WebSocket frames (${FORMAT}) ---\n${dump}`;
        try {
          // Both: reporters print the stack (which embeds the original message).
          err.message = `${err.message}${section}`;
          if (typeof err.stack === 'string' && !err.stack.includes(section)) {
            err.stack = `${err.stack}${section}`;
          }
        } catch {
          // read-only properties
        }
      }
      throw err;
    }
  });
}

const CLIENT_EVENTS = ['connecting', 'connected', 'disconnected', 'error'];
const SUB_EVENTS = ['subscribing', 'subscribed', 'unsubscribed', 'error', 'publication', 'join', 'leave'];

/**
 * Creates a client (not connected yet) and registers it for cleanup with `t`.
 * Returns { client, events }.
 */
export function makeClient(t, options = {}) {
  const { wsOptions, ...sdkOptions } = options;
  const wire = [];
  if (t.wires) {
    t.wires.push(wire);
  }
  const client = new Centrifuge(WS_URL, {
    websocket: tappedWebSocket(wire, wsOptions),
    // Fail fast: a test timeout should come from the scenario, not from backoff.
    minReconnectDelay: 200,
    maxReconnectDelay: 1000,
    timeout: 4000,
    debug: process.env.E2E_DEBUG === '1',
    ...sdkOptions,
  });
  const events = new Recorder(client, CLIENT_EVENTS);
  t.after(() => {
    try {
      client.disconnect();
    } catch {
      // already gone
    }
  });
  return { client, events, wire };
}

/** Connects and waits for `connected`; fails fast on a terminal `disconnected`. */
export async function connect(t, options = {}, { timeout = 5000 } = {}) {
  const c = makeClient(t, options);
  c.client.connect();
  const connected = c.events.wait('connected', { timeout });
  const disconnected = c.events.wait('disconnected', { timeout: timeout + 1000 }).then(
    (ctx) => {
      throw new Error(`client disconnected instead of connecting: ${safeJson(ctx)}; events:\n    ${describeEvents(c.events.events).join('\n    ')}`);
    },
    () => new Promise(() => {}),
  );
  try {
    c.connected = await Promise.race([connected, disconnected]);
  } finally {
    c.events.cancel('disconnected');
    c.events.cancel('connected');
  }
  return c;
}

/** Creates a subscription, subscribes and waits for `subscribed`. */
export async function subscribe(t, client, channel, options = {}, { timeout = 5000 } = {}) {
  const sub = client.newSubscription(channel, options);
  const events = new Recorder(sub, SUB_EVENTS);
  sub.subscribe();
  const subscribed = events.wait('subscribed', { timeout });
  const unsubscribed = events.wait('unsubscribed', { timeout: timeout + 1000 }).then(
    (ctx) => {
      throw new Error(`subscription to ${channel} ended unsubscribed: ${safeJson(ctx)}`);
    },
    () => new Promise(() => {}),
  );
  try {
    const ctx = await Promise.race([subscribed, unsubscribed]);
    return { sub, events, subscribed: ctx };
  } finally {
    events.cancel('unsubscribed');
    events.cancel('subscribed');
  }
}

/** Calls the server HTTP API: POST /api/<method>. Returns { status, body }. */
export async function api(method, body, { key = API_KEY } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (key !== null) {
    headers['X-API-Key'] = key;
  }
  const res = await fetch(`${HTTP_URL}/api/${method}`, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, text, body: json };
}

/** API call that must succeed with a `result` object. */
export async function apiOk(method, body) {
  const res = await api(method, body);
  if (res.status !== 200 || !res.body || typeof res.body.result !== 'object' || res.body.error) {
    throw new Error(`API ${method} ${safeJson(body)} → HTTP ${res.status} ${res.text}`);
  }
  return res.body.result;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Rejects if `promise` does not settle within `ms`. */
export function within(promise, ms, what) {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
    }),
  ]);
}
