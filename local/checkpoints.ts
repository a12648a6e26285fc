// The signed checkpoints of the local runtime: `{dir}/checkpoints-v2/` stands in for the bucket
// (the same keys, so `verify --offline --checkpoints .local/checkpoints-v2` reads it as it reads a
// copy of the bucket) and `{dir}/checkpoint-key.pem` for the KMS key (made on first use, mode 0600).
// `-v2`: heads and notes name users by subjectRef since this version; a `{dir}/checkpoints/` of an
// earlier run holds the format before (user ids), which this version does not read, so the chain
// starts again beside it (the old folder is left alone, and can be removed).
import { join } from 'node:path';
import { createDirCheckpointStore } from '../functions/adapters/dir-checkpoint-store';
import { createFileSigner } from '../functions/adapters/file-signer';
import type { CheckpointPorts } from '../functions/domain/checkpoints/ports';

export const checkpointPaths = (dir: string) => ({
  bucket: join(dir, 'checkpoints-v2'),
  keyFile: join(dir, 'checkpoint-key.pem'),
});

export const localCheckpoints = (dir: string): CheckpointPorts => {
  const paths = checkpointPaths(dir);
  return {
    store: createDirCheckpointStore(paths.bucket),
    signer: createFileSigner({ keyFile: paths.keyFile }),
  };
};
