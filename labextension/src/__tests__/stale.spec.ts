import type { ICellSummary } from '../insert';
import { staleSnippets } from '../stale';

function snippet(id: string, app: string, digest: string): ICellSummary {
  return { id, marker: { action: 'run', app, digest, origin: 'w' } };
}

const cells: ICellSummary[] = [
  { id: 'w', marker: null },
  snippet('f1', 'flight', 'old'),
  snippet('f2', 'flight', 'new'),
  snippet('m1', 'mandelbrot', 'm-old'),
  { id: 'typed', marker: null }
];

const ids = (found: ICellSummary[]) => found.map(cell => cell.id);

describe('staleSnippets', () => {
  it('flags the snippets whose digest differs from their app current one', () => {
    expect(ids(staleSnippets(cells, new Map([['flight', 'new']])))).toEqual(['f1']);
  });

  it('flags nothing for an app whose digest is unknown', () => {
    expect(staleSnippets(cells, new Map())).toEqual([]);
    expect(staleSnippets(cells, new Map([['sensors', 'x']]))).toEqual([]);
  });

  it('judges every app against its own digest', () => {
    const digests = new Map([
      ['flight', 'newest'],
      ['mandelbrot', 'm-old']
    ]);
    expect(ids(staleSnippets(cells, digests))).toEqual(['f1', 'f2']);
  });

  it('clears the flag when the digests match again', () => {
    expect(ids(staleSnippets(cells, new Map([['flight', 'other']])))).toEqual(['f1', 'f2']);
    expect(ids(staleSnippets(cells, new Map([['flight', 'old']])))).toEqual(['f2']);
  });

  it('compares digests exactly, the empty one included', () => {
    const empty = [snippet('e', 'flight', '')];
    expect(ids(staleSnippets(empty, new Map([['flight', '']])))).toEqual([]);
    expect(ids(staleSnippets(empty, new Map([['flight', 'x']])))).toEqual(['e']);
  });

  it('returns the given cell objects, in notebook order', () => {
    const found = staleSnippets(
      cells,
      new Map([
        ['flight', '?'],
        ['mandelbrot', '?']
      ])
    );
    expect(found).toEqual([cells[1], cells[2], cells[3]]);
    expect(found[0]).toBe(cells[1]);
  });
});
