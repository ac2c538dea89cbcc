import { type ISharedCodeCell, YNotebook } from '@jupyter/ydoc';
import {
  applySnippet,
  type ICellSummary,
  markerOf,
  parseMarker,
  placeSnippet,
  SerialQueues
} from '../insert';
import { type IInsertMessage, type ISnippetMarker, METADATA_KEY } from '../protocol';

function snippet(id: string, origin: string, action: string, app = 'flight'): ICellSummary {
  return { id, marker: { action, app, digest: 'd', origin } };
}

function plain(id: string): ICellSummary {
  return { id, marker: null };
}

describe('placeSnippet', () => {
  const run = { action: 'run', app: 'flight' };

  it('is null when no cell has the origin id', () => {
    expect(placeSnippet([plain('a'), plain('b')], 'zzz', run)).toBeNull();
    expect(placeSnippet([], 'a', run)).toBeNull();
  });

  it('puts the first snippet directly below its origin', () => {
    expect(placeSnippet([plain('a'), plain('w'), plain('c')], 'w', run)).toEqual({
      index: 2,
      replace: false
    });
  });

  it('appends to the end when the origin is the last cell', () => {
    expect(placeSnippet([plain('a'), plain('w')], 'w', run)).toEqual({ index: 2, replace: false });
  });

  it('appends after the block of snippets from the same origin, in arrival order', () => {
    const cells = [
      plain('w'),
      snippet('s1', 'w', 'install'),
      snippet('s2', 'w', 'distribute'),
      plain('next')
    ];
    expect(placeSnippet(cells, 'w', run)).toEqual({ index: 3, replace: false });
  });

  it('replaces the snippet of the block with the same action and app', () => {
    const cells = [
      plain('w'),
      snippet('s1', 'w', 'install'),
      snippet('s2', 'w', 'run'),
      snippet('s3', 'w', 'export')
    ];
    expect(placeSnippet(cells, 'w', run)).toEqual({ index: 2, replace: true });
  });

  it('does not replace a snippet of another app', () => {
    const cells = [plain('w'), snippet('s1', 'w', 'run', 'mandelbrot')];
    expect(placeSnippet(cells, 'w', run)).toEqual({ index: 2, replace: false });
  });

  it('ends the block at a snippet from another origin and does not replace beyond it', () => {
    const cells = [
      plain('w'),
      snippet('s1', 'w', 'install'),
      snippet('o1', 'other', 'run'),
      snippet('s2', 'w', 'run')
    ];
    expect(placeSnippet(cells, 'w', run)).toEqual({ index: 2, replace: false });
  });

  it('ends the block at a cell that is not a snippet', () => {
    const cells = [plain('w'), plain('typed-by-hand'), snippet('s1', 'w', 'run')];
    expect(placeSnippet(cells, 'w', run)).toEqual({ index: 1, replace: false });
  });

  it('uses the origin cell, not its position among equal-looking snippets', () => {
    const cells = [
      plain('w1'),
      snippet('a', 'w1', 'run'),
      plain('w2'),
      snippet('b', 'w2', 'install')
    ];
    expect(placeSnippet(cells, 'w2', run)).toEqual({ index: 4, replace: false });
    expect(placeSnippet(cells, 'w1', run)).toEqual({ index: 1, replace: true });
  });
});

describe('parseMarker', () => {
  const marker = { action: 'run', app: 'flight', digest: 'd', origin: 'w' };

  it('reads a snippet marker', () => {
    expect(parseMarker(marker)).toEqual(marker);
  });

  it.each([undefined, null, 'run', 3, [marker], {}, { action: 'run' }, { app: 'a', action: 1 }])(
    'is null for %p',
    value => {
      expect(parseMarker(value)).toBeNull();
    }
  );
});

describe('SerialQueues', () => {
  function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } {
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<void>((yes, no) => {
      resolve = yes;
      reject = no;
    });
    return { promise, resolve, reject };
  }

  it('runs the tasks of one key one at a time, in the order queued', async () => {
    const queues = new SerialQueues<object>();
    const notebook = {};
    const log: string[] = [];
    const first = deferred();
    const a = queues.run(notebook, async () => {
      log.push('a start');
      await first.promise;
      log.push('a end');
      return 'a';
    });
    const b = queues.run(notebook, () => {
      log.push('b');
      return 'b';
    });
    const c = queues.run(notebook, async () => {
      await Promise.resolve();
      log.push('c');
      return 'c';
    });
    await new Promise(resolve => setTimeout(resolve, 10));
    expect(log).toEqual(['a start']); // b and c wait for a
    first.resolve();
    expect(await Promise.all([a, b, c])).toEqual(['a', 'b', 'c']);
    expect(log).toEqual(['a start', 'a end', 'b', 'c']);
  });

  it('goes on after a task that failed, which rejects only its own promise', async () => {
    const queues = new SerialQueues<object>();
    const notebook = {};
    const failing = deferred();
    const a = queues.run(notebook, () => failing.promise);
    const b = queues.run(notebook, () => 'b');
    failing.reject(new Error('no cell with id x'));
    await expect(a).rejects.toThrow('no cell with id x');
    await expect(b).resolves.toBe('b');
  });

  it('does not make one key wait for another', async () => {
    const queues = new SerialQueues<object>();
    const blocked = deferred();
    const slow = queues.run({}, () => blocked.promise.then(() => 'slow'));
    await expect(queues.run({}, () => 'other notebook')).resolves.toBe('other notebook');
    blocked.resolve();
    await expect(slow).resolves.toBe('slow');
  });
});

