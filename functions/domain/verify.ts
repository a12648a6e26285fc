// Verify: the use case behind `GET /users/{userId}/verify` and `GET /verify` (auditors). A user's
// records are walked in ascending seq, page by page, link by link (chain.ts), and checked against
// the owner item's head (lastSeq, lastHash, lastHandoverId). Reads only, all of them consistent;
// no Parley call, so nothing is ever recorded while it runs.
//
// What an ok proves: records 1..lastSeq are all there, unedited (erased metadata aside), linked in
// order, and the newest is the one the owner item names. What it does not: that the owner item
// itself is genuine (whoever can rewrite records and the owner item together is not caught), or
// that Parley agrees (GET owner and reconcile look at Parley; verify does not). The signed
// checkpoints close that gap: the records are also checked against the newest checkpoint holding
// the user (checkpoints/coverage.ts), which no table writer can forge; records after it are not
// yet checkpointed, which is no break. Checkpoints name users by subjectRef, an HMAC of the user
// id under the subject key (erasure/subject.ts): the report carries it, for an offline auditor.
import { type ChainProblem, ChainWalker, GENESIS_HASH } from './chain';
import {
  type CheckpointCoverage,
  coverageOf,
  findUserCheckpoint,
  type UserCheckpoint,
} from './checkpoints/coverage';
import type { CheckpointPorts } from './checkpoints/ports';
import { type SubjectKeySource, subjectRefOf } from './erasure/subject';
import { NotFoundError } from './errors';
import type { HistoryStore, Log, StateStore } from './ports';
import type { HandoverRecord, OwnerItem } from './types';

/** Stable codes: the chain's own, plus those found against the owner item. */
export type VerifyProblem =
  | ChainProblem
  /** A record at or below the owner item's lastSeq is absent (the newest ones deleted). */
  | 'record_missing'
  /** A record past the owner item's lastSeq that no handover in flight accounts for. */
  | 'beyond_head'
  /** Records without an owner item: nothing names their head. */
  | 'owner_item_missing'
  /** The record at the newest checkpoint's head is another one: rewritten below a checkpoint. */
  | 'checkpoint_mismatch'
  /** Records up to the newest checkpoint's head are gone. */
  | 'checkpoint_record_missing'
  /** That checkpoint itself does not verify (signature, tree, chain, or unreadable). */
  | 'checkpoint_invalid';

export interface BrokenLink {
  seq: number;
  /** The record at that seq, or null when there is none. */
  handoverId: string | null;
  problem: VerifyProblem;
}

export interface VerifyReport {
  userId: string;
  /**
   * The name the checkpoints give the user (hex HMAC-SHA256 of the user id under the subject key):
   * what finds its heads in a copy of the bucket (`verify --offline --subject-ref`). Absent where
   * no checkpoints are kept.
   */
  subjectRef?: string;
  ok: boolean;
  /** Records found sound: all of them when ok; those before `firstBroken` (its seq - 1) if not. */
  count: number;
  /** The owner item's head the records were checked against (0 and the genesis hash: none yet). */
  lastSeq: number;
  lastHash: string;
  firstBroken?: BrokenLink;
  /**
   * A handover in flight, or stopped and awaiting recovery: its draft's seq, and whether a record
   * is already stored at that seq. Not a break (see `judge`).
   */
  pending?: { seq: number; handoverId: string; markedAt: string; recorded: boolean };
  /** Against the newest checkpoint holding the user; absent where no checkpoints are kept. */
  checkpoint?: CheckpointCoverage;
  /** Records found sound whose metadata an erasure removed (domain/erasure); absent when none. */
  erased?: { metadata: number };
}

export interface VerifyDeps {
  history: Pick<HistoryStore, 'listUser' | 'get'>;
  state: Pick<StateStore, 'getOwner' | 'listUsers'>;
  log: Log;
  /** The signed checkpoints; null or absent: the report has no `checkpoint`. */
  checkpoints?: CheckpointPorts | null;
  /** Names the user in the checkpoints (subjectRef); needed with `checkpoints`. */
  subjectKey?: SubjectKeySource;
}

/** Thrown when verify is given checkpoints but no subject key to find a user's heads with. */
export class SubjectKeyMissingError extends Error {
  override readonly name = 'SubjectKeyMissingError';
}

