import { describe, expect, it } from 'vitest';

import { EarlySaves, logArguments, nestedConfigMessage, shouldStart, startFailureMessage, versionWarning } from '../src/lifecycle';

describe('nestedConfigMessage', () => {
  it('says where a .zato.yaml below the root is and that it must be at the root', () => {
    const m = nestedConfigMessage([{ folder: '/w/shop', folderName: 'shop', relative: 'services/.zato.yaml' }]);
    expect(m).toBe(
      'Zato: services/.zato.yaml is not read: a .zato.yaml must be at the root of the workspace folder shop (/w/shop). Move it there, or open services as the folder.',
    );
    expect(nestedConfigMessage([])).toBeUndefined();
  });
});

describe('shouldStart', () => {
  it('starts in a workspace with a .zato.yaml', () => {
    expect(shouldStart({ hasConfigFile: true })).toBe(true);
  });
  it('starts with a zato.url or zato.targets setting', () => {
    expect(shouldStart({ hasConfigFile: false, url: 'http://localhost:17010' })).toBe(true);
    expect(shouldStart({ hasConfigFile: false, targets: { dev: { url: 'http://x' } } })).toBe(true);
  });
  it('starts with ZATO_URL or ZATO_CONFIG in the environment', () => {
    expect(shouldStart({ hasConfigFile: false, env: { ZATO_URL: 'http://x' } })).toBe(true);
    expect(shouldStart({ hasConfigFile: false, env: { ZATO_CONFIG: '/etc/zato-client.yaml' } })).toBe(true);
  });
  it('leaves any other Python project alone', () => {
    expect(shouldStart({ hasConfigFile: false })).toBe(false);
    expect(shouldStart({ hasConfigFile: false, url: '  ', targets: {}, env: { ZATO_URL: '' } })).toBe(false);
  });
});

describe('versionWarning', () => {
  it('is silent when the versions match', () => {
    expect(versionWarning('0.1.0', '0.1.0', '/usr/bin/zato')).toBeUndefined();
  });
  it('names both versions and the binary when they differ', () => {
    const w = versionWarning('0.2.0', '0.1.0', '/opt/zato/bin/zato');
    expect(w).toContain('version 0.1.0');
    expect(w).toContain('extension is 0.2.0');
    expect(w).toContain('/opt/zato/bin/zato');
  });
  it('warns when the server says no version (an older zato)', () => {
    expect(versionWarning('0.1.0', undefined, 'zato')).toMatch(/does not say its version.*0\.1\.0/);
  });
});

describe('EarlySaves', () => {
  it('keeps the latest save per file, in the order of the last saves, and forgets them when taken', () => {
    const e = new EarlySaves<string>();
    e.record('file:///a.py', 'a1');
    e.record('file:///b.py', 'b1');
    e.record('file:///a.py', 'a2');
    expect(e.size).toBe(2);
    expect(e.take()).toEqual([
      ['file:///b.py', 'b1'],
      ['file:///a.py', 'a2'],
    ]);
    expect(e.size).toBe(0);
  });
});

// A zato binary that is missing or is not one: one message naming the path tried, with Open Settings; the
// client library's own toasts ("spawn zato ENOENT", "couldn't create connection to server", "write EPIPE") go to
// the log only.
describe('startFailureMessage', () => {
  it('names a binary that cannot be run and why', () => {
    const enoent = Object.assign(new Error('spawn /opt/zato ENOENT'), { code: 'ENOENT' });
    expect(startFailureMessage({ command: '/opt/zato', source: 'setting', error: enoent })).toBe(
      'Zato: cannot start the language server /opt/zato (zato.serverPath): it does not exist.',
    );
    const eacces = Object.assign(new Error('spawn /opt/zato EACCES'), { code: 'EACCES' });
    expect(startFailureMessage({ command: '/opt/zato', source: 'setting', error: eacces })).toContain('it is not an executable file');
  });

  it('says a binary that exits at once is probably not zato, rather than "write EPIPE"', () => {
    const m = startFailureMessage({ command: '/bin/false', source: 'setting', error: new Error('write EPIPE'), exit: 'exit code 1' });
    expect(m).toBe(
      'Zato: the language server /bin/false (zato.serverPath) exited (exit code 1) before it answered: is it a zato binary? zato.serverPath must name zato, which runs as `zato lsp`.',
    );
    expect(m).not.toContain('EPIPE');
    const withStderr = startFailureMessage({ command: '/x/zato', source: 'bundled', error: new Error('x'), exit: 'exit code 2', stderr: 'unknown command "lsp"\n' });
    expect(withStderr).toContain('It said: unknown command "lsp"');
  });
});

describe('logArguments', () => {
  // vscode-languageclient 9.0.1 calls info(message, !handled) when a server that crashed is restarted: the boolean
  // is taken for data and logged as a line of its own, "[info] false".
  it('never logs a boolean as data', () => {
    expect(logArguments(false, undefined)).toEqual({ data: undefined, showNotification: false });
    expect(logArguments(true, undefined)).toEqual({ data: undefined, showNotification: true });
    expect(logArguments({ a: 1 }, false)).toEqual({ data: { a: 1 }, showNotification: false });
  });
});
