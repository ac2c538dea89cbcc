import { pickResponder } from '../comm';

interface IFakeNotebook {
  name: string;
  cells: string[];
}

const holds = (notebook: IFakeNotebook, cellId: string) => notebook.cells.includes(cellId);
const a = { name: 'a.ipynb', cells: ['a1', 'a2'] };
const b = { name: 'b.ipynb', cells: ['b1'] };
const console1 = { name: 'console 1' };
const console2 = { name: 'console 2' };

describe('pickResponder', () => {
  it('picks the notebook holding the origin cell', () => {
    expect(pickResponder([a, b], [console1], 'b1', holds)).toBe(b);
    expect(pickResponder([a, b], [], 'a2', holds)).toBe(a);
  });

  it('falls back to the first notebook when none holds the cell, or for other messages', () => {
    expect(pickResponder([b, a], [console1], 'gone', holds)).toBe(b);
    expect(pickResponder([b, a], [console1], null, holds)).toBe(b);
  });

  it('lets the first console answer when no notebook is on the kernel', () => {
    expect(pickResponder([], [console2, console1], 'a1', holds)).toBe(console2);
    expect(pickResponder([], [console1], null, holds)).toBe(console1);
  });

  it('finds nobody on a kernel without notebooks or consoles', () => {
    expect(pickResponder([], [], 'a1', holds)).toBeUndefined();
  });

  it('asks only about the origin cell id', () => {
    const asked: string[] = [];
    const spy = (notebook: IFakeNotebook, cellId: string) => {
      asked.push(`${notebook.name}:${cellId}`);
      return holds(notebook, cellId);
    };
    pickResponder([a, b], [], 'b1', spy);
    expect(asked).toEqual(['a.ipynb:b1', 'b.ipynb:b1']);
  });
});
