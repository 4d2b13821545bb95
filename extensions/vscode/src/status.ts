// Presentation of the language server's zato/deployStatus notification (docs/architecture.md) in the status bar.
// Pure: no vscode import, so it is unit-tested as it is. extension.ts applies the result to a StatusBarItem.

/** Error details a server reported for a module (SyntaxError, ImportError...). */
export interface DeployError {
  type?: string;
  message?: string;
  line?: number;
  column?: number;
  traceback?: string;
}

/** One server's state in a deployment. */
export interface ServerState {
  name: string;
  status: string; // pending | deployed | failed | offline
  services?: string[] | null;
  error?: DeployError | null;
}

export type DeployState =
  | 'queued'
  | 'uploading'
  | 'propagating'
  | 'deployed'
  | 'partial'
  | 'failed'
  | 'unreachable'
  | 'unauthorized'
  | 'accepted'
  | 'conflict';

/** The zato/deployStatus payload. */
export interface DeployStatus {
  uri: string;
  module: string;
  deploymentId?: number;
  target?: string;
  state: DeployState | string;
  confirmed: number;
  expected: number;
  servers?: ServerState[] | null;
  elapsedMs?: number;
  message?: string;
}

export type Background = 'error' | 'warning' | undefined;

/** What the status bar item shows. */
export interface Presentation {
  /** StatusBarItem.text, with $(icon) references. */
  text: string;
  /** Markdown for a MarkdownString with supportThemeIcons. */
  tooltip: string;
  /** statusBarItem.errorBackground or statusBarItem.warningBackground; undefined for the default. */
  background: Background;
  /** For screen readers: the text without icons. */
  label: string;
}

/** What the extension knows besides the last deployment, shown in the tooltip. */
export interface Context {
  target?: string;
  deployOnSave?: boolean;
  /** Other modules' latest statuses, newest first (the one shown is not among them). */
  others?: DeployStatus[];
}

export const IDLE_TEXT = '$(zap) Zato';

const inFlight = new Set(['queued', 'uploading', 'propagating']);

/** Whether a state ends a deployment. */
export function isFinal(state: string): boolean {
  return !inFlight.has(state);
}

/** The status bar when nothing was deployed yet in this session. */
export function presentIdle(ctx: Context = {}): Presentation {
  const lines = ['**Zato**: nothing deployed yet in this session.', '', ...contextLines(ctx), '', CLICK];
  return { text: IDLE_TEXT, tooltip: lines.join('\n'), background: undefined, label: 'Zato' };
}

/** The status bar when the language server is not running (it never pretends to be idle then). */
export function presentStopped(reason: string): Presentation {
  return {
    text: '$(error) Zato: server stopped',
    tooltip: `**Zato language server stopped**\n\n${escape(reason)}\n\n${CLICK}`,
    background: 'error',
    label: 'Zato: server stopped',
  };
}

/** The status bar while the language server starts. */
export function presentStarting(): Presentation {
  return {
    text: IDLE_TEXT,
    tooltip: `**Zato**: starting the language server…\n\n${CLICK}`,
    background: undefined,
    label: 'Zato: starting',
  };
}

const CLICK = '_Click to open the deployment log._';

/** zato/serverStatus (the language server's health.go): the target's state, from the start. */
export interface ServerHealth {
  health: 'ok' | 'warning' | 'error' | string;
  /** ok, unconfigured, config, noPassword, unauthorized, unreachable */
  state: string;
  target?: string;
  url?: string;
  message: string;
}

export function isServerHealth(v: unknown): v is ServerHealth {
  const h = v as ServerHealth;
  return !!h && typeof h === 'object' && typeof h.health === 'string' && typeof h.state === 'string' && typeof h.message === 'string';
}

const HEALTH_TAIL: Record<string, string> = {
  unauthorized: 'unauthorized',
  unreachable: 'unreachable',
  config: 'configuration error',
  noPassword: 'no password',
  unconfigured: 'no target',
};