/** Records per query: one page in memory at a time, whatever the history's length. */
const RECORDS_PER_PAGE = 1000;
/** Walks of one user before a record past the head counts as a break (see verifyUser). */
const ATTEMPTS = 3;
const CONSISTENT = { consistent: true } as const;

/** Users per `GET /verify` page: each is verified whole, so the page's work is bounded by this. */
export const VERIFY_PAGE_DEFAULT = 20;
export const VERIFY_PAGE_MAX = 100;

interface Walk {
  /** Records 1..n are present and linked. */
  n: number;
  /** The chain's own first break (at seq n + 1), if any. */
  chainBreak: BrokenLink | null;
  /** The record at `headSeq`, once walked past. */
  atHead: HandoverRecord | null;
  /** The record at `checkpointSeq`, once walked past. */
  atCheckpoint: HandoverRecord | null;
  /** Sound records marked `metadataErased`. */
  erased: number;
}

async function walk(
  userId: string,
  history: VerifyDeps['history'],
  headSeq: number,
  checkpointSeq: number | null,
): Promise<Walk> {
  const walker = new ChainWalker(userId);
  let atHead: HandoverRecord | null = null;
  let atCheckpoint: HandoverRecord | null = null;
  let cursor: string | undefined;
  let sound = true;
  do {
    const page = await history.listUser(userId, {
      limit: RECORDS_PER_PAGE,
      cursor,
      order: 'asc',
      ...CONSISTENT,
    });
    for (const record of page.items) {
      sound = walker.add(record);
      if (!sound) break;
      if (record.seq === headSeq) atHead = record;
      if (record.seq === checkpointSeq) atCheckpoint = record;
    }
    cursor = page.cursor;
  } while (sound && cursor);
  const report = walker.report();
  const erased = walker.erasedCount;
  return report.ok
    ? { n: report.count, chainBreak: null, atHead, atCheckpoint, erased }
    : { n: report.count, chainBreak: report.firstBroken, atHead, atCheckpoint, erased };
}

/**
 * The first break, from the walk and the owner item read before it (`before`) and after it
 * (`after`). Records never change once written and the head only moves forward, so:
 * - a record missing at or below before.lastSeq, or one there with another hash, is a break;
 * - records past after.lastSeq are allowed only while `after` holds a pending marker: the draft's
 *   record (lastSeq + 1) and the `observed` record a failed attempt may add after it (lastSeq + 2)
 *   are written before the owner item names them. They are checked as links all the same.
 * - against the newest checkpoint holding the user: records up to its head must be there and the
 *   one at its head must carry its hash; the checkpoint must verify itself.
 * Candidates are ordered by seq; at the same seq the chain's own finding is the one named.
 */
function judge(
  userId: string,
  before: OwnerItem | null,
  w: Walk,
  after: OwnerItem | null,
  checkpoint: UserCheckpoint | null,
  subjectRef: string | null,
): VerifyReport {
  const candidates: BrokenLink[] = [];
  if (w.chainBreak) candidates.push(w.chainBreak);
  if (before) {
    if (w.n < before.lastSeq) {
      candidates.push({ seq: w.n + 1, handoverId: null, problem: 'record_missing' });
    } else if (
      w.atHead &&
      (w.atHead.hash !== before.lastHash ||
        (before.lastHandoverId !== null && w.atHead.handoverId !== before.lastHandoverId))
    ) {
      candidates.push({
        seq: before.lastSeq,
        handoverId: w.atHead.handoverId,
        problem: 'head_mismatch',
      });
    }
  }
  if (!after) {
    if (w.n > 0) candidates.push({ seq: 1, handoverId: null, problem: 'owner_item_missing' });
  } else {
    const allowed = after.lastSeq + (after.pending ? 2 : 0);
    if (w.n > allowed) {
      candidates.push({ seq: allowed + 1, handoverId: null, problem: 'beyond_head' });
    }
  }
  if (checkpoint?.status === 'invalid') {
    const seq = checkpoint.head?.lastSeq ?? 1;
    candidates.push({ seq, handoverId: null, problem: 'checkpoint_invalid' });
  } else if (checkpoint?.status === 'found') {
    const head = checkpoint.head;
    if (w.n < head.lastSeq) {
      candidates.push({ seq: w.n + 1, handoverId: null, problem: 'checkpoint_record_missing' });
    } else if (w.atCheckpoint?.hash !== head.lastHash) {
      const handoverId = w.atCheckpoint?.handoverId ?? null;
      candidates.push({ seq: head.lastSeq, handoverId, problem: 'checkpoint_mismatch' });
    }
  }
  const firstBroken = candidates.sort((a, b) => a.seq - b.seq)[0];
  const head = before ?? after;
  const pending = after?.pending;
  return {
    userId,
    ...(subjectRef !== null ? { subjectRef } : {}),
    ok: firstBroken === undefined,
    count: firstBroken ? firstBroken.seq - 1 : w.n,
    lastSeq: head?.lastSeq ?? 0,
    lastHash: head?.lastHash ?? GENESIS_HASH,
    ...(firstBroken ? { firstBroken } : {}),
    ...(pending
      ? {
          pending: {
            seq: pending.draft.seq,
            handoverId: pending.draft.handoverId,
            markedAt: pending.markedAt,
            recorded: w.n >= pending.draft.seq,
          },
        }
      : {}),
    ...(checkpoint ? { checkpoint: coverageOf(checkpoint, w.n, w.atCheckpoint) } : {}),
    ...(w.erased > 0 ? { erased: { metadata: w.erased } } : {}),
  };
}

