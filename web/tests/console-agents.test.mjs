// The key recovery agents page in Debian's Chromium: three agents' key pairs made with
// `kmsctl agent keygen` (as on their own machines), each designated by pasting its public key
// into the Agents page; the threshold set to 2; a user enrolled with lockbox (their key split
// among the agents); a recovery opened on the recovery page waits for agent shares, with the
// `kmsctl approve ID --agent-key … --password-stdin` line shown on the recovery page, the
// agents page and counted on the dashboard; two agents run exactly that line (their key file
// in place of agent.key), the opener downloads the bundle and OpenSSL reads it; removing an
// agent goes through its confirmation page; an officer sees the agents but no form. Every
// page added is checked with `checkPage` (axe-core, no overflow at 1366x900, a screenshot).
// Started by crates/server/tests/it/console_browser.rs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  base, env, scratch, launch, newContext, watch, signIn, run, download, text, checkPage,
} from './helpers.mjs';

const EMAIL = 'erin@example.com';
const P12_PASSWORD = 'erin p12 password';
const BUNDLE_PASSWORD = 'recovered bundle password';
const AGENT_PASSWORD = 'agent key password';
const AGENTS = ['ann', 'bea', 'cai'];
const OFFICER = 'oscar';
const OFFICER_PASSWORD = 'oscar console password';

