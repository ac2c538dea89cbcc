/**
 * agi-jupyter's JupyterLab extension: wiring only. The kernel's Orchestrator talks to
 * `comm.ts`; snippets land through `insert.ts`; `stale.ts` flags outdated ones;
 * `launcher.ts` opens an Orchestrator notebook.
 */
import type { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IConsoleTracker } from '@jupyterlab/console';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { ILauncher } from '@jupyterlab/launcher';
import { INotebookTracker } from '@jupyterlab/notebook';
import { CellComm } from './comm';
import { SnippetInserter } from './insert';
import { addOrchestratorLauncher } from './launcher';
import { VERSION } from './protocol';
import { StaleMarks } from './stale';

const cells: JupyterFrontEndPlugin<void> = {
  id: 'agi-jupyter:cells',
  description: 'Inserts Orchestrator snippets below their cell and flags stale ones.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [IConsoleTracker],
  activate: (
    _app: JupyterFrontEnd,
    notebooks: INotebookTracker,
    consoles: IConsoleTracker | null
  ) => {
    const inserter = new SnippetInserter();
    const stale = new StaleMarks();
    new CellComm(notebooks, consoles, {
      ping: () => ({ status: 'ok', type: 'pong', version: VERSION }),
      insert: async (panel, message) => {
        const reply = await inserter.insert(panel, message);
        stale.refresh(panel);
        return reply;
      },
      digest: (panels, message) => {
        const count = panels
          .map(panel => stale.update(panel, message.app, message.digest))
          .reduce((total, n) => total + n, 0);
        return { status: 'ok', type: 'digest', stale: count };
      }
    });
  }
};

const launcher: JupyterFrontEndPlugin<void> = {
  id: 'agi-jupyter:launcher',
  description: 'Adds "AGI Orchestrator" to the launcher and the command palette.',
  autoStart: true,
  optional: [ICommandPalette, ILauncher, IDefaultFileBrowser],
  activate: (
    app: JupyterFrontEnd,
    palette: ICommandPalette | null,
    launcherItems: ILauncher | null,
    fileBrowser: IDefaultFileBrowser | null
  ) => addOrchestratorLauncher(app, palette, launcherItems, fileBrowser)
};

export default [cells, launcher];
