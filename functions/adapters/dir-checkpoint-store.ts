// Checkpoints in a directory, for the local runtime: the bucket's keys as relative paths (the
// layout of functions/contracts/checkpoints.ts), each file created exclusively (`wx`), written to a
// temporary name first and linked into place, so a file is either absent or whole and never
// replaced. The same files an auditor gets from `aws s3 sync` of the bucket.
import { randomUUID } from 'node:crypto';
import { link, mkdir, readdir, readFile, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { CheckpointStore } from '../domain/checkpoints/ports';
import { createCheckpointStore, type ObjectBucket } from './checkpoint-objects';

const code = (err: unknown) => (err as NodeJS.ErrnoException).code;

export function dirBucket(root: string): ObjectBucket {
  return {
    async create(key, body) {
      const file = join(root, key);
      await mkdir(dirname(file), { recursive: true });
      const temp = join(dirname(file), `.${randomUUID()}.tmp`);
      await writeFile(temp, body, { flag: 'wx', mode: 0o644 });
      try {
        // link() fails when the name exists: create-if-absent, as If-None-Match on S3.
        await link(temp, file);
        return 'stored';
      } catch (err) {
        if (code(err) === 'EEXIST') return 'exists';
        throw err;
      } finally {
        await unlink(temp).catch(() => undefined);
      }
    },
    async read(key) {
      try {
        return await readFile(join(root, key));
      } catch (err) {
        if (code(err) === 'ENOENT') return null;
        throw err;
      }
    },
    async keys(prefix, { limit, startAfter }) {
      const folder = prefix.endsWith('/') ? prefix : `${dirname(prefix)}/`;
      let names: string[];
      try {
        names = await readdir(join(root, folder));
      } catch (err) {
        if (code(err) === 'ENOENT') return { keys: [], more: false };
        throw err;
      }
      const keys = names
        .filter((n) => !n.startsWith('.'))
        .map((n) => `${folder}${n}`)
        .filter((k) => k.startsWith(prefix) && (startAfter === undefined || k > startAfter))
        .sort();
      return { keys: keys.slice(0, limit), more: keys.length > limit };
    },
  };
}

export const createDirCheckpointStore = (root: string): CheckpointStore =>
  createCheckpointStore(dirBucket(root));
