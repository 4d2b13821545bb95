// The extension manifest (package.json) and Marketplace README contract: engine, entry point, activation,
// settings, commands, key binding and menus, and that the README documents all of them.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

import { describe, expect, it } from 'vitest';

import { clusterDocumentUri, parseClusterUri } from '../src/clusterModel';

const root = resolve(__dirname, '..');
const read = (p: string) => readFileSync(join(root, p), 'utf8');

interface Command {
  command: string;
  title: string;
  category?: string;
}
interface Keybinding {
  command: string;
  key: string;
  mac?: string;
  when?: string;
}
interface MenuItem {
  command: string;
  when?: string;
  group?: string;
}
interface Property {
  type?: string | string[];
  enum?: unknown[];
  enumDescriptions?: string[];
  properties?: Record<string, Property>;
  additionalProperties?: Property | boolean;
  [k: string]: unknown;
}
interface Manifest {
  engines: { vscode: string };
  main: string;
  activationEvents: string[];
  contributes: {
    commands: Command[];
    keybindings: Keybinding[];
    menus: Record<string, MenuItem[]>;
    configuration: { title?: string; properties: Record<string, Property> } | { properties: Record<string, Property> }[];
  };
}

const pkg = JSON.parse(read('package.json')) as Manifest;
const extensionSource = read('src/extension.ts');
const readme = read('README.md');

const DEPLOY = 'Zato: Deploy Current File';
const COMMAND_TITLES = [
  DEPLOY,
  'Zato: Test Connection',
  'Zato: Toggle Deploy on Save',
  'Zato: Set Password',
  'Zato: Show Deployment Log',
  'Zato: Select Target',
  'Zato: Invoke Service',
  'Zato: Invoke Service with Payload…',
  'Zato: Invoke Service on Every Server',
  'Zato: Restart Language Server',
  'Zato: Refresh Cluster View',
  'Zato: Open Deployed Source',
  'Zato: Show Version History…',
  'Zato: Roll Back…',
  'Zato: Undeploy…',
];
const REQUIRED_SETTINGS = [
  'zato.url',
  'zato.username',
  'zato.deployOnSave',
  'zato.include',
  'zato.exclude',
  'zato.requireMarker',
  'zato.targets',
  'zato.serverPath',
];
// deployclient.New accepts "" (the default, this project's servers), "zato-go" (the same) and "zato".
const CLIENT_KINDS = ['', 'zato-go', 'zato'];

function settings(): Record<string, Property> {
  const c = pkg.contributes.configuration;
  const sections = Array.isArray(c) ? c : [c];
  return Object.assign({}, ...sections.map((s) => s.properties)) as Record<string, Property>;
}

const displayTitle = (c: Command) => (c.category ? `${c.category}: ${c.title}` : c.title);

function commandByTitle(title: string): Command {
  const found = pkg.contributes.commands.filter((c) => displayTitle(c) === title);
  expect(found, `exactly one command titled "${title}"`).toHaveLength(1);
  return found[0]!;
}

/** Command ids registered in src/extension.ts: direct registerCommand('id', …) calls and calls of local
 *  helpers that wrap registerCommand (e.g. `const reg = (id, fn) => …registerCommand(id, fn)`). */
