// A handover's metadata: what a caller (an API client, a downstream's answer) may attach. It is
// stored twice as DynamoDB maps (the history record, and the owner item's pending draft while the
// handover is in flight) and chained by its digest, so only what the store keeps exactly, and
// within DynamoDB's limits, is accepted.
import { CanonicalJsonError, canonicalJson } from './canonical';
import { metadataDigest } from './chain';
import { ValidationError } from './errors';

export const METADATA_MAX_BYTES = 4096;
export const REASON_MAX_CHARS = 100;

/**
 * Objects and arrays nested in the metadata, the metadata object counting as 1. DynamoDB refuses
 * items nested deeper than 32 levels, the item counting as 1; the deepest copy is the owner
 * item's `pending.draft.metadata`, where the metadata object is level 4, so 29 would just fit.
 * 24 leaves room for the records to gain a wrapper.
 */
export const METADATA_MAX_DEPTH = 24;

/**
 * Keys the DynamoDB document marshaller cannot keep: it reads `constructor` to tell a map from a
 * class instance (failing, or storing another value), and `__proto__` is lost when it builds a map.
 * The stored metadata must hash to its digest, so such keys are refused rather than altered.
 */
export const UNSTORABLE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor']);

/** DynamoDB numbers: magnitudes from 1e-130 to below 1e126 (and 0). */
const DYNAMO_MIN_MAGNITUDE = 1e-130;

const tooLarge = () =>
  new ValidationError(
    `metadata must be at most ${METADATA_MAX_BYTES} bytes as JSON.`,
    'metadata_too_large',
  );

/**
 * Checks the metadata: a JSON object of at most 4 KB in canonical form (null/absent allowed),
 * nested at most METADATA_MAX_DEPTH levels, without UNSTORABLE_KEYS; a string `reason` (at most
 * 100 characters) becomes the record's reason. Anything else is a ValidationError (400).
 */
export function checkMetadata(metadata: unknown): {
  metadata: Record<string, unknown> | null;
  reason: string | null;
  digest: string;
} {
  if (metadata === undefined || metadata === null) {
    return { metadata: null, reason: null, digest: metadataDigest(null) };
  }
  if (typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new ValidationError('metadata must be a JSON object.', 'invalid_metadata');
  }
  const record = metadata as Record<string, unknown>;
  checkValues(record);
  let canonical: string;
  try {
    canonical = canonicalJson(record);
  } catch (err) {
    if (err instanceof CanonicalJsonError) {
      throw new ValidationError('metadata must be plain JSON.', 'invalid_metadata');
    }
    throw err;
  }
  if (Buffer.byteLength(canonical, 'utf8') > METADATA_MAX_BYTES) throw tooLarge();
  const reason = typeof record.reason === 'string' && record.reason !== '' ? record.reason : null;
  if (reason !== null && reason.length > REASON_MAX_CHARS) {
    throw new ValidationError(
      `metadata.reason must be at most ${REASON_MAX_CHARS} characters.`,
      'reason_too_long',
    );
  }
  return { metadata: record, reason, digest: metadataDigest(record) };
}

/**
 * Walks the metadata (iteratively: no recursion on input) before it is serialized: no unstorable
 * key; every number one DynamoDB stores as given (a safe integer or a fraction within safe-integer
 * magnitude, and no magnitude below 1e-130); at most METADATA_MAX_DEPTH levels. A value with more
 * nodes than the size limit has bytes cannot fit it, so the walk stops there and the size is what
 * is reported, however deep the value goes.
 */
function checkValues(root: Record<string, unknown>): void {
  const stack: [unknown, number][] = [[root, 1]];
  let nodes = 0;
  let deepest = 0;
  while (stack.length > 0) {
    const [value, depth] = stack.pop()!;
    if (++nodes > METADATA_MAX_BYTES) throw tooLarge();
    if (typeof value === 'number') {
      const magnitude = Math.abs(value);
      if (
        Number.isFinite(value) &&
        (magnitude > Number.MAX_SAFE_INTEGER ||
          (magnitude !== 0 && magnitude < DYNAMO_MIN_MAGNITUDE))
      ) {
        throw new ValidationError(
          'metadata numbers must be safe integers or fractions DynamoDB can store.',
          'invalid_metadata',
        );
      }
    } else if (typeof value === 'object' && value !== null) {
      deepest = Math.max(deepest, depth);
      if (!Array.isArray(value)) {
        for (const key of Object.keys(value)) {
          if (UNSTORABLE_KEYS.has(key)) {
            throw new ValidationError(
              'metadata must not use the keys "__proto__" or "constructor", at any depth.',
              'invalid_metadata',
            );
          }
        }
      }
      for (const child of Object.values(value)) stack.push([child, depth + 1]);
    }
  }
  if (deepest > METADATA_MAX_DEPTH) {
    throw new ValidationError(
      `metadata must nest at most ${METADATA_MAX_DEPTH} levels of objects and arrays.`,
      'invalid_metadata',
    );
  }
}