/** The status bar from the target's state, while no deployment is newer. */
export function presentHealth(h: ServerHealth, ctx: Context = {}): Presentation {
  if (h.health === 'ok') {
    const lines = [`**Zato**: ${escape(h.message)}.`, '', 'Nothing deployed yet in this session.', '', ...contextLines(ctx), '', CLICK];
    return { text: IDLE_TEXT, tooltip: lines.join('\n'), background: undefined, label: 'Zato' };
  }
  const background: Background = h.health === 'error' ? 'error' : 'warning';
  const tail = HEALTH_TAIL[h.state] ?? h.state;
  const label = `Zato: ${tail}`;
  const lines = [`**${escape(h.message)}**`, '', ...contextLines({ ...ctx, target: h.target || ctx.target }), '', CLICK];
  return { text: `$(${background === 'error' ? 'error' : 'warning'}) ${label}`, tooltip: lines.join('\n'), background, label };
}

/** What the status bar shows: the newer of the last deployment and the target's state (a bad state only). */
export interface Shown {
  current?: DeployStatus;
  currentSeq?: number;
  health?: ServerHealth;
  healthSeq?: number;
}

export function choosePresentation(s: Shown, ctx: Context = {}): Presentation {
  const bad = s.health && s.health.health !== 'ok';
  if (s.current && (!bad || (s.currentSeq ?? 0) > (s.healthSeq ?? 0))) return present(s.current, ctx);
  if (s.health) return presentHealth(s.health, ctx);
  return presentIdle(ctx);
}

/** Maps a zato/deployStatus to the status bar item. */
export function present(st: DeployStatus, ctx: Context = {}): Presentation {
  const mod = st.module || basename(st.uri) || 'module';
  const count = st.expected > 0 ? ` ${st.confirmed}/${st.expected}` : '';
  let icon: string;
  let tail: string;
  let background: Background;
  switch (st.state) {
    case 'queued':
    case 'uploading':
    case 'propagating':
      icon = 'sync~spin';
      tail = count;
      break;
    case 'deployed':
      icon = 'check';
      tail = count;
      break;
    case 'accepted':
      icon = 'check';
      tail = ' accepted';
      break;
    case 'partial': {
      icon = 'warning';
      const missing = (st.servers ?? []).filter((s) => s.status !== 'deployed').map((s) => `${s.name} ${s.status}`);
      tail = count + (missing.length > 0 ? ` · ${missing.join(', ')}` : '');
      background = 'warning';
      break;
    }
    case 'failed':
      icon = 'error';
      // Nothing reached the servers (a configuration problem, a refusal before any deployment): not a deployment
      // that failed on them.
      tail = !st.deploymentId && (st.servers ?? []).length === 0 ? ' not deployed' : ' failed';
      background = 'error';
      break;
    case 'unreachable':
      icon = 'error';
      tail = ' unreachable';
      background = 'error';
      break;
    case 'unauthorized':
      icon = 'error';
      tail = ' unauthorized';
      background = 'error';
      break;
    case 'conflict':
      // not deployed: someone else's version is on the cluster (Show Diff / Deploy Anyway)
      icon = 'git-merge';
      tail = ' conflict';
      background = 'warning';
      break;
    default:
      icon = 'question';
      tail = ` ${st.state}`;
  }
  const label = `Zato: ${mod}${tail}`;
  return { text: `$(${icon}) ${label}`, tooltip: tooltip(st, mod, ctx), background, label };
}

