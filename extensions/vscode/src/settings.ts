// Settings handling: what the extension sends the language server, where the zato binary is, which targets exist.
// Pure: no vscode import; extension.ts passes in what it read from VS Code.

import { parse as parseYaml } from 'yaml';

/** Keys of the `zato.` section the language server reads (serverPath and trace are the extension's own). */
export const SERVER_KEYS = ['url', 'username', 'deployOnSave', 'include', 'exclude', 'requireMarker', 'targets'] as const;
export type ServerKey = (typeof SERVER_KEYS)[number];

/** The shape of WorkspaceConfiguration.inspect(key). */
export interface Inspected<T = unknown> {
  defaultValue?: T;
  globalValue?: T;
  workspaceValue?: T;
  workspaceFolderValue?: T;
}

/** The default target's name (the top-level url/username/password of .zato.yaml and of the settings). */
export const DEFAULT_TARGET = 'default';

/**
 * Secret storage key of a password: for one server URL and one user. Secret storage is the extension's, shared by
 * every workspace, so a key by target name ("default") made one project's password everyone's.
 */
export function secretKey(url: string, username: string): string {
  return `${SECRET_PREFIX}${JSON.stringify([normalizeUrl(url), username])}`;
}

/** Prefix of the keys secretKey makes. */
export const SECRET_PREFIX = 'zato.secret:';

/** Prefix of the keys of versions up to 0.1.0 (by target name, global to every workspace); no longer read. */
export const LEGACY_SECRET_PREFIX = 'zato.password.';

/** A URL as the language server compares them (sameURL): without the trailing slashes and surrounding space. */
export function normalizeUrl(url: string): string {
  return url.trim().replace(/\/+$/, '');
}

/** A password from secret storage, for the server URL and user it was set for. */
export interface StoredPassword {
  url: string;
  username: string;
  password: string;
}

/** The language server's request listing the workspace's targets: {} -> {targets: TargetInfo[]}. */
export const TARGETS_METHOD = 'zato/targets';

export function isTargetsAnswer(v: unknown): v is { targets: TargetInfo[] } {
  const a = v as { targets?: unknown };
  return !!a && typeof a === 'object' && Array.isArray(a.targets);
}

/** A target as the language server's zato/targets lists it. */
export interface TargetInfo {
  name: string;
  folder: string;
  url: string;
  username: string;
  /** Where its password comes from: configured (.zato.yaml, passwordEnv, ZATO_PASSWORD), stored, none. */
  password: string;
  error?: string;
}

/**
 * The targets "Zato: Set Password" may set a password for (one per server URL and user), and those whose
 * configuration gives the password itself: a stored password would never be used for them.
 */
export function passwordTargets(targets: readonly TargetInfo[]): { settable: TargetInfo[]; configured: TargetInfo[] } {
  const settable: TargetInfo[] = [];
  const configured: TargetInfo[] = [];
  const seen = new Set<string>();
  for (const t of targets) {
    if (!t.url) continue;
    if (t.password === 'configured') {
      configured.push(t);
      continue;
    }
    const key = secretKey(t.url, t.username);
    if (seen.has(key)) continue;
    seen.add(key);
    settable.push(t);
  }
  return { settable, configured };
}

/**
 * The value a user set explicitly, most specific scope first; undefined when only the default applies.
 * Defaults are never sent: the language server's own defaults (and a workspace's .zato.yaml) must not be hidden by
 * VS Code's blank ones; deployOnSave, for one, is on by default only where a .zato.yaml exists.
 */
export function explicitValue<T>(i: Inspected<T> | undefined): T | undefined {
  if (!i) return undefined;
  for (const v of [i.workspaceFolderValue, i.workspaceValue, i.globalValue]) {
    if (v === undefined || v === null) continue;
    if (typeof v === 'string' && v.trim() === '') continue;
    return (typeof v === 'string' ? v.trim() : v) as T;
  }
  return undefined;
}

/** What extension.ts knows when it builds the server's configuration. */
export interface ConfigInputs {
  inspect: (key: ServerKey) => Inspected | undefined;
  /** Passwords from secret storage, each for a server URL and user. */
  storedPasswords: readonly StoredPassword[];
  /** The target picked with "Zato: Select Target", if any. */
  selectedTarget?: string;
}

/**
 * The `zato` section as the language server gets it in initializationOptions and workspace/configuration: the
 * explicit settings, the passwords from secret storage (never from settings.json) as storedPasswords, and the
 * selected target.
 */
export function serverConfig(inp: ConfigInputs): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of SERVER_KEYS) {
    const v = explicitValue(inp.inspect(key));
    if (v === undefined) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    out[key] = key === 'targets' ? sanitizeTargets(v) : v;
  }
  // Never as `password`: the language server uses a stored password only for a target with its URL and user whose
  // configuration gives it none (a .zato.yaml's password always wins).
  const stored = inp.storedPasswords.filter((p) => p.password && p.url);
  if (stored.length > 0) out.storedPasswords = stored.map((p) => ({ url: p.url, username: p.username, password: p.password }));
  if (inp.selectedTarget) out.defaultTarget = inp.selectedTarget;
  return out;
}

