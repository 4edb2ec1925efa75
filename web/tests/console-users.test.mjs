// The console's first pages in Debian's Chromium: sign in, the dashboard, add a user and
// read the token, enroll that user with the real lockbox binary, see the certificates,
// revoke with a reason and watch the CRL number rise, search certificates, download the CA
// certificate and the CRL and check them with the OpenSSL CLI, sign out. Every page is
// saved as a screenshot. Started by crates/server/tests/it/console_browser.rs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  base, env, scratch, launch, newContext, watch, screenshot, signIn, run, runAny, download, text,
} from './helpers.mjs';

const EMAIL = 'carol@example.com';
const P12_PASSWORD = 'carol p12 password';

test('console: users, enrollment, revocation and the CRL in a real browser', async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const context = await newContext(browser);
  const page = await context.newPage();
  const csp = watch(page);
  const admin = env('KMS_ADMIN_NAME');
  const password = env('KMS_ADMIN_PASSWORD');
  let crlBefore;
  let token;
  let serials;
  let caFile;

  await t.test('without a session the console sends the browser to sign in', async () => {
    await page.goto(`${base()}/`);
    assert.match(page.url(), /\/console\/signin/);
    assert.equal(await page.title(), 'Sign in · KMS console');
    await screenshot(page, 'signin');
  });

  await t.test('a wrong password is refused with a message', async () => {
    await page.getByLabel('Administrator name').fill(admin);
    await page.getByLabel('Password', { exact: true }).fill('not the password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState();
    assert.match(await text(page, '.flash-error'), /wrong administrator name or password \[AUTH-001\]/);
    await screenshot(page, 'signin-refused');
  });

  await t.test('sign in; the dashboard shows the CA, counts and the CRL', async () => {
    await signIn(page, admin, password);
    assert.match(await text(page, '.flash-ok'), new RegExp(`Signed in as ${admin} \\(administrator\\)`));
    assert.equal(await text(page, '#ca-subject'), 'CN=Console CA,O=Example');
    assert.equal(await text(page, '#count-users'), '0');
    assert.equal(await text(page, '#count-revoked'), '0');
    crlBefore = Number(await text(page, '#crl-number'));
    assert.ok(crlBefore >= 1, 'a CRL number');
    assert.match(await text(page, '#crl-next-update'), /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    await screenshot(page, 'dashboard');
  });

  await t.test('add a user: the token is shown once, in the page, with a copy button', async () => {
    await page.getByRole('link', { name: 'Users' }).click();
    await page.waitForURL(/\/console\/users/);
    await screenshot(page, 'users-empty');
    await page.getByLabel('E-mail address').fill(EMAIL);
    await page.getByLabel('Name', { exact: true }).fill('Carol');
    await page.getByRole('button', { name: 'Add user' }).click();
    await page.waitForLoadState();
    assert.match(await text(page, '.flash-ok'), /User carol@example.com added/);
    token = await page.locator('#token').inputValue();
    assert.match(token, /^[0-9a-f]{64}$/);
    assert.ok(!page.url().includes(token), 'the token is not in the URL');
    await page.getByRole('button', { name: 'Copy', exact: true }).click();
    await page.locator('.copied', { hasText: 'Copied.' }).waitFor();
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), token);
    await screenshot(page, 'user-added-token');
  });

  await t.test('lockbox enrolls the user with that token', async () => {
    const ca = await download(context, '/console/download/ca.crt', 'ca.pem');
    caFile = ca.file;
    assert.match(ca.headers['content-disposition'], /attachment; filename="ca.crt"/);
    const tokenFile = join(scratch(), 'carol.token');
    writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
    run(env('KMS_LOCKBOX'), [
      'enroll', '--server', base(), '--email', EMAIL, '--token-file', tokenFile,
      '--out', join(scratch(), 'carol.p12'), '--password-stdin', '--ca-cert', caFile,
    ], { input: `${P12_PASSWORD}\n` });
  });

  await t.test("the user's certificates appear", async () => {
    await page.goto(`${base()}/console/users?q=carol`);
    const row = page.getByRole('row', { name: /carol@example.com/ });
    await assert.doesNotReject(row.waitFor());
    await screenshot(page, 'users-search');
    await row.getByRole('link', { name: EMAIL }).click();
    await page.waitForURL(/\/console\/users\/carol/);
    const states = await page.locator('#certificates .cert-state').allInnerTexts();
    assert.deepEqual(states, ['current', 'current'], 'a signing and an encryption certificate');
    serials = await page.locator('#certificates tbody th a').allInnerTexts();
    await screenshot(page, 'user-enrolled');
  });

  await t.test('revoke with a reason: certificates marked revoked, the CRL number rises', async () => {
    await page.getByLabel('Reason (RFC 5280)').selectOption('keyCompromise');
    await page.getByRole('button', { name: 'Revoke every current certificate' }).click();
    await page.getByRole('button', { name: 'Yes, revoke 2 certificate(s)' }).click();
    await page.waitForLoadState();
    assert.match(await text(page, '.flash-ok'), /Revoked 2 certificate\(s\) of carol@example.com \(keyCompromise\)/);
    const states = await page.locator('#certificates .cert-state').allInnerTexts();
    assert.deepEqual(states, ['revoked (keyCompromise)', 'revoked (keyCompromise)']);
    await screenshot(page, 'user-revoked');
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await page.waitForURL(`${base()}/console`);
    const crlAfter = Number(await text(page, '#crl-number'));
    assert.ok(crlAfter > crlBefore, `CRL number ${crlAfter} > ${crlBefore}`);
    assert.equal(await text(page, '#count-revoked'), '2');
    assert.equal(await text(page, '#count-users'), '1');
    await screenshot(page, 'dashboard-after-revoke');
  });

  await t.test('search certificates by serial and by address; details', async () => {
    await page.getByRole('link', { name: 'Certificates and CRL' }).click();
    await page.getByLabel('Serial number or e-mail address').fill(serials[0].toUpperCase());
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/q=/);
    assert.deepEqual(await page.locator('#found tbody th').allInnerTexts(), [serials[0]]);
    await page.getByLabel('Serial number or e-mail address').fill(EMAIL);
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/q=carol/);
    assert.equal(await page.locator('#found tbody tr').count(), 2);
    await screenshot(page, 'certificates-search');
    await page.getByRole('link', { name: serials[1] }).click();
    await page.waitForURL(/\/console\/certificates\//);
    assert.match(await text(page, '#cert-state'), /^revoked \(keyCompromise\), since \d{4}-/);
    await screenshot(page, 'certificate-details');
    const cert = await download(context, new URL(page.url()).pathname + '/download', 'cert.pem');
    const fp = run('openssl', ['x509', '-in', cert.file, '-noout', '-fingerprint', '-sha256']);
    assert.equal(fp.trim().split('=')[1], await text(page, '#fingerprint'));
    // A serial prefix finds it too.
    await page.goto(`${base()}/console/certificates?q=${serials[1].slice(0, 8)}`);
    assert.ok((await page.locator('#found tbody th').allInnerTexts()).includes(serials[1]));
  });

  await t.test('renew, bulk renew, renew with a new key, new token, disable', async () => {
    const dave = 'dave@example.com';
    await page.goto(`${base()}/console/users`);
    await page.getByLabel('E-mail address').fill(dave);
    await page.getByLabel('Name', { exact: true }).fill('Dave');
    await page.getByRole('button', { name: 'Add user' }).click();
    await page.waitForLoadState();
    const daveToken = await page.locator('#token').inputValue();
    run(env('KMS_LOCKBOX'), [
      'enroll', '--server', base(), '--email', dave,
      '--out', join(scratch(), 'dave.p12'), '--password-stdin', '--ca-cert', caFile,
    ], { input: 'dave p12 password\n', env: { KMS_ENROLL_TOKEN: daveToken } });

    await page.goto(`${base()}/console/users/${dave}`);
    await page.getByRole('button', { name: 'Renew', exact: true }).click();
    await page.waitForLoadState();
    assert.match(await text(page, '.flash-ok'), /Renewed dave@example.com: new certificate\(s\)/);
    let states = (await page.locator('#certificates .cert-state').allInnerTexts()).sort();
    assert.deepEqual(states, ['current', 'current', 'superseded', 'superseded']);
    await screenshot(page, 'user-renewed');

    await page.goto(`${base()}/console/users?q=dave`);
    await page.getByLabel(`Select ${dave}`).check();
    await page.getByRole('button', { name: 'Renew the selected users' }).click();
    await page.getByRole('button', { name: 'Yes, renew 1 user(s)' }).click();
    await page.waitForLoadState();
    assert.match(await text(page, '.flash-ok'), /Renewed 1 user\(s\)\./);
    await screenshot(page, 'users-bulk-renewed');

    await page.goto(`${base()}/console/users/${dave}`);
    await page.getByLabel(/with a new key/).check();
    await page.getByRole('button', { name: 'Renew', exact: true }).click();
    await page.waitForLoadState();
    assert.match(await text(page, '.flash-ok'), /Renewed dave@example.com with a new key/);
    assert.match(await page.locator('#token').inputValue(), /^[0-9a-f]{64}$/);
    assert.ok(!page.url().includes('token='), 'no token in the URL');
    await screenshot(page, 'user-renewed-new-key');

    await page.goto(`${base()}/console/users/${dave}`);
    await page.getByRole('button', { name: 'New enrollment token' }).click();
    await page.waitForLoadState();
    assert.match(await text(page, '.flash-ok'), /New enrollment token for dave@example.com/);
    assert.match(await page.locator('#token').inputValue(), /^[0-9a-f]{64}$/);

    await page.goto(`${base()}/console/users/${dave}`);
    await page.getByRole('button', { name: 'Disable user' }).click();
    await page.getByRole('button', { name: `Yes, disable ${dave}` }).click();
    await page.waitForLoadState();
    assert.match(await text(page, '.flash-ok'), /User dave@example.com disabled/);
    assert.equal(await text(page, '#user-status'), 'disabled');
    await page.goto(`${base()}/console/users?status=disabled`);
    assert.deepEqual(await page.locator('table.list tbody th').allInnerTexts(), [dave]);
    await screenshot(page, 'users-disabled-filter');

    await page.goto(`${base()}/console`);
    assert.ok(Number(await text(page, '#count-superseded')) >= 4, 'renewals replaced certificates');
    assert.equal(await text(page, '#count-disabled'), '1');
  });

  await t.test('the downloaded CRL is signed by the downloaded CA and lists both', async () => {
    const crl = await download(context, '/console/download/crl.crl', 'crl.der');
    const out = run('openssl', ['crl', '-inform', 'DER', '-in', crl.file, '-CAfile', caFile, '-noout', '-text']);
    for (const s of serials) assert.match(out, new RegExp(`Serial Number: ${s}`, 'i'));
    assert.match(out, /Key Compromise/);
    const verified = runAny('openssl', ['crl', '-inform', 'DER', '-in', crl.file, '-CAfile', caFile, '-noout']);
    assert.equal(verified.status, 0, verified.stderr);
    assert.match(verified.stderr, /verify OK/);
    const number = out.match(/X509v3 CRL Number:\s*\n\s*(\d+)/);
    assert.ok(number && Number(number[1]) > crlBefore, 'the CRL file carries the new number');
  });

  await t.test('an auditor (second browser context) sees the actions disabled, with the reason', async () => {
    const kms = { KMS_URL: base(), KMS_CA_CERT: caFile, KMS_SESSION_FILE: join(scratch(), 'kmsctl-session.json') };
    run(env('KMS_KMSCTL'), ['login', '--admin', admin, '--password-stdin'], { input: `${password}\n`, env: kms });
    run(env('KMS_KMSCTL'), ['admin', 'add', 'audrey', '--role', 'auditor', '--password-stdin'],
      { input: 'audrey password\n', env: kms });
    const other = await newContext(browser);
    const p2 = await other.newPage();
    const csp2 = watch(p2);
    await signIn(p2, 'audrey', 'audrey password');
    assert.match(await text(p2, '.who'), /audrey \(auditor\)/);
    await p2.goto(`${base()}/console/users/${EMAIL}`);
    assert.ok(await p2.getByRole('button', { name: 'Disable user' }).isDisabled());
    assert.match(await p2.locator('.why.refused').first().innerText(),
      /Not available: needs the officer or administrator role; audrey is auditor/);
    await screenshot(p2, 'auditor-user-page');
    csp2.check();
    await other.close();
  });

  await t.test('sign out', async () => {
    await page.goto(`${base()}/console`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(/\/console\/signin\?reason=signed-out/);
    assert.match(await text(page, '.flash-ok'), /You are signed out/);
    await screenshot(page, 'signed-out');
    await page.goto(`${base()}/console/users`);
    assert.match(page.url(), /\/console\/signin/);
  });

  csp.check();
});
