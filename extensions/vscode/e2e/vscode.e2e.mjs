// End-to-end test of the extension in a real VS Code (code-server 4.100.3 = VS Code 1.100) driven through Debian's
// Chromium with playwright-core, against a real 2-server cluster started here:
//   1. install the platform .vsix (it carries the zato binary that runs as `zato lsp`);
//   2. open a workspace with a .zato.yaml (the cluster's url, username, password) and a service module;
//   3. edit and save it: the status bar reaches "2/2" and the service answers with the new code from both servers;
//   4. save a syntax error: the status bar says failed and the Problems panel shows it at its line;
//   5. fix it: 2/2 again and the Problems panel is empty;
//   6. "Zato: Set Password" while .zato.yaml gives the password: refused (a stored password never overrides it);
//      with the password taken out of .zato.yaml, a wrong one (kept for this server and user), the key binding:
//      unauthorized;
//   7. the right one, change the code without saving, the editor title's Deploy button: 2/2 and the new code
//      answers; forget it and put the password back in .zato.yaml;
//   8. click the "Invoke" code lens: the answer (status, server, the new code's payload) opens in a read-only
//      document beside the module, and the request file was created in .zato/requests/;
//   9. a conflict: Show Diff, Deploy Anyway; Zato: Restart Language Server and a save while it starts; the
//      language server killed: restarted, with no bare "false" line in the log;
//  10. service-aware editing (service-aware.e2e.mjs): the warning on an unknown invoked name, hover, completion;
//  11. the Zato Cluster view: both servers live, the module with its version, who and origin and a row per server, a
//      module deployed with the CLI appearing by itself, Open Deployed Source (its tab titled with the version and
//      target), and Undeploy from the context menu after the confirmation dialog;
//  12. zato.serverPath set to /bin/false: one message naming it, with Open Settings, and no toast of the client
//      library ("write EPIPE", "couldn't create connection to server").
// Everything waits on selectors or events with timeouts; nothing sleeps. Screenshots go to $ZATO_ARTIFACTS.
//
// Run by ../run-e2e.sh, which builds what this needs and passes: ZATO_BIN (zato for this machine), ZATO_VSIX,
// CODE_SERVER (code-server's entry.js). Optional: CHROMIUM, ZATO_ARTIFACTS, ZATO_UI_TIMEOUT_MS,
// ZATO_CONFIRM_BUDGET_MS (save-to-2/2 limit, default 1000), ZATO_UPDATE_IMAGES=1 (refresh the README's pictures in
// images/: status-bar, invoke, conflict-diff, unknown-service, hover, completion, cluster-view).