/**
 * One user's history against its owner item.
 * Input: the user. Output: the report; NotFoundError (404) when there is neither an owner item
 * nor a record (nothing to verify: most likely a mistyped id).
 * Steps: read the owner item -> walk every record -> read the owner item again -> judge. A record
 * past the head with no marker may be an `observed` record whose owner-item write is a moment
 * behind (those two writes carry no marker): the walk is repeated before that counts as a break.
 */
export async function verifyUser(userId: string, deps: VerifyDeps): Promise<VerifyReport> {
  let subjectRef: string | null = null;
  if (deps.checkpoints) {
    if (!deps.subjectKey) {
      throw new SubjectKeyMissingError('Verify against checkpoints needs the subject key.');
    }
    subjectRef = subjectRefOf(await deps.subjectKey.key(), userId);
  }
  const checkpoint =
    deps.checkpoints && subjectRef !== null
      ? await findUserCheckpoint(subjectRef, deps.checkpoints)
      : null;
  const checkpointSeq = checkpoint?.status === 'none' ? null : (checkpoint?.head?.lastSeq ?? null);
  for (let attempt = 1; ; attempt++) {
    const before = await deps.state.getOwner(userId, CONSISTENT);
    const w = await walk(userId, deps.history, before?.lastSeq ?? 0, checkpointSeq);
    const after = await deps.state.getOwner(userId, CONSISTENT);
    if (!before && !after && w.n === 0 && !w.chainBreak) {
      throw new NotFoundError(
        'No owner item and no handover records for this user: nothing to verify (check the user id).',
      );
    }
    const report = judge(userId, before, w, after, checkpoint, subjectRef);
    const broken = report.firstBroken;
    if (broken?.problem === 'beyond_head' && attempt < ATTEMPTS) continue;
    if (broken && broken.handoverId === null && broken.problem !== 'record_missing') {
      broken.handoverId =
        (await deps.history.get(userId, broken.seq, CONSISTENT))?.handoverId ?? null;
    }
    if (broken) {
      deps.log.warn('hash chain broken', {
        userId,
        handoverId: broken.handoverId,
        seq: broken.seq,
        problem: broken.problem,
      });
    }
    return report;
  }
}

/**
 * A page of users, each verified whole (`GET /verify`, for `verify --all`).
 * Input: `limit` users (1..VERIFY_PAGE_MAX), `cursor`. Output: a report per user and the cursor
 * of the next page. The users come from the owner items (a scan of the state table): a user whose
 * owner item was deleted is not listed, and only `verify <userId>` finds its records.
 */
export async function verifyUsers(
  deps: VerifyDeps,
  options: { limit: number; cursor?: string },
): Promise<{ users: VerifyReport[]; cursor?: string }> {
  const page = await deps.state.listUsers(options);
  const users: VerifyReport[] = [];
  for (const { userId } of page.items) {
    try {
      users.push(await verifyUser(userId, deps));
    } catch (err) {
      // Listed a moment ago, gone now, with no record either: nothing left to verify.
      if (!(err instanceof NotFoundError)) throw err;
    }
  }
  return { users, ...(page.cursor ? { cursor: page.cursor } : {}) };
}
