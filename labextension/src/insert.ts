/**
 * Snippet cells: insert the code the kernel sends as a code cell directly below the cell it
 * came from, through the notebook's shared model (no commands, no active-cell moves, so it
 * cannot race with the user's Shift+Enter or tab switches).
 *
 * Snippets from one origin cell form a block right below it, in the order they arrived.
 * Regenerating a snippet (same action and app, same origin) replaces that cell's source
 * instead of stacking a copy.
 */
import type { NotebookPanel } from '@jupyterlab/notebook';
import type { ISharedCell, ISharedCodeCell } from '@jupyter/ydoc';
import { IInsertMessage, ISnippetMarker, METADATA_KEY, Reply } from './protocol';

export class SnippetInserter {
  /**
   * Insert or replace the snippet; inserts into one notebook run one after another, in the
   * order they were asked for.
   */
  insert(panel: NotebookPanel, message: IInsertMessage): Promise<Reply> {
    const previous = this._queues.get(panel) ?? Promise.resolve();
    const result = previous.then(() => this._apply(panel, message));
    this._queues.set(
      panel,
      result.then(
        () => undefined,
        () => undefined
      )
    );
    return result;
  }

  private async _apply(panel: NotebookPanel, message: IInsertMessage): Promise<Reply> {
    await panel.context.ready;
    const model = panel.content.model;
    if (!model) {
      throw new Error(`notebook ${panel.context.path} has no model`);
    }
    const notebook = model.sharedModel;
    const originIndex = notebook.cells.findIndex(cell => cell.id === message.cell_id);
    if (originIndex < 0) {
      throw new Error(`no cell with id ${message.cell_id} in ${panel.context.path}`);
    }
    const marker: ISnippetMarker = { ...message.metadata, origin: message.cell_id };

    // Walk the block of snippets already inserted below this origin.
    let index = originIndex + 1;
    for (; index < notebook.cells.length; index++) {
      const existing = markerOf(notebook.cells[index]);
      if (!existing || existing.origin !== message.cell_id) {
        break;
      }
      if (existing.action === marker.action && existing.app === marker.app) {
        replace(notebook.cells[index], message.code, marker);
        return { status: 'ok', cell_id: notebook.cells[index].id, index };
      }
    }
    const cell = notebook.insertCell(index, {
      cell_type: 'code',
      source: message.code,
      metadata: { [METADATA_KEY]: marker }
    });
    return { status: 'ok', cell_id: cell.id, index };
  }

  private readonly _queues = new WeakMap<NotebookPanel, Promise<void>>();
}

/** The snippet marker of a cell, or null for cells this extension did not insert. */
export function markerOf(cell: ISharedCell): ISnippetMarker | null {
  const value = cell.getMetadata(METADATA_KEY);
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