test('console: key recovery agents, a recovery waiting for their shares, roles', async (t) => {
  const browser = await launch();
  t.after(() => browser.close());
  const context = await newContext(browser);
  const page = await context.newPage();
  const csp = watch(page);
  const admin = env('KMS_ADMIN_NAME');
  const password = env('KMS_ADMIN_PASSWORD');
  const keys = {};
  let kms;
  let command;

  await t.test('the agents make their key pairs with kmsctl agent keygen', async () => {
    for (const name of AGENTS) {
      const file = join(scratch(), `${name}.key`);
      const out = JSON.parse(run(env('KMS_KMSCTL'),
        ['--json', 'agent', 'keygen', '--out', file, '--password-stdin'],
        // (kmsctl asks for a server URL before any subcommand, though keygen uses none.)
        { input: `${AGENT_PASSWORD}\n`, env: { KMS_URL: base() } }));
      assert.match(out.public_key, /^[0-9a-f]{64}$/);
      keys[name] = { file, publicKey: out.public_key };
    }
  });

  await t.test('an empty agents page, reached from the navigation', async () => {
    await signIn(page, admin, password);
    await page.getByRole('link', { name: 'Agents', exact: true }).click();
    await page.waitForURL(/\/console\/agents$/);
    assert.match(await text(page, 'h1'), /Key recovery agents/);
    assert.match(await text(page, '#no-agents'), /No key recovery agent is designated/);
    assert.match(await text(page, '#agent-threshold'), /not set \(0 agent\(s\)\)/);
    await checkPage(page, 'agents-empty');
  });

  await t.test('three agents are added by pasting their public keys', async () => {
    for (const name of AGENTS) {
      await page.getByLabel("Agent's name").fill(name);
      await page.getByLabel('Public key', { exact: true }).fill(keys[name].publicKey);
      await page.getByRole('button', { name: 'Add agent' }).click();
      await page.waitForLoadState();
      assert.match(await text(page, '.flash-ok'), new RegExp(`Agent ${name} added \\(key ${keys[name].publicKey}\\)`));
      assert.equal(await text(page, `#agent-row-${name} .agent-key`), keys[name].publicKey);
    }
    assert.equal(await page.locator('#agents tbody tr').count(), 3);
    // A key that is not one is refused, with the code.
    await page.getByLabel("Agent's name").fill('dee');
    await page.getByLabel('Public key', { exact: true }).fill('not a key');
    await page.getByRole('button', { name: 'Add agent' }).click();
    await page.waitForLoadState();
    assert.match(await text(page, '.flash-error'), /Refused: .*\[AUTH-009\]/);
    assert.equal(await page.locator('#agents tbody tr').count(), 3);
    await checkPage(page, 'agents-three');
  });

  await t.test('the threshold is set to 2 of 3', async () => {
    await page.getByLabel('Agents needed').fill('2');
    await page.getByRole('button', { name: 'Set threshold' }).click();
    await page.waitForLoadState();
    assert.match(await text(page, '.flash-ok'), /Threshold set: 2 agents/);
    assert.match(await text(page, '#agent-threshold'), /2 of 3 agents rebuild a key/);
  });

  await t.test('a user enrolls with lockbox: their key is split among the agents', async () => {
    const ca = await download(context, '/console/download/ca.crt', 'ca.pem');
    kms = { KMS_URL: base(), KMS_CA_CERT: ca.file, KMS_SESSION_FILE: join(scratch(), 'session.json') };
    run(env('KMS_KMSCTL'), ['login', '--admin', admin, '--password-stdin'], { input: `${password}\n`, env: kms });
    const added = JSON.parse(run(env('KMS_KMSCTL'), ['--json', 'user', 'add', EMAIL, '--name', 'Erin'], { env: kms }));
    const tokenFile = join(scratch(), 'erin.token');
    writeFileSync(tokenFile, `${added.enrollment_token}\n`, { mode: 0o600 });
    run(env('KMS_LOCKBOX'), [
      'enroll', '--server', base(), '--email', EMAIL, '--token-file', tokenFile,
      '--out', join(scratch(), 'erin.p12'), '--password-stdin', '--ca-cert', ca.file,
    ], { input: `${P12_PASSWORD}\n` });
    await page.reload();
    assert.equal(await text(page, '#agent-split-keys'), '1');
    assert.equal(await text(page, '#agent-row-ann .agent-shares'), '1 of 1');
  });

  await t.test('a recovery waits for agent shares, with the command line to copy', async () => {
    await page.getByRole('link', { name: 'Recovery and approvals' }).click();
    await page.waitForURL(/\/console\/recovery/);
    await page.getByLabel("User's e-mail address").fill(EMAIL);
    await page.getByLabel('Bundle password', { exact: true }).fill(BUNDLE_PASSWORD);
    await page.getByLabel('Bundle password again').fill(BUNDLE_PASSWORD);
    await page.getByRole('button', { name: 'Recover keys' }).click();
    await page.waitForLoadState();
    const flash = await text(page, '.flash-info');
    const m = flash.match(/agent request (\d+) has shares from 0 of 2 agents/);
    assert.ok(m, flash);
    const id = m[1];
    command = `kmsctl approve ${id} --agent-key agent.key --password-stdin`;
    assert.ok(flash.includes(command), flash);
    const row = page.locator(`#agent-request-${id}`);
    assert.match(await row.locator('.answered').innerText(), /0 of 2 waiting/);
    assert.equal(await row.getByLabel(`Command for request ${id}`).inputValue(), command);
    await row.getByRole('button', { name: 'Copy' }).click();
    await page.waitForFunction((r) => document.querySelector(`#agent-request-${r} .copied`)?.textContent !== '', id);
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), command);
    await checkPage(page, 'recovery-waiting-for-agents');

    await page.getByRole('link', { name: 'Agents', exact: true }).click();
    await page.waitForURL(/\/console\/agents$/);
    assert.equal(await page.locator(`#agent-request-${id}`).getByLabel(`Command for request ${id}`).inputValue(), command);
    assert.match(await text(page, `#agent-request-${id}`), /recover/);
    await checkPage(page, 'agents-request-waiting');

    await page.getByRole('link', { name: 'Dashboard' }).click();
    await page.waitForURL(/\/console$/);
    assert.equal(await text(page, '#agents-threshold'), '2 of 3');
    assert.equal(await text(page, '#agents-waiting'), '1');
    assert.equal(await text(page, '#attention-agent-requests .attention-count'), '1');
    await checkPage(page, 'dashboard-agents');
  });

  await t.test('two agents run the line; the opener downloads the bundle; OpenSSL reads it', async () => {
    for (const name of ['ann', 'cai']) {
      const args = command.split(' ').slice(1).map((a) => (a === 'agent.key' ? keys[name].file : a));
      const out = run(env('KMS_KMSCTL'), args, { input: `${AGENT_PASSWORD}\n`, env: kms });
      assert.match(out, /released 1 share/);
    }
    await page.goto(`${base()}/console/recovery`);
    const row = page.locator('#agent-requests tbody tr', { hasText: EMAIL });
    assert.match(await row.locator('.answered').innerText(), /2 of 2 \(ann, cai\) enough shares/);
    await row.getByLabel('Bundle password').fill(BUNDLE_PASSWORD);
    const [dl] = await Promise.all([
      page.waitForEvent('download'),
      row.getByRole('button', { name: 'Download bundle' }).click(),
    ]);
    const file = join(scratch(), 'erin-recovered.p12');
    await dl.saveAs(file);
    const keysOut = run('openssl', ['pkcs12', '-nocerts', '-noenc', '-in', file, '-passin', `pass:${BUNDLE_PASSWORD}`]);
    assert.match(keysOut, /BEGIN PRIVATE KEY/);
    await page.reload();
    assert.match(await text(page, '#no-agent-requests'), /No recovery is waiting for agent shares/);
  });

  await t.test('removing an agent asks first on a confirmation page', async () => {
    await page.goto(`${base()}/console/agents`);
    await page.locator('#agent-row-cai').getByRole('button', { name: 'Remove' }).click();
    await page.waitForURL(/\/console\/agents\/cai\/remove/);
    assert.match(await text(page, '#confirm-what'), /Remove key recovery agent cai/);
    const yes = page.getByRole('button', { name: 'Yes, remove agent cai' });
    assert.match(await yes.getAttribute('class'), /danger/);
    await checkPage(page, 'agents-remove-confirm');
    await yes.click();
    await page.waitForURL(/\/console\/agents$/);
    assert.match(await text(page, '.flash-ok'), /Agent cai removed/);
    assert.equal(await page.locator('#agents tbody tr').count(), 2);
    // At the threshold now: removing another is offered disabled, with the reason.
    assert.ok(await page.locator('#agent-row-ann').getByRole('button', { name: 'Remove' }).isDisabled());
    assert.match(await text(page, '#agent-row-ann'), /fewer than the threshold 2/);
  });

  await t.test('an officer sees the agents but no form', async () => {
    await page.getByRole('link', { name: 'Administrators' }).click();
    await page.waitForURL(/\/console\/admins/);
    await page.getByLabel('Name', { exact: true }).fill(OFFICER);
    await page.getByLabel('Role', { exact: true }).selectOption('officer');
    await page.getByLabel('Password', { exact: true }).fill(OFFICER_PASSWORD);
    await page.getByRole('button', { name: 'Add administrator' }).click();
    await page.waitForLoadState();
    assert.match(await text(page, '.flash-ok'), /Administrator oscar added as officer/);

    const other = await newContext(browser);
    const p2 = await other.newPage();
    const csp2 = watch(p2);
    await signIn(p2, OFFICER, OFFICER_PASSWORD);
    await p2.goto(`${base()}/console/agents`);
    assert.equal(await p2.locator('#agents tbody tr').count(), 2);
    assert.equal(await p2.locator('main form').count(), 0, 'no form at all');
    assert.match(await text(p2, '#agents-read-only'),
      /Changing the agents is not available: needs the administrator role; oscar is officer/);
    await checkPage(p2, 'agents-officer');
    csp2.check();
    await other.close();
  });

  csp.check();
});
