// The cluster's version of a module after a conflict (zato.showClusterVersion's answer): shown read-only under its
// zato-cluster: URI in VS Code's diff editor against the buffer. No conflict logic lives here: the language server
// detects conflicts and keeps the cluster's source.

import * as vscode from 'vscode';

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

  register(): vscode.Disposable {
    return vscode.Disposable.from(this.changed, vscode.workspace.registerTextDocumentContentProvider(CLUSTER_SCHEME, this));
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.sources.get(uri.toString()) ?? '';
  }

  /** Opens the diff: the cluster's version on the left, the file (its buffer) on the right. */
  async showDiff(v: ClusterVersion, file: vscode.Uri): Promise<void> {
    const left = vscode.Uri.parse(v.uri);
    this.sources.set(left.toString(), v.source);
    this.changed.fire(left);
    await vscode.commands.executeCommand('vscode.diff', left, file, v.title, { preview: false });
  }
}
