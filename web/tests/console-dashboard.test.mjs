// The dashboard's health checks and the backups page in Debian's Chromium, against a kmsd
// whose kmsd.toml makes the warnings true (written by crates/server/tests/it/console_browser.rs):
// `crl_warning_hours = 200` over 168-hour CRLs (a CRL too close to its next update),
// `cert_validity_days = 20` (every certificate expires within 30 days) and
// `health_check_seconds = 1` (the background checks follow quickly). Sees: the stale-CRL
// warning; "no backup" then "never verified" after a backup, gone once verified; an expiring
// certificate counted after an enrollment; a failed sign-in counted; the charts' accessible
// text; the backup schedule shown and changed; the backup file name wrapping without
// overflow at 1 366 px. Every page is saved as a screenshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  base, env, scratch, launch, newContext, watch, screenshot, signIn, run, download, text,
} from './helpers.mjs';

const EMAIL = 'erin@example.com';
const SECOND = 'bea';
const SECOND_PASSWORD = 'bea console password';

/** Reloads the dashboard until `check(page)` holds (the checks run in the background). */
async function dashboardUntil(page, what, check) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    await page.goto(`${base()}/console`);
    if (await check(page)) return;
    if (Date.now() > deadline) {
      throw new Error(`the dashboard never showed ${what}:\n${await text(page, '#health')}`);
    }
    await page.waitForTimeout(500);
  }
}

const checkState = (page, name) => page.locator(`#check-${name}`).getAttribute('data-state');
const checkText = (page, name) => text(page, `#check-${name} .check-message`);

