// The one builder behind `add-auditor` and `add-operator` (cli/secrets/commands/add-named.ts): the
// secret it writes for each role, the names it refuses, and a fresh token that neither role holds
// already (the functions refuse a token listed as both). The commands themselves run in
// secrets.test.ts.
import { addNamed } from '../../cli/secrets/commands/add-named';

/** Tokens from a list, in order. */
const tokens = (...list: string[]) => {
  const left = [...list];
  return () => {
    const next = left.shift();
    if (next === undefined) throw new Error('no token left');
    return next;
  };
};

describe('addNamed', () => {
  it.each([
    ['auditor', 'auditors'],
    ['operator', 'operators'],
  ] as const)('adds a trimmed %s name with a fresh token to %s', (role, key) => {
    const current = { auditors: [{ name: 'A', token: 'held-by-a' }], other: 'kept' };

    const { next, token } = addNamed(current, role, '  Compliance ', tokens('fresh-token-1'));

    expect(token).toBe('fresh-token-1');
    expect(next).toEqual({
      ...current,
      [key]: [
        ...(key === 'auditors' ? current.auditors : []),
        { name: 'Compliance', token: 'fresh-token-1' },
      ],
    });
  });

  it.each([
    ['auditor', { operators: [{ name: 'Ops', token: 'taken-1' }] }],
    ['operator', { auditors: [{ name: 'Audit', token: 'taken-1' }] }],
    ['auditor', { auditors: [{ name: 'Audit', token: 'taken-1' }] }],
  ] as const)('never gives an %s a token the secret holds already (%j)', (role, current) => {
    const { token } = addNamed(current, role, 'New', tokens('taken-1', 'fresh-2'));

    expect(token).toBe('fresh-2');
  });

  it.each([
    ['auditor', 'An auditor name must be 1 to 100 characters.', '  '],
    ['operator', 'An operator name must be 1 to 100 characters.', 'x'.repeat(101)],
    ['auditor', 'An auditor named "Taken" exists already.', ' Taken'],
    ['operator', 'An operator named "Taken" exists already.', 'Taken'],
  ] as const)('refuses an %s: %s', (role, sentence, name) => {
    const current = {
      auditors: [{ name: 'Taken', token: 't-1' }],
      operators: [{ name: 'Taken', token: 't-2' }],
    };

    expect(() => addNamed(current, role, name, tokens('fresh'))).toThrow(sentence);
  });

  it('keeps names unique within a role only: an operator may share an auditor name', () => {
    const { next } = addNamed(
      { auditors: [{ name: 'Ops', token: 't-1' }] },
      'operator',
      'Ops',
      tokens('t-2'),
    );

    expect(next).toEqual({
      auditors: [{ name: 'Ops', token: 't-1' }],
      operators: [{ name: 'Ops', token: 't-2' }],
    });
  });
});
