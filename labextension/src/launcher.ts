/**
 * "AGI Orchestrator": a launcher card and palette command that open a new Python notebook
 * whose first cell creates the Orchestrator widget.
 */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import type { ICommandPalette } from '@jupyterlab/apputils';
import type { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import type { ILauncher } from '@jupyterlab/launcher';
import type { NotebookPanel } from '@jupyterlab/notebook';
import { LabIcon } from '@jupyterlab/ui-components';

export const OPEN_COMMAND = 'agi-jupyter:open-orchestrator';
export const FIRST_CELL = 'from agi_jupyter import Orchestrator\nOrchestrator()';

const orchestratorIcon = new LabIcon({
  name: 'agi-jupyter:orchestrator',
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="16">' +
    '<g class="jp-icon3" fill="#616161">' +
    '<circle cx="12" cy="5" r="3"/><circle cx="5" cy="18" r="3"/><circle cx="19" cy="18" r="3"/>' +
    '<path d="M11 7.5h2v3.5l5 4.5-1.3 1.4L12 12.7l-4.7 4.2L6 15.5l5-4.5z"/>' +
    '</g></svg>'
});

export function addOrchestratorLauncher(
  app: JupyterFrontEnd,
  palette: ICommandPalette | null,
  launcher: ILauncher | null,
  fileBrowser: IDefaultFileBrowser | null
): void {
  app.commands.addCommand(OPEN_COMMAND, {
    label: 'AGI Orchestrator',
    caption: 'Open a new notebook with the agi-jupyter Orchestrator widget',
    icon: args => (args.isPalette ? undefined : orchestratorIcon),
    execute: async args => {
      const cwd = (args.cwd as string | undefined) ?? fileBrowser?.model.path ?? '';
      const panel = (await app.commands.execute('notebook:create-new', {
        cwd,
        kernelName: 'python3'
      })) as NotebookPanel;
      await panel.context.ready;
      const model = panel.content.model;
      if (!model) {
        throw new Error(`notebook ${panel.context.path} has no model`);
      }
      const notebook = model.sharedModel;
      // A new notebook starts with one empty cell: make it the Orchestrator cell.
      if (notebook.cells.length && !notebook.cells[0].getSource().trim()) {
        notebook.cells[0].setSource(FIRST_CELL);
      } else {
        notebook.insertCell(0, { cell_type: 'code', source: FIRST_CELL });
      }
      return panel;
    }
  });
  palette?.addItem({ command: OPEN_COMMAND, category: 'AGI Jupyter' });
  launcher?.add({ command: OPEN_COMMAND, category: 'Other', rank: 1 });
}
