// Cross-origin fallback in headless Chromium: the page comes from one origin (a
// small HTTP server of this test on its own port) and Chorus answers on another,
// as with an app on :3000 and Chorus on :8000. The page has no WebSocket, so
// centrifuge-js falls back to HTTP-streaming, then (in the second test) to SSE;
// each works only if Chorus answers the CORS preflights and echoes the page's
// origin on the stream and on /emulation. The page subscribes, receives a
// publication from the server API and publishes one itself (over /emulation).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

// centrifuge-js (its browser bundle) and jsonwebtoken come from the centrifuge-js
// suite's install.
const jsRequire = createRequire(new URL('../../js/package.json', import.meta.url));
const jwt = jsRequire('jsonwebtoken');
// The package's exports do not list dist/: locate it from the main entry point.
const BUNDLE = readFileSync(new URL('../dist/centrifuge.js', pathToFileURL(jsRequire.resolve('centrifuge'))));

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite through e2e/run`);
  return value;
}

const HTTP_URL = required('CHORUS_HTTP_URL');
const HMAC_SECRET = required('CHORUS_HMAC_SECRET');
const API_KEY = required('CHORUS_API_KEY');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';

let browser;
let pageServer;
let pageOrigin;

before(async () => {
  pageServer = createServer((req, res) => {
    if (req.url === '/centrifuge.js') {
      res.writeHead(200, { 'content-type': 'text/javascript' });
      res.end(BUNDLE);
    } else {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>app</title><script src="/centrifuge.js"></script>');
    }
  });
  await new Promise((resolve) => pageServer.listen(0, '127.0.0.1', resolve));
  pageOrigin = `http://127.0.0.1:${pageServer.address().port}`;
  assert.notEqual(pageOrigin, new URL(HTTP_URL).origin, 'page and server on different origins');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => (pageServer ? pageServer.close(resolve) : resolve()));
});

function connToken(user) {
  const now = Math.floor(Date.now() / 1000);
  return jwt.sign({ sub: user, exp: now + 3600 }, HMAC_SECRET, { algorithm: 'HS256', noTimestamp: true });
}

async function apiPublish(channel, data) {
  const response = await fetch(`${HTTP_URL}/api/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': API_KEY },
    body: JSON.stringify({ channel, data }),
  });
  assert.equal(response.status, 200);
  const body = await response.json();
  assert.equal(body.error, undefined, JSON.stringify(body));
}

/** Runs the page with `fallback` as the transport after (unavailable) WebSocket. */
async function fallbackScenario(fallback) {
  const channel = `cors-${fallback}-${randomBytes(6).toString('hex')}`;
  const page = await browser.newPage();
  page.setDefaultTimeout(10000);
  // The page may use only WebSocket-less transports: remove WebSocket before
  // any of its scripts run, so centrifuge-js has to fall back.
  await page.addInitScript(() => {
    delete window.WebSocket;
  });
  const failures = [];
  page.on('requestfailed', (r) => failures.push(`${r.method()} ${r.url()}: ${r.failure()?.errorText}`));
  page.on('console', (m) => {
    if (m.type() === 'error') failures.push(`console: ${m.text()}`);
  });
  const crossOrigin = [];
  page.on('request', (r) => {
    if (r.url().startsWith(HTTP_URL)) crossOrigin.push(`${r.method()} ${new URL(r.url()).pathname}`);
  });
  try {
    await page.goto(`${pageOrigin}/`);
    await page.evaluate(
      ({ base, token, channel, fallback }) => {
        const endpoints = {
          http_stream: `${base}/connection/http_stream`,
          sse: `${base}/connection/sse`,
        };
        const client = new window.Centrifuge(
          [
            { transport: 'websocket', endpoint: `${base.replace('http', 'ws')}/connection/websocket` },
            { transport: fallback, endpoint: endpoints[fallback] },
          ],
          { token, emulationEndpoint: `${base}/emulation` },
        );
        window.results = { publications: [] };
        client.on('connected', (ctx) => {
          window.results.transport = ctx.transport;
        });
        const sub = client.newSubscription(channel);
        sub.on('publication', (ctx) => window.results.publications.push(ctx.data));
        sub.on('subscribed', () => {
          window.results.subscribed = true;
        });
        window.sub = sub;
        sub.subscribe();
        client.connect();
      },
      { base: HTTP_URL, token: connToken(`cors-${fallback}`), channel, fallback },
    );
    await page.waitForFunction(() => window.results.subscribed === true).catch((e) => {
      throw new Error(`${e.message}\nfailed requests: ${failures.join('\n')}`);
    });
    assert.equal(await page.evaluate(() => window.results.transport), fallback);

    await apiPublish(channel, { from: 'api' });
    await page.waitForFunction(() => window.results.publications.length >= 1);
    // A publish from the page travels over /emulation (JSON body: preflighted).
    await page.evaluate(() => window.sub.publish({ from: 'page' }));
    await page.waitForFunction(() => window.results.publications.length >= 2);
    assert.deepEqual(await page.evaluate(() => window.results.publications), [{ from: 'api' }, { from: 'page' }]);
    assert.ok(
      crossOrigin.some((r) => r.startsWith('POST /emulation')),
      `the page posted to /emulation: ${crossOrigin.join(', ')}`,
    );
    assert.deepEqual(failures, []);
  } finally {
    await page.close();
  }
}

test('a page on another origin falls back to HTTP-streaming', async () => {
  await fallbackScenario('http_stream');
});

test('a page on another origin falls back to SSE', async () => {
  await fallbackScenario('sse');
});