function registeredIds(src: string): Set<string> {
  const ids = new Set<string>();
  const callers = ['registerCommand', 'registerTextEditorCommand'];
  const wrapper = /(?:const|let|function)\s+(\w+)\s*=?\s*\(\s*(\w+)\s*:[^)]*\)[^{;]*?(?:=>)?[\s\S]{0,200}?register(?:TextEditor)?Command\(\s*\2\b/g;
  for (const m of src.matchAll(wrapper)) callers.push(m[1]!);
  for (const name of callers) {
    const call = new RegExp(`\\b${name}\\(\\s*['"\`]([^'"\`]+)['"\`]`, 'g');
    for (const m of src.matchAll(call)) ids.add(m[1]!);
  }
  return ids;
}

describe('package.json manifest', () => {
  it('targets VS Code 1.90 or later', () => {
    expect(pkg.engines.vscode).toMatch(/^\^1\.90(\.0)?$/);
  });

  it('points main at the bundle esbuild writes', () => {
    const outfile = /outfile:\s*['"]([^'"]+)['"]/.exec(read('esbuild.mjs'))?.[1];
    expect(outfile).toBeDefined();
    expect(pkg.main.replace(/^\.\//, '')).toBe(outfile!.replace(/^\.\//, ''));
    expect(pkg.main).toMatch(/^(\.\/)?dist\/extension\.js$/);
  });

  it('activates on Python files and in workspaces with a .zato.yaml', () => {
    expect(pkg.activationEvents).toContain('onLanguage:python');
    expect(pkg.activationEvents.some((e) => /^workspaceContains:(\*\*\/)?\.zato\.yaml$/.test(e))).toBe(true);
  });

  // The language server reads the .zato.yaml (or .zato.yml) at a workspace folder's root only (lsp/config.go):
  // activating on, or starting for, one deeper down left a server running that deployed nothing.
  it('activates and starts only for a .zato.yaml at a workspace folder root, as the language server reads', () => {
    const contains = pkg.activationEvents.filter((e) => e.startsWith('workspaceContains:')).sort();
    expect(contains).toEqual(['workspaceContains:.zato.yaml', 'workspaceContains:.zato.yml']);
    const goConfig = readFileSync(join(root, '..', '..', 'lsp', 'config.go'), 'utf8');
    expect(goConfig).toMatch(/workspaceConfigNames = \[\]string\{"\.zato\.yaml", "\.zato\.yml"\}/);
    // wanted() decides on the folders' roots: a tree search finds nested files only to name them.
    const wanted = /private async wanted\(\)[^{]*\{([\s\S]*?)\n  \}/.exec(extensionSource)?.[1] ?? '';
    expect(wanted).not.toMatch(/hasConfigFile: files\.length > 0/);
    expect(wanted).toMatch(/shouldStart\(\{ hasConfigFile: /);
  });

  it('starts the language server only where there is something to deploy to (shouldStart)', () => {
    // onLanguage:python activates the extension in any Python project; start() asks shouldStart first.
    expect(extensionSource).toMatch(/if \(!\(await this\.wanted\(\)\)\)/);
    expect(extensionSource).toMatch(/shouldStart\(\{ hasConfigFile:/);
  });

  it('does not wait for secret storage before starting the language server', () => {
    const begin = /private async begin\(\): Promise<void> \{([\s\S]*?)\n  \}/.exec(extensionSource)?.[1] ?? '';
    expect(begin).toContain('await this.startClient()');
    expect(begin).not.toMatch(/await this\.loadPasswords\(\)/);
  });

  describe('settings', () => {
    const props = settings();

    it('include the required ones, exactly named', () => {
      for (const s of REQUIRED_SETTINGS) expect(Object.keys(props), s).toContain(s);
    });

    it('all live under the zato. prefix', () => {
      for (const k of Object.keys(props)) expect(k).toMatch(/^zato\.[A-Za-z]/);
    });

    it('have no password setting (the password lives in SecretStorage)', () => {
      for (const k of Object.keys(props)) expect(k.toLowerCase()).not.toContain('password');
      const target = props['zato.targets']!.additionalProperties as Property;
      expect(typeof target).toBe('object');
      // passwordEnv names an environment variable; a literal password field is not allowed.
      for (const k of Object.keys(target.properties ?? {})) expect(k.toLowerCase()).not.toMatch(/^password$|secret/);
    });

    it('offer only target kinds the Go deploy client accepts', () => {
      const target = props['zato.targets']!.additionalProperties as Property;
      const kind = target.properties?.kind;
      expect(kind).toBeDefined();
      expect(kind!.enum?.length).toBeGreaterThan(0);
      for (const v of kind!.enum!) expect(CLIENT_KINDS).toContain(v);
      if (kind!.enumDescriptions) expect(kind!.enumDescriptions).toHaveLength(kind!.enum!.length);
    });
  });

  describe('commands', () => {
    const registered = registeredIds(extensionSource);

    it('finds the registrations in src/extension.ts', () => {
      expect(registered.size).toBeGreaterThanOrEqual(COMMAND_TITLES.length);
    });

    it.each(COMMAND_TITLES)('"%s" is declared and registered', (title) => {
      const c = commandByTitle(title);
      expect(c.category).toBe('Zato');
      expect(c.command).toMatch(/^zato\./);
      expect([...registered]).toContain(c.command);
    });

    it('every declared command is registered, and ids are unique', () => {
      const ids = pkg.contributes.commands.map((c) => c.command);
      expect(new Set(ids).size).toBe(ids.length);
      for (const id of ids) expect([...registered]).toContain(id);
    });

    it('every command used in menus and key bindings is declared', () => {
      const declared = pkg.contributes.commands.map((c) => c.command);
      const used = [
        ...pkg.contributes.keybindings.map((k) => k.command),
        ...Object.values(pkg.contributes.menus).flatMap((items) => items.map((i) => i.command)),
      ];
      expect(used.length).toBeGreaterThan(0);
      for (const id of used) expect(declared).toContain(id);
    });
  });

  // Ctrl+Shift+L is VS Code's "Select All Occurrences of Find Match": taking it in every Python editor took it from
  // everyone. The binding is Ctrl+Alt+U (Cmd+Alt+U), unbound in VS Code (checked against code-server 4.100's
  // defaults), and only where a Zato configuration is (zato.active, which the extension sets).
  it('binds a key no VS Code default uses to deploy, in Python editors of Zato workspaces only', () => {
    const deploy = commandByTitle(DEPLOY).command;
    const kb = pkg.contributes.keybindings.filter((k) => k.command === deploy);
    expect(kb).toHaveLength(1);
    const taken = ['ctrl+shift+l', 'cmd+shift+l', 'ctrl+shift+d', 'ctrl+shift+p', 'ctrl+d', 'shift+alt+d', 'ctrl+alt+d'];
    expect(taken).not.toContain(kb[0]!.key.toLowerCase());
    expect(taken).not.toContain(kb[0]!.mac?.toLowerCase());
    expect(kb[0]!.key.toLowerCase()).toBe('ctrl+alt+u');
    expect(kb[0]!.mac?.toLowerCase()).toBe('cmd+alt+u');
    expect(kb[0]!.when).toMatch(/\beditorLangId\s*==\s*'?python'?/);
    expect(kb[0]!.when).toMatch(/^zato\.active && /);
  });

  it('shows its editor commands only where a Zato configuration is (zato.active, set by the extension)', () => {
    for (const k of pkg.contributes.keybindings) expect(k.when, k.command).toMatch(/^zato\.active && /);
    for (const i of pkg.contributes.menus['editor/title'] ?? []) expect(i.when, i.command).toMatch(/^zato\.active && /);
    const palette = pkg.contributes.menus.commandPalette ?? [];
    for (const id of ['zato.cmd.deployCurrentFile', 'zato.cmd.invoke', 'zato.cmd.invokeWithPayload', 'zato.cmd.invokeEverywhere']) {
      const i = palette.find((p) => p.command === id);
      expect(i?.when, id).toMatch(/^zato\.active && /);
    }
    expect(extensionSource).toMatch(/executeCommand\('setContext', 'zato\.active', true\)/);
  });

  it('says "no .zato.yaml in this workspace" to a command there, not that the server is not running', () => {
    const notRunning = /private notRunning\(\): void \{([\s\S]*?)\n  \}/.exec(extensionSource)?.[1] ?? '';
    expect(notRunning).toContain('no .zato.yaml in this workspace');
    expect(notRunning.indexOf('no .zato.yaml in this workspace')).toBeLessThan(notRunning.indexOf('is not running'));
  });

  it('contributes the cluster view, its actions on modules only', () => {
    const views = (pkg.contributes as unknown as { views: Record<string, { id: string }[]> }).views;
    expect(Object.values(views).flat().map((v) => v.id)).toContain('zato.clusterView');
    const items = pkg.contributes.menus['view/item/context'] ?? [];
    for (const id of ['zato.cmd.clusterOpenSource', 'zato.cmd.clusterHistory', 'zato.cmd.clusterRollback', 'zato.cmd.clusterUndeploy']) {
      const mine = items.filter((i) => i.command === id);
      expect(mine.length, id).toBeGreaterThan(0);
      for (const i of mine) expect(i.when).toMatch(/view == zato\.clusterView && viewItem (==|=~) /);
    }
    const undeploy = items.filter((i) => i.command === 'zato.cmd.clusterUndeploy');
    for (const i of undeploy) expect(i.when).toContain('zatoModule.deployed');
  });

  it('puts deploy in the editor title of Python files only', () => {
    const deploy = commandByTitle(DEPLOY).command;
    const items = (pkg.contributes.menus['editor/title'] ?? []).filter((i) => i.command === deploy);
    expect(items).toHaveLength(1);
    expect(items[0]!.when).toMatch(/\b(resourceLangId|editorLangId)\s*==\s*'?python'?/);
    // Not on a deployed source's read-only tab (zato-cluster:), which it cannot deploy.
    expect(items[0]!.when).toMatch(/\bresourceScheme\s*==\s*'?file'?/);
  });
});

describe('README.md (Marketplace page)', () => {
  it.each(Object.keys(settings()))('documents setting %s', (s) => {
    expect(readme).toContain(`\`${s}\``);
  });

  it.each(COMMAND_TITLES)('documents command "%s"', (title) => {
    expect(readme).toContain(title);
  });

  it('shows the status bar screenshot, which exists in images/ and is packaged', () => {
    const images = [...readme.matchAll(/!\[[^\]]*\]\(([^)\s]+)/g)].map((m) => m[1]!);
    const shot = images.find((p) => /^(\.\/)?images\/.*status.*\.(png|gif|jpe?g|svg)$/i.test(p));
    expect(shot, `status bar image among ${JSON.stringify(images)}`).toBeDefined();
    expect(existsSync(join(root, shot!))).toBe(true);
    const ignore = read('.vscodeignore').split('\n').map((l) => l.trim());
    if (ignore.includes('**')) expect(ignore).toContain(`!${shot!.replace(/^\.\//, '')}`);
  });
});

// VS Code's label service (code-server 4.100): a formatter's label with ${path}, ${authority} and ${query.KEY} (the
// query being a JSON object); a tab's title is the basename of the result.
function formatLabel(label: string, uri: { scheme: string; authority?: string; path: string; query: string }): string {
  return label.replace(/\$\{(scheme|authoritySuffix|authority|path|(query)\.(.+?))\}/g, (_m, what: string, q?: string, key?: string) => {
    if (what === 'scheme') return uri.scheme;
    if (what === 'authority') return uri.authority ?? '';
    if (what === 'path') return uri.path;
    if (q === 'query' && uri.query.startsWith('{') && uri.query.endsWith('}')) {
      try {
        return String((JSON.parse(uri.query) as Record<string, unknown>)[key!] ?? '');
      } catch {
        return '';
      }
    }
    return '';
  });
}

describe('deployed source tabs', () => {
  // They were titled like the local file ("x.py"): the version and the target go in the title.
  it('are titled with the module, its version and the target', () => {
    const formatters = (pkg.contributes as unknown as { resourceLabelFormatters?: { scheme: string; formatting: { label: string; separator: string } }[] })
      .resourceLabelFormatters ?? [];
    const f = formatters.find((x) => x.scheme === 'zato-cluster');
    expect(f, 'a resourceLabelFormatter for zato-cluster:').toBeDefined();
    const u = clusterDocumentUri('zato-cluster:/default/x.py?version=2');
    expect(u).toBeDefined();
    const label = formatLabel(f!.formatting.label, { scheme: 'zato-cluster', path: u!.path, query: u!.query });
    expect(label.slice(label.lastIndexOf(f!.formatting.separator) + 1)).toBe('x.py (v2, default)');
    // The tab reopens after a reload: its URI still names the module and the version.
    expect(parseClusterUri(u!.path, u!.query)).toEqual({ target: 'default', module: 'x.py', version: 2 });
    expect(parseClusterUri('/Prod EU/x.py', '{"version":7,"target":"Prod EU"}')).toEqual({ target: 'Prod EU', module: 'x.py', version: 7 });
  });
});
