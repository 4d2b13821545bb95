// The Zato Cluster tree view (zato.clusterView): servers with their state, modules with version, who, origin and
// each server's row, from the language server's zato/clusterView; actions through its commands and requests. It
// holds no deploy logic: what to show comes from src/clusterModel.ts, what happens from the language server.

import * as vscode from 'vscode';

import {
  CLUSTER_VIEW_METHOD,
  type ClusterViewAnswer,
  type HistoryItem,
  LSP_ROLLBACK,
  LSP_UNDEPLOY,
  MODULE_HISTORY_METHOD,
  type Node,
  WATCH_CLUSTER_METHOD,
  clusterNodes,
  followingDescription,
  historyItems,
  isClusterViewAnswer,
  isHistoryAnswer,
  isWriteAnswer,
  preselected,
} from './clusterModel';
import { type ClusterDocuments, isClusterVersion } from './cluster';

export const CLUSTER_VIEW_ID = 'zato.clusterView';
const LSP_SHOW_CLUSTER_VERSION = 'zato.showClusterVersion';

/** What the view needs of the extension: the running language server, if any. */
export interface ClusterBackend {
  request<T>(method: string, params: unknown): Promise<T | undefined>;
  execute<T>(command: string, args: unknown[]): Promise<T | undefined>;
  notify(method: string, params: unknown): Promise<void>;
  running(): boolean;
  log: vscode.LogOutputChannel;
}

