import { describe, expect, it } from 'vitest';

import {
  DEFAULT_TARGET,
  type Inspected,
  type ServerKey,
  type TargetInfo,
  binaryName,
  explicitValue,
  needsRestart,
  passwordTargets,
  resolveServer,
  secretKey,
  serverConfig,
  serverPathSetting,
  targetChoices,
  targetsFromYaml,
} from '../src/settings';

function inspector(values: Partial<Record<ServerKey, Inspected>>): (k: ServerKey) => Inspected | undefined {
  const defaults: Record<ServerKey, unknown> = {
    url: '',
    username: '',
    deployOnSave: false,
    include: ['**/*.py'],
    exclude: [],
    requireMarker: false,
    targets: {},
  };
  return (k) => ({ defaultValue: defaults[k], ...(values[k] ?? {}) });
}

describe('explicitValue', () => {
  it('ignores defaults and blanks, prefers the most specific scope', () => {
    expect(explicitValue({ defaultValue: false })).toBeUndefined();
    expect(explicitValue({ defaultValue: '', globalValue: '  ' })).toBeUndefined();
    expect(explicitValue({ globalValue: 'a', workspaceValue: 'b' })).toBe('b');
    expect(explicitValue({ globalValue: 'a', workspaceValue: 'b', workspaceFolderValue: 'c' })).toBe('c');
    expect(explicitValue({ globalValue: true, workspaceValue: false })).toBe(false);
    expect(explicitValue({ globalValue: ' http://h ' })).toBe('http://h');
    expect(explicitValue(undefined)).toBeUndefined();
  });
});

describe('serverConfig', () => {
  it('sends nothing when nothing is set, so .zato.yaml and the server defaults rule', () => {
    expect(serverConfig({ inspect: inspector({}), storedPasswords: [] })).toEqual({});
  });

  it('sends explicit settings, false included', () => {
    const cfg = serverConfig({
      inspect: inspector({
        url: { globalValue: 'http://localhost:17010' },
        username: { workspaceValue: 'admin' },
        deployOnSave: { workspaceValue: false },
        requireMarker: { globalValue: true },
        include: { workspaceValue: ['services/**/*.py'] },
        exclude: { workspaceValue: [] },
      }),
      storedPasswords: [],
    });
    expect(cfg).toEqual({
      url: 'http://localhost:17010',
      username: 'admin',
      deployOnSave: false,
      requireMarker: true,
      include: ['services/**/*.py'],
    });
  });

  // A password from secret storage is never sent as `password`: the language server would let it override the
  // password a project's .zato.yaml gives, and send it to whatever server that project names.
  it('sends stored passwords as storedPasswords, each for its server URL and user, never as a password', () => {
    const stored = [
      { url: 'http://a:17010', username: 'admin', password: 's3cret' },
      { url: 'http://b:17010', username: 'ops', password: 'other' },
      { url: 'http://c:17010', username: 'x', password: '' },
    ];
    const cfg = serverConfig({
      inspect: inspector({
        url: { globalValue: 'http://h' },
        targets: { globalValue: { dev: { url: 'http://dev', username: 'u', password: 'leaked' }, bad: 'x' } },
      }),
      storedPasswords: stored,
      selectedTarget: 'dev',
    });
    expect(cfg).toEqual({
      url: 'http://h',
      targets: { dev: { url: 'http://dev', username: 'u' } },
      defaultTarget: 'dev',
      storedPasswords: stored.slice(0, 2),
    });
    expect(JSON.stringify(cfg)).not.toMatch(/"password":"s3cret".*"targets"|leaked/);
    expect(cfg).not.toHaveProperty('password');
  });

  it('sends no storedPasswords when there are none', () => {
    expect(serverConfig({ inspect: inspector({}), storedPasswords: [] })).toEqual({});
  });
});

describe('passwordTargets', () => {
  const t = (name: string, password: string, extra: Partial<TargetInfo> = {}): TargetInfo => ({
    name,
    folder: '/w',
    url: `http://${name}:17010`,
    username: 'admin',
    password,
    ...extra,
  });

  it('offers only the targets whose configuration gives no password', () => {
    const r = passwordTargets([t('default', 'configured'), t('dev', 'none'), t('stage', 'stored')]);
    expect(r.settable.map((x) => x.name)).toEqual(['dev', 'stage']);
    expect(r.configured.map((x) => x.name)).toEqual(['default']);
  });

  it('counts a target once per server and user, and skips one without a URL', () => {
    const r = passwordTargets([t('default', 'none', { folder: '/a' }), t('default', 'none', { folder: '/b' }), t('x', 'none', { url: '' })]);
    expect(r.settable).toHaveLength(1);
  });
});
describe('needsRestart', () => {
  it('restarts for a new binary or a setting removed since initialize', () => {
    expect(needsRestart({}, { url: 'x' }, true)).toBe(true);
    expect(needsRestart({ url: 'a' }, { url: 'b' }, false)).toBe(false);
    expect(needsRestart({ url: 'a' }, { url: 'a', username: 'u' }, false)).toBe(false);
    expect(needsRestart({ url: 'a', password: 'p' }, { url: 'a' }, false)).toBe(true);
  });
});

