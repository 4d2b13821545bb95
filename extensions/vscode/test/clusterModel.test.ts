import { describe, expect, it } from 'vitest';

import {
  type ClusterViewAnswer,
  type HistoryAnswer,
  type ViewModule,
  clusterNodes,
  followingDescription,
  historyItems,
  preselected,
  isClusterViewAnswer,
  isHistoryAnswer,
  isWriteAnswer,
  moduleNode,
  parseClusterUri,
  rowDescription,
  utc,
} from '../src/clusterModel';

function mod(over: Partial<ViewModule> = {}): ViewModule {
  return {
    name: 'crm.py',
    version: 3,
    sha256: 'ab'.repeat(32),
    deployed: true,
    deploymentId: 7,
    who: 'alice',
    origin: 'ide',
    createdAt: '2026-11-30T08:31:02.5Z',
    status: 'deployed',
    outcome: 'deployed on every server (2/2)',
    uri: 'zato-cluster:/default/crm.py?version=3',
    servers: [
      { name: 'server1', status: 'deployed', state: 'live' },
      { name: 'server2', status: 'deployed', state: 'live' },
    ],
    ...over,
  };
}

function view(over: Partial<ClusterViewAnswer> = {}): ClusterViewAnswer {
  return {
    target: 'default',
    url: 'http://127.0.0.1:17010',
    summary: '1/2 servers live, 1 modules',
    at: '2026-11-30T08:31:05Z',
    servers: [
      { name: 'server1', url: 'http://127.0.0.1:17010', state: 'live' },
      { name: 'server2', url: 'http://127.0.0.1:17011', state: 'offline' },
    ],
    modules: [mod()],
    ...over,
  };
}

describe('clusterNodes', () => {
  it('lists servers with their state and modules with version, who and origin', () => {
    const [servers, modules] = clusterNodes(view());
    expect(servers!.label).toBe('Servers');
    expect(servers!.description).toBe('1/2 live · default');
    expect(servers!.children!.map((n) => [n.label, n.description, n.icon])).toEqual([
      ['server1', 'live', 'vm-running'],
      ['server2', 'offline', 'vm-outline'],
    ]);
    expect(modules!.label).toBe('Modules');
    const m = modules!.children![0]!;
    expect(m.label).toBe('crm.py');
    expect(m.description).toBe('v3 · alice (ide)');
    expect(m.contextValue).toBe('zatoModule.deployed');
    expect(m.tooltip).toContain('by alice (ide) at 2026-11-30 08:31:02 UTC');
    expect(m.tooltip).toContain('deployed on every server (2/2)');
    expect(m.children!.map((r) => [r.label, r.description])).toEqual([
      ['server1', 'deployed'],
      ['server2', 'deployed'],
    ]);
    // A module deployed everywhere stays folded; one that needs a look is open.
    expect(m.expanded).toBe(false);
  });

  it('shows the language server\'s error in its words, and nothing else', () => {
    const nodes = clusterNodes(view({ error: 'Cannot reach Zato at http://x: connection refused', servers: [], modules: [] }));
    expect(nodes).toHaveLength(1);
    expect(nodes[0]!.kind).toBe('message');
    expect(nodes[0]!.label).toBe('Cannot reach Zato at http://x: connection refused');
    expect(clusterNodes(undefined, 'boom')[0]!.label).toBe('boom');
  });

  it('says when no module is deployed', () => {
    const [, modules] = clusterNodes(view({ modules: [] }));
    expect(modules!.children![0]!.label).toBe('No module deployed yet');
  });
});

describe('moduleNode', () => {
  it('shows a failed server with the error and opens the module', () => {
    const n = moduleNode(
      mod({
        status: 'partial',
        outcome: 'deployed on 1 of 2 servers; server2 failed',
        servers: [
          { name: 'server1', status: 'deployed' },
          { name: 'server2', status: 'failed', error: { type: 'SyntaxError', message: 'invalid syntax', line: 3 } },
        ],
      }),
      'dev',
    );
    expect(n.icon).toBe('warning');
    expect(n.expanded).toBe(true);
    expect(n.id).toBe('module/dev/crm.py');
    expect(n.children![1]!.description).toBe('failed: SyntaxError: invalid syntax (line 3)');
    expect(n.children![1]!.icon).toBe('error');
  });

  it('marks an undeployed module so that only its history and roll back are offered', () => {
    const n = moduleNode(mod({ deployed: false, version: 0, status: 'undeployed', who: 'bob', origin: 'api', uri: undefined }), 'default');
    expect(n.description).toBe('undeployed · bob (api)');
    expect(n.contextValue).toBe('zatoModule.undeployed');
    expect(n.icon).toBe('circle-slash');
  });
});

describe('rowDescription', () => {
  it('says why a pending row waits', () => {
    expect(rowDescription({ name: 's', status: 'pending', state: 'starting' })).toBe('pending (starting)');
    expect(rowDescription({ name: 's', status: 'pending', state: 'live' })).toBe('pending');
  });
});

