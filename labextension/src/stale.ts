/**
 * Stale snippets: a snippet cell records the settings digest it was generated from; when the
 * kernel reports a different current digest for that app, the cell is flagged so nobody runs
 * it believing it matches the settings on screen. The flag goes away when they match again.
 */
import type { Cell } from '@jupyterlab/cells';
import type { NotebookPanel } from '@jupyterlab/notebook';
import { type ICellSummary, summarize } from './insert';

export const STALE_CLASS = 'agi-jupyter-stale';
export const STALE_TEXT = 'settings changed since this snippet was generated';

export class StaleMarks {
  /**
   * Remember `digest` as the current one for `app` in this notebook and re-mark its cells.
   * Returns how many snippet cells of that app are now stale.
   */
  update(panel: NotebookPanel, app: string, digest: string): number {
    let digests = this._digests.get(panel);
    if (!digests) {
      digests = new Map();
      this._digests.set(panel, digests);
      // Cells added, removed or moved later (and their widgets) get marked as well.
      panel.content.model?.cells.changed.connect(() => this._refreshSoon(panel));
    }
    digests.set(app, digest);
    this.refresh(panel);
    return this._staleCells(panel).filter(cell => cell.marker?.app === app).length;
  }

  /** Re-apply the marks of every app whose digest this notebook knows. */
  refresh(panel: NotebookPanel): void {
    if (!this._digests.has(panel) || panel.isDisposed) {
      return;
    }
    const stale = new Set(this._staleCells(panel).map(cell => cell.id));
    for (const widget of panel.content.widgets) {
      mark(widget, stale.has(widget.model.id));
    }
  }

  private _staleCells(panel: NotebookPanel): ICellSummary[] {
    const cells = panel.content.model?.sharedModel.cells ?? [];
    return staleSnippets(cells.map(summarize), this._digests.get(panel) ?? new Map());
  }

  /** Cell widgets are created after the model changes: mark them once they exist. */
  private _refreshSoon(panel: NotebookPanel): void {
    setTimeout(() => this.refresh(panel), 0);
  }

  private readonly _digests = new WeakMap<NotebookPanel, Map<string, string>>();
}

/**
 * The snippet cells among `cells` whose digest differs from the current digest of their app
 * (`digests`: app -> digest). Snippets of an app with no known digest are never stale.
 */
export function staleSnippets<C extends ICellSummary>(
  cells: readonly C[],
  digests: ReadonlyMap<string, string>
): C[] {
  return cells.filter(({ marker }) => {
    const current = marker ? digests.get(marker.app) : undefined;
    return marker !== null && current !== undefined && marker.digest !== current;
  });
}

function mark(widget: Cell, stale: boolean): void {
  const node = widget.node;
  if (stale === node.classList.contains(STALE_CLASS)) {
    return;
  }
  node.classList.toggle(STALE_CLASS, stale);
  // The visible label is drawn by style/index.css from this attribute.
  if (stale) {
    node.dataset.agiJupyterStale = STALE_TEXT;
  } else {
    delete node.dataset.agiJupyterStale;
  }
  const prompt = widget.inputArea?.promptNode;
  if (prompt) {
    if (stale) {
      prompt.title = STALE_TEXT;
    } else {
      prompt.removeAttribute('title');
    }
  }
}
