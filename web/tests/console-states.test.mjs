// Users' lifecycle states in Debian's Chromium: a user in each state (invited, invitation
// expired, enrolled, expiring, revoked, disabled) is seen with that state on the users list
// and on the user page (with what it means and its expiry); the state filter (a GET form)
// finds only them; the certificates page lists every certificate without a search, newest
// first, with expiry and status. Started by crates/server/tests/it/console_browser.rs.
//
// kmsd runs on the system clock: an invitation that expired and certificates that expire
// soon are made by moving the store's rows on in time (python3's sqlite3 on KMS_DATA_DIR),
// as days passing would: the token's expires_at into the past, one user's current
// certificates' not_after to 10 days from now.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  base, env, scratch, launch, newContext, watch, screenshot, signIn, run, download, text,
} from './helpers.mjs';

const USERS = {
  invited: 'ivan@example.com',
  'invitation-expired': 'judy@example.com',
  enrolled: 'erin@example.com',
  expiring: 'frank@example.com',
  revoked: 'gina@example.com',
  disabled: 'hank@example.com',
};
const DAY = 86400;

/** Runs SQL on the store (a second connection beside kmsd's; WAL allows it). */
function ageStore(sql, params) {
  const db = join(env('KMS_DATA_DIR'), 'escrow.db');
  run('python3', ['-c', `
import sqlite3, sys, json
c = sqlite3.connect(sys.argv[1], timeout=10)
with c:
    n = c.execute(sys.argv[2], json.loads(sys.argv[3])).rowcount
assert n > 0, "no row changed"
`, db, sql, JSON.stringify(params)]);
}

