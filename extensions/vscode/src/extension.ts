// The Zato extension: a thin client of `zato lsp`. Deployments, confirmations, diagnostics, code lenses, hovers,
// invocations and completion all come from the language server; this file starts it, hands it the settings and the
// password, turns its zato/deployStatus notifications into a status bar item, shows the answers of zato.invoke in a
// read-only document (src/invoke.ts), renders the cluster view (src/clusterView.ts) from its zato/clusterView, and maps
// the commands onto workspace/executeCommand.

import * as cp from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  CloseAction,
  DidChangeConfigurationNotification,
  DidSaveTextDocumentNotification,
  ErrorAction,
  ExecuteCommandRequest,
  LanguageClient,
  type LanguageClientOptions,
  RevealOutputChannelOn,
  type ServerOptions,
  State,
} from 'vscode-languageclient/node';

import {
  type FileTargets,
  type Inspected,
  LEGACY_SECRET_PREFIX,
  SECRET_PREFIX,
  type ServerKey,
  type StoredPassword,
  TARGETS_METHOD,
  type TargetInfo,
  binaryName,
  isTargetsAnswer,
  needsRestart,
  normalizeUrl,
  passwordTargets,
  resolveServer,
  secretKey,
  serverConfig,
  serverPathSetting,
  targetChoices,
  targetsFromYaml,
} from './settings';
import { InvokeDocuments, isInvokeAnswer } from './invoke';
import { ClusterDocuments, isClusterVersion } from './cluster';
import { ClusterView } from './clusterView';
import { CLUSTER_CHANGED_METHOD } from './clusterModel';
import {
  EarlySaves,
  type NestedConfig,
  type StartFailure,
  logArguments,
  nestedConfigMessage,
  shouldStart,
  startFailureMessage,
  versionWarning,
} from './lifecycle';
import {
  type DeployStatus,
  type Presentation,
  type ServerHealth,
  StatusBook,
  choosePresentation,
  isServerHealth,
  presentStarting,
  presentStopped,
} from './status';

const SECTION = 'zato';
const STATUS_METHOD = 'zato/deployStatus';
/** The target's state from the start (the language server's health.go), shown while no deployment is newer. */
const SERVER_STATUS_METHOD = 'zato/serverStatus';
const SELECTED_TARGET_KEY = 'zato.selectedTarget';
/** globalState: the server URLs and users secret storage holds a password for (it cannot list its keys). */
const STORED_PASSWORDS_KEY = 'zato.storedPasswords';

// Commands of the language server (docs/architecture.md). vscode-languageclient registers VS Code commands under
// these very names for the server's executeCommand provider, so the extension's own commands are zato.cmd.*.
const LSP_DEPLOY = 'zato.deploy';
const LSP_TEST_CONNECTION = 'zato.testConnection';
const LSP_TOGGLE = 'zato.toggleDeployOnSave';
const LSP_INVOKE = 'zato.invoke';
const LSP_INVOKE_EVERYWHERE = 'zato.invokeEverywhere';
const LSP_SHOW_CLUSTER_VERSION = 'zato.showClusterVersion';
const LSP_DEPLOY_ANYWAY = 'zato.deployAnyway';

let ext: ZatoExtension | undefined;

/**
 * vscode-languageclient with its own toasts routed to the extension, which shows one message naming the binary (it
 * showed "spawn zato ENOENT", "couldn't create connection to server", "write EPIPE"), and its log lines fixed (9.0.1
 * logs info(message, !handled)'s boolean as a line of its own: "[info] false").
 */
class ZatoClient extends LanguageClient {
  /** A message the library would have forced on screen. */
  onForced: ((message: string, data: unknown) => void) | undefined;

  override error(message: string, data?: unknown, showNotification?: boolean | 'force'): void {
    const a = logArguments(data, showNotification);
    super.error(message, a.data, false);
    if (a.showNotification === 'force') this.onForced?.(message, a.data);
  }

  override warn(message: string, data?: unknown, showNotification?: boolean): void {
    const a = logArguments(data, showNotification);
    super.warn(message, a.data, a.showNotification === true);
  }

  override info(message: string, data?: unknown, showNotification?: boolean): void {
    const a = logArguments(data, showNotification);
    super.info(message, a.data, a.showNotification === true);
  }
}

/** The language server process of one start: how it ended, what it wrote on stderr. */
interface ServerProcess {
  child?: cp.ChildProcess;
  exit?: string;
  stderr: string;
  exited: Promise<void>;
}

export async function activate(context: vscode.ExtensionContext): Promise<ZatoApi> {
  ext = new ZatoExtension(context);
  await ext.start();
  return ext.api();
}

export async function deactivate(): Promise<void> {
  await ext?.stopClient();
  ext = undefined;
}

/** What the extension exports (used by tests and other extensions). */
export interface ZatoApi {
  /** The status bar item's current text. */
  statusText(): string;
  /** Whether the language server runs (false in a workspace with nothing to deploy to). */
  serverRunning(): boolean;
}

