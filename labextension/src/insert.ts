/**
 * Snippet cells: insert the code the kernel sends as a code cell directly below the cell it
 * came from, through the notebook's shared model (no commands, no active-cell moves, so it
 * cannot race with the user's Shift+Enter or tab switches).
 *
 * Snippets from one origin cell form a block right below it, in the order they arrived.
 * Regenerating a snippet (same action and app, same origin) replaces that cell's source
 * instead of stacking a copy.
 *
 * The decisions are plain functions (`placeSnippet`, `applySnippet`, `parseMarker`,
 * `SerialQueues`) so they can be tested without JupyterLab (src/__tests__).
 */
import type { NotebookPanel } from '@jupyterlab/notebook';
import type { ISharedCell, ISharedCodeCell, ISharedNotebook } from '@jupyter/ydoc';
import { type IInsertMessage, type ISnippetMarker, METADATA_KEY, type Reply } from './protocol';

export class SnippetInserter {
  /**
   * Insert or replace the snippet; inserts into one notebook run one after another, in the
   * order they were asked for.
   */
  insert(panel: NotebookPanel, message: IInsertMessage): Promise<Reply> {
    return this._queues.run(panel, () => this._apply(panel, message));
  }

  private async _apply(panel: NotebookPanel, message: IInsertMessage): Promise<Reply> {
    await panel.context.ready;
    const model = panel.content.model;
    if (!model) {
      throw new Error(`notebook ${panel.context.path} has no model`);
    }
    return applySnippet(model.sharedModel, message, panel.context.path);
  }

  private readonly _queues = new SerialQueues<NotebookPanel>();
}

/**
 * Runs tasks one after another per key (a notebook), each starting once the previous one for
 * that key has settled, in the order they were queued; a task that fails does not stop the
 * next. Tasks for different keys do not wait for each other.
 */
export class SerialQueues<K extends object> {
  run<T>(key: K, task: () => T | Promise<T>): Promise<T> {
    const previous = this._tails.get(key) ?? Promise.resolve();
    const result = previous.then(task);
    this._tails.set(
      key,
      result.then(
        () => undefined,
        () => undefined
      )
    );
    return result;
  }

  private readonly _tails = new WeakMap<K, Promise<void>>();
}

/** What the placement needs to know of a cell. */
export interface ICellSummary {
  id: string;
  /** Its snippet marker, or null for cells this extension did not insert. */
  marker: ISnippetMarker | null;
}

/** Where a snippet goes: a new cell at `index`, or over the cell at `index` (`replace`). */
export interface IPlacement {
  index: number;
  replace: boolean;
}

/**
 * Where the snippet `marker` from cell `origin` goes among `cells`: after the block of
 * snippets already inserted below that origin, or over the one of that block with the same
 * action and app. Null when no cell has the id `origin`.
 */
export function placeSnippet(
  cells: readonly ICellSummary[],
  origin: string,
  marker: Pick<ISnippetMarker, 'action' | 'app'>
): IPlacement | null {
  const originIndex = cells.findIndex(cell => cell.id === origin);
  if (originIndex < 0) {
    return null;
  }
  // Walk the block of snippets already inserted below this origin.
  let index = originIndex + 1;
  for (; index < cells.length; index++) {
    const existing = cells[index].marker;
    if (!existing || existing.origin !== origin) {
      break;
    }
    if (existing.action === marker.action && existing.app === marker.app) {
      return { index, replace: true };
    }
  }
  return { index, replace: false };
}

/**
 * Insert (or replace) the snippet of `message` in `notebook`, a shared notebook model; `where`
 * names the notebook in errors. Returns the reply for the kernel.
 */
export function applySnippet(
  notebook: ISharedNotebook,
  message: IInsertMessage,
  where: string
): Reply {
  const cells = notebook.cells;
  const placement = placeSnippet(cells.map(summarize), message.cell_id, message.metadata);
  if (!placement) {
    throw new Error(`no cell with id ${message.cell_id} in ${where}`);
  }
  const marker: ISnippetMarker = { ...message.metadata, origin: message.cell_id };
  const { index } = placement;
  if (placement.replace) {
    replace(cells[index], message.code, marker);
    return { status: 'ok', cell_id: cells[index].id, index };
  }
  const cell = notebook.insertCell(index, {
    cell_type: 'code',
    source: message.code,
    metadata: { [METADATA_KEY]: marker }
  });
  return { status: 'ok', cell_id: cell.id, index };
}

/** The id and snippet marker of a cell. */
export function summarize(cell: ISharedCell): ICellSummary {
  return { id: cell.id, marker: markerOf(cell) };
}

/** The snippet marker of a cell, or null for cells this extension did not insert. */
export function markerOf(cell: ISharedCell): ISnippetMarker | null {
  return parseMarker(cell.getMetadata(METADATA_KEY));
}

/** A cell's `metadata.agi_jupyter` value as a snippet marker, or null if it is not one. */
export function parseMarker(value: unknown): ISnippetMarker | null {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    return null;
  }
  const marker = value as Partial<ISnippetMarker>;
  return typeof marker.app === 'string' && typeof marker.action === 'string'
    ? (marker as ISnippetMarker)
    : null;
}

function replace(cell: ISharedCell, code: string, marker: ISnippetMarker): void {
  cell.transact(() => {
    cell.setSource(code);
    cell.setMetadata(METADATA_KEY, marker);
    if (cell.cell_type === 'code') {
      // The old outputs came from the old code.
      (cell as ISharedCodeCell).setOutputs([]);
      (cell as ISharedCodeCell).execution_count = null;
    }
  });
}
