// Checkpoints in S3 (the bucket of lib/constructs/checkpoints.ts: Object Lock in compliance mode,
// versioned). Every object is created with `If-None-Match: *`: S3 refuses to write a key that
// exists (412), so no checkpoint or note is ever overwritten, and a second run that reaches the
// same place in the chain learns it lost. The retention comes from the bucket's default; the
// SHA-256 checksum is sent because S3 asks for one on writes to Object Lock buckets.
import {
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { CheckpointStore } from '../domain/checkpoints/ports';
import { createCheckpointStore, type ObjectBucket } from './checkpoint-objects';

export interface S3CheckpointStoreOptions {
  /** The client, or a function that makes it on the first call. */
  client: S3Client | (() => S3Client);
  bucketName: string;
}

const statusOf = (err: unknown): number | undefined =>
  (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

export function s3Bucket(options: S3CheckpointStoreOptions): ObjectBucket {
  let client = typeof options.client === 'function' ? undefined : options.client;
  const s3 = (): S3Client => {
    client ??= (options.client as () => S3Client)();
    return client;
  };
  const Bucket = options.bucketName;
  return {
    async create(key, body, contentType) {
      try {
        await s3().send(
          new PutObjectCommand({
            Bucket,
            Key: key,
            Body: body,
            ContentType: contentType,
            IfNoneMatch: '*',
            ChecksumAlgorithm: 'SHA256',
          }),
        );
        return 'stored';
      } catch (err) {
        // 412: the key exists; 409: another conditional write of it is under way (one will win).
        const status = statusOf(err);
        if (status === 412 || status === 409) return 'exists';
        throw err;
      }
    },
    async read(key) {
      try {
        const out = await s3().send(new GetObjectCommand({ Bucket, Key: key }));
        return Buffer.from(await out.Body!.transformToByteArray());
      } catch (err) {
        if ((err as Error).name === 'NoSuchKey' || statusOf(err) === 404) return null;
        throw err;
      }
    },
    async keys(prefix, { limit, startAfter }) {
      const out = await s3().send(
        new ListObjectsV2Command({
          Bucket,
          Prefix: prefix,
          MaxKeys: limit,
          ...(startAfter ? { StartAfter: startAfter } : {}),
        }),
      );
      return {
        keys: (out.Contents ?? []).map((o) => o.Key!).filter(Boolean),
        more: out.IsTruncated === true,
      };
    },
  };
}

export const createS3CheckpointStore = (options: S3CheckpointStoreOptions): CheckpointStore =>
  createCheckpointStore(s3Bucket(options));
