// A version the cluster keeps (zato.showClusterVersion's answer): after a conflict, shown read-only under its
// zato-cluster: URI in VS Code's diff editor against the buffer; from the cluster view, opened read-only by itself.
// No conflict logic lives here: the language server detects conflicts and keeps or fetches the cluster's source.

import * as vscode from 'vscode';

import { clusterDocumentUri, parseClusterUri } from './clusterModel';

/** The URI a version is shown under: titled "x.py (v2, default)" by the resourceLabelFormatter of package.json. */
export function displayUri(lspUri: string): vscode.Uri {
  const u = clusterDocumentUri(lspUri);
  return u ? vscode.Uri.from({ scheme: CLUSTER_SCHEME, path: u.path, query: u.query }) : vscode.Uri.parse(lspUri);
}

export const CLUSTER_SCHEME = 'zato-cluster';

/** The fields of zato.showClusterVersion's answer the UI uses (docs/architecture.md). */
export interface ClusterVersion {
  module: string;
  target: string;
  uri: string;
  version: number;
  who?: string;
  origin?: string;
  createdAt?: string;
  source: string;
  title: string;
}

export function isClusterVersion(v: unknown): v is ClusterVersion {
  const c = v as ClusterVersion;
  return !!c && typeof c === 'object' && typeof c.source === 'string' && typeof c.uri === 'string' && c.uri.startsWith(`${CLUSTER_SCHEME}:`);
}

export class ClusterDocuments implements vscode.TextDocumentContentProvider {
  private readonly sources = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  /** fetch asks the language server again for a version this window has not seen (a tab restored after a reload). */
  constructor(private readonly fetch?: (target: string, module: string, version: number) => Promise<ClusterVersion | undefined>) {}

  register(): vscode.Disposable {
    return vscode.Disposable.from(this.changed, vscode.workspace.registerTextDocumentContentProvider(CLUSTER_SCHEME, this));
  }

  async provideTextDocumentContent(uri: vscode.Uri): Promise<string> {
    const known = this.sources.get(uri.toString());
    if (known !== undefined || !this.fetch) return known ?? '';
    const ref = parseClusterUri(uri.path, uri.query);
    const v = ref ? await this.fetch(ref.target, ref.module, ref.version).catch(() => undefined) : undefined;
    if (!v) return `# ${uri.toString(true)}: not available (is the Zato language server running?)\n`;
    this.sources.set(uri.toString(), v.source);
    return v.source;
  }

  /** Opens one version read-only (the cluster view's Open Deployed Source and History). */
  async show(v: ClusterVersion): Promise<void> {
    const uri = displayUri(v.uri);
    this.sources.set(uri.toString(), v.source);
    this.changed.fire(uri);
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.languages.setTextDocumentLanguage(doc, 'python');
    await vscode.window.showTextDocument(doc, { preview: true });
  }

  /** Opens the diff: the cluster's version on the left, the file (its buffer) on the right. */
  async showDiff(v: ClusterVersion, file: vscode.Uri): Promise<void> {
    const left = displayUri(v.uri);
    this.sources.set(left.toString(), v.source);
    this.changed.fire(left);
    await vscode.commands.executeCommand('vscode.diff', left, file, v.title, { preview: false });
  }
}
