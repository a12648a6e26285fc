// The local runtime's checkpoint adapters for real, on a temporary folder: the key file (made once
// with mode 0600, kept, the same key after a restart or a race of first uses) and the directory
// store (the bucket's keys as paths, each file created once, whole, never replaced).
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDirCheckpointStore } from '../../functions/adapters/dir-checkpoint-store';
import { createFileSigner } from '../../functions/adapters/file-signer';
import { checkpointKey } from '../../functions/contracts/checkpoints';
import {
  buildCheckpoint,
  checkpointFault,
  documentBytes,
  signedBytes,
} from '../../functions/domain/checkpoints/document';
import { subjectRefOf } from '../../functions/domain/erasure/subject';
import { localCheckpoints } from '../../local/checkpoints';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'local-checkpoints-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const checkpoint = (previous: ReturnType<typeof buildCheckpoint> | null, userId: string) =>
  buildCheckpoint({
    previous,
    createdAt: '2026-03-10T12:15:00.000Z',
    coveredUntil: '2026-03-10T12:15:00.000Z',
    heads: [
      {
        subjectRef: subjectRefOf(Buffer.alloc(32, 7), userId),
        lastSeq: 1,
        lastHash: 'a'.repeat(64),
      },
    ],
  });

describe('the file signer', () => {
  it('makes an ECDSA P-256 key on first use, readable by its owner only, and signs as KMS does', async () => {
    const keyFile = join(dir, 'nested', 'checkpoint-key.pem');
    const signer = createFileSigner({ keyFile });
    const bytes = signedBytes(checkpoint(null, 'u1'));
    const signature = await signer.sign(bytes);
    const pem = await signer.publicKeyPem();
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(readFileSync(keyFile, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(createPublicKey(pem).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    expect(verify('sha256', bytes, { key: pem, dsaEncoding: 'der' }, signature)).toBe(true);
  });

  it('keeps the key: a restart, and two first uses at once, sign with the same one', async () => {
    const keyFile = join(dir, 'checkpoint-key.pem');
    const [a, b] = [createFileSigner({ keyFile }), createFileSigner({ keyFile })];
    const [pa, pb] = await Promise.all([a.publicKeyPem(), b.publicKeyPem()]);
    expect(pb).toBe(pa);
    expect(await createFileSigner({ keyFile }).publicKeyPem()).toBe(pa);
  });

  it('refuses a key file that holds another kind of key', async () => {
    const keyFile = join(dir, 'checkpoint-key.pem');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    writeFileSync(keyFile, rsa.export({ type: 'pkcs8', format: 'pem' }));
    await expect(createFileSigner({ keyFile }).publicKeyPem()).rejects.toThrow(
      'The checkpoint key file does not hold an ECDSA P-256 key.',
    );
  });
});

describe('the directory store', () => {
  it("stores a checkpoint under the bucket's key, reads it back whole, and never replaces it", async () => {
    const store = createDirCheckpointStore(dir);
    const mine = checkpoint(null, 'u1');
    const theirs = checkpoint(null, 'u2');
    expect(await store.put(mine.checkpointId, documentBytes(mine), Buffer.from('mine'))).toBe(
      'stored',
    );
    const file = join(dir, checkpointKey('000000000001'));
    const before = readFileSync(file);
    expect(await store.put(theirs.checkpointId, documentBytes(theirs), Buffer.from('theirs'))).toBe(
      'exists',
    );
    expect(readFileSync(file)).toEqual(before);
    expect((await createDirCheckpointStore(dir).get('000000000001'))!.checkpoint).toEqual(mine);
    expect(readdirSync(join(dir, 'checkpoints'))).toEqual(['999999999998-000000000001.json']);
  });

  it('lets exactly one of many writers of a place store, the others learning it exists', async () => {
    const stores = Array.from({ length: 8 }, () => createDirCheckpointStore(dir));
    const outcomes = await Promise.all(
      stores.map((s, i) => {
        const c = checkpoint(null, `u${i}`);
        return s.put(c.checkpointId, documentBytes(c), Buffer.from(`sig${i}`));
      }),
    );
    expect(outcomes.filter((o) => o === 'stored')).toHaveLength(1);
    expect(outcomes.filter((o) => o === 'exists')).toHaveLength(7);
    expect(readdirSync(join(dir, 'checkpoints'))).toHaveLength(1);
  });

  it('lists newest first a page at a time, finds the newest and the notes of a user', async () => {
    const store = createDirCheckpointStore(dir);
    expect(await store.latest()).toBeNull();
    let previous = null;
    for (const user of ['u1', 'u2', 'u3']) {
      const c = checkpoint(previous, user);
      await store.markUser(user, c.checkpointId);
      await store.put(c.checkpointId, documentBytes(c), Buffer.from('sig'));
      previous = c;
    }
    await store.markUser('u1', '000000000003');
    const first = await store.list({ limit: 2 });
    const second = await store.list({ limit: 2, cursor: first.cursor });
    expect([...first.items, ...second.items]).toEqual([
      '000000000003',
      '000000000002',
      '000000000001',
    ]);
    expect(second.cursor).toBeUndefined();
    expect((await store.latest())!.checkpoint.checkpointId).toBe('000000000003');
    expect((await store.listForUser('u1', { limit: 10 })).items).toEqual([
      '000000000003',
      '000000000001',
    ]);
    expect(await store.get('000000000004')).toBeNull();
  });

  it('keeps what the local runtime signs verifiable with the key it serves', async () => {
    const { store, signer } = localCheckpoints(dir);
    const c = checkpoint(null, 'u1');
    await store.put(c.checkpointId, documentBytes(c), await signer.sign(signedBytes(c)));
    const stored = (await store.get(c.checkpointId))!;
    expect(checkpointFault(stored, await signer.publicKeyPem())).toBeNull();
    expect(readdirSync(dir).sort()).toEqual(['checkpoint-key.pem', 'checkpoints-v2']);
  });
});
