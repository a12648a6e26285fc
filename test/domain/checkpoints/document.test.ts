// The checkpoint format, pinned with vectors an outside implementation can check: fixed user ids
// and a fixed subject key give fixed subjectRefs (HMAC-SHA256), fixed heads give fixed leaf bytes,
// root, signed bytes and hash (the root recomputed here from SHA-256 alone), and a signature made
// once with a fixed key verifies with node:crypto. Then what breaks a checkpoint, and the format
// before subject references refused by name.
import {
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
} from 'node:crypto';
import {
  buildCheckpoint,
  type Checkpoint,
  CheckpointFormatError,
  checkpointFault,
  checkpointHash,
  decodeStored,
  documentBytes,
  encodeStored,
  headProof,
  headLeaf,
  signedBytes,
} from '../../../functions/domain/checkpoints/document';
import { verifyInclusion } from '../../../functions/domain/checkpoints/merkle';
import { FIXED_PRIVATE_KEY, FIXED_PUBLIC_KEY, SUBJECT_KEY } from './world';

/** subjectRef = hex HMAC-SHA256(subject key, UTF-8 user id); the key is 32 bytes of 0x07. */
const REFS = {
  'user-20': '9e151d63dfd1a1db366bcb492989edb86effe43b114c0950c11fbe1e06b41e89',
  '7': '6d596e2aca8826123ebeb7653c071ae67ee28d965f913804fa61535134187702',
  Zoë: '88fa8f088e93e8f065830fbc03a8630c683a039250d0c26ac0880568d743d980',
};
const HEADS = [
  { subjectRef: REFS['user-20'], lastSeq: 3, lastHash: 'a'.repeat(64) },
  { subjectRef: REFS['7'], lastSeq: 1, lastHash: 'b'.repeat(64) },
  { subjectRef: REFS.Zoë, lastSeq: 12, lastHash: 'c'.repeat(64) },
];
const AT = '2026-03-10T12:15:00.000Z';
const first = () =>
  buildCheckpoint({ previous: null, createdAt: AT, coveredUntil: AT, heads: HEADS });

const SIGNED =
  '{"checkpointId":"000000000001","coveredUntil":"2026-03-10T12:15:00.000Z",' +
  '"createdAt":"2026-03-10T12:15:00.000Z","previousCheckpointHash":"' +
  '0'.repeat(64) +
  '","rootHash":"85e324b1d7bb1193850acde00659264228b67eefd11927a390afe2a4d3a9c66c","treeSize":3}';
/** Made once with FIXED_PRIVATE_KEY over SIGNED (ECDSA signatures differ at every signing). */
const SIGNATURE =
  'MEUCIQDVleVm8erYOyWn0aNkIfmG/9SR16aKueAEYlU7gCwQ2gIgLOwhltumoq6LO1yu9bZQfhnyQPy3Drk6WfsfXnPnXa4=';

const sha256 = (...parts: (string | Buffer)[]) => {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
};
const fixedSign = (c: Checkpoint) =>
  sign('sha256', signedBytes(c), { key: createPrivateKey(FIXED_PRIVATE_KEY), dsaEncoding: 'der' });

