// The Merkle tree of the checkpoints against RFC 6962's own test vectors (the roots of the
// reference implementation's eight leaves, and its inclusion proofs), and a property: in a tree of
// any size, every leaf's proof verifies and a changed leaf, index or proof step does not.
import fc from 'fast-check';
import {
  EMPTY_ROOT,
  inclusionProof,
  leafHash,
  nodeHash,
  rootFromInclusionProof,
  rootOf,
  verifyInclusion,
} from '../../../functions/domain/checkpoints/merkle';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => Buffer.from(s, 'hex');

// RFC 6962's reference leaves and the root of the first n of them, n = 1..8.
const LEAF_DATA = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map(unhex);
const ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];
const LEAVES = LEAF_DATA.map(leafHash);

describe('the Merkle tree (RFC 6962)', () => {
  it('hashes the empty tree to the SHA-256 of nothing', () => {
    expect(hex(rootOf([]))).toBe(
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
    expect(hex(EMPTY_ROOT)).toBe(hex(rootOf([])));
  });

  it('gives the reference roots for 1 to 8 leaves (the split for sizes that are not powers of two)', () => {
    const roots = ROOTS.map((_, i) => hex(rootOf(LEAVES.slice(0, i + 1))));
    expect(roots).toEqual(ROOTS);
  });

  it('prefixes leaves with 0x00 and nodes with 0x01, so a node is never taken for a leaf', () => {
    const [a, b] = [LEAVES[0]!, LEAVES[1]!];
    expect(hex(nodeHash(a, b))).toBe(ROOTS[1]);
    // The node's bytes as a leaf hash to something else.
    expect(hex(leafHash(Buffer.concat([a, b])))).not.toBe(hex(nodeHash(a, b)));
  });

  it('gives the reference inclusion proofs', () => {
    expect(inclusionProof(0, LEAVES).map(hex)).toEqual([
      '96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7',
      '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e',
      '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4',
    ]);
    expect(inclusionProof(5, LEAVES).map(hex)).toEqual([
      'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b',
      'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0',
      'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
    ]);
    expect(inclusionProof(2, LEAVES.slice(0, 3)).map(hex)).toEqual([ROOTS[1]]);
    expect(inclusionProof(0, LEAVES.slice(0, 1))).toEqual([]);
  });

  it('refuses a proof for an index outside the tree', () => {
    expect(() => inclusionProof(8, LEAVES)).toThrow(RangeError);
    expect(rootFromInclusionProof(8, 8, LEAVES[0]!, [])).toBeNull();
    expect(rootFromInclusionProof(0, 0, LEAVES[0]!, [])).toBeNull();
  });

  it("verifies every leaf's proof in trees of every size, and refuses any change to leaf, index or proof", () => {
    const leafData = fc.uint8Array({ maxLength: 12 });
    fc.assert(
      fc.property(
        fc.array(leafData, { minLength: 1, maxLength: 40 }),
        fc.nat(),
        fc.uint8Array({ minLength: 1, maxLength: 12 }),
        (data, pick, other) => {
          const leaves = data.map(leafHash);
          const root = rootOf(leaves);
          const n = leaves.length;
          for (let i = 0; i < n; i++) {
            expect(verifyInclusion(i, n, leaves[i]!, inclusionProof(i, leaves), root)).toBe(true);
          }
          const i = pick % n;
          const proof = inclusionProof(i, leaves);
          const changedLeaf = leafHash(Buffer.concat([Buffer.from(data[i]!), Buffer.from(other)]));
          expect(verifyInclusion(i, n, changedLeaf, proof, root)).toBe(false);
          if (n > 1) {
            const j = (i + 1) % n;
            if (!leaves[j]!.equals(leaves[i]!)) {
              expect(verifyInclusion(j, n, leaves[i]!, proof, root)).toBe(false);
            }
            // One step short, or one too many: refused (the size itself is signed with the root).
            expect(verifyInclusion(i, n, leaves[i]!, proof.slice(1), root)).toBe(false);
            expect(verifyInclusion(i, n, leaves[i]!, [...proof, root], root)).toBe(false);
            const step = Buffer.from(proof[0]!);
            step[0] = step[0]! ^ 1;
            expect(verifyInclusion(i, n, leaves[i]!, [step, ...proof.slice(1)], root)).toBe(false);
          }
        },
      ),
      { numRuns: 150 },
    );
  });
});
