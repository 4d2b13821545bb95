import { describe, expect, it } from 'vitest';

import {
  type DeployStatus,
  IDLE_TEXT,
  type ServerHealth,
  StatusBook,
  choosePresentation,
  escape,
  formatDuration,
  isFinal,
  present,
  presentHealth,
  presentIdle,
  presentStopped,
} from '../src/status';

const uri = 'file:///ws/x.py';

function st(over: Partial<DeployStatus>): DeployStatus {
  return {
    uri,
    module: 'x.py',
    deploymentId: 12,
    target: 'default',
    state: 'propagating',
    confirmed: 1,
    expected: 2,
    servers: [
      { name: 'server1', status: 'deployed', services: ['x.svc'], error: null },
      { name: 'server2', status: 'pending', services: [], error: null },
    ],
    elapsedMs: 4.2,
    message: 'x.py: 1/2 servers',
    ...over,
  };
}

describe('present', () => {
  it('is idle before any deployment', () => {
    const p = presentIdle({ target: 'dev', deployOnSave: true });
    expect(p.text).toBe('$(zap) Zato');
    expect(p.text).toBe(IDLE_TEXT);
    expect(p.background).toBeUndefined();
    expect(p.tooltip).toContain('target `dev`');
    expect(p.tooltip).toContain('deploy on save on');
    expect(p.tooltip).toContain('deployment log');
  });

  it('spins while servers confirm', () => {
    expect(present(st({})).text).toBe('$(sync~spin) Zato: x.py 1/2');
    expect(present(st({ state: 'uploading', confirmed: 0 })).text).toBe('$(sync~spin) Zato: x.py 0/2');
  });

  it('leaves out the count while it is not known', () => {
    const p = present(st({ state: 'queued', confirmed: 0, expected: 0, servers: [], deploymentId: 0 }));
    expect(p.text).toBe('$(sync~spin) Zato: x.py');
    expect(p.background).toBeUndefined();
  });

  it('checks when every server confirmed', () => {
    const p = present(
      st({
        state: 'deployed',
        confirmed: 2,
        servers: [
          { name: 'server1', status: 'deployed', services: ['x.svc'], error: null },
          { name: 'server2', status: 'deployed', services: ['x.svc'], error: null },
        ],
        elapsedMs: 12.5,
        message: 'x.py deployed to 2/2 servers in 12 ms',
      }),
    );
    expect(p.text).toBe('$(check) Zato: x.py 2/2');
    expect(p.label).toBe('Zato: x.py 2/2');
    expect(p.background).toBeUndefined();
    expect(p.tooltip).toContain('| server1 | $(check) deployed | `x.svc` |');
    expect(p.tooltip).toContain('| server2 | $(check) deployed | `x.svc` |');
    expect(p.tooltip).toContain('took 13 ms');
    expect(p.tooltip).toContain('deployment #12');
    expect(p.tooltip).toContain('x\\.py deployed to 2/2 servers in 12 ms');
  });

  it('warns with the servers that did not confirm', () => {
    const p = present(
      st({
        state: 'partial',
        servers: [
          { name: 'server1', status: 'deployed', services: ['x.svc'] },
          { name: 'server2', status: 'offline', services: [] },
        ],
      }),
    );
    expect(p.text).toBe('$(warning) Zato: x.py 1/2 · server2 offline');
    expect(p.background).toBe('warning');
    expect(p.tooltip).toContain('| server2 | $(debug-disconnect) offline |');
  });

  it('names every missing server', () => {
    const p = present(
      st({
        state: 'partial',
        confirmed: 1,
        expected: 3,
        servers: [
          { name: 'server1', status: 'deployed', services: [] },
          { name: 'server2', status: 'offline' },
          { name: 'server3', status: 'failed', error: { type: 'ImportError', message: 'no module named foo', line: 2 } },
        ],
      }),
    );
    expect(p.text).toBe('$(warning) Zato: x.py 1/3 · server2 offline, server3 failed');
  });

  it('fails with the error background and the error at its line in the tooltip', () => {
    const p = present(
      st({
        state: 'failed',
        confirmed: 0,
        servers: [
          { name: 'server1', status: 'failed', error: { type: 'SyntaxError', message: "expected ':'", line: 3, column: 15 } },
          { name: 'server2', status: 'failed', error: { type: 'SyntaxError', message: "expected ':'", line: 3, column: 15 } },
        ],
        message: 'x.py failed on 2/2 servers: SyntaxError at line 3',
      }),
    );
    expect(p.text).toBe('$(error) Zato: x.py failed');
    expect(p.background).toBe('error');
    expect(p.tooltip).toContain("SyntaxError at line 3, column 15: expected ':'");
  });

  it('reports an unreachable cluster and a wrong password as errors', () => {
    const u = present(st({ state: 'unreachable', confirmed: 0, expected: 0, servers: [] }));
    expect(u.text).toBe('$(error) Zato: x.py unreachable');
    expect(u.background).toBe('error');
    const a = present(st({ state: 'unauthorized', confirmed: 0, expected: 0, servers: [] }));
    expect(a.text).toBe('$(error) Zato: x.py unauthorized');
    expect(a.background).toBe('error');
  });

  it('shows a conflict as a warning: not deployed, someone else deployed another version', () => {
    const p = present(st({ state: 'conflict', confirmed: 0, expected: 0, servers: [],
      message: 'x.py not deployed: version 2 on the cluster was deployed by admin (pickup) at 2026-11-30 08:31:02 UTC' }));
    expect(p.text).toBe('$(git-merge) Zato: x.py conflict');
    expect(p.background).toBe('warning');
    expect(p.tooltip).toContain('version 2 on the cluster was deployed by admin');
    expect(isFinal('conflict')).toBe(true);
  });

  it('says accepted for stock Zato, which sends no confirmations', () => {
    const p = present(st({ state: 'accepted', confirmed: 0, expected: 0, servers: [] }));
    expect(p.text).toBe('$(check) Zato: x.py accepted');
    expect(p.background).toBeUndefined();
  });

  it('does not hide an unknown state', () => {
    expect(present(st({ state: 'weird' })).text).toBe('$(question) Zato: x.py weird');
  });

  it('falls back to the file name when the module is missing', () => {
    expect(present(st({ module: '', uri: 'file:///ws/my%20dir/y.py', state: 'deployed', confirmed: 2 })).text).toBe(
      '$(check) Zato: y.py 2/2',
    );
  });

  it('keeps server-provided text from becoming icons or markup', () => {
    const p = present(st({ state: 'failed', message: 'boom $(zap) | *x*', servers: [] }));
    expect(p.tooltip).not.toContain('$(zap)');
    expect(p.tooltip).toContain('\\$\\(zap\\) \\| \\*x\\*');
  });

  it('lists other modules in the tooltip', () => {
    const p = present(st({ state: 'deployed', confirmed: 2 }), {
      others: [st({ module: 'y.py', state: 'failed' }), st({ module: 'x.py' })],
    });
    expect(p.tooltip).toContain('Also: y\\.py failed');
  });

  it('says when the language server stopped', () => {
    const p = presentStopped('spawn zato ENOENT');
    expect(p.text).toBe('$(error) Zato: server stopped');
    expect(p.background).toBe('error');
    expect(p.tooltip).toContain('ENOENT');
  });
});

