// The S3 checkpoint store at the SDK boundary (aws-sdk-client-mock: no S3 runs here). The mock
// keeps objects as S3 does for a conditional put: `If-None-Match: *` on a key that exists answers
// 412. What the adapter sends (the header, the checksum Object Lock asks for, the keys and their
// order), and that a second writer of a place learns it lost and overwrites nothing.
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { createS3CheckpointStore } from '../../functions/adapters/s3-checkpoint-store';
import { checkpointKey, userNotePrefix } from '../../functions/contracts/checkpoints';
import { buildCheckpoint, documentBytes } from '../../functions/domain/checkpoints/document';
import { subjectRefOf } from '../../functions/domain/erasure/subject';

const BUCKET = 'parleyhandover-dev-data-checkpointsbucket-abc123';
const s3 = mockClient(S3Client);
const objects = new Map<string, Buffer>();

const failure = (status: number, name: string) =>
  new S3ServiceException({
    name,
    $fault: 'client',
    $metadata: { httpStatusCode: status },
    message: name,
  });

beforeEach(() => {
  s3.reset();
  objects.clear();
  s3.on(PutObjectCommand).callsFake(
    (input: { Key: string; Body: Uint8Array; IfNoneMatch?: string }) => {
      if (input.IfNoneMatch === '*' && objects.has(input.Key))
        throw failure(412, 'PreconditionFailed');
      objects.set(input.Key, Buffer.from(input.Body));
      return {};
    },
  );
  s3.on(GetObjectCommand).callsFake((input: { Key: string }) => {
    const body = objects.get(input.Key);
    if (!body) throw failure(404, 'NoSuchKey');
    // The SDK's stream mixin: what the adapter reads.
    return { Body: { transformToByteArray: async () => new Uint8Array(body) } as never };
  });
  s3.on(ListObjectsV2Command).callsFake(
    (input: { Prefix: string; MaxKeys: number; StartAfter?: string }) => {
      const keys = [...objects.keys()]
        .filter((k) => k.startsWith(input.Prefix) && (!input.StartAfter || k > input.StartAfter))
        .sort();
      return {
        Contents: keys.slice(0, input.MaxKeys).map((Key) => ({ Key })),
        IsTruncated: keys.length > input.MaxKeys,
      };
    },
  );
});

const store = () =>
  createS3CheckpointStore({ client: new S3Client({ region: 'eu-west-1' }), bucketName: BUCKET });
const checkpointAt = (previous: ReturnType<typeof buildCheckpoint> | null, userId: string) =>
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

describe('the S3 checkpoint store', () => {
  it('creates every object with If-None-Match: * and a SHA-256 checksum, under the shared keys', async () => {
    const first = checkpointAt(null, 'u1');
    expect(await store().put(first.checkpointId, documentBytes(first), Buffer.from('sig'))).toBe(
      'stored',
    );
    await store().markUser('u1', first.checkpointId);
    const puts = s3.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(
      puts.map(({ Bucket, Key, IfNoneMatch, ChecksumAlgorithm, ContentType }) => ({
        Bucket,
        Key,
        IfNoneMatch,
        ChecksumAlgorithm,
        ContentType,
      })),
    ).toEqual([
      {
        Bucket: BUCKET,
        Key: 'checkpoints/999999999998-000000000001.json',
        IfNoneMatch: '*',
        ChecksumAlgorithm: 'SHA256',
        ContentType: 'application/json',
      },
      {
        Bucket: BUCKET,
        Key: `${userNotePrefix('u1')}999999999998`,
        IfNoneMatch: '*',
        ChecksumAlgorithm: 'SHA256',
        ContentType: 'application/octet-stream',
      },
    ]);
    expect(checkpointKey('000000000001')).toBe(puts[0]!.Key);
  });

  it('answers exists to a second writer of a place, and keeps the first one', async () => {
    const mine = checkpointAt(null, 'u1');
    const theirs = checkpointAt(null, 'u2');
    await store().put(mine.checkpointId, documentBytes(mine), Buffer.from('mine'));
    expect(
      await store().put(theirs.checkpointId, documentBytes(theirs), Buffer.from('theirs')),
    ).toBe('exists');
    expect((await store().get('000000000001'))!.checkpoint.heads[0]!.subjectRef).toBe(
      subjectRefOf(Buffer.alloc(32, 7), 'u1'),
    );
  });

  it('lists newest first, a page at a time, and reads the newest, an absent one as null', async () => {
    const s = store();
    expect(await s.latest()).toBeNull();
    let previous = null;
    for (const user of ['u1', 'u2', 'u3']) {
      const c = checkpointAt(previous, user);
      await s.put(c.checkpointId, documentBytes(c), Buffer.from('sig'));
      previous = c;
    }
    const first = await s.list({ limit: 2 });
    const second = await s.list({ limit: 2, cursor: first.cursor });
    expect([first.items, second.items, second.cursor]).toEqual([
      ['000000000003', '000000000002'],
      ['000000000001'],
      undefined,
    ]);
    expect((await s.latest())!.checkpoint.checkpointId).toBe('000000000003');
    expect(await s.get('000000000009')).toBeNull();
  });

  it('lists the notes of one user only, newest first', async () => {
    const s = store();
    await s.markUser('u1', '000000000001');
    await s.markUser('u2', '000000000002');
    await s.markUser('u1', '000000000003');
    expect((await s.listForUser('u1', { limit: 10 })).items).toEqual([
      '000000000003',
      '000000000001',
    ]);
  });

  it('passes other S3 failures on', async () => {
    s3.on(PutObjectCommand).rejects(failure(403, 'AccessDenied'));
    const c = checkpointAt(null, 'u1');
    await expect(store().put(c.checkpointId, documentBytes(c), Buffer.from('sig'))).rejects.toThrow(
      'AccessDenied',
    );
  });
});
