// When the language server starts, whether it is the one this extension was built with, and the saves made while it
// was starting. Pure: no vscode import, unit-tested as it is (test/lifecycle.test.ts).

/** What decides whether the language server runs in a workspace. */
export interface StartInputs {
  /** A workspace folder has a .zato.yaml or .zato.yml at its root (the only ones the language server reads). */
  hasConfigFile: boolean;
  /** zato.url as configured (any scope). */
  url?: unknown;
  /** zato.targets as configured (any scope). */
  targets?: unknown;
  /** ZATO_URL or ZATO_CONFIG in the extension host's environment. */
  env?: Record<string, string | undefined>;
}

/**
 * The language server starts only where there is something to deploy to: a workspace with a .zato.yaml, a zato.url
 * or zato.targets setting, or ZATO_URL / ZATO_CONFIG in the environment. Any other Python project is left alone.
 */
export function shouldStart(inp: StartInputs): boolean {
  if (inp.hasConfigFile) return true;
  if (typeof inp.url === 'string' && inp.url.trim() !== '') return true;
  if (inp.targets && typeof inp.targets === 'object' && Object.keys(inp.targets).length > 0) return true;
  const env = inp.env ?? {};
  return !!(env.ZATO_URL?.trim() || env.ZATO_CONFIG?.trim());
}

/** A .zato.yaml (or .zato.yml) found below a workspace folder's root. */
export interface NestedConfig {
  folder: string;
  folderName: string;
  /** Its path relative to the folder, with forward slashes. */
  relative: string;
}

/**
 * What to say about config files below the folders' roots when no folder has one at its root: the language server
 * does not read them (nor does the extension start it for them).
 */
export function nestedConfigMessage(found: readonly NestedConfig[]): string | undefined {
  const f = found[0];
  if (!f) return undefined;
  const dir = f.relative.includes('/') ? f.relative.slice(0, f.relative.lastIndexOf('/')) : '.';
  return `Zato: ${f.relative} is not read: a .zato.yaml must be at the root of the workspace folder ${f.folderName} (${f.folder}). Move it there, or open ${dir} as the folder.`;
}

/**
 * A warning when the language server is not the version of the extension (initialize's serverInfo.version against
 * the extension's package.json version); undefined when they match.
 */
export function versionWarning(extension: string, server: string | undefined, command: string): string | undefined {
  if (server === extension) return undefined;
  if (!server) {
    return `Zato: ${command} does not say its version; this extension is ${extension}. It is probably older: update zato, or set zato.serverPath to a zato ${extension}.`;
  }
  return `Zato: the language server ${command} is version ${server}, this extension is ${extension}. Use the same version of both (zato.serverPath, or update the extension).`;
}

/** What is known of a language server that could not be started, or died before it answered initialize. */
export interface StartFailure {
  command: string;
  source: 'setting' | 'bundled' | 'path';
  error: unknown;
  /** "exit code 1", "signal SIGKILL": how the process ended, when it did. */
  exit?: string;
  /** The end of what it wrote on stderr. */
  stderr?: string;
}

/** One message naming the binary tried and why it does not run (not "write EPIPE" or "spawn zato ENOENT"). */
export function startFailureMessage(f: StartFailure): string {
  const where = f.source === 'setting' ? ' (zato.serverPath)' : f.source === 'bundled' ? ' (shipped with the extension)' : ' (from the PATH)';
  const code = (f.error as { code?: unknown } | undefined)?.code;
  if (code === 'ENOENT') return `Zato: cannot start the language server ${f.command}${where}: it does not exist.`;
  if (code === 'EACCES') return `Zato: cannot start the language server ${f.command}${where}: it is not an executable file.`;
  const said = f.stderr?.trim() ? ` It said: ${f.stderr.trim().split('\n').slice(-3).join(' ')}` : '';
  if (f.exit) {
    return `Zato: the language server ${f.command}${where} exited (${f.exit}) before it answered: is it a zato binary? zato.serverPath must name zato, which runs as \`zato lsp\`.${said}`;
  }
  const msg = f.error instanceof Error ? f.error.message : String(f.error);
  return `Zato: cannot start the language server ${f.command}${where}: ${msg}.${said}`;
}

/**
 * The arguments vscode-languageclient's info/warn/error should have had: 9.0.1 calls info(message, !handled) when it
 * restarts a server that stopped, a boolean that would be logged as data, on a line of its own ("[info] false").
 */
export function logArguments(data: unknown, showNotification: boolean | 'force' | undefined): { data: unknown; showNotification: boolean | 'force' | undefined } {
  if (typeof data === 'boolean') return { data: undefined, showNotification: showNotification ?? data };
  return { data, showNotification };
}

/**
 * Saves made before the language server is running: VS Code sends no didSave for them, so they are kept (the latest
 * text per file) and sent once it runs.
 */
export class EarlySaves<T> {
  private readonly saves = new Map<string, T>();

  record(uri: string, save: T): void {
    this.saves.delete(uri); // keep the order of the last saves
    this.saves.set(uri, save);
  }

  get size(): number {
    return this.saves.size;
  }

  /** The saves in the order they were made, and forgets them. */
  take(): [string, T][] {
    const out = [...this.saves];
    this.saves.clear();
    return out;
  }
}
