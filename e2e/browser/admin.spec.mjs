// Drives Debian's Chromium through the web admin of a running 2-server cluster (started by browser_test.go):
// log in, upload a module with the file picker and see 2/2 confirmations live, deploy a new version by drag and
// drop, see a broken module's error details, roll back from the history, invoke the service, filter with no match,
// open a module loaded from service-sources.txt, read a version's source and a diff; then, at 800 px wide, check
// that no page scrolls sideways with long names and messages on it.
// Everything waits on selectors or text with timeouts; nothing sleeps.
import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, delimiter, join } from 'node:path';
import assert from 'node:assert/strict';

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (browser_test.go sets it)`);
  return v;
}

const url = need('ZATO_URL').replace(/\/$/, '');
const username = need('ZATO_USERNAME');
const password = need('ZATO_PASSWORD');
const moduleFile = need('ZATO_MODULE_FILE'); // browser_greet.py, version 1
const moduleV2 = need('ZATO_MODULE_V2');     // its version 2 source, dropped on the page
const brokenFile = need('ZATO_BROKEN_FILE'); // broken_mod.py with a syntax error on line 3
const servers = need('ZATO_SERVERS').split(','); // server1,server2
const longFiles = need('ZATO_LONG_FILES').split(delimiter); // a long module name, a long error message
const sourceEntry = need('ZATO_SOURCE_ENTRY'); // service-sources.txt's entry: good on server1, broken on server2
const sourceModule = basename(sourceEntry);
const artifacts = need('ZATO_ARTIFACTS');
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const timeout = Number(process.env.ZATO_UI_TIMEOUT_MS || 20000);
const module = 'browser_greet.py';
const service = 'browser-greet.greet'; // Zato's naming: the module's underscores become hyphens
const all = `${servers.length}/${servers.length}`;

mkdirSync(artifacts, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), 'zato-chromium-'));
const t0 = Date.now();
const step = (msg) => console.log(`[browser +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);

const context = await chromium.launchPersistentContext(profile, {
  executablePath,
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run'],
  viewport: { width: 1280, height: 900 },
});
context.setDefaultTimeout(timeout);
const page = context.pages()[0] || await context.newPage();
const consoleErrors = [];
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
page.on('pageerror', (e) => consoleErrors.push(String(e)));
const shot = async (name) => {
  const path = join(artifacts, name);
  await page.screenshot({ path, fullPage: true });
  step(`screenshot ${path}`);
};

// card returns the live card of the newest deployment of mod on the page.
const card = (mod) => page.locator(`.watcher[data-module="${mod}"]`).first();