function tooltip(st: DeployStatus, mod: string, ctx: Context): string {
  const out: string[] = [];
  out.push(`**${escape(st.message || `${mod}: ${st.state}`)}**`, '');
  const servers = st.servers ?? [];
  if (servers.length > 0) {
    out.push('| server | state | services |', '|---|---|---|');
    for (const s of servers) {
      out.push(`| ${escape(s.name)} | ${serverIcon(s.status)} ${escape(s.status)} | ${serverDetail(s)} |`);
    }
    out.push('');
  }
  const facts: string[] = [];
  if (st.expected > 0) facts.push(`${st.confirmed}/${st.expected} confirmed`);
  if (st.elapsedMs !== undefined && st.elapsedMs > 0) facts.push(`${isFinal(st.state) ? 'took' : 'for'} ${formatDuration(st.elapsedMs)}`);
  if (st.deploymentId) facts.push(`deployment #${st.deploymentId}`);
  if (facts.length > 0) out.push(facts.join(' · '), '');
  out.push(...contextLines({ ...ctx, target: st.target || ctx.target }));
  const others = (ctx.others ?? []).filter((o) => o.module !== st.module).slice(0, 5);
  if (others.length > 0) {
    out.push('', 'Also: ' + others.map((o) => escape(present(o).label.replace(/^Zato: /, ''))).join(' · '));
  }
  out.push('', CLICK);
  return out.join('\n');
}

function contextLines(ctx: Context): string[] {
  const parts: string[] = [];
  if (ctx.target) parts.push(`target \`${ctx.target.replace(/`/g, '')}\``);
  if (ctx.deployOnSave !== undefined) parts.push(`deploy on save ${ctx.deployOnSave ? 'on' : 'off'}`);
  return parts.length > 0 ? [parts.join(' · ')] : [];
}

function serverIcon(status: string): string {
  switch (status) {
    case 'deployed':
      return '$(check)';
    case 'pending':
      return '$(sync~spin)';
    case 'offline':
      return '$(debug-disconnect)';
    case 'failed':
      return '$(error)';
    default:
      return '$(question)';
  }
}

function serverDetail(s: ServerState): string {
  if (s.error) {
    const e = s.error;
    const at = e.line ? ` at line ${e.line}${e.column ? `, column ${e.column}` : ''}` : '';
    return escape(`${e.type || 'Error'}${at}: ${e.message ?? ''}`.trim());
  }
  const svc = s.services ?? [];
  if (svc.length === 0) return s.status === 'deployed' ? '(no services)' : '';
  return svc.map((n) => '`' + n.replace(/`/g, '') + '`').join(', ');
}

/** "0.8 ms", "12 ms", "1.2 s". */
export function formatDuration(ms: number): string {
  if (ms < 1) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(1)} s`;
}

/** Escapes text for a Markdown table cell or paragraph (theme icons stay off in server-provided text). */
export function escape(s: string): string {
  return s
    .replace(/\r?\n/g, ' ')
    .replace(/([\\`*_{}[\]()#+\-.!|<>$~])/g, '\\$1');
}

function basename(uri: string): string {
  const i = uri.lastIndexOf('/');
  return i >= 0 ? decodeURIComponent(uri.slice(i + 1)) : uri;
}

/**
 * Keeps the latest status of each module and says which one the status bar shows: the most recently updated.
 * A status older than the one already known for its module (a lower deployment id) is dropped.
 */
export class StatusBook {
  private readonly byModule = new Map<string, { st: DeployStatus; seq: number }>();
  private seq = 0;

  /** Records a status; returns false when it was stale and dropped. */
  update(st: DeployStatus): boolean {
    const key = `${st.target ?? ''}\u0000${st.module}`;
    const prev = this.byModule.get(key);
    if (prev && st.deploymentId && prev.st.deploymentId && st.deploymentId < prev.st.deploymentId) return false;
    this.byModule.set(key, { st, seq: ++this.seq });
    return true;
  }

  /** The newest status, if any. */
  current(): DeployStatus | undefined {
    return this.sorted()[0];
  }

  /** When the newest status came, on the sequence next() counts. */
  currentSeq(): number {
    return Math.max(0, ...[...this.byModule.values()].map((e) => e.seq));
  }

  /** A number later than every status so far, for ordering other news (zato/serverStatus) against them. */
  next(): number {
    return ++this.seq;
  }

  /** Every module's latest status but the current one's, newest first. */
  others(): DeployStatus[] {
    return this.sorted().slice(1);
  }

  clear(): void {
    this.byModule.clear();
  }

  private sorted(): DeployStatus[] {
    return [...this.byModule.values()].sort((a, b) => b.seq - a.seq).map((e) => e.st);
  }
}