describe('helpers', () => {
  it('formats durations', () => {
    expect(formatDuration(0.84)).toBe('0.8 ms');
    expect(formatDuration(12.5)).toBe('13 ms');
    expect(formatDuration(1234)).toBe('1.2 s');
  });

  it('knows final states', () => {
    for (const s of ['queued', 'uploading', 'propagating']) expect(isFinal(s)).toBe(false);
    for (const s of ['deployed', 'partial', 'failed', 'unreachable', 'unauthorized', 'accepted']) expect(isFinal(s)).toBe(true);
  });

  it('escapes markdown', () => {
    expect(escape('a|b\nc')).toBe('a\\|b c');
  });
});

describe('StatusBook', () => {
  it('shows the newest update and keeps the others', () => {
    const b = new StatusBook();
    expect(b.current()).toBeUndefined();
    b.update(st({ module: 'a.py', deploymentId: 1 }));
    b.update(st({ module: 'b.py', deploymentId: 2 }));
    expect(b.current()?.module).toBe('b.py');
    b.update(st({ module: 'a.py', deploymentId: 3, state: 'deployed' }));
    expect(b.current()?.module).toBe('a.py');
    expect(b.others().map((s) => s.module)).toEqual(['b.py']);
  });

  it('drops a status older than the one known for its module', () => {
    const b = new StatusBook();
    expect(b.update(st({ deploymentId: 5, state: 'deployed' }))).toBe(true);
    expect(b.update(st({ deploymentId: 4, state: 'propagating' }))).toBe(false);
    expect(b.current()?.state).toBe('deployed');
    // queued statuses carry no deployment id yet and always count
    expect(b.update(st({ deploymentId: 0, state: 'queued' }))).toBe(true);
    expect(b.current()?.state).toBe('queued');
  });

  it('keeps targets apart', () => {
    const b = new StatusBook();
    b.update(st({ target: 'dev', deploymentId: 9 }));
    expect(b.update(st({ target: 'prod', deploymentId: 1 }))).toBe(true);
    expect(b.others()).toHaveLength(1);
    b.clear();
    expect(b.current()).toBeUndefined();
  });
});

