// Shows what zato.invoke and zato.invokeEverywhere answer: the language server renders the document (`text`) and
// says where its traceback lines point (`locations`); this file only puts it in a read-only editor beside the
// module, with links. No invoke logic lives here.

import * as vscode from 'vscode';

export const INVOKE_SCHEME = 'zato-invoke';

/** A traceback line naming a workspace file: the link's place in the document and where it goes. */
export interface TraceLocation {
  uri: string;
  line: number;
  textLine: number;
  start: number;
  end: number;
  function?: string;
}

/** The fields of zato.invoke's and zato.invokeEverywhere's answers that the UI uses (docs/architecture.md). */
export interface InvokeAnswer {
  service: string;
  title: string;
  text: string;
  language?: string;
  locations?: TraceLocation[];
  requestFile?: string;
  requestCreated?: boolean;
  /** zato.invokeEverywhere only */
  results?: unknown[];
  differs?: string[];
}

export function isInvokeAnswer(v: unknown): v is InvokeAnswer {
  return !!v && typeof v === 'object' && typeof (v as InvokeAnswer).text === 'string' && typeof (v as InvokeAnswer).service === 'string';
}

/** The document's URI: one per service (and one per service for every server), reused by the next invoke. */
export function answerUri(a: InvokeAnswer): vscode.Uri {
  const everywhere = Array.isArray(a.results);
  const name = a.service.replace(/[^A-Za-z0-9._-]/g, '_');
  return vscode.Uri.from({
    scheme: INVOKE_SCHEME,
    path: `/${name}${everywhere ? ' (every server).txt' : '.jsonc'}`,
  });
}

interface Shown {
  text: string;
  locations: TraceLocation[];
}

export class InvokeDocuments implements vscode.TextDocumentContentProvider, vscode.DocumentLinkProvider {
  private readonly shown = new Map<string, Shown>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;

  register(): vscode.Disposable {
    return vscode.Disposable.from(
      this.changed,
      vscode.workspace.registerTextDocumentContentProvider(INVOKE_SCHEME, this),
      vscode.languages.registerDocumentLinkProvider({ scheme: INVOKE_SCHEME }, this),
    );
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.shown.get(uri.toString())?.text ?? '';
  }

  provideDocumentLinks(doc: vscode.TextDocument): vscode.DocumentLink[] {
    const s = this.shown.get(doc.uri.toString());
    if (!s) return [];
    return s.locations.map((l) => {
      const target = vscode.Uri.parse(l.uri).with({ fragment: `L${l.line + 1}` });
      const link = new vscode.DocumentLink(new vscode.Range(l.textLine, l.start, l.textLine, l.end), target);
      link.tooltip = `Open line ${l.line + 1}${l.function ? ` (${l.function})` : ''}`;
      return link;
    });
  }

  /** Shows an answer beside the active editor, keeping the focus where it is. */
  async show(a: InvokeAnswer): Promise<vscode.TextEditor> {
    const uri = answerUri(a);
    this.shown.set(uri.toString(), { text: a.text, locations: a.locations ?? [] });
    this.changed.fire(uri);
    const doc = await vscode.workspace.openTextDocument(uri);
    const editor = await vscode.window.showTextDocument(doc, {
      viewColumn: vscode.ViewColumn.Beside,
      preserveFocus: true,
      preview: true,
    });
    if (a.requestCreated && a.requestFile) {
      const file = vscode.Uri.parse(a.requestFile);
      void vscode.window
        .showInformationMessage(`Zato: created ${vscode.workspace.asRelativePath(file)} for ${a.service}'s request; fill it in and invoke again.`, 'Open Request File')
        .then((pick) => {
          if (pick) void vscode.window.showTextDocument(file);
        });
    }
    return editor;
  }
}
