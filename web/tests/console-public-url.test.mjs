// The dashboard's public-URL card in Debian's Chromium: the URL shown is the one `init` set;
// a change through the form applies at once under a quorum of one (the card and the flash
// show the new URL); with the public-url policy at 2 a change waits (the card still shows
// the old URL) until a second administrator, in another browser context, approves it, and the
// first administrator's repeated change then applies. Started by
// tests/it/console_browser.rs; every step is saved as a screenshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  base, env, launch, newContext, watch, screenshot, signIn, text,
} from './helpers.mjs';

const MOVED = 'http://kms.example.test:8081';
const LATER = 'http://pki.example.test';
const SECOND = 'bea';
const SECOND_PASSWORD = 'bea console password';

async function changePublicUrl(page, url) {
  await page.goto(`${base()}/console`);
  await page.getByLabel('New public URL').fill(url);
  await page.getByRole('button', { name: 'Change the public URL' }).click();
  await page.waitForLoadState();
}

test('console: the public URL card changes the URL, and waits under a quorum', async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const a = await (await newContext(browser)).newPage();
  const b = await (await newContext(browser)).newPage();
  const cspA = watch(a);
  const cspB = watch(b);
  const admin = env('KMS_ADMIN_NAME');
  let initial;

  await t.test('the card shows the public URL init set', async () => {
    await signIn(a, admin, env('KMS_ADMIN_PASSWORD'));
    initial = await text(a, '#public-url');
    assert.match(initial, /^http:\/\/127\.0\.0\.1:\d+$/);
    await screenshot(a, 'public-url-initial');
  });

  await t.test('a loopback URL is refused, a public one applies at once', async () => {
    await changePublicUrl(a, 'http://localhost:1');
    assert.equal(await text(a, '#public-url'), initial, 'unchanged after a refusal');
    await changePublicUrl(a, MOVED);
    const flash = await text(a, '.flash-ok');
    assert.ok(flash.includes(`Public URL changed from ${initial} to ${MOVED}`), flash);
    assert.equal(await text(a, '#public-url'), MOVED);
    await screenshot(a, 'public-url-changed');
  });

  await t.test('under a quorum of two the change waits for another administrator', async () => {
    await a.getByRole('link', { name: 'Administrators' }).click();
    await a.waitForURL(/\/console\/admins/);
    await a.getByLabel('Name', { exact: true }).fill(SECOND);
    await a.getByLabel('Role', { exact: true }).selectOption('administrator');
    await a.getByLabel('Password', { exact: true }).fill(SECOND_PASSWORD);
    await a.getByRole('button', { name: 'Add administrator' }).click();
    await a.waitForLoadState();
    await a.getByRole('link', { name: 'Recovery and approvals' }).click();
    await a.waitForURL(/\/console\/recovery/);
    await a.getByLabel('New quorum for public-url').fill('2');
    await a.locator('#policy-public-url').getByRole('button', { name: 'Set' }).click();
    await a.waitForLoadState();
    assert.equal(await text(a, '#policy-public-url .quorum'), '2');

    await changePublicUrl(a, LATER);
    assert.match(await text(a, '.flash-info'), /Waiting for approvals: request \d+ has 1 of 2 \(admin\)/);
    assert.equal(await text(a, '#public-url'), MOVED, 'unchanged while waiting');
    await screenshot(a, 'public-url-waiting');
  });

  await t.test('approved by the second administrator, the repeated change applies', async () => {
    await signIn(b, SECOND, SECOND_PASSWORD);
    await b.getByRole('link', { name: 'Recovery and approvals' }).click();
    await b.waitForURL(/\/console\/recovery/);
    const row = b.locator('#requests tbody tr', { hasText: 'public-url' });
    await row.getByRole('button', { name: 'Approve' }).click();
    await b.waitForLoadState();
    assert.match(await text(b, '.flash-ok'), /Approved request \d+ \(public-url/);
    await screenshot(b, 'public-url-approved');

    await changePublicUrl(a, LATER);
    const flash = await text(a, '.flash-ok');
    assert.ok(flash.includes(`Public URL changed from ${MOVED} to ${LATER}`), flash);
    assert.equal(await text(a, '#public-url'), LATER);
    await screenshot(a, 'public-url-after-approval');
    cspA.check();
    cspB.check();
  });
});