describe('resolveServer', () => {
  const exists = (files: string[]) => (p: string) => files.includes(p);

  it('prefers zato.serverPath', () => {
    expect(resolveServer({ configured: '/opt/zato', bundled: '/ext/bin/zato', exists: exists(['/opt/zato', '/ext/bin/zato']) })).toEqual({
      command: '/opt/zato',
      source: 'setting',
    });
  });

  it('expands the home directory', () => {
    expect(resolveServer({ configured: '~/bin/zato', bundled: '/b', exists: exists(['/home/u/bin/zato']), home: '/home/u' })).toEqual({
      command: '/home/u/bin/zato',
      source: 'setting',
    });
  });

  it('says when zato.serverPath is wrong rather than falling back', () => {
    const r = resolveServer({ configured: '/nope', bundled: '/ext/bin/zato', exists: exists(['/ext/bin/zato']) });
    expect(r).toEqual({ error: 'zato.serverPath is /nope, which does not exist' });
  });

  it('uses the bundled binary, else zato on the PATH', () => {
    expect(resolveServer({ configured: ' ', bundled: '/ext/bin/zato', exists: exists(['/ext/bin/zato']) })).toEqual({
      command: '/ext/bin/zato',
      source: 'bundled',
    });
    expect(resolveServer({ bundled: '/ext/bin/zato', exists: exists(['/usr/local/bin/zato']), path: '/usr/bin:/usr/local/bin' })).toEqual({
      command: '/usr/local/bin/zato',
      source: 'path',
    });
  });

  // It spawned 'zato' anyway: "spawn zato ENOENT" and "couldn't create connection to server", with no hint.
  it('says where it looked when there is no zato anywhere', () => {
    const r = resolveServer({ bundled: '/ext/bin/zato', exists: exists([]), path: '/usr/bin:/bin' });
    expect(r).toEqual({
      error:
        'cannot find zato: zato.serverPath is not set, this extension carries no zato binary (/ext/bin/zato), and there is none on the PATH (/usr/bin:/bin). Install zato, or set zato.serverPath to its full path.',
    });
  });

  it('finds zato.exe on the PATH on Windows', () => {
    const r = resolveServer({ bundled: 'C:\\ext\\bin\\zato.exe', exists: exists(['C:\\tools\\zato.exe']), path: 'C:\\tools', platform: 'win32' });
    expect(r).toEqual({ command: 'C:\\tools\\zato.exe', source: 'path' });
  });

  it('ignores a workspace serverPath in an untrusted workspace', () => {
    const i = { globalValue: '/mine/zato', workspaceValue: '/evil/zato' };
    expect(serverPathSetting(i, true)).toBe('/evil/zato');
    expect(serverPathSetting(i, false)).toBe('/mine/zato');
    expect(serverPathSetting({ workspaceValue: '/evil' }, false)).toBeUndefined();
  });

  it('names the binary per platform', () => {
    expect(binaryName('linux')).toBe('zato');
    expect(binaryName('win32')).toBe('zato.exe');
  });
});

describe('targets', () => {
  it('reads target names from .zato.yaml', () => {
    expect(targetsFromYaml('url: http://a\nusername: admin\n')).toEqual({ names: [], hasTopLevel: true });
    expect(
      targetsFromYaml('targets:\n  dev: {url: http://dev}\n  prod:\n    url: http://prod\ndefaultTarget: dev\n'),
    ).toEqual({ names: ['dev', 'prod'], defaultTarget: 'dev', hasTopLevel: false });
    expect(targetsFromYaml(': : bad')).toEqual({ names: [], hasTopLevel: false });
    expect(targetsFromYaml('')).toEqual({ names: [], hasTopLevel: false });
  });

  it('lists the default target first, then the named ones from settings and files', () => {
    expect(targetChoices({ stage: {} }, [{ names: ['prod', 'dev'], hasTopLevel: true }], false)).toEqual([
      'default',
      'dev',
      'prod',
      'stage',
    ]);
    expect(targetChoices(undefined, [], true)).toEqual(['default']);
    expect(targetChoices(undefined, [], false)).toEqual([]);
  });

  // The secret is for a server and a user, not for a target name every workspace may have ("default").
  it('keys secrets by server URL and user', () => {
    expect(secretKey('http://127.0.0.1:17010', 'admin')).toBe(secretKey('http://127.0.0.1:17010/', 'admin'));
    expect(secretKey('http://127.0.0.1:17010', 'admin')).not.toBe(secretKey('http://127.0.0.1:27010', 'admin'));
    expect(secretKey('http://127.0.0.1:17010', 'admin')).not.toBe(secretKey('http://127.0.0.1:17010', 'ops'));
    expect(secretKey('http://h:1', 'admin')).not.toMatch(/^zato\.password\.(default|h)/);
  });
});
