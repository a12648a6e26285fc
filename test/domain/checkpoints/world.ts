// What the checkpoint tests share: a fixed key (the format vectors and a signer), a fixed subject
// key (heads and notes name users by subjectRef), the checkpoint store over an in-memory bucket
// (the same store code the S3 and directory buckets run), and users' histories built with the real
// chain (finalizeRecord), in the fake history and state.
import { createPrivateKey, sign } from 'node:crypto';
import {
  createCheckpointStore,
  type ObjectBucket,
} from '../../../functions/adapters/checkpoint-objects';
import { finalizeRecord, GENESIS_HASH, metadataDigest } from '../../../functions/domain/chain';
import type { CheckpointJobDeps } from '../../../functions/domain/checkpoints/job';
import type { Signer } from '../../../functions/domain/checkpoints/ports';
import { subjectRefOf } from '../../../functions/domain/erasure/subject';
import type { HandoverRecord, OwnerItem } from '../../../functions/domain/types';
import {
  AGENT,
  BOT,
  FakeHistoryStore,
  FakeStateStore,
  manualClock,
  recordingLog,
  recordingMetrics,
} from '../../support/fakes';

// Generated once for these tests; it signs nothing else.
export const FIXED_PRIVATE_KEY = `-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg3DUZAFGH7Gc7nP5o
EktdJQZkxdjWx/nYH9N6VC+JdMWhRANCAARUMZjMO75CSFEs33o3RtrYI+q4brbW
Hy68pCtVTREFGotZNc/xu9jF8HOiuzFPk4zzybNgeDVsX942oipDMv+4
-----END PRIVATE KEY-----
`;
export const FIXED_PUBLIC_KEY = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEVDGYzDu+QkhRLN96N0ba2CPquG62
1h8uvKQrVU0RBRqLWTXP8bvYxfBzorsxT5OM88mzYHg1bF/eNqIqQzL/uA==
-----END PUBLIC KEY-----
`;

/** The subject key of these tests (32 bytes of 7): heads and notes name users by HMAC under it. */
export const SUBJECT_KEY = Buffer.alloc(32, 7);
export const subjectKey = { key: async () => SUBJECT_KEY };
/** A user's subjectRef under SUBJECT_KEY. */
export const refOf = (userId: string): string => subjectRefOf(SUBJECT_KEY, userId);

export const fixedSigner = (): Signer & { signed: number } => {
  const key = createPrivateKey(FIXED_PRIVATE_KEY);
  const signer = {
    signed: 0,
    async sign(bytes: Uint8Array) {
      signer.signed++;
      return sign('sha256', bytes, { key, dsaEncoding: 'der' });
    },
    publicKeyPem: async () => FIXED_PUBLIC_KEY,
  };
  return signer;
};

/** A bucket in memory: objects by key, created only when absent, listed in key order. */
export const memoryBucket = (): ObjectBucket & {
  objects: Map<string, Buffer>;
  /** Runs before the next create of a key under the prefix (a competing writer, a crash). */
  beforeCreate: { prefix: string; run: (key: string) => void | Promise<void> } | null;
} => {
  const objects = new Map<string, Buffer>();
  const bucket = {
    objects,
    beforeCreate: null as { prefix: string; run: (key: string) => void | Promise<void> } | null,
    async create(key: string, body: Uint8Array) {
      const hook = bucket.beforeCreate;
      if (hook && key.startsWith(hook.prefix)) {
        bucket.beforeCreate = null;
        await hook.run(key);
      }
      if (objects.has(key)) return 'exists' as const;
      objects.set(key, Buffer.from(body));
      return 'stored' as const;
    },
    async read(key: string) {
      return objects.get(key) ?? null;
    },
    async keys(prefix: string, options: { limit: number; startAfter?: string }) {
      const keys = [...objects.keys()]
        .filter((k) => k.startsWith(prefix) && (!options.startAfter || k > options.startAfter))
        .sort();
      return { keys: keys.slice(0, options.limit), more: keys.length > options.limit };
    },
  };
  return bucket;
};

/**
 * A user's history of `count` records from `firstSeq`, a minute apart from `startMs`, chained
 * from `prevHash` with the real hash; the owner item names the newest.
 */
export const historyOf = (
  userId: string,
  count: number,
  options: { startMs?: number; firstSeq?: number; prevHash?: string } = {},
): HandoverRecord[] => {
  const records: HandoverRecord[] = [];
  let prevHash = options.prevHash ?? GENESIS_HASH;
  const first = options.firstSeq ?? 1;
  const start = options.startMs ?? Date.parse('2026-03-10T12:00:00.000Z');
  for (let seq = first; seq < first + count; seq++) {
    const metadata = { step: seq };
    const record = finalizeRecord(
      {
        handoverId: `${userId}-h${seq}`,
        userId,
        seq,
        fromOwner: seq % 2 === 1 ? BOT : AGENT,
        toOwner: seq % 2 === 1 ? AGENT : BOT,
        reason: 'test',
        metadata,
        metadataDigest: metadataDigest(metadata),
        requestedBy: BOT,
        source: 'api',
        createdAt: new Date(start + (seq - first) * 60_000).toISOString(),
        prevHash,
      },
      'completed',
      { status: 200, code: null, durationMs: 5 },
    );
    records.push(record);
    prevHash = record.hash;
  }
  return records;
};

export const ownerItemFor = (records: HandoverRecord[]): OwnerItem => {
  const last = records.at(-1)!;
  return {
    userId: last.userId,
    owner: last.toOwner,
    version: records.length,
    since: last.createdAt,
    lastSeq: last.seq,
    lastHash: last.hash,
    lastCreatedAt: last.createdAt,
    lastHandoverId: last.handoverId,
    pending: null,
    refreshedAt: last.createdAt,
  };
};

/** The job's world: fakes, the memory bucket, the fixed signer, a clock at 2026-03-10 12:30. */
export const checkpointWorld = (options: { maxHeads?: number; perRun?: number } = {}) => {
  const history = new FakeHistoryStore();
  const state = new FakeStateStore();
  const bucket = memoryBucket();
  const store = createCheckpointStore(bucket);
  const signer = fixedSigner();
  const clock = manualClock(Date.parse('2026-03-10T12:30:00.000Z'));
  const log = recordingLog();
  const metrics = recordingMetrics();
  const deps: CheckpointJobDeps = {
    history,
    subjectKey,
    store,
    signer,
    clock,
    log,
    metrics,
    maxHeads: options.maxHeads ?? 1000,
    maxCheckpointsPerRun: options.perRun ?? 20,
    lookbackMs: 10 * 60_000,
    genesisFrom: '2026-03-01T00:00:00.000Z',
  };
  /** Stores the records (and the newest as the owner item), as handovers would have. */
  const add = async (records: HandoverRecord[]) => {
    for (const r of records) await history.append(r);
    const current = state.owners.get(records[0]!.userId);
    const all = history.userRecords(records[0]!.userId);
    state.owners.set(records[0]!.userId, {
      ...ownerItemFor(all),
      version: (current?.version ?? 0) + 1,
    });
  };
  return { history, state, bucket, store, signer, clock, log, metrics, deps, add };
};
