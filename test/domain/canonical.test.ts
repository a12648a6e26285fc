import { CanonicalJsonError, canonicalJson } from '../../functions/domain/canonical';

describe('canonicalJson (RFC 8785)', () => {
  it('matches the pinned vector: sorted keys, unicode keys, numbers, escapes, no whitespace', () => {
    const value = {
      zeta: { b: [1e21, 0.1, -0, 1e-7, 123456789012345680000, 4.5, -12], a: null },
      '\uFB01le': true, // U+FB01, one code unit above the surrogates
      '\u{1F511}key': 'non-BMP', // U+1F511, a surrogate pair D83D DD11
      é: 'line\nbreak "quoted" \\ tab\t \u0007 bell \u2028',
      A: [],
      '': {},
      skipped: undefined,
      nested: { y: false, x: [{ d: 4, c: 3 }] },
    };

    const text = canonicalJson(value);

    expect(text).toBe(
      '{"":{},"A":[],"nested":{"x":[{"c":3,"d":4}],"y":false},' +
        '"zeta":{"a":null,"b":[1e+21,0.1,0,1e-7,123456789012345680000,4.5,-12]},' +
        '"\u00e9":"line\\nbreak \\"quoted\\" \\\\ tab\\t \\u0007 bell \u2028",' +
        '"\ud83d\udd11key":"non-BMP","\ufb01le":true}',
    );
  });

  it('orders keys by UTF-16 code units, so a non-BMP key sorts before U+FB01', () => {
    const text = canonicalJson({ '\ufb01': 1, '\u{1F600}': 2, z: 3 });

    expect(text).toBe('{"z":3,"\u{1F600}":2,"\ufb01":1}');
  });

  it('gives the same text whatever the insertion order of the members', () => {
    const a = canonicalJson({ b: 1, a: { d: [1, 2], c: 'x' } });
    const b = canonicalJson({ a: { c: 'x', d: [1, 2] }, b: 1 });

    expect(a).toBe(b);
    expect(a).toBe('{"a":{"c":"x","d":[1,2]},"b":1}');
  });

  it('writes top-level primitives and null as JSON does', () => {
    expect([null, true, false, 'a"b', 0, -0, 1.5].map(canonicalJson)).toEqual([
      'null',
      'true',
      'false',
      '"a\\"b"',
      '0',
      '0',
      '1.5',
    ]);
  });

  it('writes undefined array elements as null, as JSON.stringify does', () => {
    expect(canonicalJson([1, undefined, 2])).toBe('[1,null,2]');
  });

  it('uses toJSON, so a Date becomes its ISO string', () => {
    expect(canonicalJson({ at: new Date(Date.UTC(2026, 2, 10)) })).toBe(
      '{"at":"2026-03-10T00:00:00.000Z"}',
    );
  });

  it.each([NaN, Infinity, -Infinity])('refuses the non-finite number %p', (n) => {
    expect(() => canonicalJson({ n })).toThrow(CanonicalJsonError);
  });

  it('refuses values JSON has no form for', () => {
    expect(() => canonicalJson({ f: () => 1 })).toThrow(CanonicalJsonError);
    expect(() => canonicalJson({ b: BigInt(1) })).toThrow(CanonicalJsonError);
  });

  it('refuses a cycle, but accepts the same object twice side by side', () => {
    const shared = { k: 1 };
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;

    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"k":1},"b":{"k":1}}');
    expect(() => canonicalJson(cyclic)).toThrow(CanonicalJsonError);
  });
});
