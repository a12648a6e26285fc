// The metadata a handover may carry: what DynamoDB and its document marshaller keep exactly is
// accepted; anything else is a 400 naming the rule, never a crash or a silently altered value.
import { metadataDigest } from '../../functions/domain/chain';
import { ValidationError } from '../../functions/domain/errors';
import { checkMetadata, METADATA_MAX_DEPTH } from '../../functions/domain/metadata';

/** `{ a: { a: ... { leaf: 1 } } }`: `depth` objects, the outermost counting as 1. */
const nested = (depth: number): Record<string, unknown> => {
  let value: Record<string, unknown> = { leaf: 1 };
  for (let level = 1; level < depth; level += 1) value = { a: value };
  return value;
};

/** The deepest object/array level of a JSON value, the value itself counting as 1. */
const depthOf = (value: unknown): number =>
  typeof value === 'object' && value !== null
    ? 1 + Math.max(0, ...Object.values(value).map(depthOf))
    : 0;

const refusal = (metadata: unknown): ValidationError => {
  try {
    checkMetadata(metadata);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error('expected a ValidationError');
};

describe('checkMetadata: depth', () => {
  it('accepts metadata nested as deep as allowed, arrays counting as levels', () => {
    const deepest = nested(METADATA_MAX_DEPTH);
    const withArrays = JSON.parse(
      `{"a":${'['.repeat(METADATA_MAX_DEPTH - 2)}{"b":1}${']'.repeat(METADATA_MAX_DEPTH - 2)}}`,
    );

    expect([depthOf(deepest), depthOf(withArrays)]).toEqual([
      METADATA_MAX_DEPTH,
      METADATA_MAX_DEPTH,
    ]);
    expect(checkMetadata(deepest).metadata).toEqual(deepest);
    expect(checkMetadata(withArrays).metadata).toEqual(withArrays);
  });

  it.each([
    ['one level deeper than allowed', METADATA_MAX_DEPTH + 1],
    ["DynamoDB's 32 levels", 32],
    ['33 levels', 33],
  ])('refuses metadata nested %s with invalid_metadata', (_case, depth) => {
    const err = refusal(nested(depth));

    expect([err.httpStatus, err.code]).toEqual([400, 'invalid_metadata']);
    expect(err.message).toBe(
      `metadata must nest at most ${METADATA_MAX_DEPTH} levels of objects and arrays.`,
    );
  });
});

describe('checkMetadata: keys the store cannot keep', () => {
  it.each([
    ['a constructor key', '{"constructor":"x"}'],
    ['a constructor key that looks like a class', '{"constructor":{"name":"String"}}'],
    ['a nested constructor key', '{"ticket":{"tags":[{"constructor":1}]}}'],
    ['a __proto__ key', '{"__proto__":{"admin":true}}'],
    ['a nested __proto__ key', '{"ticket":{"__proto__":{"admin":true}}}'],
  ])('refuses %s with invalid_metadata', (_case, json) => {
    const err = refusal(JSON.parse(json));

    expect([err.httpStatus, err.code]).toEqual([400, 'invalid_metadata']);
    expect(err.message).toBe(
      'metadata must not use the keys "__proto__" or "constructor", at any depth.',
    );
  });

  it('accepts other keys that name object properties, and digests them as given', () => {
    const metadata = JSON.parse(
      '{"prototype":1,"toString":"x","hasOwnProperty":[true],"valueOf":{}}',
    );

    expect(checkMetadata(metadata)).toEqual({
      metadata,
      reason: null,
      digest: metadataDigest(metadata),
    });
  });
});

describe('checkMetadata: size first', () => {
  it('reports the size of metadata both too large and too deep', () => {
    const deep = JSON.parse(`{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);

    expect(refusal(deep).code).toBe('metadata_too_large');
  });
});

describe('checkMetadata', () => {
  it.each([
    ['an unsafe integer', { n: 1e16 }],
    ['a negative unsafe integer', { n: -(2 ** 53) }],
    ['a number above DynamoDB range', { n: 1e126 }],
    ['a number below DynamoDB range', { n: 1e-200 }],
    ['a nested unsafe integer', { a: [{ b: [1, 2, 2 ** 60] }] }],
  ])('refuses %s with invalid_metadata', (_case, metadata) => {
    const err = (() => {
      try {
        checkMetadata(metadata);
      } catch (e) {
        return e;
      }
      return null;
    })();

    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).code).toBe('invalid_metadata');
  });

  it('accepts numbers DynamoDB stores as given', () => {
    const metadata = { a: Number.MAX_SAFE_INTEGER, b: -0.5, c: 1e-130, d: 0, e: 1.5e15 };

    expect(checkMetadata(metadata).metadata).toEqual(metadata);
  });

  it('refuses metadata nested deeper than its size allows with metadata_too_large, not a crash', () => {
    const deep = JSON.parse(`{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`);

    expect(() => checkMetadata(deep)).toThrow(
      expect.objectContaining({ code: 'metadata_too_large' }),
    );
  });
});