import { spawn, execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';
import { parse as parseYaml } from 'yaml';
import { serviceAwareSteps } from './service-aware.e2e.mjs';

const execFileP = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const extDir = resolve(here, '..');
const repo = resolve(extDir, '../..');

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (run-e2e.sh sets it)`);
  return v;
}

const zatoBin = resolve(need('ZATO_BIN'));
const vsix = resolve(need('ZATO_VSIX'));
const codeServer = resolve(need('CODE_SERVER'));
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
const artifacts = resolve(process.env.ZATO_ARTIFACTS || join(repo, 'test-artifacts', 'vscode'));
const timeout = Number(process.env.ZATO_UI_TIMEOUT_MS || 30000);
const confirmBudget = Number(process.env.ZATO_CONFIRM_BUDGET_MS || 1000);
const keep = process.env.ZATO_E2E_KEEP === '1';
// Zato: Deploy Current File's key binding (package.json).
const DEPLOY_KEY = 'Control+Alt+U';

const moduleName = 'vscode_greet.py';
const service = 'vscode-greet.greet';
// Line numbers (1-based) of the lines the test edits.
const HANDLE_LINE = 10;
const PAYLOAD_LINE = 11;
const source = (greeting) => `# -*- coding: utf-8 -*-
# zato: ide-deploy=True

from zato.server.service import Service


class Greet(Service):
    name = '${service}'

    def handle(self):
        self.response.payload = {'greeting': '${greeting}'}
`;

const t0 = Date.now();
const step = (msg) => console.log(`[vscode +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}`);

rmSync(artifacts, { recursive: true, force: true });
mkdirSync(artifacts, { recursive: true });
const tmp = mkdtempSync(join(tmpdir(), 'zato-vscode-e2e-'));
const envDir = join(tmp, 'env');
const workspace = join(tmp, 'workspace');
const userData = join(tmp, 'user-data');
const extensionsDir = join(tmp, 'extensions');
const csConfig = join(tmp, 'code-server.yaml');

// Servers started here exit when this process does (the zato servers watch ZATO_PARENT_PID).
const zatoEnv = { ...process.env, ZATO_PARENT_PID: String(process.pid), ZATO_CONFIG: join(envDir, 'zato-client.yaml') };
const zato = async (...args) => {
  const { stdout } = await execFileP(zatoBin, args, { env: zatoEnv, timeout: 120000, maxBuffer: 16 << 20 });
  return stdout;
};

async function freePorts(n) {
  // n consecutive free ports (the cluster listens on base, base+1, ...).
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20000 + Math.floor(Math.random() * 30000);
    const ok = await Promise.all([...Array(n).keys()].map((i) => portFree(base + i)));
    if (ok.every(Boolean)) return base;
  }
  throw new Error('no free ports');
}

function portFree(port) {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

async function waitHttp(url, ms) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (r.status < 500) return;
      last = new Error(`HTTP ${r.status}`);
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 100)); // polling an HTTP port: there is no event to wait on
  }
  throw new Error(`${url} did not answer within ${ms} ms: ${last}`);
}

let codeServerProc;
let codeServerLog = '';
let context;
let clusterStarted = false;
let failed = false;

try {
  // ---- the cluster ----
  const base = await freePorts(2);
  step(`create a 2-server cluster on ports ${base}-${base + 1}`);
  await zato('quickstart', 'create', envDir, '--servers', '2', '--base-port', String(base));
  clusterStarted = true;
  await zato('start', envDir);
  const client = parseYaml(readFileSync(join(envDir, 'zato-client.yaml'), 'utf8'));
  const servers = client.servers.map((s) => s.name);
  assert.equal(servers.length, 2, `two servers in zato-client.yaml: ${JSON.stringify(client.servers)}`);
  const all = `${servers.length}/${servers.length}`;
  step(`cluster up: ${servers.join(', ')} at ${client.url}`);

  // ---- the workspace ----
  mkdirSync(workspace, { recursive: true });
  writeFileSync(
    join(workspace, '.zato.yaml'),
    `# The cluster this workspace deploys to (same keys as zato-client.yaml).\nurl: ${client.url}\nusername: ${client.username}\npassword: ${JSON.stringify(client.password)}\n`,
  );
  writeFileSync(join(workspace, moduleName), source('hello v1'));

  // ---- VS Code ----
  mkdirSync(join(userData, 'User'), { recursive: true });
  writeFileSync(
    join(userData, 'User', 'settings.json'),
    JSON.stringify(
      {
        'workbench.startupEditor': 'none',
        'workbench.tips.enabled': false,
        'workbench.enableExperiments': false,
        'workbench.welcomePage.walkthroughs.openOnInstall': false,
        'security.workspace.trust.enabled': false,
        'telemetry.telemetryLevel': 'off',
        'update.mode': 'none',
        'extensions.autoCheckUpdates': false,
        'extensions.autoUpdate': false,
        'extensions.ignoreRecommendations': true,
        'chat.commandCenter.enabled': false,
        'editor.minimap.enabled': false,
        'editor.autoClosingBrackets': 'never',
        'editor.autoClosingQuotes': 'never',
        'editor.autoIndent': 'none',
        'editor.formatOnType': false,
        'editor.quickSuggestions': { other: false, comments: false, strings: false },
        'editor.suggestOnTriggerCharacters': false,
        'editor.acceptSuggestionOnEnter': 'off',
        'files.autoSave': 'off',
        'window.commandCenter': false,
        // ZATO_E2E_TRACE=1 puts every LSP message into the Zato log (copied to the artefacts).
        ...(process.env.ZATO_E2E_TRACE === '1' ? { 'zato.trace.server': 'verbose' } : {}),
      },
      null,
      2,
    ),
  );
  writeFileSync(csConfig, 'auth: none\ncert: false\n');
  const csEnv = {
    ...process.env,
    XDG_CONFIG_HOME: join(tmp, 'xdg-config'),
    XDG_DATA_HOME: join(tmp, 'xdg-data'),
    XDG_CACHE_HOME: join(tmp, 'xdg-cache'),
    // Step 8 saves a file while a restart is held this long: no language server runs meanwhile.
    ZATO_VSCODE_TEST_RESTART_HOLD_MS: '3000',
    // The language server must find no zato on the PATH: the one in the .vsix has to work.
    PATH: process.env.PATH.split(':').filter((p) => !existsSync(join(p, 'zato'))).join(':'),
  };
  const common = ['--config', csConfig, '--user-data-dir', userData, '--extensions-dir', extensionsDir];

  step(`install ${vsix}`);
  const inst = await execFileP(process.execPath, [codeServer, ...common, '--force', '--install-extension', vsix], {
    env: csEnv,
    timeout: 120000,
  });
  assert.match(inst.stdout + inst.stderr, /was successfully installed/, inst.stdout + inst.stderr);

  const csPort = await freePorts(1);
  step(`start code-server on port ${csPort}`);
  codeServerProc = spawn(
    process.execPath,
    [
      codeServer,
      ...common,
      '--bind-addr', `127.0.0.1:${csPort}`,
      '--auth', 'none',
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      '--ignore-last-opened',
      workspace,
    ],
    { env: csEnv, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  codeServerProc.stdout.on('data', (d) => (codeServerLog += d));
  codeServerProc.stderr.on('data', (d) => (codeServerLog += d));
  const exited = new Promise((_, rej) =>
    codeServerProc.once('exit', (code) => rej(new Error(`code-server exited (${code}):\n${codeServerLog}`))),
  );
  exited.catch(() => {});
  await Promise.race([waitHttp(`http://127.0.0.1:${csPort}/healthz`, 60000), exited]);

  // ---- the browser ----
  const profile = join(tmp, 'chromium');
  context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
    viewport: { width: 1280, height: 800 },
  });
  context.setDefaultTimeout(timeout);
  const page = context.pages()[0] || (await context.newPage());
  const pageErrors = [];
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  const shot = async (name, opts = {}) => {
    const p = join(artifacts, name);
    await page.screenshot({ path: p, ...opts });
    step(`screenshot ${p}`);
    return p;
  };

  step('open the workspace');
  await page.goto(`http://127.0.0.1:${csPort}/?folder=${encodeURIComponent(workspace)}`);
  await page.locator('.monaco-workbench').waitFor();
  await page.locator('.explorer-folders-view, .part.sidebar').first().waitFor();

  // The status bar item is there once the extension activated (workspaceContains:.zato.yaml); its accessible label
  // is "Zato" once the language server runs ("Zato: starting" before).
  const item = page.locator('.statusbar-item').filter({ has: page.locator('a[aria-label^="Zato"]') });
  const label = item.locator('a').first();
  step('wait for the extension and its language server');
  await item.waitFor();
  const shownAt = Date.now();
  await waitLabel(page, 'Zato', 60000);
  // The server no longer waits for secret storage (code-server took ~3 s to answer it).
  step(`language server running ${Date.now() - shownAt} ms after the status bar item appeared`);
  assert.equal((await label.innerText()).trim(), 'Zato');
  assert.equal(await item.locator('.codicon-zap').count(), 1, 'idle item shows $(zap)');

  step(`open ${moduleName}`);
  await openModule(page);
  const editor = page.locator('.editor-instance .monaco-editor').first();
  await waitLine(page, "self.response.payload = {'greeting': 'hello v1'}");
  // The language server's code lens over the Service class shows the server got the document.
  await editor.locator('.codelens-decoration', { hasText: 'Deploy to Zato' }).first().waitFor();
  await shot('01-opened.png');

  // ---- 1. edit and save: 2/2 ----
  step('edit and save the module');
  await replaceLine(page, PAYLOAD_LINE, "self.response.payload = {'greeting': 'hello v2'}");
  await waitLine(page, "self.response.payload = {'greeting': 'hello v2'}");
  const savedAt = Date.now();
  await page.keyboard.press('Control+S');
  const confirmed = await waitLabel(page, `Zato: ${moduleName} ${all}`, timeout);
  const confirmMs = confirmed - savedAt;
  step(`status bar: "${await label.innerText()}" ${confirmMs} ms after the save`);
  assert.equal((await label.innerText()).trim(), `Zato: ${moduleName} ${all}`);
  assert.equal(await item.locator('.codicon-check').count(), 1, 'confirmed item shows $(check)');
  assert.ok(confirmMs <= confirmBudget, `both servers confirmed in ${confirmMs} ms, budget ${confirmBudget} ms`);
  // The code lens over the class shows the last result too (the language server asks VS Code to refresh it).
  await editor.locator('.codelens-decoration', { hasText: `Deployed ${all} ·` }).first().waitFor();
  await shot('02-deployed-2of2.png');

  for (const s of servers) {
    const out = await zato('invoke', service, '--server', s);
    step(`${s} answers: ${out.trim()}`);
    assert.match(out, /hello v2/, `${s} runs the saved code`);
  }

  // The status bar picture for the README: the item with its tooltip.
  await item.hover();
  const hover = page.locator('.workbench-hover, .monaco-hover').filter({ hasText: 'server1' }).first();
  await hover.waitFor();
  await shot('03-status-tooltip.png');
  const ib = await item.boundingBox();
  const hb = await hover.boundingBox();
  const vp = page.viewportSize();
  const x = Math.max(0, Math.min(ib.x, hb.x) - 8);
  const y = Math.max(0, Math.min(ib.y, hb.y) - 8);
  const clip = {
    x,
    y,
    width: Math.min(vp.width - x, Math.max(ib.x + ib.width, hb.x + hb.width) + 8 - x),
    height: Math.min(vp.height - y, Math.max(ib.y + ib.height, hb.y + hb.height) - y),
  };
  const crop = await shot('status-bar.png', { clip });
  if (process.env.ZATO_UPDATE_IMAGES === '1') {
    copyFileSync(crop, join(extDir, 'images', 'status-bar.png'));
    step('updated images/status-bar.png');
  }
  await page.mouse.move(vp.width / 2, vp.height / 3);
  await hover.waitFor({ state: 'hidden' });

  // ---- 2. a syntax error: failed, and in the Problems panel at its line ----
  step(`save a syntax error at line ${HANDLE_LINE}`);
  await editor.click({ position: { x: 300, y: 5 } });
  await replaceLine(page, HANDLE_LINE, 'def handle(self)');
  await waitLine(page, 'def handle(self)');
  await page.keyboard.press('Control+S');
  await waitLabel(page, `Zato: ${moduleName} failed`, timeout);
  assert.equal(await item.locator('.codicon-error').count(), 1, 'failed item shows $(error)');
  const bg = await item.evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.notEqual(bg, 'rgba(0, 0, 0, 0)', `failed item has the error background (got ${bg})`);

  await page.keyboard.press('Control+Shift+M');
  const markers = page.locator('.markers-panel');
  await markers.waitFor();
  const row = markers.locator('.monaco-list-row', { hasText: `[Ln ${HANDLE_LINE},` }).first();
  await row.waitFor();
  const rowText = (await row.innerText()).replace(/\s+/g, ' ');
  step(`Problems: ${rowText}`);
  assert.match(rowText, /SyntaxError|expected|invalid syntax/i, 'the diagnostic is the syntax error');
  assert.match(rowText, new RegExp(`\\[Ln ${HANDLE_LINE}, Col \\d+\\]`));
  // the editor underlines it too
  await editor.locator('.squiggly-error').first().waitFor();
  await shot('04-syntax-error-problems.png');
  // VS Code drops code lens refreshes while the editor has no focus (the Problems panel has it now) and asks again
  // when it gets it back.
  await editor.click({ position: { x: 300, y: 5 } });
  await editor.locator('.codelens-decoration', { hasText: 'Failed on server1, server2' }).first().waitFor();

  // The services still answer with the last good code.
  for (const s of servers) assert.match(await zato('invoke', service, '--server', s), /hello v2/);

  // ---- 3. fix it: 2/2 again, Problems empty ----
  step('fix the error and save');
  await editor.click({ position: { x: 300, y: 5 } });
  await replaceLine(page, HANDLE_LINE, 'def handle(self):');
  await waitLine(page, 'def handle(self):');
  await page.keyboard.press('Control+S');
  await waitLabel(page, `Zato: ${moduleName} ${all}`, timeout);
  await markers.locator('.monaco-list-row', { hasText: `[Ln ${HANDLE_LINE},` }).waitFor({ state: 'detached' });
  await markers.getByText('No problems have been detected in the workspace.').waitFor();
  await editor.locator('.codelens-decoration', { hasText: `Deployed ${all} ·` }).first().waitFor();
  assert.equal(await editor.locator('.codelens-decoration', { hasText: 'Failed on' }).count(), 0, 'the failed lens is gone');
  await shot('05-fixed.png');

  // ---- 4. Set Password: never over .zato.yaml's password; for this server and user only ----
  step('Zato: Set Password while .zato.yaml gives the password: refused');
  await runCommand(page, 'Zato: Set Password');
  await page.locator('.notification-toast', { hasText: 'gets its password from its configuration' }).first().waitFor();
  await runCommand(page, 'Notifications: Clear All Notifications');
  const yamlPath = join(workspace, '.zato.yaml');
  const yamlWithPassword = readFileSync(yamlPath, 'utf8');
  step('take the password out of .zato.yaml; Zato: Set Password (a wrong one), then the key binding');
  writeFileSync(yamlPath, yamlWithPassword.replace(/^password: .*\n/m, ''));
  const pw = page.locator('.quick-input-widget input[type="password"]');
  const setPassword = async (value, outcome) => {
    // The language server reads the new .zato.yaml on its own: until it has, Set Password still refuses.
    for (let i = 0; ; i++) {
      await runCommand(page, 'Zato: Set Password');
      // The loser of the race times out later: its rejection is caught.
      const which = await Promise.race([
        pw.waitFor().then(() => 'input', () => 'timeout'),
        page.locator('.notification-toast', { hasText: 'gets its password from its configuration' }).first().waitFor().then(() => 'refused', () => 'timeout'),
      ]);
      assert.notEqual(which, 'timeout', 'Set Password showed neither its input nor why not');
      if (which === 'input') break;
      assert.ok(i < 20, 'Set Password kept refusing after the password was taken out of .zato.yaml');
      await runCommand(page, 'Notifications: Clear All Notifications');
    }
    assert.match(await page.locator('.quick-input-widget').innerText(), new RegExp(`password of ${client.username} at http`));
    await pw.fill(value);
    await page.keyboard.press('Enter');
    await page.locator('.statusbar-item', { hasText: `password of ${client.username} at` }).filter({ hasText: outcome }).first().waitFor();
  };
  // With no password the status bar says so from the start, before any save (zato/serverStatus).
  await waitLabel(page, 'Zato: no password', timeout);
  await setPassword('not-the-password', 'saved');
  await editor.click({ position: { x: 300, y: 5 } });
  await page.keyboard.press(DEPLOY_KEY);
  await waitLabel(page, `Zato: ${moduleName} unauthorized`, timeout);
  await shot('06-unauthorized.png');

  // ---- 5. the right password, change the code without saving and use the editor title button: the buffer goes live ----
  step('Zato: Set Password (the right one), edit without saving, click Deploy Current File in the editor title');
  await setPassword(client.password, 'saved');
  await editor.click({ position: { x: 300, y: 5 } });
  await replaceLine(page, PAYLOAD_LINE, "self.response.payload = {'greeting': 'hello v3'}");
  await waitLine(page, "self.response.payload = {'greeting': 'hello v3'}");
  const button = page.locator('.editor-actions .action-label[aria-label^="Deploy Current File"]');
  await button.click();
  await waitLabel(page, `Zato: ${moduleName} ${all}`, timeout);
  for (const s of servers) {
    const out = await zato('invoke', service, '--server', s);
    assert.match(out, /hello v3/, `${s} runs the code deployed with the button`);
  }
  await shot('07-deployed-with-button.png');
  step('forget the password: the status bar says there is none; put it back in .zato.yaml: all well again');
  await setPassword('', 'forgotten');
  await waitLabel(page, 'Zato: no password', timeout);
  assert.equal(await item.locator('.codicon-warning').count(), 1, 'no password is a warning');
  writeFileSync(yamlPath, yamlWithPassword);
  await waitLabel(page, `Zato: ${moduleName} ${all}`, timeout);

  // ---- 6. the Invoke code lens: the answer in a read-only document beside the module ----
  step('click the Invoke code lens');
  await editor.click({ position: { x: 300, y: 5 } });
  const invokeLens = editor.locator('.codelens-decoration a', { hasText: /^Invoke$/ }).first();
  await invokeLens.waitFor();
  const invokedAt = Date.now();
  await invokeLens.click();
  await page.locator(`.tab[data-resource-name="${service}.jsonc"], .tab[aria-label*="${service}.jsonc"]`).first().waitFor();
  await waitLine(page, '"greeting": "hello v3"');
  const title = new RegExp(`^// ${service.replace(/[.]/g, '\\.')} on server\\d: 200 OK in [0-9.]+ ms$`);
  await page.waitForFunction(
    (re) => [...document.querySelectorAll('.editor-instance .monaco-editor .view-line')].some((el) =>
      new RegExp(re).test(el.textContent.replace(/\u00a0/g, ' ').trim())),
    title.source,
    { timeout, polling: 'raf' },
  );
  step(`the answer is shown ${Date.now() - invokedAt} ms after the click`);
  assert.ok(existsSync(join(workspace, '.zato', 'requests', `${service}.json`)), 'the request file was created');
  assert.equal(readFileSync(join(workspace, '.zato', 'requests', `${service}.json`), 'utf8'), '{}\n', 'no SimpleIO: an empty request');
  const invokeShot = await shot('08-invoke-response.png');
  if (process.env.ZATO_UPDATE_IMAGES === '1') {
    copyFileSync(invokeShot, join(extDir, 'images', 'invoke.png'));
    step('updated images/invoke.png');
  }

  // ---- 7. a conflict: a colleague deploys between two saves; Show Diff, then Deploy Anyway ----
  step('a colleague deploys another version with the CLI, then the module is saved: conflict');
  const theirs = join(tmp, 'colleague', moduleName);
  mkdirSync(dirname(theirs), { recursive: true });
  writeFileSync(theirs, source('hello from a colleague'));
  await zato('deploy', theirs, '--force');
  // One editor and no old notifications: the diff gets the whole width, the prompt is the only toast. The module's
  // buffer still holds the unsaved edit that step 5 deployed: revert it, so that closing asks nothing.
  await openModule(page);
  await runCommand(page, 'File: Revert File');
  await runCommand(page, 'View: Close All Editors');
  await runCommand(page, 'Notifications: Clear All Notifications');
  await openModule(page);
  await replaceLine(page, PAYLOAD_LINE, "self.response.payload = {'greeting': 'hello v4'}");
  await waitLine(page, "self.response.payload = {'greeting': 'hello v4'}");
  await page.keyboard.press('Control+S');
  await waitLabel(page, `Zato: ${moduleName} conflict`, timeout);
  for (const s of servers) assert.match(await zato('invoke', service, '--server', s), /hello from a colleague/, `${s} keeps the colleague's version`);
  const showDiff = page.locator('.notification-toast').getByRole('button', { name: 'Show Diff' });
  await showDiff.waitFor();
  const toast = (await page.locator('.notification-toast', { hasText: 'not deployed' }).first().innerText()).replace(/\s+/g, ' ');
  step(`prompt: ${toast}`);
  assert.match(toast, /deployed by \S+ \(cli\) at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC/, 'the prompt names who deployed which version when');
  await showDiff.click();
  const diff = page.locator('.monaco-diff-editor').first();
  await diff.waitFor();
  const sideHas = (side, text) =>
    page.waitForFunction(
      ([sel, t]) => [...document.querySelectorAll(`.monaco-diff-editor ${sel} .view-line`)].some((el) => el.textContent.replace(/\u00a0/g, ' ').includes(t)),
      [side, text],
      { timeout, polling: 'raf' },
    );
  await sideHas('.editor.original', "'hello from a colleague'");
  await sideHas('.editor.modified', "'hello v4'");
  const diffTab = (await page.locator('.tab.active').first().innerText()).replace(/\s+/g, ' ');
  step(`diff: ${diffTab}`);
  assert.match(diffTab, /cluster version \d+/, 'the diff is titled with the cluster version');
  const conflictShot = await shot('09-conflict-diff.png');
  if (process.env.ZATO_UPDATE_IMAGES === '1') {
    copyFileSync(conflictShot, join(extDir, 'images', 'conflict-diff.png'));
    step('updated images/conflict-diff.png');
  }

  step('Deploy Current File again: conflict again; Deploy Anyway');
  await runCommand(page, 'View: Close All Editors');
  await openModule(page);
  // The shortcut works only with the keyboard in the editor (editorTextFocus): put it there, or the key is lost.
  await page.locator('.editor-instance .monaco-editor .view-lines').first().click();
  await page.waitForFunction(() => !!document.activeElement?.closest('.monaco-editor .inputarea, .monaco-editor textarea, .monaco-editor .native-edit-context'), null, { timeout });
  await page.keyboard.press(DEPLOY_KEY);
  const anyway = page.locator('.notification-toast').getByRole('button', { name: 'Deploy Anyway' });
  await anyway.waitFor();
  await anyway.click();
  await waitLabel(page, `Zato: ${moduleName} ${all}`, timeout);
  for (const s of servers) assert.match(await zato('invoke', service, '--server', s), /hello v4/, `${s} runs the version deployed anyway`);

  // ---- 8. Zato: Restart Language Server, and a save made while it starts is deployed once it runs ----
  step('Zato: Restart Language Server, then save while it starts');
  await replaceLine(page, PAYLOAD_LINE, "self.response.payload = {'greeting': 'hello v5'}");
  await waitLine(page, "self.response.payload = {'greeting': 'hello v5'}");
  await runCommand(page, 'Zato: Restart Language Server');
  await waitLabel(page, 'Zato: starting', timeout);
  await page.keyboard.press('Control+S');
  const atSave = await label.getAttribute('aria-label');
  step(`saved while the status bar read "${atSave}"`);
  await waitLabel(page, `Zato: ${moduleName} ${all}`, timeout);
  for (const s of servers) assert.match(await zato('invoke', service, '--server', s), /hello v5/, `${s} runs the save made during the restart`);
  // It was deployed by the extension's replay, not by a didSave of a running server.
  const zatoLog = findFiles(join(userData, 'logs'), 'Zato.log').map((f) => readFileSync(f, 'utf8')).join('\n');
  assert.match(zatoLog, /vscode_greet\.py saved while the language server starts/, 'the save was made while no server ran');
  assert.match(zatoLog, /Deploying .*vscode_greet\.py, saved while the language server started/, 'and was sent once it ran');

  // ---- 8b. the language server killed: the extension restarts it, and its log gets no bare "false" line ----
  step('kill the language server (SIGKILL): the extension restarts it');
  const [killed] = await lspPids();
  assert.ok(killed, 'a zato lsp runs from the installed extension');
  process.kill(killed, 'SIGKILL');
  await until(async () => {
    const now = await lspPids();
    return now.length === 1 && now[0] !== killed;
  }, 'a new zato lsp');
  await page.locator('.statusbar-item a[aria-label^="Zato"]').first().waitFor();
  await waitLabel(page, `Zato: ${moduleName} ${all}`, timeout);
  const restartLog = findFiles(join(userData, 'logs'), 'Zato.log').map((f) => readFileSync(f, 'utf8')).join('\n');
  assert.match(restartLog, /The Zato language server stopped; restarting it/, 'the restart is logged');
  assert.doesNotMatch(restartLog, /\[info\] (false|true)\s*$/m, 'no bare "false" line in the log');

  // ---- 9. service-aware editing: the unknown-name warning, hover, completion ----
  await serviceAwareSteps({ page, step, shot, runCommand, workspace, service, extDir, timeout });

  // ---- 9. the cluster view: servers, modules with version, who, origin and each server's row; live; actions ----
  step('open the Zato Cluster view');
  await runCommand(page, 'View: Close All Editors');
  await runCommand(page, 'Focus on Zato Cluster View');
  const pane = page.locator('.pane').filter({ has: page.locator('.pane-header', { hasText: /Zato Cluster/i }) }).first();
  // Room for the view: the panel closed and the folder's pane folded (the tree draws only the rows it shows).
  await runCommand(page, 'View: Hide Panel');
  await page.locator('.part.panel').waitFor({ state: 'hidden' });
  const folderPane = page.locator('.pane').filter({ has: page.locator('.pane-header[aria-expanded="true"]', { hasText: /^\s*workspace/i }) }).first();
  if (await folderPane.count()) await folderPane.locator('.pane-header').first().click();
  const treeRow = (text) => pane.locator('.monaco-list-row').filter({ hasText: text }).first();
  for (const s of servers) {
    const r = treeRow(new RegExp(`^\\s*${s}\\s*live\\s*$`));
    await r.waitFor();
  }
  const modRow = treeRow(moduleName);
  await modRow.waitFor();
  const modText = (await modRow.innerText()).replace(/\s+/g, ' ').trim();
  step(`cluster view: ${modText}`);
  assert.match(modText, new RegExp(`${moduleName.replace('.', '\\.')}\\s*v\\d+ · ${client.username} \\(ide\\)`), 'the module with its version, who and origin');
  // Its servers' rows under it.
  await modRow.locator('.monaco-tl-twistie').click();
  const rowsOfModule = pane.locator('.monaco-list-row[aria-level="3"]');
  for (const s of servers) await rowsOfModule.filter({ hasText: new RegExp(`^\\s*${s}\\s*deployed\\s*$`) }).first().waitFor();
  assert.equal(await rowsOfModule.count(), servers.length, 'one row per server under the module');

  // Live: a module a colleague deploys with the CLI shows up without a refresh.
  step('a colleague deploys another module with the CLI: the view shows it');
  const otherModule = 'vscode_colleague.py';
  const otherFile = join(tmp, 'colleague', otherModule);
  writeFileSync(otherFile, source('from the CLI').replace(service, 'vscode-colleague.greet'));
  await zato('deploy', otherFile);
  const otherRow = treeRow(otherModule);
  await otherRow.waitFor();
  assert.match((await otherRow.innerText()).replace(/\s+/g, ' '), /v1 · \S+ \(cli\)/, 'the colleague\'s module: v1 by the CLI');
  // The view says how it follows the cluster: live, over the cluster's event stream.
  await pane.locator('.pane-header .description').filter({ hasText: /^\s*live\s*$/ }).first().waitFor();
  step('the view\'s header says it is live');
  // Room for the rows' descriptions (version, who, origin) in the picture: a wider side bar.
  const narrow = (await page.locator('.part.sidebar').boundingBox())?.width ?? 0;
  for (let i = 0; i < 3; i++) await runCommand(page, 'Increase Current View Size');
  await page.waitForFunction((w) => document.querySelector('.part.sidebar').getBoundingClientRect().width > w, narrow, { timeout });
  await pane.locator('.pane-body').hover();
  const viewShot = join(artifacts, '10-cluster-view.png');
  await page.locator('.part.sidebar').screenshot({ path: viewShot });
  step(`screenshot ${viewShot}`);
  if (process.env.ZATO_UPDATE_IMAGES === '1') {
    copyFileSync(viewShot, join(extDir, 'images', 'cluster-view.png'));
    step('updated images/cluster-view.png');
  }

  // Open Deployed Source (the module row's inline button): the cluster's version, read-only.
  step('Open Deployed Source from the view');
  await modRow.hover();
  await modRow.locator('.action-label[aria-label="Open Deployed Source"]').click();
  await waitLine(page, "self.response.payload = {'greeting': 'hello v5'}");
  const srcTab = (await page.locator('.tab.active').first().getAttribute('aria-label')) ?? '';
  step(`deployed source tab: ${srcTab}`);
  assert.match(srcTab, new RegExp(`^${moduleName.replace('.', '\\.')} \\(v\\d+, default\\)`), 'the tab names the version and the target, not only the file');
  await shot('11-deployed-source.png');

  // Undeploy the colleague's module from its context menu, confirming the dialog: the view says undeployed.
  step('Undeploy the colleague\'s module from the view');
  await otherRow.click({ button: 'right' });
  // Hovering an item of a context menu focuses it and Enter runs it: a click on the item was lost now and then while
  // the menu settled.
  const undeployItem = page.locator('.context-view .action-label', { hasText: 'Undeploy…' }).first();
  await undeployItem.hover();
  await page.locator('.context-view .action-item.focused', { hasText: 'Undeploy…' }).first().waitFor();
  await page.keyboard.press('Enter');
  const dialog = page.locator('.monaco-dialog-box');
  await dialog.waitFor();
  assert.match(await dialog.innerText(), /Undeploy vscode_colleague\.py from every server/);
  await dialog.getByRole('button', { name: 'Undeploy' }).click();
  await page.waitForFunction(
    (m) => [...document.querySelectorAll('.pane .monaco-list-row')].some((el) => el.textContent.includes(m) && el.textContent.includes('undeployed')),
    otherModule,
    { timeout, polling: 'raf' },
  );
  await page.locator('.notification-toast', { hasText: `${otherModule}: undeployed from every server (${all})` }).first().waitFor();
  await assert.rejects(zato('invoke', 'vscode-colleague.greet', '--server', servers[0]), 'the undeployed service no longer answers');
  await shot('12-undeployed.png');

  // The deployment log was never forced open: no Output view is showing.
  assert.equal(await page.locator('.part.panel .output-view').isVisible(), false, 'the deployment log stays closed');

  // ---- 12. zato.serverPath naming a binary that is not zato: one message, naming it, with Open Settings ----
  step('zato.serverPath = /bin/false: one message naming it, with Open Settings');
  await runCommand(page, 'Notifications: Clear All Notifications');
  // In the workspace's settings: code-server takes a machine-overridable setting from there, not from the user's.
  mkdirSync(join(workspace, '.vscode'), { recursive: true });
  writeFileSync(join(workspace, '.vscode', 'settings.json'), JSON.stringify({ 'zato.serverPath': '/bin/false' }, null, 2));
  const failure = page.locator('.notification-toast', { hasText: '/bin/false' }).first();
  await failure.waitFor();
  const failureText = (await failure.innerText()).replace(/\s+/g, ' ');
  step(`message: ${failureText}`);
  assert.match(failureText, /\/bin\/false \(zato\.serverPath\) exited \(exit code 1\) before it answered/);
  await failure.getByRole('button', { name: 'Open Settings' }).waitFor();
  await waitLabel(page, 'Zato: server stopped', timeout);
  const toasts = (await page.locator('.notification-toast').allInnerTexts()).map((t) => t.replace(/\s+/g, ' '));
  assert.deepEqual(toasts.filter((t) => /EPIPE|couldn't create connection|Connection to server/i.test(t)), [], `no toast of the client library: ${toasts}`);
  assert.equal(toasts.filter((t) => /zato/i.test(t)).length, 1, `one message: ${toasts}`);
  await shot('13-not-zato.png');

  assert.deepEqual(pageErrors.filter((e) => /zato/i.test(e)), [], 'no page errors about Zato');
  step(`passed: save -> ${all} in ${confirmMs} ms`);
} catch (err) {
  failed = true;
  console.error(err);
  if (context) {
    for (const p of context.pages()) {
      await p.screenshot({ path: join(artifacts, 'failure.png') }).catch(() => {});
    }
  }
  process.exitCode = 1;
} finally {
  await context?.close().catch(() => {});
  if (codeServerProc && codeServerProc.exitCode === null) {
    const gone = new Promise((r) => codeServerProc.once('exit', r));
    try {
      process.kill(-codeServerProc.pid, 'SIGTERM');
    } catch {}
    await Promise.race([gone, new Promise((r) => setTimeout(r, 5000).unref())]);
    try {
      process.kill(-codeServerProc.pid, 'SIGKILL');
    } catch {}
  }
  writeFileSync(join(artifacts, 'code-server.log'), codeServerLog);
  if (existsSync(join(userData, 'logs'))) cpSync(join(userData, 'logs'), join(artifacts, 'vscode-logs'), { recursive: true });
  if (clusterStarted) {
    for (const s of ['server1', 'server2']) {
      const l = join(envDir, s, 'logs', 'server.log');
      if (existsSync(l)) copyFileSync(l, join(artifacts, `${s}.log`));
    }
    await zato('stop', envDir).catch((e) => console.error(`zato stop: ${e}`));
  }
  if (!keep && !failed) rmSync(tmp, { recursive: true, force: true });
  else console.log(`kept ${tmp}`);
  console.log(`artefacts in ${artifacts}`);
}

// waitLabel waits until the Zato status bar item's accessible label is `want` and returns when (Date.now()).
async function waitLabel(page, want, ms) {
  try {
    await page.waitForFunction(
      (w) => [...document.querySelectorAll('.statusbar-item a[aria-label^="Zato"]')].some((el) => el.getAttribute('aria-label') === w),
      want,
      { timeout: ms, polling: 'raf' },
    );
  } catch (err) {
    const now = await page
      .locator('.statusbar-item a[aria-label^="Zato"]')
      .first()
      .getAttribute('aria-label', { timeout: 1000 })
      .catch(() => '?');
    throw new Error(`status bar never showed "${want}" (it shows "${now}"): ${err.message}`);
  }
  return Date.now();
}

// lspPids lists the zato lsp processes of the extension this test installed (their command is its bundled zato).
async function lspPids() {
  const { stdout } = await execFileP('ps', ['-eo', 'pid=,args=']);
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.includes(extensionsDir) && / lsp$/.test(l))
    .map((l) => Number(l.split(/\s+/)[0]));
}

