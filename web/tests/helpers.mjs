// Shared helpers of the console's browser tests: the environment the Rust harness
// (tests/it/console_browser.rs) passes, Debian's Chromium through playwright-core,
// screenshots, running the real binaries and the OpenSSL CLI, and `checkPage` (axe-core,
// horizontal overflow at 1 366 px, a screenshot).
import { chromium } from 'playwright-core';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
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

// ---------------------------------------------------------------------------------------
// Page checks: accessibility (axe-core), layout at 1 366 px, a screenshot of every page.

const require = createRequire(import.meta.url);
let axeSource;
/** axe-core's browser build (from web/tests/node_modules, installed by `npm ci`). */
function axeScript() {
  axeSource ??= readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
  return axeSource;
}

/**
 * Runs axe-core in `page` and returns its violations of impact serious or critical.
 * The console's CSP (`script-src 'self'`) refuses injected script tags, so axe's source is
 * evaluated through Playwright's `page.evaluate` (the DevTools protocol, which CSP does not
 * govern): the pages are tested under their real CSP, never a relaxed one.
 */
export async function axeViolations(page) {
  const loaded = await page.evaluate(() => typeof window.axe !== 'undefined');
  if (!loaded) await page.evaluate(axeScript());
  const result = await page.evaluate(async () => window.axe.run(document, {
    resultTypes: ['violations'],
  }));
  return result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
    }));
}

/** How far the page overflows the viewport horizontally, in CSS pixels (0: it fits). */
export async function horizontalOverflow(page) {
  return page.evaluate(() => Math.max(0,
    document.documentElement.scrollWidth - window.innerWidth));
}

/**
 * The checks every console page passes: no serious or critical axe-core violation, no
 * horizontal scrolling at the context's viewport (1 366 x 900), and a full-page screenshot
 * kept as an artefact (`KMS_SCREENSHOTS`, under target/console-artifacts/SPEC/).
 */
export async function checkPage(page, name) {
  const file = await screenshot(page, name);
  const overflow = await horizontalOverflow(page);
  assert.equal(overflow, 0,
    `${name} (${page.url()}) is ${overflow}px wider than the ${page.viewportSize()?.width}px window; see ${file}`);
  const violations = await axeViolations(page);
  assert.deepEqual(violations, [], `${name} (${page.url()}): axe-core violations: ${JSON.stringify(violations)}`);
  return file;
}