export class ClusterView implements vscode.TreeDataProvider<Node> {
  private readonly changed = new vscode.EventEmitter<Node | undefined>();
  readonly onDidChangeTreeData = this.changed.event;
  private view: vscode.TreeView<Node> | undefined;
  private last: ClusterViewAnswer | undefined;
  private problem: string | undefined;
  private loading: Promise<void> | undefined;
  private again = false;
  private againAsked = false;
  private loaded = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly backend: ClusterBackend,
    private readonly docs: ClusterDocuments,
  ) {}

  register(): vscode.Disposable {
    this.view = vscode.window.createTreeView(CLUSTER_VIEW_ID, { treeDataProvider: this, showCollapseAll: true });
    return vscode.Disposable.from(
      this.changed,
      this.view,
      this.view.onDidChangeVisibility(() => void this.onVisibility()),
      { dispose: () => clearTimeout(this.timer) },
    );
  }

  /** The language server (re)started or stopped: watch again if the view is open, and read the cluster. */
  async onServerState(): Promise<void> {
    await this.onVisibility();
  }

  private async onVisibility(): Promise<void> {
    const visible = !!this.view?.visible;
    if (this.view && (!visible || !this.backend.running())) this.view.description = undefined; // followed no more
    if (this.backend.running()) {
      await this.backend.notify(WATCH_CLUSTER_METHOD, { watch: visible }).catch(() => undefined);
    }
    if (visible) this.refresh();
  }

  /** zato/clusterChanged: read again, a few changes in a row giving one read; show how the view is followed. */
  onClusterChanged(params?: unknown): void {
    if (!this.view?.visible) return;
    const following = followingDescription(params);
    if (following !== undefined) this.view.description = following;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.refresh(), 100);
  }

  /**
   * Reads the cluster (once at a time; a request meanwhile reads again after). userAsked: the Refresh button, which
   * asks the server even when it refused the credentials before (the automatic reads do not: failed logins lock
   * every client of the machine out).
   */
  refresh(userAsked = false): void {
    if (this.loading) {
      this.again = true;
      this.againAsked ||= userAsked;
      return;
    }
    this.loading = this.load(userAsked).finally(() => {
      this.loading = undefined;
      if (this.again) {
        const a = this.againAsked;
        this.again = false;
        this.againAsked = false;
        this.refresh(a);
      }
    });
  }

  /** Settles when the current read (if any) is done: for tests and commands that act on fresh data. */
  async settled(): Promise<void> {
    while (this.loading) await this.loading;
  }

  private async load(userAsked: boolean): Promise<void> {
    this.loaded = true;
    if (!this.backend.running()) {
      // The view's welcome content says why and offers a restart.
      this.last = undefined;
      this.problem = undefined;
    } else {
      try {
        const res = await this.backend.request<unknown>(CLUSTER_VIEW_METHOD, userAsked ? { refresh: true } : {});
        this.last = isClusterViewAnswer(res) ? res : undefined;
        this.problem = this.last ? undefined : 'The language server gave no cluster view.';
      } catch (err) {
        this.problem = err instanceof Error ? err.message : String(err);
      }
    }
    if (this.view) {
      this.view.message = this.last && !this.last.error ? `${this.last.target}: ${this.last.summary}` : undefined;
    }
    this.changed.fire(undefined);
  }

  /** The last answer (the end-to-end test reads it through the extension's API). */
  snapshot(): ClusterViewAnswer | undefined {
    return this.last;
  }

  getChildren(node?: Node): Node[] {
    if (!node) {
      if (!this.loaded) {
        this.refresh();
        return [];
      }
      if (!this.last && !this.problem) return [];
      return clusterNodes(this.last, this.problem);
    }
    return node.children ?? [];
  }

  getTreeItem(n: Node): vscode.TreeItem {
    const state =
      n.children && n.children.length > 0
        ? n.expanded
          ? vscode.TreeItemCollapsibleState.Expanded
          : vscode.TreeItemCollapsibleState.Collapsed
        : vscode.TreeItemCollapsibleState.None;
    const item = new vscode.TreeItem(n.label, state);
    item.id = n.id;
    item.description = n.description;
    item.tooltip = n.tooltip;
    item.contextValue = n.contextValue;
    item.iconPath = new vscode.ThemeIcon(n.icon, n.color ? new vscode.ThemeColor(n.color) : undefined);
    if (n.kind === 'module' && n.module?.deployed) {
      item.command = { command: 'zato.cmd.clusterOpenSource', title: 'Open Deployed Source', arguments: [n] };
    }
    return item;
  }

  // ---- actions ----

  /** The node a command acts on: the one clicked, else the selection. */
  private target(arg: unknown): Node | undefined {
    const n = (arg as Node | undefined) ?? this.view?.selection[0];
    return n?.module ? n : undefined;
  }

  async openSource(arg: unknown, version?: number): Promise<void> {
    const n = this.target(arg);
    if (!n?.module) return;
    await this.openVersion(n.module.name, n.target, version);
  }

  async openVersion(module: string, target: string | undefined, version?: number): Promise<void> {
    try {
      const res = await this.backend.execute<unknown>(LSP_SHOW_CLUSTER_VERSION, [{ module, version, target }]);
      if (isClusterVersion(res)) await this.docs.show(res);
    } catch (err) {
      this.fail(`Open ${module}`, err);
    }
  }

  async history(arg: unknown): Promise<void> {
    const n = this.target(arg);
    if (!n?.module) return;
    const pick = await this.pickVersion(n, false, `Zato: versions of ${n.module.name} — open one`);
    if (pick !== undefined) await this.openVersion(n.module.name, n.target, pick.version);
  }

  async rollback(arg: unknown): Promise<void> {
    const n = this.target(arg);
    if (!n?.module) return;
    const m = n.module;
    const pick = await this.pickVersion(n, true, `Zato: roll ${m.name} back to which version?`);
    if (pick === undefined) return;
    const version = pick.version;
    const now = m.deployed ? `Version ${m.version} serves now.` : `${m.name} is undeployed now.`;
    const ok = await vscode.window.showWarningMessage(
      pick.failed
        ? `Version ${version} of ${m.name} failed on every server that tried it. Deploy it again on every server of ${n.target}?`
        : `Roll ${m.name} back to version ${version} on every server of ${n.target}?`,
      { modal: true, detail: pick.failed ? `${pick.note ?? 'It failed wherever it was tried'}. ${now}` : now },
      'Roll Back',
    );
    if (ok !== 'Roll Back') return;
    await this.write(LSP_ROLLBACK, { module: m.name, version, target: n.target }, `Rolling ${m.name} back to version ${version}`);
  }

  async undeploy(arg: unknown): Promise<void> {
    const n = this.target(arg);
    if (!n?.module) return;
    const m = n.module;
    const ok = await vscode.window.showWarningMessage(
      `Undeploy ${m.name} from every server of ${n.target}?`,
      { modal: true, detail: `Its services stop answering. Its versions are kept: Roll Back brings one back.` },
      'Undeploy',
    );
    if (ok !== 'Undeploy') return;
    await this.write(LSP_UNDEPLOY, { module: m.name, target: n.target }, `Undeploying ${m.name}`);
  }

  /**
   * A version of the module, each marked with where it served or failed; the pick starts on the newest one that did
   * not fail on every server (a rollback to one that did fails again).
   */
  private async pickVersion(n: Node, exceptCurrent: boolean, title: string): Promise<HistoryItem | undefined> {
    try {
      const h = await this.backend.request<unknown>(MODULE_HISTORY_METHOD, { module: n.module!.name, target: n.target });
      if (!isHistoryAnswer(h)) return undefined;
      const items = historyItems(h, exceptCurrent);
      if (items.length === 0) {
        void vscode.window.showInformationMessage(`Zato: ${h.module} has no other version to go back to.`);
        return undefined;
      }
      const qp = vscode.window.createQuickPick<HistoryItem & vscode.QuickPickItem>();
      qp.title = title;
      qp.matchOnDescription = true;
      qp.matchOnDetail = true;
      qp.items = items;
      const first = preselected(items);
      if (first) qp.activeItems = [first];
      else if (exceptCurrent) qp.placeholder = `Every other version of ${h.module} failed on every server that tried it`;
      return await new Promise<HistoryItem | undefined>((resolve) => {
        qp.onDidAccept(() => {
          resolve(qp.selectedItems[0] ?? qp.activeItems[0]);
          qp.hide();
        });
        qp.onDidHide(() => {
          resolve(undefined);
          qp.dispose();
        });
        qp.show();
      });
    } catch (err) {
      this.fail(`Versions of ${n.module!.name}`, err);
      return undefined;
    }
  }

  private async write(command: string, arg: Record<string, unknown>, title: string): Promise<void> {
    try {
      const res = await vscode.window.withProgress({ location: { viewId: CLUSTER_VIEW_ID }, title: `Zato: ${title}` }, () =>
        this.backend.execute<unknown>(command, [arg]),
      );
      if (isWriteAnswer(res)) {
        if (res.ok) void vscode.window.showInformationMessage(`Zato: ${res.message}`);
        else void vscode.window.showWarningMessage(`Zato: ${res.message}`);
      }
    } catch (err) {
      // The language server has shown the reason (window/showMessage); keep it in the log.
      this.backend.log.error(`${title}: ${err instanceof Error ? err.message : String(err)}`);
    }
    this.refresh();
  }

  private fail(what: string, err: unknown): void {
    const msg = err instanceof Error ? err.message : String(err);
    this.backend.log.error(`${what}: ${msg}`);
    void vscode.window.showErrorMessage(`Zato: ${msg}`);
  }
}
