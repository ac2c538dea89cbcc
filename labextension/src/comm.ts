/**
 * The comm target: registered on the kernel connection of every notebook (and console), so
 * that whichever kernel runs an Orchestrator can reach the notebook that owns it.
 *
 * Every frontend connection to a kernel sees every comm the kernel opens, and a connection
 * with no handler for the target closes the comm at once, cutting the kernel off before the
 * notebook could reply. So the target is registered on consoles too, and exactly one owner per
 * kernel -- the "responder" -- handles and answers each message; the others stay silent.
 */
import type { ConsolePanel, IConsoleTracker } from '@jupyterlab/console';
import type { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import type { Kernel, KernelMessage } from '@jupyterlab/services';
import { COMM_TARGET, errorReply, type Message, parseMessage, type Reply } from './protocol';

/** What the extension does with each message, for the notebook that answers it. */
export interface IMessageHandlers {
  ping(): Reply;
  insert(notebook: NotebookPanel, message: Message & { type: 'insert' }): Promise<Reply>;
  digest(notebooks: NotebookPanel[], message: Message & { type: 'digest' }): Reply;
}

type Owner = NotebookPanel | ConsolePanel;

export class CellComm {
  constructor(
    private readonly _notebooks: INotebookTracker,
    private readonly _consoles: IConsoleTracker | null,
    private readonly _handlers: IMessageHandlers
  ) {
    _notebooks.forEach(panel => this._watch(panel));
    _notebooks.widgetAdded.connect((_, panel) => this._watch(panel));
    _consoles?.forEach(panel => this._watch(panel));
    _consoles?.widgetAdded.connect((_, panel) => this._watch(panel));
  }

  /** Register the target on the owner's kernel now and on every kernel it switches to. */
  private _watch(owner: Owner): void {
    const sessionContext = owner.sessionContext;
    const register = (kernel: Kernel.IKernelConnection | null | undefined) => {
      if (!kernel || this._registered.has(kernel)) {
        return;
      }
      this._registered.add(kernel);
      // The registry lives as long as the connection, which survives kernel restarts.
      kernel.registerCommTarget(COMM_TARGET, (comm, msg) => this._onOpen(owner, kernel, comm, msg));
    };
    register(sessionContext.session?.kernel);
    sessionContext.kernelChanged.connect((_, change) => register(change.newValue));
    sessionContext.ready
      .then(() => register(sessionContext.session?.kernel))
      .catch(() => undefined); // disposed before it was ready: nothing to register on
  }

  private _onOpen(
    owner: Owner,
    kernel: Kernel.IKernelConnection,
    comm: Kernel.IComm,
    msg: KernelMessage.ICommOpenMsg
  ): void {
    let message: Message;
    try {
      message = parseMessage(msg.content.data);
    } catch (error) {
      if (this._responder(kernel.id, null) === owner) {
        send(comm, errorReply(error));
      }
      return;
    }
    const originCellId = message.type === 'insert' ? message.cell_id : null;
    if (this._responder(kernel.id, originCellId) !== owner) {
      return;
    }
    const notebooks = this._notebooksOf(kernel.id);
    // Do not make the kernel connection wait for the insert: answer when it is done.
    void this._handle(owner, notebooks, message).then(reply => send(comm, reply));
  }

  private async _handle(
    owner: Owner,
    notebooks: NotebookPanel[],
    message: Message
  ): Promise<Reply> {
    try {
      switch (message.type) {
        case 'ping':
          return this._handlers.ping();
        case 'digest':
          return this._handlers.digest(notebooks, message);
        case 'insert':
          if (!notebooks.includes(owner as NotebookPanel)) {
            return errorReply(
              `no open notebook on this kernel has a cell with id ${message.cell_id}`
            );
          }
          return await this._handlers.insert(owner as NotebookPanel, message);
      }
    } catch (error) {
      return errorReply(error);
    }
  }

  /**
   * The one owner that answers for `kernelId`: the notebook holding the origin cell, else
   * the first notebook on that kernel, else the first console on it.
   */
  private _responder(kernelId: string, originCellId: string | null): Owner | undefined {
    const consoles = this._consoles?.filter(panel => kernelIdOf(panel) === kernelId) ?? [];
    return pickResponder(this._notebooksOf(kernelId), consoles, originCellId, hasCell);
  }

  private _notebooksOf(kernelId: string): NotebookPanel[] {
    return this._notebooks.filter(panel => kernelIdOf(panel) === kernelId);
  }

  private readonly _registered = new WeakSet<Kernel.IKernelConnection>();
}

/**
 * The one owner that answers a message, given the `notebooks` and `consoles` on its kernel (in
 * tracker order): the notebook holding the origin cell (`holds`), else the first notebook, else
 * the first console; undefined when there is none.
 */
export function pickResponder<N, C>(
  notebooks: readonly N[],
  consoles: readonly C[],
  originCellId: string | null,
  holds: (notebook: N, cellId: string) => boolean
): N | C | undefined {
  if (originCellId !== null) {
    const holder = notebooks.find(notebook => holds(notebook, originCellId));
    if (holder !== undefined) {
      return holder;
    }
  }
  return notebooks.length ? notebooks[0] : consoles[0];
}

function kernelIdOf(owner: Owner): string | undefined {
  return owner.sessionContext.session?.kernel?.id;
}

function hasCell(panel: NotebookPanel, cellId: string): boolean {
  const cells = panel.content.model?.sharedModel.cells ?? [];
  return cells.some(cell => cell.id === cellId);
}

function send(comm: Kernel.IComm, reply: Reply): void {
  if (comm.isDisposed) {
    return; // the kernel gave up waiting and closed the comm
  }
  try {
    comm.send(reply);
  } catch (error) {
    console.warn('agi-jupyter: could not answer the kernel', error);
  }
}
