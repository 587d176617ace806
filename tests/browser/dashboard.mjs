// Drives headless Chromium through the admin dashboard of a real gateway. Run by
// tests/browser/main.rs, which starts the gateway and its upstreams and answers this script's
// requests on stdin/stdout:
//   node dashboard.mjs <admin url> <expected.json> <artifact.png> [<docs.png>]
// expected.json: { routes: [{ id, chain: [names] }], down_target, trap_plugin }.
// The script prints `ACTION <name>` and waits for `done` on stdin for: `stop-upstream` (stop the
// target `down_target`), `trap` (send a request that makes `trap_plugin` trap),
// `break-manifest` (write a manifest that a reload refuses). It exits 0 when every check
// passed and prints why otherwise.

import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const [adminUrl, expectedPath, artifactPath, docsPath] = process.argv.slice(2);
const expected = JSON.parse(readFileSync(expectedPath, 'utf8'));
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

const stdin = createInterface({ input: process.stdin });
const lines = stdin[Symbol.asyncIterator]();
async function action(name) {
  process.stdout.write(`ACTION ${name}\n`);
  const { value, done } = await lines.next();
  if (done || value.trim() !== 'done') throw new Error(`the test did not do ${name}: ${value}`);
}

function check(condition, message) {
  if (!condition) throw new Error(message);
  console.log(`ok: ${message}`);
}

const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
const problems = [];
let expectingRefusal = false;
try {
  const page = await browser.newPage({ viewport: { width: 1500, height: 1100 } });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    // The refused reload is a 422 on purpose; Chromium logs every failed fetch.
    if (expectingRefusal && message.text().includes('status of 422')) return;
    problems.push(`console error: ${message.text()}`);
  });

  await page.goto(adminUrl, { waitUntil: 'load' });
  await page.waitForSelector('#routes tbody tr.route', { timeout: 10000 });
  await page.waitForFunction(() => document.querySelector('#revision').textContent === '1');

  // Every route of the manifest, with its chain in order.
  for (const route of expected.routes) {
    const row = page.locator(`#routes tr.route[data-route="${route.id}"]`);
    check(await row.count() === 1, `route ${route.id} is listed`);
    const chips = await row.locator('.chip').allTextContents();
    check(JSON.stringify(chips) === JSON.stringify(route.chain), `route ${route.id} shows its chain ${route.chain.join(' -> ')} (saw ${chips.join(' -> ')})`);
  }
  // A route opens to show each plugin's version, digest, isolation and limits.
  const first = expected.routes.find((r) => r.chain.length > 0);
  await page.locator(`#routes tr.route[data-route="${first.id}"]`).click();
  const detail = page.locator('#routes tr.detail .chain-table tbody tr');
  await detail.first().waitFor();
  check(await detail.count() === first.chain.length, `route ${first.id} opens to its ${first.chain.length} chain entries`);
  check((await detail.first().textContent()).includes('sha256:'), 'a chain entry shows its digest');

  // Traffic shows as a rate.
  await page.waitForFunction(() => document.querySelector('#rps').textContent !== '–', null, { timeout: 10000 });

  // A target goes down once its upstream is stopped and health checks notice.
  const target = page.locator(`#upstreams tr.target[data-target="${expected.down_target}"]`);
  check(await target.getAttribute('data-health') === 'up', `target ${expected.down_target} is up at first`);
  await action('stop-upstream');
  await page.waitForSelector(`#upstreams tr.target[data-target="${expected.down_target}"][data-health="down"]`, { timeout: 10000 });
  check(true, `target ${expected.down_target} is shown down after its upstream stopped`);

  // A trapping request counts as a trap.
  const plugin = page.locator(`#plugins tr[data-plugin="${expected.trap_plugin}"][data-role="stable"]`);
  const before = Number(await plugin.getAttribute('data-traps'));
  await action('trap');
  await page.waitForFunction(
    ([selector, n]) => Number(document.querySelector(selector)?.dataset.traps) > n,
    [`#plugins tr[data-plugin="${expected.trap_plugin}"][data-role="stable"]`, before],
    { timeout: 10000 },
  );
  check(true, `${expected.trap_plugin}'s trap count went up from ${before}`);

  // Search narrows the routes.
  const last = expected.routes[expected.routes.length - 1];
  await page.fill('#search', last.id);
  await page.waitForFunction((id) => [...document.querySelectorAll('#routes tr.route')].every((r) => r.dataset.route.includes(id) || r.textContent.toLowerCase().includes(id)), last.id);
  await page.fill('#search', '');

  // A refused reload shows its errors as `check` prints them.
  await action('break-manifest');
  expectingRefusal = true;
  await page.click('#reload');
  const errors = page.locator('#reload-errors');
  await errors.waitFor({ timeout: 20000 });
  const text = await errors.textContent();
  check(text.includes(expected.refusal_contains), `the refused reload's errors are shown:\n${text}`);
  await page.waitForFunction(() => document.querySelector('#last-reload .badge')?.textContent === 'refused', null, { timeout: 5000 });
  check(!(await page.isVisible('#token-form')), 'no token is asked for without one');
  check(!(await page.textContent('#overview')).includes('null'), 'the overview shows no `null`');
  expectingRefusal = false;

  await page.waitForTimeout(1500); // two more polls: sparklines with a few points
  await page.setViewportSize({ width: 1500, height: 1500 });
  await page.evaluate(() => window.scrollTo(0, 0));
  if (docsPath) await page.screenshot({ path: docsPath, fullPage: false });

  await page.locator('#manifest-panel > summary').click();
  check((await page.textContent('#manifest')).includes('[routes.'), 'the active manifest is shown');
  await page.screenshot({ path: artifactPath, fullPage: true });
  check(problems.length === 0, `no console errors or page errors${problems.length ? `:\n${problems.join('\n')}` : ''}`);
} catch (error) {
  console.error(`FAILED: ${error.message}`);
  if (problems.length) console.error(problems.join('\n'));
  process.exitCode = 1;
} finally {
  await browser.close();
  stdin.close();
}
