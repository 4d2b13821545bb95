// Service-aware editing in VS Code (issue 14 item 3), a step of vscode.e2e.mjs: in a module that invokes services by
// name, completion of a service name inside self.invoke('…'), hover on such a name, and the warning on a name no
// server serves. Each ends in a screenshot (images/completion.png, hover.png, unknown-service.png with
// ZATO_UPDATE_IMAGES=1). Everything waits on selectors; nothing sleeps.

import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const callerModule = 'vscode_caller.py';

// Lines (1-based): 6 invokes the test's service, 7 a name no server serves, 8 an empty name to complete.
const COMPLETE_LINE = 8;
const caller = (known, unknown) => `from zato.server.service import Service


class Caller(Service):
    def handle(self):
        self.invoke('${known}')
        self.invoke('${unknown}')
        self.invoke('')
`;

// serviceAwareSteps runs the three steps. ctx: page, step, shot(name) -> path, runCommand(page, title), workspace,
// service (a service the cluster serves), extDir, timeout.
export async function serviceAwareSteps({ page, step, shot, runCommand, workspace, service, extDir, timeout }) {
  const unknown = `${service.split('.')[0]}.farewell`;
  const prefix = service.slice(0, service.indexOf('-') + 2); // "vscode-g"
  const keep = async (name, path) => {
    if (process.env.ZATO_UPDATE_IMAGES === '1') {
      copyFileSync(path, join(extDir, 'images', name));
      step(`updated images/${name}`);
    }
  };

  step(`open ${callerModule}, which invokes ${service} and ${unknown}`);
  writeFileSync(join(workspace, callerModule), caller(service, unknown));
  await runCommand(page, 'View: Close All Editors');
  await runCommand(page, 'Notifications: Clear All Notifications');
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  // The absolute path: Quick Open finds a file by path at once, while its search of the workspace may not have seen
  // a file this new yet.
  await input.fill(join(workspace, callerModule));
  await page.locator('.quick-input-list .monaco-list-row', { hasText: callerModule }).first().waitFor();
  await page.keyboard.press('Enter');
  await input.waitFor({ state: 'hidden' });
  const editor = page.locator('.editor-instance .monaco-editor').first();
  const lineOf = (text) =>
    editor.locator('.view-line').filter({ hasText: text }).first();
  await lineOf(`self.invoke('${unknown}')`).waitFor();

  // ---- the warning: a name no server serves is underlined; hover says why ----
  step('the warning on a name no server serves');
  await editor.locator('.squiggly-warning').first().waitFor({ timeout });
  const hoverBox = page.locator('.monaco-hover:not(.hidden)').first();
  const hoverOver = async (text) => {
    const span = lineOf(`self.invoke('${text}')`).locator('span span', { hasText: text }).last();
    await span.hover();
    return span;
  };
  await hoverOver(unknown);
  await page.locator('.monaco-hover:not(.hidden)', { hasText: `serves a service named "${unknown}"` }).first().waitFor({ timeout });
  await page.locator('.monaco-hover:not(.hidden)', { hasText: 'No server of target' }).first().waitFor({ timeout });
  await keep('unknown-service.png', await shot('10-unknown-service.png'));
  await page.mouse.move(1200, 700);
  await hoverBox.waitFor({ state: 'hidden' });

  // ---- hover on a served name: module, class, servers, SimpleIO ----
  step(`hover on ${service}`);
  await hoverOver(service);
  const served = page.locator('.monaco-hover:not(.hidden)', { hasText: `Zato service ${service}` }).first();
  await served.waitFor({ timeout });
  const text = (await served.innerText()).replace(/\s+/g, ' ');
  step(`hover: ${text}`);
  if (!/served by server1, server2/.test(text)) throw new Error(`the hover does not name both servers: ${text}`);
  await keep('hover.png', await shot('11-hover.png'));
  await page.mouse.move(1200, 700);
  await hoverBox.waitFor({ state: 'hidden' });

  // ---- completion inside self.invoke('') ----
  step(`complete "${prefix}" inside self.invoke('')`);
  await page.keyboard.press('Control+G');
  await input.waitFor();
  await input.fill(`:${COMPLETE_LINE}`);
  await page.keyboard.press('Enter');
  await input.waitFor({ state: 'hidden' });
  await page.keyboard.press('End');
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.press('ArrowLeft');
  await page.keyboard.type(prefix);
  await page.keyboard.press('Control+Space');
  const row = page.locator('.suggest-widget .monaco-list-row', { hasText: service }).first();
  await row.waitFor({ timeout });
  step(`suggestion: ${(await row.innerText()).replace(/\s+/g, ' ')}`);
  await keep('completion.png', await shot('12-completion.png'));
  await page.keyboard.press('Escape');
  await row.waitFor({ state: 'hidden' });
  // Leave the file as it was: nothing of this is saved (a save would deploy it).
  await runCommand(page, 'File: Revert File');
  await lineOf("self.invoke('')").waitFor();
}
