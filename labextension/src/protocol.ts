/**
 * The wire protocol between the kernel (`agi_jupyter.notebook`) and this extension.
 *
 * The kernel opens a comm to `COMM_TARGET` whose `data` is one `Message`; the extension
 * answers with one `Reply` sent on that same comm, and the kernel then closes it.
 * Keep this file and `agi_jupyter/notebook.py` in step (see ../README.md).
 */
import type { PartialJSONObject } from '@lumino/coreutils';

import packageJson from '../package.json';

/** The comm target the kernel opens comms to. */
export const COMM_TARGET = 'agi_jupyter.cells';

/** Sent back in the `pong` reply so the kernel can tell which extension answered: package.json's
 * version, the one version source of the Python package and this extension (see CONTRIBUTING.md). */
export const VERSION: string = packageJson.version;

/** The cell metadata key that marks a snippet cell. */
export const METADATA_KEY = 'agi_jupyter';

/** What a snippet cell carries under `metadata.agi_jupyter`. */
export interface ISnippetMarker extends PartialJSONObject {
  /** The Orchestrator action that produced the code: "install", "run", ... */
  action: string;
  /** The app the code acts on. */
  app: string;
  /** The settings digest the code was generated from. */
  digest: string;
  /** Id of the cell the snippet was inserted below (added by this extension). */
  origin?: string;
}

export interface IPingMessage {
  type: 'ping';
}

export interface IInsertMessage {
  type: 'insert';
  code: string;
  cell_id: string;
  metadata: ISnippetMarker;
}

export interface IDigestMessage {
  type: 'digest';
  app: string;
  digest: string;
}

export type Message = IPingMessage | IInsertMessage | IDigestMessage;

export type Reply =
  | { status: 'ok'; type: 'pong'; version: string }
  | { status: 'ok'; cell_id: string; index: number }
  | { status: 'ok'; type: 'digest'; stale: number }
  | { status: 'error'; message: string };

/** Turn an error thrown while handling a message into the reply the kernel expects. */
export function errorReply(error: unknown): Reply {
  const message = error instanceof Error ? error.message : String(error);
  return { status: 'error', message };
}

/** Check the shape of what the kernel sent; throws a message the kernel can show. */
export function parseMessage(data: unknown): Message {
  if (!data || typeof data !== 'object') {
    throw new Error('the comm message is not an object');
  }
  const message = data as Record<string, unknown>;
  switch (message.type) {
    case 'ping':
      return { type: 'ping' };
    case 'insert': {
      requireStrings(message, ['code', 'cell_id']);
      const marker = (message.metadata ?? {}) as Record<string, unknown>;
      requireStrings(marker, ['action', 'app', 'digest'], 'metadata.');
      return {
        type: 'insert',
        code: message.code as string,
        cell_id: message.cell_id as string,
        metadata: {
          action: marker.action as string,
          app: marker.app as string,
          digest: marker.digest as string
        }
      };
    }
    case 'digest':
      requireStrings(message, ['app', 'digest']);
      return {
        type: 'digest',
        app: message.app as string,
        digest: message.digest as string
      };
    default:
      throw new Error(`unknown message type ${JSON.stringify(message.type)}`);
  }
}

function requireStrings(object: Record<string, unknown>, keys: string[], prefix = ''): void {
  for (const key of keys) {
    if (typeof object[key] !== 'string') {
      throw new Error(`"${prefix}${key}" must be a string`);
    }
  }
}