test('console: the dashboard says whether all is well; the backups page', async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const context = await newContext(browser);
  const page = await context.newPage();
  const csp = watch(page);
  const admin = env('KMS_ADMIN_NAME');
  const password = env('KMS_ADMIN_PASSWORD');

  await t.test('a failed sign-in, then the dashboard: stale CRL and no backup', async () => {
    await page.goto(`${base()}/console/signin`);
    await page.getByLabel('Administrator name').fill(admin);
    await page.getByLabel('Password', { exact: true }).fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState();
    assert.match(await text(page, '.flash-error'), /AUTH-001/);
    await signIn(page, admin, password);
    await dashboardUntil(page, 'the failed sign-in',
      async (p) => (await text(p, '#attention-signins .attention-count')) === '1');
    assert.equal(await checkState(page, 'crl'), 'warning');
    assert.match(await checkText(page, 'crl'), /next update is in .* less than the 8 days warned about/);
    assert.equal(await checkState(page, 'backup'), 'warning');
    assert.match(await checkText(page, 'backup'), /No backup has been taken yet/);
    for (const n of ['ocsp', 'store', 'tls', 'ca']) {
      assert.equal(await checkState(page, n), 'ok', `${n}: ${await checkText(page, n)}`);
    }
    assert.equal(await page.locator('#health').getAttribute('data-overall'), 'warning');
    assert.match(await text(page, '#health-overall'), /Needs attention/);
    assert.equal(await text(page, '#backup-schedule'), 'off');
    await screenshot(page, 'dashboard-warnings');
  });

  await t.test('the charts are inline SVG with their text alternative', async () => {
    for (const id of ['chart-issued', 'chart-revoked']) {
      const svg = page.locator(`#${id} svg`);
      assert.equal(await svg.getAttribute('role'), 'img');
      assert.match(await page.locator(`#${id}-title`).textContent(), /Certificates (issued|revoked) per day/);
      assert.match(await page.locator(`#${id}-desc`).textContent(), /from \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d/);
    }
    assert.equal(await page.locator('script:not([src])').count(), 0, 'no inline script on the dashboard');
    assert.equal(await page.locator('svg [style], svg style').count(), 0, 'no inline style in the charts');
  });

  await t.test('an enrolled user whose certificates expire within 30 days is counted', async () => {
    await page.goto(`${base()}/console/users`);
    await page.getByLabel('E-mail address').fill(EMAIL);
    await page.getByLabel('Name', { exact: true }).fill('Erin');
    await page.getByRole('button', { name: 'Add user' }).click();
    await page.waitForLoadState();
    const token = await page.locator('#token').inputValue();
    const ca = await download(context, '/console/download/ca.crt', 'ca.pem');
    const tokenFile = join(scratch(), 'erin.token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    run(env('KMS_LOCKBOX'), [
      'enroll', '--server', base(), '--email', EMAIL, '--token-file', tokenFile,
      '--out', join(scratch(), 'erin.p12'), '--password-stdin', '--ca-cert', ca.file,
    ], { input: 'erin p12 password\n' });
    await dashboardUntil(page, 'two expiring certificates',
      async (p) => (await text(p, '#attention-expiring .attention-count')) === '2');
    assert.match(await text(page, '#attention-expiring'), /expiring within 30 days/);
    assert.match(await page.locator('#chart-issued figcaption').innerText(), /: 2 in 90 days/);
    await screenshot(page, 'dashboard-expiring');
  });

  await t.test('the backups page shows the schedule, off; a backup is never verified', async () => {
    await page.goto(`${base()}/console/backups`);
    assert.equal(await text(page, '#schedule-state'), 'off');
    assert.equal(await text(page, '#schedule-next'), 'none (schedule off)');
    await page.getByRole('button', { name: 'Back up now' }).click();
    await page.waitForLoadState();
    assert.match(await text(page, '.flash-ok'), /Backup kms-.* taken/);
    assert.equal(await text(page, '#backups tbody tr .verified'), 'never verified');
    await dashboardUntil(page, 'the unverified backup',
      async (p) => /never verified/.test(await checkText(p, 'backup')));
    assert.equal(await checkState(page, 'backup'), 'warning');
    // The file name in its card wraps at its hyphens, never mid-word, and nothing overflows.
    const name = page.locator('#last-backup .backup-name');
    const lines = await name.evaluate((el) => el.getClientRects().length);
    assert.ok(lines <= 2, `the file name takes ${lines} lines`);
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
      'no horizontal overflow');
    await screenshot(page, 'dashboard-never-verified');
  });

  await t.test('verified, the backup check is well again', async () => {
    await page.goto(`${base()}/console/backups`);
    await page.getByRole('button', { name: 'Verify' }).first().click();
    await page.waitForLoadState();
    assert.match(await text(page, '.flash-ok'), /verified/);
    assert.match(await text(page, '#backups tbody tr .verified'), /^passed \d{4}-\d\d-\d\d .* by admin$/);
    await dashboardUntil(page, 'the verified backup',
      async (p) => (await checkState(p, 'backup')) === 'ok');
    assert.match(await checkText(page, 'backup'), /Verified at/);
  });

  await t.test('an old backup (30 days) with no schedule is a warning', async () => {
    // The backup's time is in its name (kms-<Unix seconds>-<n>.kmsbak): the newest backup is
    // made 30 days old by renaming it, as a backup copied back from elsewhere would be.
    const dir = join(env('KMS_DATA_DIR'), 'backups');
    const [file] = readdirSync(dir).filter((f) => /^kms-\d{12}-\d+\.kmsbak$/.test(f));
    const secs = Number(file.slice(4, 16)) - 30 * 86400;
    renameSync(join(dir, file), join(dir, `kms-${String(secs).padStart(12, '0')}-0.kmsbak`));
    await dashboardUntil(page, 'the old backup',
      async (p) => /30 days old/.test(await checkText(p, 'backup')));
    assert.equal(await checkState(page, 'backup'), 'warning');
    assert.match(await checkText(page, 'backup'), /Take one, or turn the schedule on/);
    await screenshot(page, 'dashboard-old-backup');
  });

  await t.test('the schedule is changed in the console', async () => {
    await page.goto(`${base()}/console/backups`);
    await page.getByLabel('Scheduled backups').selectOption('on');
    await page.getByLabel('Minutes between backups').fill('360');
    await page.getByLabel('Backups kept').fill('5');
    await page.getByRole('button', { name: 'Change the schedule' }).click();
    await page.waitForLoadState();
    assert.match(await text(page, '.flash-ok'), /Backup schedule on: a backup every 6 hours, the newest 5 kept/);
    assert.equal(await text(page, '#schedule-state'), 'on');
    assert.equal(await text(page, '#schedule-every'), '6 hours');
    assert.equal(await text(page, '#schedule-keep'), '5');
    assert.match(await text(page, '#schedule-next'), /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    assert.equal(await text(page, '#schedule-source'), 'set in the console or API');
    assert.ok(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
      'no horizontal overflow on the backups page');
    await screenshot(page, 'backups-schedule');
    await page.goto(`${base()}/console`);
    assert.match(await text(page, '#backup-schedule'), /^on, every 6 h/);
    await screenshot(page, 'dashboard-schedule-on');
  });

  await t.test('under a backup-schedule quorum of 2 the change waits, then is approved', async () => {
    await page.goto(`${base()}/console/admins`);
    await page.getByLabel('Name', { exact: true }).fill(SECOND);
    await page.getByLabel('Role', { exact: true }).selectOption('administrator');
    await page.getByLabel('Password', { exact: true }).fill(SECOND_PASSWORD);
    await page.getByRole('button', { name: 'Add administrator' }).click();
    await page.waitForLoadState();
    assert.match(await text(page, '.flash-ok'), /Administrator bea added/);
    await page.goto(`${base()}/console/recovery`);
    await page.getByLabel('New quorum for backup-schedule').fill('2');
    await page.locator('#policy-backup-schedule').getByRole('button', { name: 'Set' }).click();
    await page.waitForLoadState();
    assert.equal(await text(page, '#policy-backup-schedule .quorum'), '2');

    await page.goto(`${base()}/console/backups`);
    assert.match(await text(page, '#schedule'), /needs 2 approvals|2 approvals/);
    await page.getByLabel('Scheduled backups').selectOption('off');
    await page.getByRole('button', { name: 'Change the schedule' }).click();
    await page.waitForLoadState();
    assert.match(await text(page, '.flash-info'), /Waiting for approvals: request \d+ has 1 of 2 \(admin\)/);
    assert.equal(await text(page, '#schedule-state'), 'on', 'not changed while waiting');
    assert.match(await text(page, '#schedule-pending'), /every=off,keep=5\) by admin: 1 of 2 approvals/);
    await screenshot(page, 'backups-schedule-waiting');

    const second = await newContext(browser);
    const b = await second.newPage();
    await signIn(b, SECOND, SECOND_PASSWORD);
    await b.goto(`${base()}/console/recovery`);
    const row = b.locator('#requests tbody tr', { hasText: 'backup-schedule' });
    await row.getByRole('button', { name: 'Approve' }).click();
    await b.waitForLoadState();
    assert.match(await text(b, '.flash-ok'), /Approved request \d+ \(backup-schedule every=off,keep=5\): 2 of 2/);
    await second.close();

    await page.goto(`${base()}/console/backups`);
    await page.getByLabel('Scheduled backups').selectOption('off');
    await page.getByRole('button', { name: 'Change the schedule' }).click();
    await page.waitForLoadState();
    assert.match(await text(page, '.flash-ok'), /Backup schedule off/);
    assert.equal(await text(page, '#schedule-state'), 'off');
    assert.equal(await page.locator('#schedule-pending').count(), 0);
    await screenshot(page, 'backups-schedule-approved');
  });

  await t.test('no Content-Security-Policy violation or script error on the way', async () => {
    csp.check();
  });
});
