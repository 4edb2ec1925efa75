// The console's governance pages in Debian's Chromium: a second administrator added through
// the administrators page, the recover-key policy set to 2, then a recovery in two browser
// contexts (the first administrator opens the request and sees it waiting, the second
// approves, the first downloads the bundle, which `openssl pkcs12` reads with its password),
// a backup run and verified, the audit entries for all of it and the chain verified. Every
// page is saved as a screenshot. Started by crates/server/tests/it/console_browser.rs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  base, env, scratch, launch, newContext, watch, screenshot, signIn, run, download, text,
} from './helpers.mjs';

const EMAIL = 'dora@example.com';
const P12_PASSWORD = 'dora p12 password';
const BUNDLE_PASSWORD = 'recovered bundle password';
const SECOND = 'bea';
const SECOND_PASSWORD = 'bea console password';

test('console: two-administrator recovery, backups and the audit log in a real browser', async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const first = await newContext(browser);
  const second = await newContext(browser);
  const a = await first.newPage();
  const b = await second.newPage();
  const cspA = watch(a);
  const cspB = watch(b);
  const admin = env('KMS_ADMIN_NAME');
  let requestRow;

  await t.test('the first administrator adds a second administrator', async () => {
    await signIn(a, admin, env('KMS_ADMIN_PASSWORD'));
    await a.getByRole('link', { name: 'Administrators' }).click();
    await a.waitForURL(/\/console\/admins/);
    await a.getByLabel('Name', { exact: true }).fill(SECOND);
    await a.getByLabel('Role', { exact: true }).selectOption('administrator');
    await a.getByLabel('Password', { exact: true }).fill(SECOND_PASSWORD);
    await a.getByRole('button', { name: 'Add administrator' }).click();
    await a.waitForLoadState();
    assert.match(await text(a, '.flash-ok'), /Administrator bea added as administrator\./);
    assert.equal(await text(a, '#admin-bea .role-name'), 'administrator');
    await screenshot(a, 'admins');
  });

  await t.test('a user enrolls with lockbox, so there is an escrowed key to recover', async () => {
    await a.goto(`${base()}/console/users`);
    await a.getByLabel('E-mail address').fill(EMAIL);
    await a.getByLabel('Name', { exact: true }).fill('Dora');
    await a.getByRole('button', { name: 'Add user' }).click();
    await a.waitForLoadState();
    const token = await a.locator('#token').inputValue();
    const ca = await download(first, '/console/download/ca.crt', 'ca.pem');
    const tokenFile = join(scratch(), 'dora.token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    run(env('KMS_LOCKBOX'), [
      'enroll', '--server', base(), '--email', EMAIL, '--token-file', tokenFile,
      '--out', join(scratch(), 'dora.p12'), '--password-stdin', '--ca-cert', ca.file,
    ], { input: `${P12_PASSWORD}\n` });
  });

  await t.test('the recover-key policy is set to 2', async () => {
    await a.getByRole('link', { name: 'Recovery and approvals' }).click();
    await a.waitForURL(/\/console\/recovery/);
    await a.getByLabel('New quorum for recover-key').fill('2');
    await a.locator('#policy-recover-key').getByRole('button', { name: 'Set' }).click();
    await a.waitForLoadState();
    assert.match(await text(a, '.flash-ok'), /Policy recover-key now needs 2 approval\(s\)\./);
    assert.equal(await text(a, '#policy-recover-key .quorum'), '2');
    assert.match(await text(a, '#recover-form'), /needs 2 approvals under the recover-key policy/);
  });

  await t.test('the first administrator opens the request and sees it waiting', async () => {
    await a.getByLabel("User's e-mail address").fill(EMAIL);
    await a.getByLabel('Bundle password', { exact: true }).fill(BUNDLE_PASSWORD);
    await a.getByLabel('Bundle password again').fill(BUNDLE_PASSWORD);
    await a.getByRole('button', { name: 'Recover keys' }).click();
    await a.waitForLoadState();
    assert.match(await text(a, '.flash-info'), /Waiting for approvals: request \d+ has 1 of 2 \(admin\)/);
    requestRow = a.locator('#requests tbody tr', { hasText: EMAIL });
    assert.match(await requestRow.locator('.approvals').innerText(), /1 of 2 \(admin\) waiting/);
    // Approving one's own request again is not offered, and the page says why.
    assert.ok(await requestRow.getByRole('button', { name: 'Approve' }).isDisabled());
    assert.match(await requestRow.innerText(), /admin approved it already; another administrator must approve/);
    await screenshot(a, 'recovery-waiting');
  });

  await t.test('the second administrator, in another browser context, approves it', async () => {
    await signIn(b, SECOND, SECOND_PASSWORD);
    await b.getByRole('link', { name: 'Recovery and approvals' }).click();
    await b.waitForURL(/\/console\/recovery/);
    const row = b.locator('#requests tbody tr', { hasText: EMAIL });
    await screenshot(b, 'recovery-second-admin');
    await row.getByRole('button', { name: 'Approve' }).click();
    await b.waitForLoadState();
    assert.match(await text(b, '.flash-ok'), /Approved request \d+ \(recover-key dora@example.com\): 2 of 2 approvals \(admin, bea\)\. admin can now carry it out\./);
    await screenshot(b, 'recovery-approved');
  });

  await t.test('the first administrator downloads the bundle; OpenSSL reads it', async () => {
    await a.reload();
    const row = a.locator('#requests tbody tr', { hasText: EMAIL });
    assert.match(await row.locator('.approvals').innerText(), /2 of 2 \(admin, bea\) quorum met/);
    await screenshot(a, 'recovery-quorum-met');
    await row.getByLabel('Bundle password').fill(BUNDLE_PASSWORD);
    const [dl] = await Promise.all([
      a.waitForEvent('download'),
      row.getByRole('button', { name: 'Download bundle' }).click(),
    ]);
    assert.equal(dl.suggestedFilename(), 'dora@example.com-keys.p12');
    const file = join(scratch(), 'dora-recovered.p12');
    await dl.saveAs(file);
    const certs = run('openssl', ['pkcs12', '-info', '-nokeys', '-in', file, '-passin', `pass:${BUNDLE_PASSWORD}`]);
    assert.match(certs, /friendlyName: dora@example\.com encryption \d{4}-\d{2}-\d{2} serial [0-9a-f]+/);
    assert.match(certs, /subject=CN = dora@example\.com/);
    assert.match(certs, /BEGIN CERTIFICATE/);
    const keys = run('openssl', ['pkcs12', '-nocerts', '-noenc', '-in', file, '-passin', `pass:${BUNDLE_PASSWORD}`]);
    assert.match(keys, /BEGIN PRIVATE KEY/);
    // The request is closed.
    await a.goto(`${base()}/console/recovery`);
    assert.match(await text(a, '#no-requests'), /No request is waiting/);
  });

  await t.test('run a backup and verify it', async () => {
    await a.getByRole('link', { name: 'Backups' }).click();
    await a.waitForURL(/\/console\/backups/);
    await a.getByRole('button', { name: 'Back up now' }).click();
    await a.waitForLoadState();
    assert.match(await text(a, '.flash-ok'), /Backup kms-\d+-\d+\.kmsbak taken \(\d+ bytes\)/);
    const row = a.locator('#backups tbody tr').first();
    await row.getByRole('button', { name: 'Verify' }).click();
    await a.waitForLoadState();
    assert.match(await text(a, '.flash-ok'), /verified: \d+ escrowed key\(s\) of \d+ owner\(s\) decrypted and authenticated, \d+ unlock method\(s\), database \d+ bytes intact, audit chain of \d+ entries intact\./);
    assert.match(await text(a, '#last-check'), /passed/);
    await screenshot(a, 'backups-verified');
  });

  await t.test('the audit log shows all of it, and the chain verifies', async () => {
    await a.getByRole('link', { name: 'Audit log' }).click();
    await a.waitForURL(/\/console\/audit/);
    const actions = await a.locator('#audit tbody td.mono').allInnerTexts();
    for (const want of ['admin.add:administrator', 'policy.set', 'recover-key', 'approve', 'backup', 'backup.verify', 'user.add', 'enroll']) {
      assert.ok(actions.includes(want), `${want} in ${actions.join(', ')}`);
    }
    await screenshot(a, 'audit');
    await a.getByLabel('Action starts with').fill('recover-key');
    await a.getByRole('button', { name: 'Filter' }).click();
    await a.waitForURL(/action=recover-key/);
    const outcomes = await a.locator('#audit tbody tr td:nth-of-type(5)').allInnerTexts();
    assert.deepEqual(outcomes, ['ok', 'pending']);
    await a.getByLabel('Actor').fill(SECOND);
    await a.getByLabel('Action starts with').fill('approve');
    await a.getByRole('button', { name: 'Filter' }).click();
    await a.waitForURL(/actor=bea/);
    assert.equal(await a.locator('#audit tbody tr').count(), 1);
    await screenshot(a, 'audit-filtered');
    await a.getByRole('button', { name: 'Verify the chain' }).click();
    await a.waitForLoadState();
    assert.match(await text(a, '.flash-ok'), /The audit chain is intact: \d+ entries/);
    await screenshot(a, 'audit-verified');
  });

  await t.test('the second administrator changes their own password', async () => {
    await b.getByRole('link', { name: 'Administrators' }).click();
    await b.waitForURL(/\/console\/admins/);
    await b.getByLabel('Current password').fill(SECOND_PASSWORD);
    await b.getByLabel('New password', { exact: true }).fill('bea new console password');
    await b.getByLabel('New password again').fill('bea new console password');
    await b.getByRole('button', { name: 'Change my password' }).click();
    await b.waitForLoadState();
    assert.match(await text(b, '.flash-ok'), /Your password was changed/);
    await screenshot(b, 'own-password');
  });

  cspA.check();
  cspB.check();
});
