// The checkpoint job (DESIGN.md "Signed checkpoints"): the schedule (every 15 minutes) and
// `POST /checkpoints` run the same code.
//
// Input: the ports; what started it (for the log). Output: the checkpoints written (none when no
// user's history changed) and whether the collection completed.
// Steps:
//   1. read the newest checkpoint: where the chain goes on and from when records are collected
//      (its coveredUntil less the lookback; `genesisFrom` before the first collection completed,
//      and the first run writes checkpoint 1 even when it holds no head: the chain starts there,
//      and later runs list only from it);
//   2. read the checkpoints made since that instant: the heads they already hold are not repeated;
//   3. list the records created in [from, now] (the history's day index, HistoryStore.listRange)
//      and keep each user's newest one as its head: (subjectRef, seq, hash), the user named by
//      HMAC(subject key, userId) so that the bucket holds no user id (../erasure/subject.ts). The
//      head is the record itself, not the owner item: a record is stored before its owner item
//      names it (a handover in flight, an `observed` record), it is what verify checks, and no
//      further read is needed;
//   4. at most `maxHeads` heads a checkpoint and `maxCheckpointsPerRun` checkpoints a run: more,
//      and the run stops with the collection incomplete (its checkpoints keep the old
//      coveredUntil, so the next run lists the same records again and adds what is missing);
//   5. per checkpoint: build (chained to the previous one), sign, note its users, store.
// Crash-safe: each checkpoint's id is its place in the chain and is written once, so a retry or a
// second run cannot fork the chain (the loser finds the place taken and starts again from step 1);
// a crash after a store leaves nothing to undo, and the next run chains to what is stored.
// Records written later than the lookback after their creation (a handover stopped and recovered
// late) are caught by the user's next checkpoint; verify calls them "not yet checkpointed" meanwhile.
import { CheckpointConflictError } from '../errors';
import { type SubjectKeySource, subjectRefOf } from '../erasure/subject';
import type { Clock, HistoryStore, Log, MetricsSink } from '../ports';
import {
  buildCheckpoint,
  type ChainHead,
  type Checkpoint,
  documentBytes,
  signedBytes,
} from './document';
import type { CheckpointPorts } from './ports';
import { CHECKPOINT_GENESIS } from './settings';

/** Attempts of a run whose place in the chain another run took first. */
const ATTEMPTS = 3;
/** Records per listing page. */
const PAGE = 1000;
/** Checkpoints read back for the heads they hold; past it a head may be repeated (harmless). */
const MAX_RECENT_READ = 500;
/** User notes written at once. */
const NOTE_CONCURRENCY = 16;

export interface CheckpointJobDeps extends CheckpointPorts {
  history: Pick<HistoryStore, 'listRange'>;
  /** Names each head's user (subjectRef): the subject key. */
  subjectKey: SubjectKeySource;
  clock: Clock;
  log: Log;
  metrics: MetricsSink;
  /** Heads per checkpoint. */
  maxHeads: number;
  maxCheckpointsPerRun: number;
  /**
   * How far before the previous coveredUntil records are listed again: a record can be stored
   * after its createdAt (recovery of a stopped handover), and the day index lags its table.
   */
  lookbackMs: number;
  /** Where the first collection starts. @default CHECKPOINT_GENESIS */
  genesisFrom?: string;
}

