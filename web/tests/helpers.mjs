// Shared helpers of the console's browser tests: the environment the Rust harness
// (crates/server/tests/it/console_browser.rs) passes, Debian's Chromium through
// playwright-core, screenshots, running the real binaries and the OpenSSL CLI.
import { chromium } from 'playwright-core';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import assert from 'node:assert/strict';

/** A variable the harness must set. */
export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run these tests through cargo test -p kmsd --test it console_browser`);
  return v;
}

export const base = () => env('KMS_CONSOLE_URL');
export const scratch = () => env('KMS_SCRATCH');

/** Launches Debian's Chromium headless (never a downloaded browser). */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.KMS_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * A browser context for the console. The server's certificate comes from the authority's
 * own CA, which this throw-away profile does not trust: certificate errors are ignored
 * here, and the CA file is checked with OpenSSL instead.
 */
export async function newContext(browser) {
  const context = await browser.newContext({
    ignoreHTTPSErrors: true,
    viewport: { width: 1366, height: 900 },
  });
  await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base() });
  return context;
}

/** Collects Content-Security-Policy violations and page errors; `check()` asserts none. */
export function watch(page) {
  const problems = [];
  page.on('console', (m) => {
    if (m.type() === 'error' && /Content Security Policy|Refused to/i.test(m.text())) problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(String(e)));
  return { check: () => assert.deepEqual(problems, [], 'CSP violations or script errors') };
}

let shots = 0;
/** Saves a full-page screenshot as NN-name.png in the artefacts directory. */
export async function screenshot(page, name) {
  const dir = env('KMS_SCREENSHOTS');
  mkdirSync(dir, { recursive: true });
  shots += 1;
  const file = join(dir, `${String(shots).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}

/** Signs in through the form; returns after the dashboard loaded. */
export async function signIn(page, name, password) {
  await page.goto(`${base()}/console/signin`);
  await page.getByLabel('Administrator name').fill(name);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(`${base()}/console`);
}

/** Runs a program; returns stdout (throws with stdout and stderr on failure). */
export function run(file, args, { input, env: extra } = {}) {
  try {
    return execFileSync(file, args, {
      input,
      env: { ...process.env, ...extra },
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 120_000,
    });
  } catch (e) {
    throw new Error(`${file} ${args.join(' ')} failed (${e.status}):\n${e.stdout}\n${e.stderr}`);
  }
}

/** Runs a program; returns { status, stdout, stderr } whatever the exit code. */
export function runAny(file, args) {
  const r = spawnSync(file, args, { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Downloads `path` with the page's cookies and saves it in the scratch directory. */
export async function download(context, path, file) {
  const resp = await context.request.get(`${base()}${path}`);
  assert.equal(resp.status(), 200, `GET ${path}`);
  const out = join(scratch(), file);
  writeFileSync(out, await resp.body());
  return { file: out, headers: resp.headers() };
}

/** The text of the element `selector`, trimmed. */
export async function text(page, selector) {
  return (await page.locator(selector).innerText()).trim();
}