// until polls cond (a process table has no event to wait on) until it holds, for at most the UI timeout.
async function until(cond, what) {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

// findFiles lists the files named name under dir.
function findFiles(dir, name) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...findFiles(p, name));
    else if (e.name === name) out.push(p);
  }
  return out;
}

// openModule opens the module with Quick Open (or brings its editor forward).
async function openModule(page) {
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  await input.fill(moduleName);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: moduleName }).first().waitFor();
  await page.keyboard.press('Enter');
  await input.waitFor({ state: 'hidden' });
  await page.locator(`.tab.active[data-resource-name="${moduleName}"], .tab.active[aria-label*="${moduleName}"]`).first().waitFor();
}

// runCommand runs a command from the command palette by its title.
async function runCommand(page, title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  await input.fill(`>${title}`);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor();
  await page.keyboard.press('Enter');
}

// waitLine waits until a line of the editor reads text (indentation aside).
async function waitLine(page, text) {
  await page.waitForFunction(
    (t) =>
      [...document.querySelectorAll('.editor-instance .monaco-editor .view-line')].some(
        (el) => el.textContent.replace(/\u00a0/g, ' ').trim() === t,
      ),
    text,
    { timeout, polling: 'raf' },
  );
}

// replaceLine puts text in place of a line's content after its indentation (Ctrl+G, Home, Shift+End, type).
async function replaceLine(page, line, text) {
  await page.keyboard.press('Control+G');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  await input.fill(`:${line}`);
  await page.keyboard.press('Enter');
  await input.waitFor({ state: 'hidden' });
  await page.keyboard.press('End');
  await page.keyboard.press('Shift+Home');
  await page.keyboard.insertText(text);
}