// zato/serverStatus: the status bar says what state the target is in from the start, not only after a save.
describe('health (zato/serverStatus)', () => {
  const h = (over: Partial<ServerHealth>): ServerHealth => ({
    health: 'ok',
    state: 'ok',
    target: 'default',
    url: 'http://127.0.0.1:17010',
    message: 'target default at http://127.0.0.1:17010 answers (user "admin")',
    ...over,
  });

  it('shows a wrong password, servers down and a broken .zato.yaml as errors, with the reason in the tooltip', () => {
    for (const [state, text] of [
      ['unauthorized', '$(error) Zato: unauthorized'],
      ['unreachable', '$(error) Zato: unreachable'],
      ['config', '$(error) Zato: configuration error'],
    ] as const) {
      const p = presentHealth(h({ health: 'error', state, message: `why ${state}` }));
      expect(p.text, state).toBe(text);
      expect(p.background, state).toBe('error');
      expect(p.tooltip, state).toContain(`why ${state}`);
      expect(p.tooltip, state).not.toContain('nothing deployed yet');
    }
  });

  it('shows a target without a password as a warning', () => {
    const p = presentHealth(h({ health: 'warning', state: 'noPassword', message: 'no password for target default' }));
    expect(p.text).toBe('$(warning) Zato: no password');
    expect(p.background).toBe('warning');
  });

  it('shows no target configured as a warning, not as idle', () => {
    const p = presentHealth(h({ health: 'warning', state: 'unconfigured', message: 'no Zato server configured: add a .zato.yaml' }));
    expect(p.text).toBe('$(warning) Zato: no target');
    expect(p.background).toBe('warning');
    expect(p.tooltip).toContain('no Zato server configured');
    expect(p.tooltip).not.toContain('nothing deployed yet');
  });

  it('is the plain idle item when all is well, saying where deployments go', () => {
    const p = presentHealth(h({}), { deployOnSave: true });
    expect(p.text).toBe(IDLE_TEXT);
    expect(p.background).toBeUndefined();
    expect(p.tooltip).toContain('answers');
  });

  it('shows the newer of the last deployment and the health; a healthy state never hides a deployment', () => {
    const failed = st({ state: 'failed', confirmed: 0, message: 'x.py failed: server1 failed: SyntaxError' });
    const bad = h({ health: 'error', state: 'config', message: 'broken .zato.yaml' });
    expect(choosePresentation({ current: failed, currentSeq: 1, health: bad, healthSeq: 2 }).text).toBe('$(error) Zato: configuration error');
    expect(choosePresentation({ current: failed, currentSeq: 3, health: bad, healthSeq: 2 }).text).toBe('$(error) Zato: x.py failed');
    const deployed = st({ state: 'deployed', confirmed: 2 });
    expect(choosePresentation({ current: deployed, currentSeq: 1, health: h({}), healthSeq: 2 }).text).toBe('$(check) Zato: x.py 2/2');
    expect(choosePresentation({ health: undefined }).text).toBe(IDLE_TEXT);
  });

  it('says a save that never reached the servers was not deployed, rather than failed', () => {
    const p = present(st({ state: 'failed', deploymentId: 0, servers: [], confirmed: 0, expected: 0, message: 'x.py not deployed: no password for target default' }));
    expect(p.text).toBe('$(error) Zato: x.py not deployed');
    expect(p.tooltip).toContain('no password for target default');
  });
});