class ZatoExtension {
  private client: LanguageClient | undefined;
  private initOptions: Record<string, unknown> = {};
  private serverPath: string | undefined;
  private readonly log: vscode.LogOutputChannel;
  private readonly item: vscode.StatusBarItem;
  private readonly book = new StatusBook();
  private health: ServerHealth | undefined;
  private healthSeq = 0;
  /** Passwords from secret storage, each for a server URL and user (the language server matches them). */
  private stored: StoredPassword[] = [];
  private legacyChecked = false;
  private deployOnSave: boolean | undefined;
  private stoppedReason: string | undefined;
  private restarting: Promise<void> | undefined;
  private configuredPath: string | undefined;
  private crashes: number[] = [];
  /** The process of the current start, and whether that start reached Running. */
  private proc: ServerProcess | undefined;
  private ran = false;
  /** A start failure was shown for the current start: one message, not one per library toast. */
  private failureShown = false;
  private readonly pulled: (() => void)[] = [];
  private readonly invokeDocs = new InvokeDocuments();
  private readonly clusterDocs = new ClusterDocuments((target, module, version) =>
    this.execute<unknown>(LSP_SHOW_CLUSTER_VERSION, [{ module, version, target }]).then((v) => (isClusterVersion(v) ? v : undefined)),
  );
  private readonly clusterView: ClusterView;
  private readonly earlySaves = new EarlySaves<vscode.TextDocument>();
  /** Settles when the passwords were read from secret storage (the server starts without waiting for them). */
  private passwordsReady: Promise<void> = Promise.resolve();
  private started = false;
  private dormantWatch: vscode.Disposable | undefined;
  /** Config files below the folders' roots, found when no folder has one at its root: not read. */
  private nested: NestedConfig[] = [];

