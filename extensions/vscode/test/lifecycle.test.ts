import { describe, expect, it } from 'vitest';

import { EarlySaves, nestedConfigMessage, shouldStart, versionWarning } from '../src/lifecycle';

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