describe('history', () => {
  const h: HistoryAnswer = {
    module: 'crm.py',
    target: 'default',
    current: 2,
    versions: [
      { version: 2, sha256: 'cd'.repeat(32), who: 'alice', origin: 'ide', createdAt: '2026-11-30T09:00:00Z', size: 120, current: true, uri: 'zato-cluster:/default/crm.py?version=2', label: '' },
      { version: 1, sha256: 'ef'.repeat(32), who: 'bob', origin: 'cli', createdAt: '2026-11-29T09:00:00Z', size: 100, current: false, uri: 'zato-cluster:/default/crm.py?version=1', label: '' },
    ],
  };
  it('lists every version, the current one marked', () => {
    const items = historyItems(h);
    expect(items.map((i) => i.label)).toEqual(['v2 (current)', 'v1']);
    expect(items[1]!.description).toBe('bob (cli) · 2026-11-29 09:00:00 UTC');
    expect(items[1]!.version).toBe(1);
  });
  it('leaves the current one out for a roll back', () => {
    expect(historyItems(h, true).map((i) => i.version)).toEqual([1]);
  });

  // A version that failed on every server (a syntax error) was listed first, unmarked, and preselected: picking
  // it deployed it again and it failed everywhere again.
  describe('marks where each version served or failed, and never preselects a failed one', () => {
    const v = (version: number, state: string, note: string, current = false) => ({
      version,
      sha256: 'ab'.repeat(32),
      who: 'alice',
      origin: 'ide',
      createdAt: '2026-11-30T09:00:00Z',
      size: 100,
      current,
      uri: `zato-cluster:/default/crm.py?version=${version}`,
      label: '',
      state,
      note,
      servedBy: state === 'serving' ? ['server1', 'server2'] : [],
      loadedOn: [],
      failedOn: state === 'failed' ? ['server1', 'server2'] : [],
    });
    const hist: HistoryAnswer = {
      module: 'crm.py',
      target: 'default',
      current: 4,
      versions: [
        v(4, 'failed', 'failed on server1, server2: SyntaxError: invalid syntax (line 3)', true),
        v(3, 'failed', 'failed on server1, server2: SyntaxError: invalid syntax (line 9)'),
        v(2, 'serving', 'serving on server1, server2'),
        v(1, 'loaded', 'loaded on server1, server2'),
      ],
    };

    it('says it on each item', () => {
      const items = historyItems(hist, true);
      expect(items.map((i) => i.version)).toEqual([3, 2, 1]);
      expect(items[0]!.label).toBe('$(error) v3');
      expect(items[0]!.detail).toContain('failed on server1, server2: SyntaxError: invalid syntax (line 9)');
      expect(items[0]!.failed).toBe(true);
      expect(items[1]!.label).toBe('$(pass-filled) v2');
      expect(items[1]!.detail).toContain('serving on server1, server2');
      expect(items[2]!.detail).toContain('loaded on server1, server2');
      expect(items.slice(1).every((i) => !i.failed)).toBe(true);
    });

    it('preselects the newest version that did not fail everywhere', () => {
      expect(preselected(historyItems(hist, true))?.version).toBe(2);
      expect(preselected(historyItems(hist, false))?.version).toBe(2);
      expect(preselected(historyItems({ ...hist, versions: hist.versions.slice(0, 2) }, true))).toBeUndefined();
    });

    it('keeps working with an older language server that does not say', () => {
      expect(preselected(historyItems(h, true))?.version).toBe(1);
    });
  });
});

describe('guards and URIs', () => {
  it('recognise the answers', () => {
    expect(isClusterViewAnswer(view())).toBe(true);
    expect(isClusterViewAnswer({ servers: [] })).toBe(false);
    expect(isHistoryAnswer({ module: 'x.py', versions: [] })).toBe(true);
    expect(isWriteAnswer({ message: 'x', ok: true })).toBe(true);
    expect(isWriteAnswer(null)).toBe(false);
  });
  it('parse zato-cluster: URIs', () => {
    expect(parseClusterUri('/dev/crm.py', 'version=12')).toEqual({ target: 'dev', module: 'crm.py', version: 12 });
    expect(parseClusterUri('/crm.py', 'version=1')).toBeUndefined();
    expect(parseClusterUri('/dev/crm.py', '')).toBeUndefined();
  });
  it('words times in UTC', () => {
    expect(utc('2026-11-30T08:31:02.999Z')).toBe('2026-11-30 08:31:02 UTC');
    expect(utc('0001-01-01T00:00:00Z')).toBe('an unknown time');
    expect(utc('')).toBe('an unknown time');
  });
});

describe('followingDescription', () => {
  it('names how the view is followed, and nothing for a change of what it shows', () => {
    expect(followingDescription({ target: 'default', module: '', via: 'stream' })).toBe('live');
    expect(followingDescription({ target: 'default', module: '', via: 'poll' })).toBe('polling');
    // The server refused the credentials: nothing is polled until they change (or Refresh asks).
    expect(followingDescription({ target: 'default', module: '', via: 'paused' })).toBe('paused: credentials refused');
    expect(followingDescription({ target: 'default', module: 'crm.py' })).toBeUndefined();
    expect(followingDescription(undefined)).toBeUndefined();
  });
});
