// Every console page at 1 366 x 900 in Debian's Chromium, each through checkPage (axe-core
// with no serious or critical violation, no horizontal scrolling, a full-page screenshot),
// with users in every situation a bulk renewal meets: enrolled (through the exact
// `lockbox enroll` command the token page shows), revoked, never enrolled, disabled. Then a
// bulk renewal: it asks first, renews only the renewable user, and answers with a summary.
// The removals the server would refuse are offered disabled, with the reason.
// Started by tests/it/console_browser.rs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  base, env, scratch, launch, newContext, watch, signIn, run, download, text, checkPage,
} from './helpers.mjs';

const USERS = {
  alice: 'alice@example.com', // enrolled: renewable
  bob: 'bob@example.com', // enrolled, then revoked
  carol: 'carol@example.com', // never enrolled
  dave: 'dave@example.com', // enrolled, then disabled
};

/** Splits a POSIX shell command line as the token page writes it (words, '...' quoting). */
function shellWords(line) {
  const words = [];
  let cur = '';
  let inWord = false;
  for (let i = 0; i < line.length; i += 1) {
    const c = line[i];
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      assert.ok(end > i, `unbalanced quote in ${line}`);
      cur += line.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (c === '\\' && line[i + 1] === "'") {
      cur += "'";
      i += 1;
      inWord = true;
    } else if (/\s/.test(c)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

/**
 * Runs the enroll command exactly as the token page shows it, in a directory holding
 * `ca.crt`: `NAME=VALUE` prefixes become the environment, `lockbox` is the built binary.
 */
function runShownCommand(command, dir, p12Password) {
  const words = shellWords(command);
  const extra = {};
  while (words.length && /^[A-Z_]+=/.test(words[0])) {
    const w = words.shift();
    const eq = w.indexOf('=');
    extra[w.slice(0, eq)] = w.slice(eq + 1);
  }
  assert.equal(words.shift(), 'lockbox');
  const out = words[words.indexOf('--out') + 1];
  run(env('KMS_LOCKBOX'), words.map((w) => (w === out ? join(dir, out) : w)).map(
    (w) => (w === 'ca.crt' ? join(dir, 'ca.crt') : w),
  ), { input: `${p12Password}\n`, env: extra });
}

test('console: every page passes axe-core and fits 1 366 px; bulk renewal asks first', async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const context = await newContext(browser);
  const page = await context.newPage();
  const csp = watch(page);
  const admin = env('KMS_ADMIN_NAME');
  let aliceSerial;

  await t.test('sign-in page and the favicon', async () => {
    await page.goto(`${base()}/console/signin`);
    await checkPage(page, 'signin');
    const icon = await context.request.get(`${base()}/favicon.ico`);
    assert.equal(icon.status(), 200);
    assert.match(icon.headers()['content-type'], /^image\/svg\+xml/);
    assert.equal(await page.locator('link[rel="icon"]').getAttribute('href'), '/console/static/favicon.svg');
    const linked = await context.request.get(`${base()}/console/static/favicon.svg`);
    assert.equal(linked.status(), 200);
    await signIn(page, admin, env('KMS_ADMIN_PASSWORD'));
    await checkPage(page, 'dashboard');
  });

  await t.test('users in every state; the token page command enrolls as shown', async () => {
    const ca = await download(context, '/console/download/ca.crt', 'ca.crt');
    assert.equal(ca.file, join(scratch(), 'ca.crt'));
    for (const [name, email] of Object.entries(USERS)) {
      await page.goto(`${base()}/console/users`);
      await page.getByLabel('E-mail address').fill(email);
      await page.getByLabel('Name', { exact: true }).fill(name);
      await page.getByRole('button', { name: 'Add user' }).click();
      await page.waitForLoadState();
      const command = await page.locator('#enroll-command').inputValue();
      const token = await page.locator('#token').inputValue();
      assert.ok(command.startsWith(`KMS_ENROLL_TOKEN=${token} lockbox enroll --server ${base()} --email ${email} `),
        command);
      if (name === 'alice') await checkPage(page, 'token');
      if (name !== 'carol') runShownCommand(command, scratch(), `${name} p12 password`);
    }
    // Bob revoked, Dave disabled: through their confirmation pages.
    await page.goto(`${base()}/console/users/${USERS.bob}`);
    await page.getByLabel('Reason (RFC 5280)').selectOption('keyCompromise');
    await page.getByRole('button', { name: 'Revoke every current certificate' }).click();
    await page.waitForURL(/\/revoke\?reason=keyCompromise/);
    assert.match(await text(page, '#confirm-what'), /^Revoke 2 certificate\(s\) of bob@example.com with the reason keyCompromise/);
    assert.equal(await page.locator('#confirm-items tbody tr').count(), 2);
    await checkPage(page, 'confirm-revoke');
    await page.getByRole('button', { name: 'Yes, revoke 2 certificate(s)' }).click();
    await page.waitForLoadState();
    assert.match(await text(page, '.flash-ok'), /Revoked 2 certificate\(s\) of bob@example.com/);

    await page.goto(`${base()}/console/users/${USERS.dave}`);
    await page.getByRole('button', { name: 'Disable user' }).click();
    await page.waitForURL(/\/disable\??$/);
    await checkPage(page, 'confirm-disable');
    await page.getByRole('button', { name: `Yes, disable ${USERS.dave}` }).click();
    await page.waitForLoadState();
    assert.match(await text(page, '.flash-ok'), /User dave@example.com disabled/);
    // Disabled already: the confirmation says so and offers nothing.
    await page.goto(`${base()}/console/users/${USERS.dave}/disable`);
    assert.ok(await page.getByRole('button', { name: /^Yes, disable/ }).isDisabled());
    assert.match(await text(page, '.why.refused'), /dave@example.com is disabled already/);
  });

  await t.test('bulk renewal: asks first, renews only the renewable user, then a summary', async () => {
    await page.goto(`${base()}/console/users`);
    await checkPage(page, 'users');
    const renewAll = page.getByRole('button', { name: 'Renew all renewable users' });
    assert.match(await renewAll.getAttribute('class'), /\bdanger\b/);
    await renewAll.click();
    await page.waitForURL(/\/console\/users\/renew-all\?all=1/);
    assert.deepEqual(await page.locator('#confirm-items tbody th').allInnerTexts(), [USERS.alice]);
    const skipped = await page.locator('#confirm-skipped tbody tr').allInnerTexts();
    assert.deepEqual(skipped.map((r) => r.replace(/\s+/g, ' ').trim()), [
      'bob@example.com revoked',
      'carol@example.com not enrolled',
      'dave@example.com disabled',
    ]);
    await checkPage(page, 'confirm-renew-all');

    // A post without the confirmation changes nothing: it comes back to this page.
    const csrf = await page.locator('form[action="/console/users/renew-all"] input[name="csrf"]').inputValue();
    const landed = await page.evaluate(async (token) => {
      const r = await fetch('/console/users/renew-all', {
        method: 'POST', body: new URLSearchParams({ csrf: token, all: '1' }),
      });
      return new URL(r.url).pathname + new URL(r.url).search;
    }, csrf);
    assert.equal(landed, '/console/users/renew-all?all=1');

    await page.getByRole('button', { name: 'Yes, renew 1 user(s)' }).click();
    await page.waitForLoadState();
    assert.match(await text(page, '.flash-ok'), /^Renewed 1 user\(s\)\. Skipped 3/);
    assert.equal(await text(page, '#renewed-count'), '1');
    assert.equal(await text(page, '#skipped-count'), '3');
    assert.equal(await page.locator('#failed').count(), 0, 'nothing failed');
    assert.deepEqual(await page.locator('#renewed tbody th').allInnerTexts(), [USERS.alice]);
    await checkPage(page, 'renew-summary');

    await page.goto(`${base()}/console/users/${USERS.alice}`);
    const states = (await page.locator('#certificates .cert-state').allInnerTexts()).sort();
    assert.deepEqual(states, ['current', 'current', 'superseded', 'superseded']);
    aliceSerial = (await page.locator('#certificates tbody th a').allInnerTexts())[0];
    await checkPage(page, 'user');
    await page.goto(`${base()}/console/users/${USERS.bob}`);
    const bobStates = await page.locator('#certificates .cert-state').allInnerTexts();
    assert.ok(bobStates.every((s) => s.startsWith('revoked')), 'the revoked user was not renewed');
  });

  await t.test('administrators: removals the server would refuse are disabled, with why', async () => {
    await page.goto(`${base()}/console/admins`);
    await page.getByLabel('Name', { exact: true }).fill('oscar');
    await page.getByLabel('Role', { exact: true }).selectOption('officer');
    await page.getByLabel('Password', { exact: true }).fill('oscar password 12');
    await page.getByRole('button', { name: 'Add administrator' }).click();
    await page.waitForLoadState();
    const me = page.locator(`#admin-${admin}`);
    assert.ok(await me.getByRole('button', { name: 'Remove' }).isDisabled());
    assert.match(await me.locator('.why.refused').innerText(), /cannot remove your own account/);
    const methods = page.locator('#methods tbody tr');
    assert.equal(await methods.count(), 1);
    assert.ok(await methods.getByRole('button', { name: 'Remove' }).isDisabled());
    assert.match(await methods.locator('.why.refused').innerText(), /last start-up secret cannot be removed/);
    await checkPage(page, 'admins');
    const methodId = (await methods.locator('th').innerText()).trim();

    await page.locator('#admin-oscar').getByRole('button', { name: 'Remove' }).click();
    await page.waitForURL(/\/console\/admins\/oscar\/remove\??$/);
    assert.match(await text(page, '#confirm-what'), /Remove the officer account oscar/);
    await checkPage(page, 'confirm-remove-admin');
    await page.getByRole('link', { name: 'Cancel' }).click();
    await page.waitForURL(`${base()}/console/admins`);

    await page.goto(`${base()}/console/unlock-methods/${methodId}/remove`);
    assert.ok(await page.getByRole('button', { name: `Yes, remove start-up secret ${methodId}` }).isDisabled());
    await checkPage(page, 'confirm-remove-secret');
  });

  await t.test('every other page', async () => {
    const pages = [
      ['certificates', '/console/certificates'],
      ['certificate', `/console/certificates/${aliceSerial}`],
      ['confirm-revoke-certificate', `/console/certificates/${aliceSerial}/revoke?reason=superseded`],
      ['recovery', '/console/recovery'],
      ['backups', '/console/backups'],
      ['audit', '/console/audit'],
      ['not-found', '/console/no-such-page'],
    ];
    for (const [name, path] of pages) {
      await page.goto(`${base()}${path}`);
      await checkPage(page, name);
    }
    // A certificate's revocation asks first too, naming it.
    await page.goto(`${base()}/console/certificates/${aliceSerial}`);
    await page.getByRole('button', { name: 'Revoke', exact: true }).click();
    await page.waitForURL(/\/revoke\?reason=/);
    assert.match(await text(page, '#confirm-what'), new RegExp(`certificate ${aliceSerial} of alice@example.com`));
    assert.ok(await page.getByRole('button', { name: `Yes, revoke certificate ${aliceSerial}` }).isEnabled());
    // The audit page's times stay on one line each.
    await page.goto(`${base()}/console/audit`);
    const lines = await page.locator('#audit tbody time').evaluateAll(
      (times) => times.map((el) => el.getClientRects().length),
    );
    assert.ok(lines.length >= 5, `${lines.length} audit entries`);
    assert.ok(lines.every((n) => n === 1), `times on one line each: ${lines}`);
    csp.check();
  });
});