  constructor(private readonly context: vscode.ExtensionContext) {
    this.log = vscode.window.createOutputChannel('Zato', { log: true });
    this.item = vscode.window.createStatusBarItem('zato.status', vscode.StatusBarAlignment.Left, 10);
    this.item.name = 'Zato';
    this.item.command = 'zato.cmd.showLog';
    this.configuredPath = serverPathSetting(this.config().inspect<string>('serverPath'), vscode.workspace.isTrusted);
    this.clusterView = new ClusterView(
      {
        request: async <T>(method: string, params: unknown) => (this.client?.isRunning() ? ((await this.client.sendRequest(method, params)) as T) : undefined),
        execute: <T>(command: string, args: unknown[]) => this.execute<T>(command, args),
        notify: async (method: string, params: unknown) => {
          if (this.client?.isRunning()) await this.client.sendNotification(method, params);
        },
        running: () => !!this.client?.isRunning(),
        log: this.log,
      },
      this.clusterDocs,
    );
    context.subscriptions.push(this.log, this.item, this.invokeDocs.register(), this.clusterDocs.register(), this.clusterView.register());
    this.render(presentStarting());

    const reg = (id: string, fn: (...args: unknown[]) => unknown) =>
      context.subscriptions.push(vscode.commands.registerCommand(id, fn));
    reg('zato.cmd.deployCurrentFile', (uri?: unknown) => this.deployCurrentFile(uri));
    reg('zato.cmd.testConnection', () => this.testConnection());
    reg('zato.cmd.toggleDeployOnSave', () => this.toggleDeployOnSave());
    reg('zato.cmd.setPassword', () => this.setPassword());
    reg('zato.cmd.showLog', () => this.log.show(true));
    reg('zato.cmd.selectTarget', () => this.selectTarget());
    reg('zato.cmd.invoke', () => this.invokeFromEditor(LSP_INVOKE, false));
    reg('zato.cmd.invokeWithPayload', () => this.invokeFromEditor(LSP_INVOKE, true));
    reg('zato.cmd.invokeEverywhere', () => this.invokeFromEditor(LSP_INVOKE_EVERYWHERE, false));
    reg('zato.cmd.restartServer', () => this.restartCommand());
    reg('zato.cmd.clusterRefresh', () => this.clusterView.refresh(true));
    reg('zato.cmd.clusterOpenSource', (node?: unknown) => this.clusterView.openSource(node));
    reg('zato.cmd.clusterHistory', (node?: unknown) => this.clusterView.history(node));
    reg('zato.cmd.clusterRollback', (node?: unknown) => this.clusterView.rollback(node));
    reg('zato.cmd.clusterUndeploy', (node?: unknown) => this.clusterView.undeploy(node));

    context.subscriptions.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration(SECTION)) void this.onSettingsChanged(e.affectsConfiguration(`${SECTION}.serverPath`));
      }),
      vscode.workspace.onDidGrantWorkspaceTrust(() => void this.onSettingsChanged(true)),
      // A save made while the language server starts gets no didSave from vscode-languageclient: kept, sent once
      // it runs.
      vscode.workspace.onDidSaveTextDocument((doc) => {
        if (this.started && doc.uri.scheme === 'file' && doc.languageId === 'python' && !this.client?.isRunning()) {
          this.earlySaves.record(doc.uri.toString(), doc);
          this.log.info(`${doc.uri.fsPath} saved while the language server starts: it is deployed once the server runs`);
        }
      }),
      // A password set in another window: setPassword below handles this window's own changes.
      context.secrets.onDidChange(async (e) => {
        if (e.key.startsWith(SECRET_PREFIX) && (await this.loadPasswords())) await this.onSettingsChanged(false);
      }),
    );
  }

  api(): ZatoApi {
    return { statusText: () => this.item.text, serverRunning: () => !!this.client?.isRunning() };
  }

  // ---- the language server ----

  /**
   * Starts the language server at once when the workspace has something to deploy to: the passwords are read from
   * secret storage meanwhile and handed over when they are there (workspace/didChangeConfiguration, then the server
   * pulls them). Elsewhere it waits for a .zato.yaml or a zato.url / zato.targets setting.
   */
  async start(): Promise<void> {
    if (!(await this.wanted())) {
      const nested = nestedConfigMessage(this.nested);
      if (nested) {
        this.log.warn(`${nested} The language server does not start.`);
        void vscode.window.showWarningMessage(nested);
      } else {
        this.log.info('No .zato.yaml and no zato.url or zato.targets: the Zato language server starts when one is added.');
      }
      // A .zato.yaml at a folder's root (the only one read), a folder added, or the settings wake it up.
      const watchers = (vscode.workspace.workspaceFolders ?? []).map((f) =>
        vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(f, '.zato.{yaml,yml}'), false, true, true),
      );
      this.dormantWatch = vscode.Disposable.from(
        ...watchers,
        ...watchers.map((w) => w.onDidCreate(() => void this.wakeUp())),
        vscode.workspace.onDidChangeWorkspaceFolders(() => void this.wakeUp()),
        vscode.workspace.onDidChangeConfiguration((e) => {
          if (e.affectsConfiguration(`${SECTION}.url`) || e.affectsConfiguration(`${SECTION}.targets`)) void this.wakeUp();
        }),
      );
      this.context.subscriptions.push(this.dormantWatch);
      return;
    }
    await this.begin();
  }

  private async wakeUp(): Promise<void> {
    if (this.started || !(await this.wanted())) return;
    this.dormantWatch?.dispose();
    this.dormantWatch = undefined;
    await this.begin();
  }

  private async begin(): Promise<void> {
    this.started = true;
    // The key binding, the editor title's Deploy button and the editor commands show only where Zato is configured.
    void vscode.commands.executeCommand('setContext', 'zato.active', true);
    this.item.show();
    this.passwordsReady = this.loadPasswords().then(
      async (changed) => {
        if (changed && this.client?.isRunning()) await this.pushSettings();
      },
      (err: unknown) => this.log.error(`Reading the passwords from secret storage: ${String(err)}`),
    );
    await this.startClient();
  }

  /**
   * Whether the language server has something to deploy to: a .zato.yaml at a workspace folder's root (the only one
   * it reads, as activation's workspaceContains:.zato.yaml), or the settings or environment. Without them, config
   * files deeper down are looked for, only to say they are not read.
   */
  private async wanted(): Promise<boolean> {
    const cfg = this.config();
    const settings = { url: cfg.get('url'), targets: cfg.get('targets'), env: process.env };
    const atRoot = (vscode.workspace.workspaceFolders ?? []).some((folder) =>
      ['.zato.yaml', '.zato.yml'].some((name) => fs.existsSync(path.join(folder.uri.fsPath, name))),
    );
    if (shouldStart({ hasConfigFile: atRoot, ...settings })) return true;
    this.nested = [];
    const files = await vscode.workspace.findFiles('**/.zato.{yaml,yml}', '{**/node_modules/**,**/.*/**,**/venv/**}', 3);
    for (const f of files) {
      const folder = vscode.workspace.getWorkspaceFolder(f);
      if (!folder) continue;
      const relative = path.relative(folder.uri.fsPath, f.fsPath).split(path.sep).join('/');
      this.nested.push({ folder: folder.uri.fsPath, folderName: folder.name, relative });
    }
    return false;
  }

  /** Sends the saves made while the server started, once it runs and has the passwords. */
  private async replayEarlySaves(client: LanguageClient): Promise<void> {
    if (this.earlySaves.size === 0) return;
    await this.passwordsReady;
    if (client !== this.client || !client.isRunning()) return;
    for (const [, doc] of this.earlySaves.take()) {
      this.log.info(`Deploying ${doc.uri.fsPath}, saved while the language server started`);
      await client.sendNotification(DidSaveTextDocumentNotification.type, {
        textDocument: { uri: client.code2ProtocolConverter.asUri(doc.uri) },
        text: doc.getText(),
      });
    }
  }

  private checkVersion(client: LanguageClient, command: string): void {
    // No answer to initialize (a binary that exited, /bin/false): there is no version to compare, and the start's
    // failure says what happened; a version warning racing it would name the wrong problem.
    if (!client.initializeResult) return;
    const ours = String((this.context.extension.packageJSON as { version?: string }).version ?? '');
    const warning = versionWarning(ours, client.initializeResult?.serverInfo?.version, command);
    if (!warning) return;
    this.log.warn(warning);
    void vscode.window.showWarningMessage(warning, 'Open Settings').then((a) => {
      if (a) void vscode.commands.executeCommand('workbench.action.openSettings', 'zato.serverPath');
    });
  }

  private async restartCommand(): Promise<void> {
    if (!this.started) {
      await this.begin();
      return;
    }
    this.log.info('Zato: Restart Language Server');
    this.crashes = [];
    this.stoppedReason = undefined;
    await this.restart();
    this.context.subscriptions.push(vscode.window.setStatusBarMessage('Zato: language server restarted', 4000));
  }

  private async startClient(): Promise<void> {
    const bundled = this.context.asAbsolutePath(path.join('bin', binaryName(process.platform)));
    const resolved = resolveServer({
      configured: serverPathSetting(this.config().inspect<string>('serverPath'), vscode.workspace.isTrusted),
      bundled,
      exists: (p) => fs.existsSync(p),
      home: os.homedir(),
      path: process.env.PATH,
      platform: process.platform,
    });
    if ('error' in resolved) {
      this.stopped(resolved.error);
      this.log.error(resolved.error);
      void vscode.window.showErrorMessage(`Zato: ${resolved.error}`, 'Open Settings').then((a) => {
        if (a) void vscode.commands.executeCommand('workbench.action.openSettings', 'zato.serverPath');
      });
      return;
    }
    if (resolved.source === 'bundled') ensureExecutable(resolved.command);
    this.serverPath = resolved.command;
    this.log.info(`Starting ${resolved.command} lsp (${resolved.source === 'setting' ? 'zato.serverPath' : resolved.source === 'bundled' ? 'shipped with the extension' : 'from the PATH'})`);

    // Spawned here (stdio; no TransportKind, which would append --stdio) to know how it ends: a binary that
    // exits at once is said to be one, not "write EPIPE".
    this.ran = false;
    this.failureShown = false;
    const serverOptions: ServerOptions = () =>
      new Promise<cp.ChildProcess>((resolve, reject) => {
        let exited!: () => void;
        const proc: ServerProcess = { stderr: '', exited: new Promise<void>((r) => (exited = r)) };
        this.proc = proc;
        const child = cp.spawn(resolved.command, ['lsp'], { env: process.env });
        proc.child = child;
        child.on('exit', (code, signal) => {
          proc.exit = code !== null ? `exit code ${code}` : `signal ${signal ?? '?'}`;
          exited();
        });
        child.stderr?.on('data', (d: Buffer) => (proc.stderr = (proc.stderr + d.toString()).slice(-2000)));
        child.once('error', (err) => {
          exited();
          reject(err);
        });
        child.once('spawn', () => resolve(child));
      });
    this.initOptions = this.serverSettings();
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file', language: 'python' }],
      outputChannel: this.log,
      traceOutputChannel: this.log,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      initializationOptions: () => this.initOptions,
      middleware: {
        // The Invoke code lenses run the server's commands through VS Code commands vscode-languageclient
        // registers; their answers are shown here.
        executeCommand: async (command, args, next) => {
          const res: unknown = await next(command, args);
          if ((command === LSP_INVOKE || command === LSP_INVOKE_EVERYWHERE) && isInvokeAnswer(res)) await this.invokeDocs.show(res);
          // The conflict's code action: the cluster's version against the buffer.
          if (command === LSP_SHOW_CLUSTER_VERSION && isClusterVersion(res)) await this.showClusterDiff(res, args[0]);
          return res;
        },
        workspace: {
          // The server pulls the "zato" section: it gets the explicit settings plus the password from secret
          // storage, never VS Code's blank defaults (which would hide .zato.yaml's values).
          configuration: async (params, token, next) => {
            const res = await next(params, token);
            if (!Array.isArray(res)) return res;
            const out = params.items.map((it, i) => (it.section === SECTION ? this.serverSettings() : res[i]));
            if (params.items.some((it) => it.section === SECTION)) this.pulled.splice(0).forEach((f) => f());
            return out;
          },
        },
      },
      errorHandler: {
        // A broken pipe to a server that died is told by closed() (and the start's failure), in one message.
        error: () => ({ action: ErrorAction.Continue, handled: true }),
        closed: () => {
          if (!this.ran) {
            // It never answered initialize: not a crash to restart, a binary that does not run (startClient says so).
            return { action: CloseAction.DoNotRestart, handled: true };
          }
          // Restart a crashed server, but not in a loop: at most 4 times in 3 minutes.
          const now = Date.now();
          this.crashes = this.crashes.filter((t) => now - t < 180_000);
          this.crashes.push(now);
          if (this.crashes.length > 4) {
            this.stoppedReason = `The language server (${resolved.command}) stopped 5 times in 3 minutes and will not be restarted.`;
            this.log.error(this.stoppedReason);
            void vscode.window.showErrorMessage(`Zato: ${this.stoppedReason}`, 'Show Log', 'Restart').then((a) => {
              if (a === 'Show Log') this.log.show(true);
              if (a === 'Restart') void this.restartCommand();
            });
            return { action: CloseAction.DoNotRestart, handled: true };
          }
          return { action: CloseAction.Restart, message: 'The Zato language server stopped; restarting it.', handled: true };
        },
      },
      initializationFailedHandler: (err) => {
        this.log.error(`Zato language server failed to initialize: ${String(err)}`);
        return false;
      },
    };
    const client = new ZatoClient('zato', 'Zato', serverOptions, clientOptions);
    client.onForced = (message, data) => {
      // The start's own failure is told by startClient; a restart after a crash that fails is told here.
      if (client === this.client && this.ran) void this.startFailed(resolved, data ?? new Error(message));
    };
    // This extension shows zato/deployStatus itself (status bar, conflict prompt): the server need not show
    // window/showMessage for a finished deployment or a conflict. It shows zato/serverStatus too.
    client.registerFeature({
      fillClientCapabilities: (caps) => {
        caps.experimental = { ...(caps.experimental as object | undefined), zato: { statusUI: true, serverStatus: true } };
      },
      initialize: () => {},
      getState: () => ({ kind: 'static' }),
      clear: () => {},
    });
    this.client = client;
    client.onDidChangeState((e) => {
      if (client !== this.client) return;
      if (e.newState === State.Running) {
        this.ran = true;
        this.stoppedReason = undefined;
        this.refresh();
        void this.replayEarlySaves(client);
        void this.clusterView.onServerState();
      } else if (e.newState === State.Stopped) {
        this.stopped(this.stoppedReason ?? 'The language server exited; see the deployment log.');
        void this.clusterView.onServerState();
      } else {
        this.render(presentStarting());
      }
    });
    client.onNotification(STATUS_METHOD, (st: DeployStatus) => this.onStatus(st));
    client.onNotification(SERVER_STATUS_METHOD, (h: unknown) => {
      if (client !== this.client || !isServerHealth(h)) return;
      this.health = h;
      this.healthSeq = this.book.next();
      if (h.health !== 'ok') this.log.warn(`Zato: ${h.message}`);
      this.refresh();
    });
    client.onNotification(CLUSTER_CHANGED_METHOD, (p: unknown) => this.clusterView.onClusterChanged(p));
    try {
      await client.start();
      if (!client.initializeResult) {
        // The client gave up on initialize (its failure handler said not to retry) without rejecting start: the
        // server is not running, and saying so is the start's failure.
        if (client === this.client) await this.startFailed(resolved, new Error('it closed the connection before it answered initialize'));
        return;
      }
      this.log.info(`Zato language server ${client.initializeResult.serverInfo?.version ?? '(no version)'} running`);
      this.checkVersion(client, resolved.command);
      void this.passwordsReady.then(() => (this.stored.length > 0 && client === this.client ? this.pushSettings() : undefined));
      void this.checkLegacyPasswords(client);
      void this.replayEarlySaves(client);
    } catch (err) {
      if (client === this.client) await this.startFailed(resolved, err);
    }
  }

  /** Says once, naming the binary, why the language server does not run; offers the setting and the log. */
  private async startFailed(resolved: { command: string; source: StartFailure['source'] }, err: unknown): Promise<void> {
    if (this.failureShown) return;
    this.failureShown = true;
    const proc = this.proc;
    // How it ended tells more than the broken pipe it left: wait a moment for its exit.
    if (proc && proc.exit === undefined) await Promise.race([proc.exited, new Promise((r) => setTimeout(r, 1000))]);
    const msg = startFailureMessage({ command: resolved.command, source: resolved.source, error: err, exit: proc?.exit, stderr: proc?.stderr });
    this.stoppedReason = msg.replace(/^Zato: /, '');
    this.stopped(this.stoppedReason);
    this.log.error(msg);
    void vscode.window.showErrorMessage(msg, 'Open Settings', 'Show Log').then((a) => {
      if (a === 'Open Settings') void vscode.commands.executeCommand('workbench.action.openSettings', 'zato.serverPath');
      if (a === 'Show Log') this.log.show(true);
    });
  }

  async stopClient(): Promise<void> {
    const c = this.client;
    const child = this.proc?.child;
    this.client = undefined;
    if (c) {
      try {
        await c.stop(5000);
      } catch (err) {
        this.log.debug(`stopping the language server: ${String(err)}`);
      }
      await c.dispose();
    }
    // The server exits after shutdown and exit; one that does not is not left behind.
    if (child && child.exitCode === null && child.signalCode === null) child.kill();
  }

  private async restart(): Promise<void> {
    if (this.restarting) return this.restarting;
    this.restarting = (async () => {
      await this.stopClient();
      this.book.clear();
      this.health = undefined;
      this.deployOnSave = undefined;
      this.render(presentStarting());
      // The end-to-end test holds a restart for a moment to save a file while no server runs.
      const hold = Number(process.env.ZATO_VSCODE_TEST_RESTART_HOLD_MS ?? 0);
      if (hold > 0) await new Promise((r) => setTimeout(r, Math.min(hold, 10_000)));
      await this.startClient();
    })().finally(() => (this.restarting = undefined));
    return this.restarting;
  }

  private async onSettingsChanged(serverPathMayHaveChanged: boolean): Promise<void> {
    const newPath = serverPathSetting(this.config().inspect<string>('serverPath'), vscode.workspace.isTrusted);
    const pathChanged = serverPathMayHaveChanged && (this.client === undefined || (newPath ?? '') !== (this.configuredPath ?? ''));
    this.configuredPath = newPath;
    const now = this.serverSettings();
    if (!this.client || needsRestart(this.initOptions, now, pathChanged)) {
      this.log.info('Settings changed: restarting the Zato language server');
      await this.restart();
      return;
    }
    await this.pushSettings();
    this.refresh();
  }

  /**
   * Pull model: tells the server the settings changed and waits (a little) until it asked for them again, so a
   * command sent right after (a deployment after "Set Password") already uses them.
   */
  private async pushSettings(): Promise<void> {
    const c = this.client;
    if (!c || !c.isRunning()) return;
    let timer: NodeJS.Timeout | undefined;
    const pulled = new Promise<void>((resolve) => {
      this.pulled.push(resolve);
      timer = setTimeout(resolve, 3000);
    });
    await c.sendNotification(DidChangeConfigurationNotification.type, { settings: null });
    await pulled;
    clearTimeout(timer);
  }

  private config(): vscode.WorkspaceConfiguration {
    return vscode.workspace.getConfiguration(SECTION);
  }

  private serverSettings(): Record<string, unknown> {
    const cfg = this.config();
    return serverConfig({
      inspect: (key: ServerKey) => cfg.inspect(key) as Inspected | undefined,
      storedPasswords: this.stored,
      selectedTarget: this.context.workspaceState.get<string>(SELECTED_TARGET_KEY),
    });
  }

  /** The server URLs and users secret storage holds a password for. */
  private storedKeys(): { url: string; username: string }[] {
    const v = this.context.globalState.get<unknown>(STORED_PASSWORDS_KEY);
    if (!Array.isArray(v)) return [];
    return v.filter(
      (k): k is { url: string; username: string } => !!k && typeof k === 'object' && typeof k.url === 'string' && typeof k.username === 'string',
    );
  }

  /** Reads the stored passwords from secret storage; says whether any changed. */
  private async loadPasswords(): Promise<boolean> {
    const next: StoredPassword[] = [];
    for (const k of this.storedKeys()) {
      const pw = await this.context.secrets.get(secretKey(k.url, k.username));
      if (pw) next.push({ url: k.url, username: k.username, password: pw });
    }
    const same = next.length === this.stored.length && next.every((p, i) => JSON.stringify(p) === JSON.stringify(this.stored[i]));
    this.stored = next;
    return !same;
  }

  /** Keeps (or forgets, with '') the password of a server URL and user. */
  private async storePassword(url: string, username: string, pw: string): Promise<void> {
    const key = { url: normalizeUrl(url), username };
    const others = this.storedKeys().filter((k) => secretKey(k.url, k.username) !== secretKey(key.url, key.username));
    if (pw === '') {
      await this.context.secrets.delete(secretKey(key.url, key.username));
      await this.context.globalState.update(STORED_PASSWORDS_KEY, others);
    } else {
      await this.context.secrets.store(secretKey(key.url, key.username), pw);
      await this.context.globalState.update(STORED_PASSWORDS_KEY, [...others, key]);
    }
  }

  /** The language server's targets (zato/targets), or undefined when it cannot answer. */
  private async targetInfos(): Promise<TargetInfo[] | undefined> {
    const c = this.client;
    if (!c?.isRunning()) return undefined;
    try {
      const res: unknown = await c.sendRequest(TARGETS_METHOD, {});
      return isTargetsAnswer(res) ? res.targets : undefined;
    } catch (err) {
      this.log.error(`${TARGETS_METHOD}: ${String(err)}`);
      return undefined;
    }
  }

  /**
   * Versions up to 0.1.0 kept a password per target name, shared by every workspace. It is no longer read: say so
   * once where it would have been used (a target with no password now).
   */
  private async checkLegacyPasswords(client: LanguageClient): Promise<void> {
    if (this.legacyChecked) return;
    this.legacyChecked = true;
    await this.passwordsReady;
    if (client !== this.client) return;
    const targets = (await this.targetInfos()) ?? [];
    for (const t of targets) {
      if (t.password !== 'none') continue;
      const old = await this.context.secrets.get(`${LEGACY_SECRET_PREFIX}${t.name}`).then(
        (v) => v,
        () => undefined,
      );
      if (!old) continue;
      const msg = `Zato: the password an earlier version kept for target "${t.name}" applied to every workspace and is no longer used. Set the password of ${t.username} at ${t.url} with Zato: Set Password.`;
      this.log.warn(msg);
      void vscode.window.showWarningMessage(msg, 'Set Password').then((a) => {
        if (a) void this.setPassword();
      });
      return;
    }
  }

  private async knownTargets(): Promise<string[]> {
    const files: FileTargets[] = [];
    for (const folder of vscode.workspace.workspaceFolders ?? []) {
      for (const name of ['.zato.yaml', '.zato.yml']) {
        try {
          const bytes = await vscode.workspace.fs.readFile(vscode.Uri.joinPath(folder.uri, name));
          files.push(targetsFromYaml(new TextDecoder().decode(bytes)));
          break;
        } catch {
          // no such file
        }
      }
    }
    const cfg = this.config();
    return targetChoices(cfg.get('targets'), files, !!cfg.get<string>('url'));
  }

  // ---- status bar ----

  private onStatus(st: DeployStatus): void {
    if (!st || typeof st !== 'object' || typeof st.state !== 'string') return;
    if (!this.book.update(st)) return;
    if (st.state === 'conflict') void this.onConflict(st);
    if (st.state === 'failed' || st.state === 'partial') {
      for (const s of st.servers ?? []) {
        if (s.error?.traceback) this.log.warn(`${st.module} on ${s.name}:\n${s.error.traceback}`);
      }
    }
    this.refresh();
  }

  private refresh(): void {
    if (this.client && this.client.state === State.Stopped) return;
    const ctx = {
      target: this.context.workspaceState.get<string>(SELECTED_TARGET_KEY),
      deployOnSave: this.deployOnSave,
      others: this.book.others(),
    };
    this.render(
      choosePresentation(
        { current: this.book.current(), currentSeq: this.book.currentSeq(), health: this.health, healthSeq: this.healthSeq },
        ctx,
      ),
    );
  }

  private stopped(reason: string): void {
    this.render(presentStopped(reason));
  }

  private render(p: Presentation): void {
    this.item.text = p.text;
    const md = new vscode.MarkdownString(p.tooltip, true);
    md.isTrusted = false;
    this.item.tooltip = md;
    this.item.accessibilityInformation = { label: p.label, role: 'button' };
    this.item.backgroundColor =
      p.background === 'error'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : p.background === 'warning'
          ? new vscode.ThemeColor('statusBarItem.warningBackground')
          : undefined;
  }

  // ---- conflicts ----

  /** Someone else deployed another version since: offer the diff and Deploy Anyway. */
  private async onConflict(st: DeployStatus): Promise<void> {
    this.log.warn(st.message ?? `${st.module}: conflict`);
    const a = await vscode.window.showWarningMessage(`Zato: ${st.message ?? `${st.module}: conflict`}`, 'Show Diff', 'Deploy Anyway');
    if (a === 'Show Diff') {
      const res = await this.execute<unknown>(LSP_SHOW_CLUSTER_VERSION, [{ uri: st.uri, target: st.target }]).catch((err: unknown) => {
        this.log.error(`Show the cluster's version: ${String(err)}`);
        return undefined;
      });
      if (isClusterVersion(res)) await this.showClusterDiff(res, { uri: st.uri });
    } else if (a === 'Deploy Anyway') {
      await this.execute(LSP_DEPLOY_ANYWAY, [{ uri: st.uri, target: st.target }]).catch((err: unknown) =>
        this.log.error(`Deploy anyway: ${String(err)}`),
      );
    }
  }

  private async showClusterDiff(v: import('./cluster').ClusterVersion, arg: unknown): Promise<void> {
    const raw = arg && typeof arg === 'object' ? (arg as { uri?: unknown }).uri : arg;
    if (typeof raw !== 'string') return;
    const file = this.client ? this.client.protocol2CodeConverter.asUri(raw) : vscode.Uri.parse(raw);
    await this.clusterDocs.showDiff(v, file);
  }

  // ---- commands ----

  private async execute<T>(command: string, args: unknown[] = []): Promise<T | undefined> {
    const c = this.client;
    if (!c || !c.isRunning()) {
      this.notRunning();
      return undefined;
    }
    return (await c.sendRequest(ExecuteCommandRequest.type, { command, arguments: args })) as T;
  }

  /** Says why a command cannot run: no Zato configuration here, or the language server is not running. */
  private notRunning(): void {
    if (!this.started) {
      const nested = nestedConfigMessage(this.nested);
      if (nested) {
        void vscode.window.showWarningMessage(nested);
        return;
      }
      void vscode.window
        .showInformationMessage(
          'Zato: no .zato.yaml in this workspace: add one at a workspace folder\'s root (url, username), or set zato.url or zato.targets.',
          'Open Settings',
        )
        .then((a) => {
          if (a) void vscode.commands.executeCommand('workbench.action.openSettings', 'zato.');
        });
      return;
    }
    void vscode.window.showErrorMessage('Zato: the language server is not running; see the deployment log.', 'Show Log').then((a) => {
      if (a) this.log.show(true);
    });
  }

  private async deployCurrentFile(arg?: unknown): Promise<void> {
    const uri = arg instanceof vscode.Uri ? arg : vscode.window.activeTextEditor?.document.uri;
    if (!uri) {
      void vscode.window.showWarningMessage('Zato: open a Python file to deploy it.');
      return;
    }
    if (uri.scheme !== 'file') {
      void vscode.window.showWarningMessage(`Zato: ${uri.toString(true)} is not a file on disk.`);
      return;
    }
    try {
      await this.execute(LSP_DEPLOY, [{ uri: this.client?.code2ProtocolConverter.asUri(uri) ?? uri.toString() }]);
    } catch (err) {
      // The server has already shown what went wrong (window/showMessage); keep the details in the log.
      this.log.error(`Deploy ${uri.fsPath}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  /** Zato: Invoke Service (…with Payload, …on Every Server): the Service class around the cursor. */
  private async invokeFromEditor(command: string, askPayload: boolean): Promise<void> {
    const ed = vscode.window.activeTextEditor;
    if (!ed || ed.document.uri.scheme !== 'file') {
      void vscode.window.showWarningMessage('Zato: open a service module to invoke its service.');
      return;
    }
    const arg: Record<string, unknown> = {
      uri: this.client?.code2ProtocolConverter.asUri(ed.document.uri) ?? ed.document.uri.toString(),
      line: ed.selection.active.line,
    };
    if (askPayload) {
      const text = await vscode.window.showInputBox({
        title: 'Zato: request payload (JSON)',
        prompt: 'Sent instead of the request file in .zato/requests/',
        value: '{}',
        ignoreFocusOut: true,
        validateInput: (v) => {
          try {
            JSON.parse(v);
            return undefined;
          } catch (err) {
            return `Not JSON: ${err instanceof Error ? err.message : String(err)}`;
          }
        },
      });
      if (text === undefined) return;
      arg.payload = JSON.parse(text) as unknown;
    }
    try {
      const res = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: 'Zato: invoking' },
        () => this.execute<unknown>(command, [arg]),
      );
      if (isInvokeAnswer(res)) await this.invokeDocs.show(res);
    } catch (err) {
      // The server has shown the reason (window/showMessage); keep the details in the log.
      this.log.error(`Invoke: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private async testConnection(): Promise<void> {
    interface Result {
      ok: boolean;
      message: string;
    }
    try {
      const target = this.context.workspaceState.get<string>(SELECTED_TARGET_KEY);
      const res = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: 'Zato: testing the connection' },
        () => this.execute<Result>(LSP_TEST_CONNECTION, target ? [{ target }] : []),
      );
      // Failures were shown by the server itself (window/showMessage); success is confirmed here, as it was asked for.
      if (res?.ok) void vscode.window.showInformationMessage(`Zato: ${res.message}`);
    } catch (err) {
      this.log.error(`Test connection: ${err instanceof Error ? err.message : String(err)}`);
      void vscode.window.showErrorMessage(`Zato: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  private async toggleDeployOnSave(): Promise<void> {
    const res = await this.execute<{ deployOnSave: boolean }>(LSP_TOGGLE);
    if (!res) return;
    this.deployOnSave = res.deployOnSave;
    this.context.subscriptions.push(
      vscode.window.setStatusBarMessage(`Zato: deploy on save ${res.deployOnSave ? 'on' : 'off'}`, 4000),
    );
    this.refresh();
  }

  /**
   * Zato: Set Password: for a server URL and user, among the targets whose configuration gives no password of its
   * own (a .zato.yaml's password is never overridden).
   */
  private async setPassword(): Promise<void> {
    const targets = await this.targetInfos();
    if (!targets) {
      if (!this.client?.isRunning()) this.notRunning();
      return;
    }
    const { settable, configured } = passwordTargets(targets);
    if (settable.length === 0) {
      const t = configured[0];
      const msg = t
        ? `Zato: target ${t.name} (${t.username} at ${t.url}) gets its password from its configuration${t.error ? ` (${t.error})` : ' (.zato.yaml)'}; a password set here would not be used. Change it there.`
        : 'Zato: no target to set a password for: add url and username to the .zato.yaml at the workspace folder\'s root.';
      void vscode.window.showInformationMessage(msg);
      return;
    }
    let target = settable[0]!;
    if (settable.length > 1) {
      const pick = await vscode.window.showQuickPick(
        settable.map((t) => ({
          label: t.name,
          description: `${t.username} at ${t.url}`,
          detail: t.password === 'stored' ? 'a password is set' : 'no password yet',
          target: t,
        })),
        { title: 'Zato: set the password of which target?' },
      );
      if (!pick) return;
      target = pick.target;
    }
    const who = `${target.username} at ${target.url}`;
    const pw = await vscode.window.showInputBox({
      title: `Zato: password of ${who} (target ${target.name})`,
      prompt: 'Kept in VS Code\'s secret storage for this server and user only, never in settings.json. Leave empty to forget it.',
      password: true,
      ignoreFocusOut: true,
    });
    if (pw === undefined) return;
    await this.storePassword(target.url, target.username, pw);
    // The server gets it before the message says so (a removed password restarts it, see needsRestart).
    await this.loadPasswords();
    await this.onSettingsChanged(false);
    this.context.subscriptions.push(
      vscode.window.setStatusBarMessage(pw === '' ? `Zato: password of ${who} forgotten` : `Zato: password of ${who} saved`, 4000),
    );
  }

  private async selectTarget(): Promise<void> {
    const targets = await this.knownTargets();
    if (targets.length === 0) {
      void vscode.window.showInformationMessage(
        'Zato: no targets yet. Add a .zato.yaml to the workspace, or set zato.url or zato.targets.',
        'Open Settings',
      ).then((a) => {
        if (a) void vscode.commands.executeCommand('workbench.action.openSettings', 'zato.');
      });
      return;
    }
    const current = this.context.workspaceState.get<string>(SELECTED_TARGET_KEY);
    const items = targets.map((t) => ({ label: t, description: t === current ? 'selected' : undefined }));
    const pick = await vscode.window.showQuickPick(items, { title: 'Zato: deploy to which target?' });
    if (!pick) return;
    await this.context.workspaceState.update(SELECTED_TARGET_KEY, pick.label);
    await this.loadPasswords();
    await this.onSettingsChanged(false);
  }
}

/** Zip extraction may lose the executable bit of the bundled binary. */
function ensureExecutable(p: string): void {
  if (process.platform === 'win32') return;
  try {
    const st = fs.statSync(p);
    if ((st.mode & 0o111) === 0) fs.chmodSync(p, 0o755);
  } catch {
    // resolveServer checked it exists; starting it reports any error
  }
}
