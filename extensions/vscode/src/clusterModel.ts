// The cluster view's protocol (the answers of zato/clusterView and zato/moduleHistory, docs/architecture.md) and how
// its nodes read. No VS Code API here, so that it is unit-tested; src/clusterView.ts puts these nodes in a tree.
// Nothing is decided here: states, statuses and outcomes come from the language server as they are.

export const CLUSTER_VIEW_METHOD = 'zato/clusterView';
export const MODULE_HISTORY_METHOD = 'zato/moduleHistory';
export const WATCH_CLUSTER_METHOD = 'zato/watchCluster';
export const CLUSTER_CHANGED_METHOD = 'zato/clusterChanged';
export const LSP_ROLLBACK = 'zato.rollback';
export const LSP_UNDEPLOY = 'zato.undeploy';

export interface ViewServer {
  name: string;
  url: string;
  state: string; // starting, live, stopping, offline
}

export interface ViewModuleRow {
  name: string;
  status: string; // pending, deployed, undeployed, failed, offline
  state?: string;
  error?: { type?: string; message?: string; line?: number } | null;
}

export interface ViewModule {
  name: string;
  version: number;
  sha256: string;
  deployed: boolean;
  deploymentId: number;
  who: string;
  origin: string;
  createdAt: string;
  status: string;
  outcome: string;
  uri?: string;
  servers: ViewModuleRow[];
}

export interface ClusterViewAnswer {
  target: string;
  url: string;
  summary: string;
  at: string;
  error?: string;
  servers: ViewServer[];
  modules: ViewModule[];
}

/** zato/clusterChanged's params: via is set when the way the view is followed starts or changes ("paused": the
 * server refused the credentials, and nothing is sent with them until they change or Refresh asks). */
export interface ClusterChanged {
  target: string;
  module: string;
  via?: 'stream' | 'poll' | 'paused';
}

/** The view's description for how it is followed ("live" over the event stream, "polling", paused); undefined when
 * the notification says nothing of it. */
export function followingDescription(params: unknown): string | undefined {
  const via = (params as Partial<ClusterChanged> | undefined)?.via;
  if (via === 'stream') return 'live';
  if (via === 'poll') return 'polling';
  if (via === 'paused') return 'paused: credentials refused';
  return undefined;
}

export interface HistoryEntry {
  version: number;
  sha256: string;
  who: string;
  origin: string;
  createdAt: string;
  size: number;
  current: boolean;
  uri: string;
  label: string;
  /** Where it serves now, and where its newest deployment on each server loaded or failed (absent from older
   *  language servers). */
  servedBy?: string[];
  loadedOn?: string[];
  failedOn?: string[];
  /** serving, loaded, failed (on every server that tried it), untried */
  state?: string;
  /** "serving on server1, server2", "failed on server1, server2: SyntaxError: invalid syntax (line 3)" */
  note?: string;
}

export interface HistoryAnswer {
  module: string;
  target: string;
  current: number;
  versions: HistoryEntry[];
}

/** zato.rollback's and zato.undeploy's answer. */
export interface WriteAnswer {
  module: string;
  target: string;
  action: string;
  deploymentId: number;
  version: number;
  status: string;
  done: boolean;
  ok: boolean;
  message: string;
}

export function isClusterViewAnswer(v: unknown): v is ClusterViewAnswer {
  const a = v as ClusterViewAnswer;
  return !!a && typeof a === 'object' && Array.isArray(a.servers) && Array.isArray(a.modules);
}

export function isHistoryAnswer(v: unknown): v is HistoryAnswer {
  const a = v as HistoryAnswer;
  return !!a && typeof a === 'object' && typeof a.module === 'string' && Array.isArray(a.versions);
}

export function isWriteAnswer(v: unknown): v is WriteAnswer {
  const a = v as WriteAnswer;
  return !!a && typeof a === 'object' && typeof a.message === 'string' && typeof a.ok === 'boolean';
}

