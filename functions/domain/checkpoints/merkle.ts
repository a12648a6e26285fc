// The Merkle tree of a checkpoint, as RFC 6962 (Certificate Transparency) defines it, section 2.1:
// a leaf hashes to sha256(0x00 || data), an interior node to sha256(0x01 || left || right), and a
// tree of n leaves splits at the largest power of two below n. The distinct prefixes keep a node
// from passing for a leaf. The RFC's own test vectors pin it (test/domain/checkpoints/merkle.test.ts).
import { createHash } from 'node:crypto';

const LEAF_PREFIX = Buffer.from([0x00]);
const NODE_PREFIX = Buffer.from([0x01]);

const sha256 = (...parts: Uint8Array[]): Buffer => {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
};

/** The root of a tree without leaves: the SHA-256 of no bytes. */
export const EMPTY_ROOT: Buffer = sha256();

export const leafHash = (data: Uint8Array): Buffer => sha256(LEAF_PREFIX, data);

export const nodeHash = (left: Uint8Array, right: Uint8Array): Buffer =>
  sha256(NODE_PREFIX, left, right);

/** The largest power of two strictly below n (n >= 2). */
const splitOf = (n: number): number => {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
};

/** The root of leaves[start, end), end > start. */
const subtreeRoot = (leaves: readonly Buffer[], start: number, end: number): Buffer => {
  if (end - start === 1) return leaves[start]!;
  const k = splitOf(end - start);
  return nodeHash(subtreeRoot(leaves, start, start + k), subtreeRoot(leaves, start + k, end));
};

/** The tree's root over leaf hashes (leafHash of each entry), in their order. */
export const rootOf = (leaves: readonly Buffer[]): Buffer =>
  leaves.length === 0 ? EMPTY_ROOT : subtreeRoot(leaves, 0, leaves.length);

/**
 * The audit path of leaf `index` (RFC 6962 section 2.1.1): the sibling hashes from the leaf up to
 * the root, nearest first.
 */
export const inclusionProof = (index: number, leaves: readonly Buffer[]): Buffer[] => {
  if (!Number.isInteger(index) || index < 0 || index >= leaves.length) {
    throw new RangeError(`leaf ${index} is not in a tree of ${leaves.length}`);
  }
  const path: Buffer[] = [];
  const walk = (m: number, start: number, end: number): void => {
    if (end - start === 1) return;
    const k = splitOf(end - start);
    if (m < k) {
      walk(m, start, start + k);
      path.push(subtreeRoot(leaves, start + k, end));
    } else {
      walk(m - k, start + k, end);
      path.push(subtreeRoot(leaves, start, start + k));
    }
  };
  walk(index, 0, leaves.length);
  return path;
};

/**
 * The root that an inclusion proof leads to (RFC 9162 section 2.1.3.2), or null when the proof
 * cannot be one for that index and size (too short, too long, index outside the tree).
 */
export const rootFromInclusionProof = (
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
): Buffer | null => {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0 || index >= size) {
    return null;
  }
  let fn = index;
  let sn = size - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of proof) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      // A right edge with no sibling at these levels: climb until this node is a right child.
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = nodeHash(r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
};

/** Whether `proof` shows `leaf` at `index` of the tree of `size` leaves with this root. */
export const verifyInclusion = (
  index: number,
  size: number,
  leaf: Uint8Array,
  proof: readonly Uint8Array[],
  root: Uint8Array,
): boolean => {
  const computed = rootFromInclusionProof(index, size, leaf, proof);
  return computed?.equals(root) === true;
};