describe('the checkpoint format', () => {
  it('names each user by the HMAC-SHA256 of its id under the subject key, as node:crypto computes it', () => {
    expect(SUBJECT_KEY).toEqual(Buffer.alloc(32, 7));
    for (const [userId, ref] of Object.entries(REFS)) {
      expect(createHmac('sha256', Buffer.alloc(32, 7)).update(userId, 'utf8').digest('hex')).toBe(
        ref,
      );
    }
  });

  it('sorts the heads by subjectRef and hashes each as a leaf of its canonical JSON', () => {
    const checkpoint = first();
    expect(checkpoint.heads.map((h) => h.subjectRef)).toEqual([
      REFS['7'],
      REFS.Zoë,
      REFS['user-20'],
    ]);
    const leafBytes = `{"lastHash":"${'b'.repeat(64)}","lastSeq":1,"subjectRef":"${REFS['7']}"}`;
    expect(headLeaf(checkpoint.heads[0]!)).toEqual(sha256(Buffer.from([0]), leafBytes));
  });

  it('gives the root that SHA-256 alone gives for three leaves, and pins it', () => {
    const leaf = (h: (typeof HEADS)[number]) =>
      sha256(
        Buffer.from([0]),
        `{"lastHash":"${h.lastHash}","lastSeq":${h.lastSeq},"subjectRef":"${h.subjectRef}"}`,
      );
    const [u20, u7, zoe] = HEADS.map(leaf) as [Buffer, Buffer, Buffer];
    // Three leaves split 2 + 1: root = H(1 || H(1 || l0 || l1) || l2), in subjectRef order.
    const root = sha256(Buffer.from([1]), sha256(Buffer.from([1]), u7, zoe), u20);
    expect(first().rootHash).toBe(root.toString('hex'));
    expect(first().rootHash).toBe(
      '85e324b1d7bb1193850acde00659264228b67eefd11927a390afe2a4d3a9c66c',
    );
    expect(first().treeSize).toBe(3);
  });

  it('signs the canonical document without its heads, and chains by the SHA-256 of those bytes', () => {
    const checkpoint = first();
    expect(signedBytes(checkpoint).toString('utf8')).toBe(SIGNED);
    expect(checkpointHash(checkpoint)).toBe(sha256(SIGNED).toString('hex'));
    expect(checkpointHash(checkpoint)).toBe(
      '8832880f5e0114135b89154f9e23e9b7d06d72f9029cce9b4922a619b506d25b',
    );
    const second = buildCheckpoint({
      previous: checkpoint,
      createdAt: '2026-03-10T12:30:00.000Z',
      coveredUntil: '2026-03-10T12:30:00.000Z',
      heads: [{ subjectRef: REFS['user-20'], lastSeq: 4, lastHash: 'd'.repeat(64) }],
    });
    expect(second.checkpointId).toBe('000000000002');
    expect(second.previousCheckpointHash).toBe(checkpointHash(checkpoint));
  });

  it('verifies the pinned signature and a fresh one with node:crypto and the fixed public key', () => {
    const bytes = Buffer.from(SIGNED, 'utf8');
    const pinned = Buffer.from(SIGNATURE, 'base64');
    expect(verify('sha256', bytes, { key: FIXED_PUBLIC_KEY, dsaEncoding: 'der' }, pinned)).toBe(
      true,
    );
    expect(
      createPublicKey(createPrivateKey(FIXED_PRIVATE_KEY)).export({ type: 'spki', format: 'pem' }),
    ).toBe(FIXED_PUBLIC_KEY);
    const stored = { checkpoint: first(), signature: fixedSign(first()) };
    expect(checkpointFault(stored, FIXED_PUBLIC_KEY)).toBeNull();
    expect(
      checkpointFault({ checkpoint: first(), signature: pinned }, FIXED_PUBLIC_KEY),
    ).toBeNull();
  });

  it('stores the canonical document and the base64 signature in one JSON object, read back whole', () => {
    const checkpoint = first();
    const body = encodeStored(documentBytes(checkpoint), Buffer.from(SIGNATURE, 'base64'));
    expect(body.toString('utf8')).toBe(
      `{"checkpoint":${documentBytes(checkpoint).toString('utf8')},"signature":"${SIGNATURE}"}\n`,
    );
    const read = decodeStored(body);
    expect(read.checkpoint).toEqual(checkpoint);
    expect(read.signature.toString('base64')).toBe(SIGNATURE);
  });

  it('names what is wrong with an object that is not a stored checkpoint', () => {
    const good = JSON.parse(encodeStored(documentBytes(first()), Buffer.from('sig')).toString());
    const cases: [unknown, string][] = [
      ['not json', 'is not JSON'],
      [{ checkpoint: good.checkpoint }, 'has no signature'],
      [{ ...good, signature: 'not base64!' }, 'is not base64'],
      [{ ...good, checkpoint: { ...good.checkpoint, extra: 1 } }, 'unknown fields'],
      [{ ...good, checkpoint: { ...good.checkpoint, checkpointId: '1' } }, 'not a checkpoint id'],
      [{ ...good, checkpoint: { ...good.checkpoint, createdAt: 'yesterday' } }, 'createdAt'],
      [{ ...good, checkpoint: { ...good.checkpoint, heads: [{ subjectRef: 'u' }] } }, 'Head 0'],
      [{ ...good, checkpoint: { ...good.checkpoint, rootHash: 'ab' } }, 'rootHash'],
    ];
    for (const [value, message] of cases) {
      const body = typeof value === 'string' ? value : JSON.stringify(value);
      expect(() => decodeStored(body)).toThrow(CheckpointFormatError);
      expect(() => decodeStored(body)).toThrow(message);
    }
  });

  it('finds a checkpoint changed after signing, signed by another key, or with heads that do not make its root', () => {
    const checkpoint = first();
    const signature = fixedSign(checkpoint);
    const fault = (c: Checkpoint, key = FIXED_PUBLIC_KEY) =>
      checkpointFault({ checkpoint: c, signature }, key);
    expect(fault({ ...checkpoint, createdAt: '2026-03-10T12:16:00.000Z' })).toBe(
      'signature_invalid',
    );
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    expect(fault(checkpoint, publicKey.export({ type: 'spki', format: 'pem' }).toString())).toBe(
      'signature_invalid',
    );
    const rewritten = checkpoint.heads.map((h) =>
      h.subjectRef === REFS['user-20'] ? { ...h, lastHash: 'e'.repeat(64) } : h,
    );
    expect(fault({ ...checkpoint, heads: rewritten })).toBe('root_mismatch');
    expect(fault({ ...checkpoint, heads: checkpoint.heads.slice(1) })).toBe('tree_size_mismatch');
    expect(fault({ ...checkpoint, heads: [...checkpoint.heads].reverse() })).toBe(
      'heads_not_sorted',
    );
  });

  it("gives each head an inclusion proof that leads to the checkpoint's root", () => {
    const checkpoint = first();
    for (const head of HEADS) {
      const found = headProof(checkpoint, head.subjectRef)!;
      expect(found.head).toEqual(head);
      expect(
        verifyInclusion(
          found.index,
          checkpoint.treeSize,
          headLeaf(head),
          found.proof.map((p) => Buffer.from(p, 'hex')),
          Buffer.from(checkpoint.rootHash, 'hex'),
        ),
      ).toBe(true);
    }
    expect(headProof(checkpoint, 'f'.repeat(64))).toBeNull();
  });

  it('refuses two heads of one user in a checkpoint', () => {
    expect(() =>
      buildCheckpoint({
        previous: null,
        createdAt: AT,
        coveredUntil: AT,
        heads: [HEADS[0]!, HEADS[0]!],
      }),
    ).toThrow('one head per user');
  });

  it('refuses a head that names a user by anything but a subjectRef', () => {
    for (const subjectRef of ['user-20', 'A'.repeat(64), 'a'.repeat(63)]) {
      expect(() =>
        buildCheckpoint({
          previous: null,
          createdAt: AT,
          coveredUntil: AT,
          heads: [{ subjectRef, lastSeq: 1, lastHash: 'a'.repeat(64) }],
        }),
      ).toThrow('a head names its user by subjectRef');
    }
  });

  it('refuses a checkpoint of the format before subject references, naming it', () => {
    // What an earlier version stored: heads `{ userId, lastSeq, lastHash }` (a local folder of
    // an earlier run; no deployment has one).
    const old = {
      ...JSON.parse(documentBytes(first()).toString('utf8')),
      heads: [{ userId: '7', lastSeq: 1, lastHash: 'b'.repeat(64) }],
    };
    const body = JSON.stringify({ checkpoint: old, signature: SIGNATURE });
    expect(() => decodeStored(body)).toThrow(CheckpointFormatError);
    expect(() => decodeStored(body)).toThrow(
      'Head 0 of the checkpoint names a user id: the format before subject references',
    );
  });
});
