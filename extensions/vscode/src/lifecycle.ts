// When the language server starts, whether it is the one this extension was built with, and the saves made while it
// was starting. Pure: no vscode import, unit-tested as it is (test/lifecycle.test.ts).

/** What decides whether the language server runs in a workspace. */
export interface StartInputs {
  /** The workspace has a .zato.yaml or .zato.yml (at any depth). */
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
