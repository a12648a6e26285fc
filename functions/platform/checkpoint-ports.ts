// The signed checkpoints' wiring: in AWS the S3 bucket and the KMS key, their SDK clients loaded
// at the first call (the functions without checkpoints never load them, and those with them pay
// only when they use them); the job's and verify's views of the deps, each with the subject key
// that names users in the checkpoints (platform/subject-key.ts).
import type { CheckpointJobDeps } from '../domain/checkpoints/job';
import type { CheckpointPorts } from '../domain/checkpoints/ports';
import { CHECKPOINTS_PER_RUN } from '../domain/checkpoints/settings';
import type { VerifyDeps } from '../domain/verify';
import { ENV } from '../schemas/config';
import type { AppDeps, DepsSource } from './deps';
import { subjectKeyOf } from './subject-key';

/** How often reconcile recovers stopped handovers (the API stack's schedule). */
const RECONCILE_EVERY_MS = 5 * 60_000;
const LOOKBACK_MARGIN_MS = 5 * 60_000;

/**
 * The ports on the bucket and key named by the function's environment. The local runtime's bundle
 * mode names a folder and a key file instead, as file: URLs (local/checkpoints.ts).
 */
export const awsCheckpointPorts = (names: {
  bucketName: string;
  keyId: string;
}): CheckpointPorts => {
  let made: Promise<CheckpointPorts> | undefined;
  const ports = () => {
    made ??= (async () => {
      if (names.bucketName.startsWith('file:') && names.keyId.startsWith('file:')) {
        const [{ fileURLToPath }, dir, file] = await Promise.all([
          import('node:url'),
          import('../adapters/dir-checkpoint-store'),
          import('../adapters/file-signer'),
        ]);
        return {
          store: dir.createDirCheckpointStore(fileURLToPath(names.bucketName)),
          signer: file.createFileSigner({ keyFile: fileURLToPath(names.keyId) }),
        };
      }
      const [{ S3Client }, { KMSClient }, s3, kms] = await Promise.all([
        import('@aws-sdk/client-s3'),
        import('@aws-sdk/client-kms'),
        import('../adapters/s3-checkpoint-store'),
        import('../adapters/kms-signer'),
      ]);
      return {
        store: s3.createS3CheckpointStore({
          client: new S3Client({}),
          bucketName: names.bucketName,
        }),
        signer: kms.createKmsSigner({ client: new KMSClient({}), keyId: names.keyId }),
      };
    })();
    return made;
  };
  return {
    store: {
      put: async (...args) => (await ports()).store.put(...args),
      get: async (id) => (await ports()).store.get(id),
      list: async (options) => (await ports()).store.list(options),
      latest: async () => (await ports()).store.latest(),
      markUser: async (subjectRef, id) => (await ports()).store.markUser(subjectRef, id),
      listForUser: async (subjectRef, options) =>
        (await ports()).store.listForUser(subjectRef, options),
    },
    signer: {
      sign: async (bytes) => (await ports()).signer.sign(bytes),
      publicKeyPem: async () => (await ports()).signer.publicKeyPem(),
    },
  };
};

/**
 * The deps of a function that keeps checkpoints (checkpoint, verify): the bucket and key its
 * environment names, added at the first call. Only these functions' bundles carry the S3 and KMS
 * clients; a source that already has checkpoints (the local runtime) is left as it is.
 */
export const withCheckpoints =
  (source: DepsSource): DepsSource =>
  async () => {
    const deps = await source();
    const bucketName = process.env[ENV.checkpointBucket];
    const keyId = process.env[ENV.checkpointKeyId];
    if (!deps.checkpoints && bucketName && keyId) {
      deps.checkpoints = awsCheckpointPorts({ bucketName, keyId });
    }
    return deps;
  };

/** Thrown where a function that keeps no checkpoints is asked for one. */
export class CheckpointsNotConfiguredError extends Error {
  override readonly name = 'CheckpointsNotConfiguredError';
}

export const checkpointPortsOf = (deps: AppDeps): CheckpointPorts => {
  if (!deps.checkpoints) {
    throw new CheckpointsNotConfiguredError('This function has no checkpoint bucket or key.');
  }
  return deps.checkpoints;
};

/**
 * The checkpoint job's view of the deps. Its lookback spans what may separate a record's createdAt
 * from its write: a stopped handover is recovered once stale, by the next reconcile run.
 */
export const checkpointJobDeps = (deps: AppDeps): CheckpointJobDeps => ({
  ...checkpointPortsOf(deps),
  subjectKey: subjectKeyOf(deps),
  history: deps.history,
  clock: deps.clock,
  log: deps.log,
  metrics: deps.metrics,
  maxHeads: deps.config.checkpoints.maxHeads,
  maxCheckpointsPerRun: CHECKPOINTS_PER_RUN,
  lookbackMs: deps.config.staleAfterSeconds * 1000 + RECONCILE_EVERY_MS + LOOKBACK_MARGIN_MS,
  genesisFrom: deps.config.checkpoints.since,
});

/**
 * Verify's view (the route, `GET /verify`, the console's badge): reads only, and where checkpoints
 * are kept the subject key that finds the user's heads.
 */
export const verifyDepsOf = (deps: AppDeps): VerifyDeps => ({
  history: deps.history,
  state: deps.state,
  log: deps.log,
  checkpoints: deps.checkpoints,
  ...(deps.checkpoints ? { subjectKey: subjectKeyOf(deps) } : {}),
});