test('console: each lifecycle state on the users list, the user page and the filter', async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const context = await newContext(browser);
  const page = await context.newPage();
  const csp = watch(page);
  const admin = env('KMS_ADMIN_NAME');
  const password = env('KMS_ADMIN_PASSWORD');
  const now = Math.floor(Date.now() / 1000);

  await t.test('a user in each state (kmsctl, lockbox, and time moved on in the store)', async () => {
    await signIn(page, admin, password);
    const ca = await download(context, '/console/download/ca.crt', 'ca.pem');
    const kms = { KMS_URL: base(), KMS_CA_CERT: ca.file, KMS_SESSION_FILE: join(scratch(), 'session.json') };
    const kmsctl = (args, input) => run(env('KMS_KMSCTL'), args, { input, env: kms });
    kmsctl(['login', '--admin', admin, '--password-stdin'], `${password}\n`);
    for (const [state, email] of Object.entries(USERS)) {
      const added = JSON.parse(kmsctl(['--json', 'user', 'add', email, '--name', `User ${state}`]));
      assert.equal(added.user.state, 'invited', `${email} starts invited`);
      if (['enrolled', 'expiring', 'revoked'].includes(state)) {
        // A second apart: the certificates list orders by issue time (to the second).
        await new Promise((resolve) => { setTimeout(resolve, 1100); });
        const tokenFile = join(scratch(), `${state}.token`);
        writeFileSync(tokenFile, `${added.enrollment_token}\n`, { mode: 0o600 });
        run(env('KMS_LOCKBOX'), [
          'enroll', '--server', base(), '--email', email, '--token-file', tokenFile,
          '--out', join(scratch(), `${state}.p12`), '--password-stdin', '--ca-cert', ca.file,
        ], { input: 'p12 password for states\n' });
      }
    }
    kmsctl(['revoke', USERS.revoked, '--reason', 'affiliationChanged', '--yes']);
    // `user disable` may ask for confirmation (exit 7 without --yes) in later versions.
    try {
      kmsctl(['user', 'disable', USERS.disabled]);
    } catch (e) {
      if (!/failed \(7\)/.test(e.message)) throw e;
      kmsctl(['user', 'disable', USERS.disabled, '--yes']);
    }
    ageStore(
      `UPDATE tokens SET expires_at = ? WHERE used_at IS NULL AND user_id =
         (SELECT id FROM users WHERE email = ?)`,
      [now - DAY, USERS['invitation-expired']],
    );
    ageStore(
      `UPDATE certificates SET not_after = ? WHERE superseded_at IS NULL AND user_id =
         (SELECT id FROM users WHERE email = ?)`,
      [now + 10 * DAY, USERS.expiring],
    );
    const listed = JSON.parse(kmsctl(['--json', 'user', 'list']));
    const states = Object.fromEntries(listed.users.map((u) => [u.email, u.state]));
    for (const [state, email] of Object.entries(USERS)) assert.equal(states[email], state, email);
  });

  await t.test('the users list shows each state as a badge, with the expiry', async () => {
    await page.goto(`${base()}/console/users`);
    for (const [state, email] of Object.entries(USERS)) {
      const row = page.getByRole('row', { name: new RegExp(email) });
      assert.equal((await row.locator('.user-state').innerText()).trim(), state, email);
      const badge = row.locator(`.user-state .lifecycle-${state}`);
      assert.equal(await badge.count(), 1, `${email}: a ${state} badge`);
      const expires = (await row.locator('.user-state-expires').innerText()).trim();
      if (['revoked', 'disabled'].includes(state)) {
        assert.equal(expires, '', `${email}: no expiry`);
      } else {
        assert.match(expires, /^(token|certificate) expire[sd] \d{4}-\d\d-\d\d \d\d:\d\d UTC/, email);
      }
    }
    const expiring = await page.getByRole('row', { name: new RegExp(USERS.expiring) })
      .locator('.user-state-expires').innerText();
    const soon = new Date((now + 10 * DAY) * 1000).toISOString().slice(0, 10);
    assert.match(expiring, new RegExp(`certificate expires ${soon}`));
    await screenshot(page, 'users-states');
  });

  await t.test('the state filter (a GET form) lists only users in that state', async () => {
    for (const state of ['expiring', 'invitation-expired', 'revoked']) {
      await page.goto(`${base()}/console/users`);
      await page.getByLabel('State', { exact: true }).selectOption(state);
      await page.getByRole('button', { name: 'Filter' }).click();
      await page.waitForURL(new RegExp(`state=${state}`));
      const emails = await page.locator('table.list tbody th').allInnerTexts();
      assert.deepEqual(emails, [USERS[state]], state);
      assert.equal(await page.getByLabel('State', { exact: true }).inputValue(), state, 'kept selected');
      await screenshot(page, `users-filter-${state}`);
    }
  });

  await t.test('each user page shows the state, what it means and its expiry', async () => {
    const means = {
      invited: /enrollment token is pending/,
      'invitation-expired': /token expired unused/,
      enrolled: /valid certificates/,
      expiring: /expire soon/,
      revoked: /is revoked/,
      disabled: /is disabled/,
    };
    for (const [state, email] of Object.entries(USERS)) {
      await page.goto(`${base()}/console/users/${email}`);
      assert.match(await text(page, '#user-state'), new RegExp(`^${state} `), email);
      assert.match(await text(page, '#user-state-meaning'), means[state], email);
      const expiry = await page.locator('#user-state-expires').count();
      assert.equal(expiry, ['revoked', 'disabled'].includes(state) ? 0 : 1, `${email}: expiry shown`);
      if (state === 'invited') assert.match(await text(page, '#user-state-expires'), /token expires/);
      if (state === 'invitation-expired') assert.match(await text(page, '#user-state-expires'), /token expired/);
      if (state === 'expiring') assert.match(await text(page, '#user-state-expires'), /certificate expires/);
      if (['invited', 'expiring', 'revoked', 'disabled'].includes(state)) {
        await screenshot(page, `user-${state}`);
      }
    }
  });

  await t.test('the certificates page lists without a search, newest first, with expiry and status', async () => {
    await page.goto(`${base()}/console/certificates`);
    const rows = page.locator('#found tbody tr');
    // Three enrollments, two certificates each, and the server's TLS certificate.
    assert.equal(await rows.count(), 7);
    assert.match(await text(page, '#found caption'), /7 certificate\(s\), newest first/);
    const owners = await page.locator('#found tbody td:nth-child(2)').allInnerTexts();
    assert.equal(owners[owners.length - 1], '(server TLS)', 'the oldest (made at init) last');
    assert.deepEqual(owners.slice(0, 2).sort(), [USERS.revoked, USERS.revoked], 'the newest first');
    const status = async (email) => (await page.locator('#found tbody tr', { hasText: email })
      .locator('.cert-state .lifecycle').allInnerTexts()).sort();
    assert.deepEqual(await status(USERS.enrolled), ['valid', 'valid']);
    assert.deepEqual(await status(USERS.expiring), ['expiring', 'expiring']);
    assert.deepEqual(await status(USERS.revoked), ['revoked', 'revoked']);
    for (const e of await page.locator('#found tbody .cert-expires').allInnerTexts()) {
      assert.match(e, /^\d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    }
    await screenshot(page, 'certificates-listed');
    // Search still works.
    await page.getByLabel('Serial number or e-mail address').fill('frank');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/q=frank/);
    assert.equal(await rows.count(), 2);
    assert.match(await text(page, '#found caption'), /2 certificate\(s\) match/);
  });

  csp.check();
});