try {
  // An unauthenticated visit lands on the login page, and comes back after logging in.
  step('open the services page unauthenticated');
  await page.goto(`${url}/admin/services`);
  await page.waitForURL(/\/admin\/login\?next=/);
  await page.locator('#username').waitFor();
  await shot('01-login.png');

  step('wrong password');
  await page.fill('#username', username);
  await page.fill('#password', 'not-the-password');
  await page.click('#login-form button[type=submit]');
  await page.getByText('Invalid username or password.').waitFor();

  step('log in');
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('#login-form button[type=submit]');
  await page.waitForURL(`${url}/admin/services`);
  await page.getByRole('heading', { name: /^Services on / }).waitFor();

  step('upload with the file picker');
  await page.goto(`${url}/admin/`);
  await page.setInputFiles('#files', moduleFile);
  await page.click('#upload-button');
  await card(module).locator('.count', { hasText: all }).waitFor();
  await card(module).locator('.badge', { hasText: 'deployed' }).waitFor();
  const line = await card(module).locator('.watcher-servers').innerText();
  assert.equal(line, servers.map((s) => `${s} deployed`).join(' · '), 'per-server confirmations');
  // The recent deployments table below refreshes once the deployment is done.
  await page.locator('#recent table.deployments td a', { hasText: module }).first().waitFor();
  await shot('02-upload-confirmed.png');

  step('deploy version 2 by drag and drop');
  const dt = await page.evaluateHandle(({ name, src }) => {
    const d = new DataTransfer();
    d.items.add(new File([src], name, { type: 'text/x-python' }));
    return d;
  }, { name: module, src: moduleV2 });
  await page.dispatchEvent('#dropzone', 'dragenter', { dataTransfer: dt });
  await page.dispatchEvent('#dropzone', 'drop', { dataTransfer: dt });
  await page.locator(`.watcher[data-module="${module}"]`).nth(1).waitFor();
  await card(module).locator('.watcher-module', { hasText: `${module} v2` }).waitFor();
  await card(module).locator('.count', { hasText: all }).waitFor();

  step('a broken module shows each server\'s error');
  await page.setInputFiles('#files', brokenFile);
  await page.click('#upload-button');
  const broken = page.locator('.watcher.failed[data-module="broken_mod.py"]');
  await broken.waitFor();
  assert.equal(await broken.locator('.count').innerText(), `0/${servers.length}`);
  await broken.locator('.error-type', { hasText: 'SyntaxError' }).first().waitFor();
  assert.equal(await broken.locator('.watcher-error').count(), servers.length, 'one error per server');
  assert.match(await broken.locator('.error-line').first().innerText(), /line 3/);
  await broken.locator('details summary').first().click();
  await broken.locator('pre.traceback').first().waitFor({ state: 'visible' });
  await shot('03-upload-failed.png');

  step('deployments list');
  await page.goto(`${url}/admin/deployments`);
  const rows = page.locator('table.deployments tbody tr');
  await rows.first().waitFor();
  assert.ok(await rows.count() >= 3, 'three deployments listed');
  await page.locator('table.deployments .error-type', { hasText: 'SyntaxError' }).first().waitFor();
  await shot('04-deployments.png');

  step('history and rollback to v1');
  await page.goto(`${url}/admin/modules/${module}`);
  await page.locator('tr[data-version="2"] .badge', { hasText: 'serving' }).waitFor();
  const v1 = page.locator('tr[data-version="1"]');
  assert.equal(await v1.locator('td').nth(1).innerText(), username, 'who');
  assert.equal(await v1.locator('td').nth(3).innerText(), 'admin', 'origin');
  assert.match(await v1.locator('code.sha').innerText(), /^[0-9a-f]{64}$/, 'sha256');
  page.once('dialog', (d) => d.accept());
  await v1.getByRole('button', { name: 'Roll back to v1' }).click();
  await page.locator('#actions .watcher .watcher-module', { hasText: `${module} v1` }).waitFor();
  await page.locator('#actions .watcher .count', { hasText: all }).waitFor();
  await page.locator('#actions .watcher .badge', { hasText: 'deployed' }).waitFor();
  // The history refreshes: v1 serves again and v2 gets a rollback button.
  await page.locator('tr[data-version="1"] .badge', { hasText: 'serving' }).waitFor();
  await page.locator('tr[data-version="2"]').getByRole('button', { name: 'Roll back to v2' }).waitFor();
  await page.getByText('Serving v1 on every server.').waitFor();
  await shot('05-module-rollback.png');

  step('modules list');
  await page.goto(`${url}/admin/modules`);
  await page.locator(`tr[data-module="${module}"] td`, { hasText: 'v1' }).first().waitFor();

  step('invoke the service');
  await page.goto(`${url}/admin/services`);
  await page.locator(`tr[data-service="${service}"]`).waitFor();
  await page.selectOption('#invoke-service', service);
  await page.fill('#invoke-payload', '{"name": "Chromium"}');
  await page.click('#invoke-button');
  const resp = page.locator('#invoke-response');
  await resp.waitFor();
  const got = JSON.parse(await resp.innerText());
  assert.deepEqual(got, { hello: 'Chromium', version: 1 }, 'service response (v1 after the rollback)');
  await page.locator('.invoke-status', { hasText: 'HTTP 200' }).waitFor();
  await shot('06-invoke.png');

  step('invoke error is shown');
  await page.fill('#invoke-payload', '{}');
  await page.click('#invoke-button');
  await page.locator('#invoke-result .error-detail').waitFor();
  await page.locator('#invoke-result .invoke-status', { hasText: /HTTP [45]\d\d/ }).waitFor();

  step('times carry their zone');
  await page.goto(`${url}/admin/deployments`);
  const times = await page.locator('time').evaluateAll((ts) => ts.map((t) => [t.getAttribute('datetime'), t.textContent]));
  assert.ok(times.length >= 3, 'times on the deployments page');
  for (const [iso, text] of times) {
    assert.match(iso, /Z$/, `datetime ${iso}`);
    assert.match(text, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/, `time text ${text}`);
    assert.equal(text.slice(0, 19), iso.replace('T', ' ').slice(0, 19), 'the text is the datetime in UTC');
  }

  step('a filter that matches nothing says so');
  await page.fill('input[name="module"]', 'no_such_module_anywhere');
  await page.click('form.filter button[type=submit]');
  await page.getByText('No deployments match no_such_module_anywhere.').waitFor();
  assert.equal(await page.locator('table.deployments').count(), 0, 'no empty table');
  await shot('07-filter-no-match.png');
  await page.fill('input[name="module"]', 'greet');
  await page.click('form.filter button[type=submit]');
  await page.locator('table.deployments td a', { hasText: module }).first().waitFor();

  step('a module from service-sources.txt has a page with each server\'s status');
  await page.goto(`${url}/admin/services`);
  await page.locator(`tr[data-service] a[href="/admin/modules/${sourceModule}"]`).click();
  await page.waitForURL(`${url}/admin/modules/${sourceModule}`);
  await page.getByRole('heading', { name: sourceModule }).waitFor();
  const entry = page.locator('table.sources tbody tr').filter({ has: page.locator('code', { hasText: sourceEntry }) });
  await entry.waitFor();
  await entry.locator(`li[data-server="${servers[0]}"] .badge`, { hasText: 'ok' }).waitFor();
  await entry.locator(`li[data-server="${servers[1]}"] .badge`, { hasText: 'failed' }).waitFor();
  assert.match(await entry.locator(`li[data-server="${servers[1]}"] .error-message`).innerText(), /SyntaxError/);
  await page.locator('table.services tr[data-service]').first().waitFor();
  await shot('08-source-module.png');
  // The modules page lists the entry too, linking here.
  await page.goto(`${url}/admin/modules`);
  await page.locator(`#sources a[href="/admin/modules/${sourceModule}"]`).waitFor();

  step('a version\'s source, collapsed until asked for');
  await page.goto(`${url}/admin/modules/${module}`);
  const src2 = page.locator('#source-v2 pre.source');
  assert.equal(await src2.isVisible(), false, 'collapsed at first');
  await page.locator('tr[data-version="2"] a.js-show-source').click();
  await src2.waitFor({ state: 'visible' });
  assert.match(await src2.innerText(), /'version': 2/);
  await shot('09-version-source.png');

  step('a diff between two versions');
  await page.selectOption('#compare select[name="from"]', '1');
  await page.selectOption('#compare select[name="to"]', '2');
  await page.click('#compare button[type=submit]');
  await page.waitForURL(/\/diff\?from=1&to=2$/);
  assert.match(await page.locator('pre.diff .del').first().innerText(), /^-.*'version': 1/);
  assert.match(await page.locator('pre.diff .add').first().innerText(), /^\+.*'version': 2/);
  await page.locator('pre.diff .hunk', { hasText: /^@@ -\d/ }).first().waitFor();
  await shot('10-diff.png');

  step('long names and messages, then every page at 800 px');
  await page.goto(`${url}/admin/`);
  await page.setInputFiles('#files', longFiles);
  await page.click('#upload-button');
  await card(basename(longFiles[0])).locator('.count', { hasText: all }).waitFor();
  await page.locator(`.watcher.failed[data-module="${basename(longFiles[1])}"] .error-message`).first().waitFor();
  await page.setViewportSize({ width: 800, height: 900 });
  const longMod = basename(longFiles[0]);
  const failedId = await page.locator(`.watcher.failed[data-module="${basename(longFiles[1])}"]`).getAttribute('data-deployment-id');
  const narrow = [
    ['home', '/admin/'],
    ['deployments', '/admin/deployments'],
    ['deployments-no-match', '/admin/deployments?module=no_such_module_with_a_long_name_that_matches_nothing_at_all_anywhere'],
    ['deployment-failed', `/admin/deployments/${failedId}`],
    ['modules', '/admin/modules'],
    ['module', `/admin/modules/${module}`],
    ['module-long', `/admin/modules/${longMod}`],
    ['diff', `/admin/modules/${module}/diff?from=1&to=2`],
    ['services', '/admin/services'],
    ['source-module', `/admin/modules/${sourceModule}`],
  ];
  for (const [name, path] of narrow) {
    await page.goto(`${url}${path}`);
    await page.locator('main h1').first().waitFor();
    // Everything folded away is opened: tracebacks and sources count too.
    await page.locator('details').evaluateAll((ds) => ds.forEach((d) => { d.open = true; }));
    const m = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth,
      inner: window.innerWidth,
      wide: [...document.querySelectorAll('main *')]
        .filter((e) => !e.closest('pre, .table-wrap') && (e.getBoundingClientRect().right > window.innerWidth + 1 ||
          (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === 'visible')))
        .slice(0, 3).map((e) => e.tagName.toLowerCase() + (e.className ? '.' + e.className : '')),
      tables: [...document.querySelectorAll('.table-wrap')]
        .filter((w) => w.scrollWidth > w.clientWidth + 1).map((w) => w.firstElementChild.className),
    }));
    await shot(`800-${name}.png`);
    assert.ok(m.scroll <= m.inner, `${path} at 800 px: scrollWidth ${m.scroll} > innerWidth ${m.inner} (too wide: ${m.wide.join(', ')})`);
    assert.deepEqual(m.tables, [], `${path} at 800 px: tables that scroll sideways inside their box`);
  }
  // The long names and the long message are really there.
  await page.goto(`${url}/admin/services`);
  await page.locator(`tr[data-service] a[href="/admin/modules/${longMod}"]`).waitFor();
  await page.goto(`${url}/admin/deployments/${failedId}`);
  await page.locator('.error-message', { hasText: 'this-message-has-no-spaces' }).first().waitFor();
  await page.setViewportSize({ width: 1280, height: 900 });

  step('log out');
  await page.click('header form.logout button');
  await page.waitForURL(/\/admin\/login/);
  await page.goto(`${url}/admin/`);
  await page.waitForURL(/\/admin\/login\?next=/);

  assert.deepEqual(consoleErrors.filter((e) => !/status of 4\d\d|status of 5\d\d/.test(e)), [], 'no script errors');
  step('ok');
} catch (err) {
  await shot('99-failure.png').catch(() => {});
  console.error(`[browser] failed at ${page.url()}`);
  throw err;
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