/** A node of the tree, as plain data: clusterView.ts turns it into a vscode.TreeItem. */
export interface Node {
  id: string;
  kind: 'message' | 'group' | 'server' | 'module' | 'row';
  label: string;
  description?: string;
  tooltip?: string;
  /** A codicon id and the theme color it is drawn in. */
  icon: string;
  color?: string;
  /** The context menus' key: zatoModule.deployed, zatoModule.undeployed, zatoServer, ... */
  contextValue?: string;
  expanded?: boolean;
  children?: Node[];
  module?: ViewModule;
  target?: string;
}

const OK = 'testing.iconPassed';
const BAD = 'testing.iconFailed';
const WARN = 'list.warningForeground';
const MUTED = 'disabledForeground';

export function serverIcon(state: string): { icon: string; color?: string } {
  switch (state) {
    case 'live':
      return { icon: 'vm-running', color: OK };
    case 'starting':
      return { icon: 'loading~spin', color: WARN };
    case 'stopping':
      return { icon: 'debug-stop', color: WARN };
  }
  return { icon: 'vm-outline', color: MUTED };
}

export function statusIcon(status: string): { icon: string; color?: string } {
  switch (status) {
    case 'deployed':
      return { icon: 'pass-filled', color: OK };
    case 'undeployed':
      return { icon: 'circle-slash', color: MUTED };
    case 'failed':
      return { icon: 'error', color: BAD };
    case 'partial':
      return { icon: 'warning', color: WARN };
    case 'pending':
      return { icon: 'loading~spin' };
    case 'offline':
      return { icon: 'debug-disconnect', color: MUTED };
  }
  return { icon: 'circle-outline' };
}

/** "alice (ide)", as the language server's messages word it. */
export function byWhom(who: string, origin: string): string {
  const w = who || 'someone';
  return origin ? `${w} (${origin})` : w;
}