describe('applySnippet on a shared notebook model', () => {
  let notebook: YNotebook;
  let warn: jest.SpyInstance;

  beforeEach(() => {
    // @jupyter/ydoc builds a cell's text before adding it to the document; yjs warns about
    // that in JupyterLab as well. Other warnings still show.
    const original = console.warn.bind(console);
    warn = jest.spyOn(console, 'warn').mockImplementation((...args: unknown[]) => {
      if (!String(args[0]).startsWith('Invalid access: Add Yjs type to a document')) {
        original(...args);
      }
    });
    notebook = YNotebook.create({});
    notebook.insertCells(0, [
      { cell_type: 'markdown', source: '# Title', id: 'title' },
      { cell_type: 'code', source: 'Orchestrator()', id: 'widget' },
      { cell_type: 'code', source: 'print(1)', id: 'after' }
    ]);
  });

  afterEach(() => {
    notebook.dispose(); // stops the awareness timer, or jest never exits
    warn.mockRestore();
  });

  function insert(action: string, code: string, cell_id = 'widget', app = 'flight') {
    const message: IInsertMessage = {
      type: 'insert',
      code,
      cell_id,
      metadata: { action, app, digest: `digest-of-${code}` }
    };
    return applySnippet(notebook, message, 'demo.ipynb');
  }

  const sources = () => notebook.cells.map(cell => cell.getSource());

  it('inserts a code cell below the origin, marked with its origin', () => {
    const reply = insert('install', 'await AGI.install(env)');
    expect(reply).toEqual({ status: 'ok', cell_id: notebook.cells[2].id, index: 2 });
    expect(sources()).toEqual(['# Title', 'Orchestrator()', 'await AGI.install(env)', 'print(1)']);
    const cell = notebook.cells[2];
    expect(cell.cell_type).toBe('code');
    expect(markerOf(notebook.cells[1])).toBeNull();
    expect(markerOf(cell)).toEqual({
      action: 'install',
      app: 'flight',
      digest: 'digest-of-await AGI.install(env)',
      origin: 'widget'
    });
  });

  it('keeps snippets of one origin in arrival order', () => {
    insert('install', 'install()');
    insert('distribute', 'distribute()');
    const reply = insert('run', 'run()');
    expect(reply).toMatchObject({ status: 'ok', index: 4 });
    expect(sources()).toEqual([
      '# Title',
      'Orchestrator()',
      'install()',
      'distribute()',
      'run()',
      'print(1)'
    ]);
  });

  it('replaces a regenerated snippet in place and clears its outputs', () => {
    const first = insert('install', 'install(v1)');
    insert('run', 'run()');
    const cell = notebook.cells[2] as ISharedCodeCell;
    cell.setOutputs([{ output_type: 'stream', name: 'stdout', text: 'installed v1' }]);
    cell.execution_count = 7;

    const second = insert('install', 'install(v2)');
    expect(second).toEqual(first);
    expect(sources()).toEqual(['# Title', 'Orchestrator()', 'install(v2)', 'run()', 'print(1)']);
    expect(cell.getOutputs()).toEqual([]);
    expect(cell.execution_count).toBeNull();
    expect((cell.getMetadata(METADATA_KEY) as ISnippetMarker).digest).toBe('digest-of-install(v2)');
  });

  it('stacks the same action for two apps', () => {
    insert('run', 'run(flight)', 'widget', 'flight');
    insert('run', 'run(mandelbrot)', 'widget', 'mandelbrot');
    expect(sources().slice(2, 4)).toEqual(['run(flight)', 'run(mandelbrot)']);
  });

  it('keeps the blocks of two origins apart', () => {
    insert('run', 'run(from widget)');
    insert('run', 'run(from after)', 'after');
    insert('install', 'install(from widget)');
    expect(sources()).toEqual([
      '# Title',
      'Orchestrator()',
      'run(from widget)',
      'install(from widget)',
      'print(1)',
      'run(from after)'
    ]);
  });

  it('throws, changing nothing, for an unknown origin cell', () => {
    expect(() => insert('run', 'run()', 'gone')).toThrow('no cell with id gone in demo.ipynb');
    expect(sources()).toEqual(['# Title', 'Orchestrator()', 'print(1)']);
  });
});