/** Copies the targets setting, dropping anything that is not an object and any password typed into settings.json. */
function sanitizeTargets(v: unknown): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  if (!v || typeof v !== 'object' || Array.isArray(v)) return out;
  for (const [name, t] of Object.entries(v as Record<string, unknown>)) {
    if (!t || typeof t !== 'object' || Array.isArray(t)) continue;
    const copy: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(t as Record<string, unknown>)) {
      if (k === 'password') continue; // passwords live in secret storage only
      if (val === undefined || val === null || val === '') continue;
      copy[k] = val;
    }
    out[name] = copy;
  }
  return out;
}

/**
 * Whether the running language server must be restarted rather than sent the new settings: the binary changed, or
 * a key given in initializationOptions (which the server keeps as a layer of its own) is gone now.
 */
export function needsRestart(initOptions: Record<string, unknown>, now: Record<string, unknown>, serverPathChanged: boolean): boolean {
  if (serverPathChanged) return true;
  return Object.keys(initOptions).some((k) => !(k in now));
}

/** Inputs of resolveServer, injectable for tests. */
export interface ServerPathInputs {
  /** zato.serverPath as VS Code resolved it, or the user-level value only in an untrusted workspace. */
  configured?: string;
  /** The binary a platform package carries (extension dir/bin/zato[.exe]). */
  bundled: string;
  /** Whether a path names an existing file. */
  exists: (path: string) => boolean;
  /** Expands ~ and ${userHome}. */
  home?: string;
  /** The PATH zato is looked for on when neither the setting nor a bundled binary names one. */
  path?: string;
  /** process.platform: win32 looks for zato.exe and splits the PATH on ';'. */
  platform?: string;
}

export interface ResolvedServer {
  command: string;
  source: 'setting' | 'bundled' | 'path';
}

/**
 * Where `zato lsp` comes from: zato.serverPath, else the bundled binary, else `zato` on the PATH; when there is none,
 * an error naming every place looked at (spawning a plain `zato` only said "spawn zato ENOENT").
 */
export function resolveServer(inp: ServerPathInputs): ResolvedServer | { error: string } {
  const configured = inp.configured?.trim();
  if (configured) {
    let p = configured;
    if (inp.home) p = p.replace(/^~(?=$|[\\/])/, inp.home).replace(/\$\{userHome\}/g, inp.home);
    if (!inp.exists(p)) return { error: `zato.serverPath is ${configured}, which does not exist` };
    return { command: p, source: 'setting' };
  }
  if (inp.exists(inp.bundled)) return { command: inp.bundled, source: 'bundled' };
  const win = inp.platform === 'win32';
  const name = binaryName(inp.platform ?? '');
  for (const dir of (inp.path ?? '').split(win ? ';' : ':')) {
    if (!dir) continue;
    const sep = win ? '\\' : '/';
    const p = dir.endsWith(sep) ? dir + name : dir + sep + name;
    if (inp.exists(p)) return { command: p, source: 'path' };
  }
  return {
    error: `cannot find zato: zato.serverPath is not set, this extension carries no zato binary (${inp.bundled}), and there is none on the PATH (${inp.path ?? ''}). Install zato, or set zato.serverPath to its full path.`,
  };
}

/** zato.serverPath to honour: in an untrusted workspace only the user's own (global) value counts. */
export function serverPathSetting(i: Inspected<string> | undefined, trusted: boolean): string | undefined {
  if (!i) return undefined;
  if (trusted) return explicitValue(i);
  return explicitValue({ globalValue: i.globalValue });
}

/** The bundled binary's file name on a platform. */
export function binaryName(platform: string): string {
  return platform === 'win32' ? 'zato.exe' : 'zato';
}

/** Target names and the default declared by a .zato.yaml (same schema as zato-client.yaml). */
export interface FileTargets {
  names: string[];
  defaultTarget?: string;
  hasTopLevel: boolean;
}

export function targetsFromYaml(text: string): FileTargets {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch {
    return { names: [], hasTopLevel: false };
  }
  if (!doc || typeof doc !== 'object') return { names: [], hasTopLevel: false };
  const d = doc as Record<string, unknown>;
  const t = d.targets;
  const names = t && typeof t === 'object' && !Array.isArray(t) ? Object.keys(t) : [];
  const res: FileTargets = { names, hasTopLevel: typeof d.url === 'string' && d.url !== '' };
  if (typeof d.defaultTarget === 'string' && d.defaultTarget) res.defaultTarget = d.defaultTarget;
  return res;
}

/** Every target a user can pick: the default one (when top-level url is set somewhere) and the named ones. */
export function targetChoices(settingsTargets: unknown, files: FileTargets[], topLevelUrlSetting: boolean): string[] {
  const names = new Set<string>();
  if (topLevelUrlSetting || files.some((f) => f.hasTopLevel)) names.add(DEFAULT_TARGET);
  if (settingsTargets && typeof settingsTargets === 'object' && !Array.isArray(settingsTargets)) {
    for (const n of Object.keys(settingsTargets)) names.add(n);
  }
  for (const f of files) for (const n of f.names) names.add(n);
  return [...names].sort((a, b) => (a === DEFAULT_TARGET ? -1 : b === DEFAULT_TARGET ? 1 : a.localeCompare(b)));
}