/** "2026-11-30 08:31:02 UTC" from an RFC 3339 time. */
export function utc(at: string): string {
  const d = new Date(at);
  if (!at || Number.isNaN(d.getTime()) || d.getUTCFullYear() < 2) return 'an unknown time';
  return `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** One line of a module's server row: "deployed", "failed: SyntaxError: invalid syntax (line 3)". */
export function rowDescription(r: ViewModuleRow): string {
  let s = r.status;
  if (r.status === 'pending' && r.state && r.state !== 'live') s += ` (${r.state})`;
  const e = r.error;
  if (e && (e.type || e.message)) {
    s += `: ${[e.type, e.message].filter(Boolean).join(': ')}`;
    if (e.line) s += ` (line ${e.line})`;
  }
  return s;
}

export function moduleNode(m: ViewModule, target: string): Node {
  const { icon, color } = statusIcon(m.status);
  const version = m.deployed ? `v${m.version}` : 'undeployed';
  const description = `${version} · ${byWhom(m.who, m.origin)}`;
  const tooltip = [
    m.deployed ? `${m.name} version ${m.version}` : `${m.name}: undeployed`,
    `by ${byWhom(m.who, m.origin)} at ${utc(m.createdAt)}`,
    m.outcome,
    m.deployed && m.sha256 ? `sha256 ${m.sha256.slice(0, 12)}…` : '',
  ]
    .filter(Boolean)
    .join('\n');
  return {
    id: `module/${target}/${m.name}`,
    kind: 'module',
    label: m.name,
    description,
    tooltip,
    icon,
    color,
    contextValue: m.deployed ? 'zatoModule.deployed' : 'zatoModule.undeployed',
    expanded: m.status !== 'deployed' && m.status !== 'undeployed',
    module: m,
    target,
    children: m.servers.map((r) => {
      const ri = statusIcon(r.status);
      return {
        id: `row/${target}/${m.name}/${r.name}`,
        kind: 'row',
        label: r.name,
        description: rowDescription(r),
        tooltip: `${m.name} on ${r.name}: ${rowDescription(r)}`,
        icon: ri.icon,
        color: ri.color,
        contextValue: 'zatoModuleServer',
        module: m,
        target,
      } satisfies Node;
    }),
  };
}

/** The tree's top level: the error in words, or Servers and Modules. */
export function clusterNodes(v: ClusterViewAnswer | undefined, problem?: string): Node[] {
  if (!v || v.error || problem) {
    const text = problem ?? v?.error ?? 'The language server is not running.';
    return [{ id: 'message', kind: 'message', label: text, tooltip: text, icon: 'warning', color: WARN }];
  }
  const servers: Node[] = v.servers.map((s) => ({
    id: `server/${v.target}/${s.name}`,
    kind: 'server',
    label: s.name,
    description: s.state,
    tooltip: `${s.name} (${s.url}): ${s.state}`,
    contextValue: 'zatoServer',
    target: v.target,
    ...serverIcon(s.state),
  }));
  const modules = v.modules.map((m) => moduleNode(m, v.target));
  const live = v.servers.filter((s) => s.state === 'live').length;
  return [
    {
      id: `servers/${v.target}`,
      kind: 'group',
      label: 'Servers',
      description: `${live}/${v.servers.length} live · ${v.target}`,
      tooltip: `${v.target}: ${v.url}`,
      icon: 'server-environment',
      expanded: true,
      children: servers,
    },
    {
      id: `modules/${v.target}`,
      kind: 'group',
      label: 'Modules',
      description: `${v.modules.length}`,
      icon: 'symbol-module',
      expanded: true,
      children: modules.length > 0 ? modules : [{ id: 'modules/none', kind: 'message', label: 'No module deployed yet', icon: 'info' }],
    },
  ];
}

/** A row of the quick pick of a module's versions. */
export interface HistoryItem {
  label: string;
  description: string;
  detail?: string;
  version: number;
  /** It failed on every server that tried it: going back to it fails again. */
  failed: boolean;
  note?: string;
}

const VERSION_ICON: Record<string, string> = { serving: 'pass-filled', loaded: 'pass', failed: 'error', untried: 'circle-outline' };

/** The quick pick's rows of a module's history, each marked with where it served or failed. */
export function historyItems(h: HistoryAnswer, exceptCurrent = false): HistoryItem[] {
  return h.versions
    .filter((v) => !(exceptCurrent && v.current))
    .map((v) => {
      const icon = v.state ? VERSION_ICON[v.state] : undefined;
      const facts = [`${v.size} bytes · sha256 ${v.sha256.slice(0, 12)}…`];
      if (v.note) facts.unshift(v.note);
      return {
        label: `${icon ? `$(${icon}) ` : ''}v${v.version}${v.current ? ' (current)' : ''}`,
        description: `${byWhom(v.who, v.origin)} · ${utc(v.createdAt)}`,
        detail: facts.join(' · '),
        version: v.version,
        failed: v.state === 'failed',
        note: v.note,
      };
    });
}

/** The row a pick starts on: the newest version that did not fail on every server (none when they all did). */
export function preselected(items: readonly HistoryItem[]): HistoryItem | undefined {
  return items.find((i) => !i.failed);
}

/**
 * Parses a zato-cluster:/<target>/<module>?version=N URI (what the language server hands out), or the form the
 * editor shows versions under (clusterDocumentUri), whose query is {"version": N, "target": "..."}.
 */
export function parseClusterUri(path: string, query: string): { target: string; module: string; version: number } | undefined {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
  let version: number | undefined;
  if (query.startsWith('{')) {
    try {
      const q = JSON.parse(query) as { version?: unknown };
      if (typeof q.version === 'number' && Number.isInteger(q.version)) version = q.version;
    } catch {
      // not ours
    }
  } else {
    const v = /(?:^|&)version=(\d+)/.exec(query);
    if (v) version = Number(v[1]);
  }
  if (!m || version === undefined) return undefined;
  return { target: decodeURIComponent(m[1]!), module: decodeURIComponent(m[2]!), version };
}

/**
 * The path and query a version is shown under: the language server's URI with its query as JSON, which the
 * extension's resourceLabelFormatter (package.json) reads to title the tab "x.py (v2, default)" rather than "x.py",
 * the local file's title.
 */
export function clusterDocumentUri(lspUri: string): { path: string; query: string } | undefined {
  const i = lspUri.indexOf(':');
  const rest = lspUri.slice(i + 1);
  const q = rest.indexOf('?');
  const path = q >= 0 ? rest.slice(0, q) : rest;
  const ref = parseClusterUri(path, q >= 0 ? rest.slice(q + 1) : '');
  if (!ref) return undefined;
  return { path, query: JSON.stringify({ version: ref.version, target: ref.target }) };
}