export interface CheckpointRun {
  /** Written by this run, oldest first. */
  created: Checkpoint[];
  /** False when a bound stopped the collection: the next run goes on. */
  complete: boolean;
  /** The newest checkpoint after the run (null before the first). */
  latest: Checkpoint | null;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** Each subject's highest seq held by the checkpoints created at or after `since`. */
const heldHeads = async (
  store: CheckpointPorts['store'],
  since: string,
): Promise<Map<string, number>> => {
  const held = new Map<string, number>();
  let cursor: string | undefined;
  let read = 0;
  do {
    const page = await store.list({ limit: 100, cursor });
    for (const id of page.items) {
      const stored = await store.get(id);
      if (!stored) continue;
      if (stored.checkpoint.createdAt < since || ++read > MAX_RECENT_READ) return held;
      for (const head of stored.checkpoint.heads) {
        held.set(head.subjectRef, Math.max(held.get(head.subjectRef) ?? 0, head.lastSeq));
      }
    }
    cursor = page.cursor;
  } while (cursor);
  return held;
};

/** Heads of records created in [from, to] not yet held; at most `cap` of them. */
const collectHeads = async (
  history: CheckpointJobDeps['history'],
  key: Uint8Array,
  range: { from: string; to: string },
  held: Map<string, number>,
  cap: number,
): Promise<{ heads: ChainHead[]; complete: boolean }> => {
  // By subjectRef, each computed once per user of the listing.
  const refs = new Map<string, string>();
  const refOf = (userId: string): string => {
    let ref = refs.get(userId);
    if (ref === undefined) {
      ref = subjectRefOf(key, userId);
      refs.set(userId, ref);
    }
    return ref;
  };
  const newest = new Map<string, ChainHead>();
  let cursor: string | undefined;
  do {
    const page = await history.listRange({ ...range, limit: PAGE, cursor });
    for (const record of page.items) {
      const subjectRef = refOf(record.userId);
      const current = newest.get(subjectRef);
      if (current && current.lastSeq >= record.seq) continue;
      if (record.seq <= (held.get(subjectRef) ?? 0)) continue;
      if (!current && newest.size >= cap) return { heads: [...newest.values()], complete: false };
      newest.set(subjectRef, { subjectRef, lastSeq: record.seq, lastHash: record.hash });
    }
    cursor = page.cursor;
  } while (cursor);
  return { heads: [...newest.values()], complete: true };
};

const inBatches = async <T>(items: readonly T[], size: number, run: (item: T) => Promise<void>) => {
  for (let i = 0; i < items.length; i += size) {
    await Promise.all(items.slice(i, i + size).map(run));
  }
};

/** One attempt; CheckpointConflictError when another run took the place it was writing. */
const attempt = async (deps: CheckpointJobDeps): Promise<CheckpointRun> => {
  const latest = (await deps.store.latest())?.checkpoint ?? null;
  const genesis = deps.genesisFrom ?? CHECKPOINT_GENESIS;
  const covered = latest?.coveredUntil ?? null;
  const fromMs = covered === null ? Date.parse(genesis) : Date.parse(covered) - deps.lookbackMs;
  const from = iso(Math.max(fromMs, Date.parse(genesis)));
  // Checkpoint times never go back, whatever the clock does.
  const now = iso(Math.max(deps.clock.now(), latest ? Date.parse(latest.createdAt) : 0));
  const held = await heldHeads(deps.store, from);
  const cap = deps.maxHeads * deps.maxCheckpointsPerRun;
  const key = await deps.subjectKey.key();
  const { heads, complete } = await collectHeads(deps.history, key, { from, to: now }, held, cap);
  // Nothing changed. Before the first collection completed, its end is written all the same.
  if (heads.length === 0 && covered !== null) return { created: [], complete: true, latest };

  const sorted = [...heads].sort((a, b) => (a.subjectRef < b.subjectRef ? -1 : 1));
  const created: Checkpoint[] = [];
  let previous = latest;
  // At least one checkpoint: the first of all may hold no head.
  for (let i = 0; i === 0 || i < sorted.length; i += deps.maxHeads) {
    const last = i + deps.maxHeads >= sorted.length;
    const checkpoint = buildCheckpoint({
      previous,
      createdAt: now,
      coveredUntil: last && complete ? now : covered,
      heads: sorted.slice(i, i + deps.maxHeads),
    });
    const signature = await deps.signer.sign(signedBytes(checkpoint));
    await inBatches(checkpoint.heads, NOTE_CONCURRENCY, (head) =>
      deps.store.markUser(head.subjectRef, checkpoint.checkpointId),
    );
    const outcome = await deps.store.put(
      checkpoint.checkpointId,
      documentBytes(checkpoint),
      signature,
    );
    if (outcome === 'exists') throw new CheckpointConflictError();
    created.push(checkpoint);
    previous = checkpoint;
    deps.log.info('checkpoint stored', {
      checkpointId: checkpoint.checkpointId,
      treeSize: checkpoint.treeSize,
      coveredUntil: checkpoint.coveredUntil,
    });
    deps.metrics.count('CheckpointWritten');
    deps.metrics.gauge('CheckpointHeads', checkpoint.treeSize, 'Count');
  }
  return { created, complete, latest: previous };
};

/**
 * Makes the checkpoints due now. A run that finds its place in the chain taken by another one
 * starts again (that run's heads are then not repeated), at most three times; then 409.
 */
export async function makeCheckpoints(
  deps: CheckpointJobDeps,
  trigger: { by: string; reason?: string },
): Promise<CheckpointRun> {
  for (let n = 1; ; n++) {
    try {
      const run = await attempt(deps);
      deps.log.info('checkpoint run', {
        by: trigger.by,
        ...(trigger.reason ? { reason: trigger.reason } : {}),
        created: run.created.length,
        heads: run.created.reduce((sum, c) => sum + c.treeSize, 0),
        complete: run.complete,
        latest: run.latest?.checkpointId ?? null,
      });
      return run;
    } catch (err) {
      if (!(err instanceof CheckpointConflictError) || n >= ATTEMPTS) throw err;
      deps.log.warn('checkpoint place taken by another run: starting again', { attempt: n });
    }
  }
}
