// The admin UI in headless Chromium (Debian `chromium`, driven by playwright-core):
// a wrong password is refused; after logging in the node is listed with live
// figures, and a publish from the Actions page reaches a centrifuge-js
// subscriber. Screenshots go to e2e/.out/admin-*.png.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { chromium } from 'playwright-core';

// centrifuge-js, ws and jsonwebtoken come from the centrifuge-js suite's install.
const jsRequire = createRequire(new URL('../../js/package.json', import.meta.url));
const { Centrifuge } = jsRequire('centrifuge');
const WebSocket = jsRequire('ws');
const jwt = jsRequire('jsonwebtoken');

function required(name) {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the suite through e2e/run`);
  return value;
}

const HTTP_URL = required('CHORUS_HTTP_URL');
const WS_URL = required('CHORUS_WS_URL');
const HMAC_SECRET = required('CHORUS_HMAC_SECRET');
const PASSWORD = required('CHORUS_ADMIN_PASSWORD');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const OUT = new URL('../../.out/', import.meta.url).pathname;
mkdirSync(OUT, { recursive: true });

let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
});

after(async () => {
  await browser?.close();
});

async function newPage() {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.setDefaultTimeout(10000);
  return page;
}

async function logIn(page, password) {
  await page.goto(`${HTTP_URL}/`);
  await page.locator('#password').fill(password);
  await page.locator('#login').click();
}

function connToken(user) {
  const now = Math.floor(Date.now() / 1000);
  return jwt.sign({ sub: user, exp: now + 3600 }, HMAC_SECRET, { algorithm: 'HS256', noTimestamp: true });
}

test('a wrong password is refused', async () => {
  const page = await newPage();
  try {
    await logIn(page, 'not-the-password');
    await page.locator('#login-error').filter({ hasText: 'Wrong password' }).waitFor();
    assert.equal(await page.locator('#app-view').isVisible(), false);
    await page.screenshot({ path: `${OUT}admin-wrong-password.png` });
  } finally {
    await page.close();
  }
});

test('log in, see the node, publish to a centrifuge-js subscriber', async () => {
  const channel = `admin-${randomBytes(6).toString('hex')}`;
  const client = new Centrifuge(WS_URL, { websocket: WebSocket, token: connToken('admin-e2e-user') });
  const sub = client.newSubscription(channel);
  const received = new Promise((resolve) => sub.on('publication', (ctx) => resolve(ctx.data)));
  const subscribed = new Promise((resolve) => sub.on('subscribed', resolve));
  sub.subscribe();
  client.connect();
  await subscribed;

  const page = await newPage();
  try {
    await logIn(page, PASSWORD);
    // The nodes page lists this node with at least our client, refreshed live.
    const row = page.locator('#nodes tbody tr.node');
    await row.waitFor();
    await page.waitForFunction(() => {
      const cells = document.querySelectorAll('#nodes tbody tr.node td');
      return cells.length > 3 && Number(cells[3].textContent) >= 1;
    });
    const name = await row.locator('td').first().textContent();
    assert.ok(name && name.length > 0, 'node name shown');
    await page.screenshot({ path: `${OUT}admin-nodes.png` });

    // The channels page shows the subscribed channel.
    await page.locator('button.tab[data-tab="channels"]').click();
    await page.locator('#channels-pattern').fill(channel);
    await page.locator('#channels-form button').click();
    await page.locator('#channels tbody tr').filter({ hasText: channel }).waitFor();
    await page.screenshot({ path: `${OUT}admin-channels.png` });

    // Publish from the Actions page.
    await page.locator('button.tab[data-tab="actions"]').click();
    await page.locator('#action-method').selectOption('publish');
    await page.locator('#action-params').fill(JSON.stringify({ channel, data: { from: 'admin-ui' } }));
    await page.locator('#action-run').click();
    await page.locator('#action-summary').filter({ hasText: 'Published' }).waitFor();
    const data = await received;
    assert.deepEqual(data, { from: 'admin-ui' });
    await page.screenshot({ path: `${OUT}admin-publish.png` });
  } finally {
    await page.close();
    client.disconnect();
  }
});
