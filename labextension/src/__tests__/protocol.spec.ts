import { COMM_TARGET, errorReply, parseMessage } from '../protocol';

const marker = { action: 'run', app: 'flight_project', digest: 'abc123' };

describe('parseMessage', () => {
  it('accepts a ping', () => {
    expect(parseMessage({ type: 'ping' })).toEqual({ type: 'ping' });
  });

  it('accepts an insert and keeps only the protocol fields', () => {
    const message = parseMessage({
      type: 'insert',
      code: 'await AGI.run(env)',
      cell_id: 'cell-1',
      metadata: { ...marker, origin: 'forged', extra: 1 },
      extra: true
    });
    expect(message).toEqual({
      type: 'insert',
      code: 'await AGI.run(env)',
      cell_id: 'cell-1',
      metadata: marker
    });
  });

  it('accepts an empty code string', () => {
    const message = parseMessage({ type: 'insert', code: '', cell_id: 'c', metadata: marker });
    expect(message).toMatchObject({ type: 'insert', code: '' });
  });

  it('accepts a digest', () => {
    expect(parseMessage({ type: 'digest', app: 'flight_project', digest: 'd1', x: 0 })).toEqual({
      type: 'digest',
      app: 'flight_project',
      digest: 'd1'
    });
  });

  it.each([null, undefined, 'ping', 42, true])('rejects %p: not an object', data => {
    expect(() => parseMessage(data)).toThrow('the comm message is not an object');
  });

  it.each([
    [{}, 'unknown message type undefined'],
    [[], 'unknown message type undefined'],
    [{ type: 'Insert' }, 'unknown message type "Insert"'],
    [{ type: 7 }, 'unknown message type 7']
  ])('rejects %p: %s', (data, error) => {
    expect(() => parseMessage(data)).toThrow(error);
  });

  it.each([
    [{ cell_id: 'c', metadata: marker }, '"code" must be a string'],
    [{ code: 1, cell_id: 'c', metadata: marker }, '"code" must be a string'],
    [{ code: 'x', metadata: marker }, '"cell_id" must be a string'],
    [{ code: 'x', cell_id: null, metadata: marker }, '"cell_id" must be a string'],
    [{ code: 'x', cell_id: 'c' }, '"metadata.action" must be a string'],
    [{ code: 'x', cell_id: 'c', metadata: null }, '"metadata.action" must be a string'],
    [
      { code: 'x', cell_id: 'c', metadata: { ...marker, app: 3 } },
      '"metadata.app" must be a string'
    ],
    [
      { code: 'x', cell_id: 'c', metadata: { action: 'run', app: 'a' } },
      '"metadata.digest" must be a string'
    ]
  ])('rejects the insert %p: %s', (fields, error) => {
    expect(() => parseMessage({ type: 'insert', ...fields })).toThrow(error);
  });

  it.each([
    [{ digest: 'd' }, '"app" must be a string'],
    [{ app: 'a' }, '"digest" must be a string'],
    [{ app: 'a', digest: ['d'] }, '"digest" must be a string']
  ])('rejects the digest %p: %s', (fields, error) => {
    expect(() => parseMessage({ type: 'digest', ...fields })).toThrow(error);
  });
});

describe('errorReply', () => {
  it('carries the message of an Error', () => {
    expect(errorReply(new Error('no cell with id x'))).toEqual({
      status: 'error',
      message: 'no cell with id x'
    });
  });

  it('turns anything else into a string', () => {
    expect(errorReply('plain text')).toEqual({ status: 'error', message: 'plain text' });
    expect(errorReply(404)).toEqual({ status: 'error', message: '404' });
  });

  it('answers what parseMessage rejects with its reason', () => {
    let reply;
    try {
      parseMessage({ type: 'digest', app: 'a' });
    } catch (error) {
      reply = errorReply(error);
    }
    expect(reply).toEqual({ status: 'error', message: '"digest" must be a string' });
  });
});

it('uses the comm target the kernel opens', () => {
  // agi_jupyter/notebook.py opens its comms to this target name.
  expect(COMM_TARGET).toBe('agi_jupyter.cells');
});
