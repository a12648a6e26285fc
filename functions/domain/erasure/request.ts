// POST /users/{userId}/erasure (operators): the API side of an erasure. It validates, counts, and
// registers; the eraser (apply.ts) does the work within a minute, so the answer is 202.
// Input: the user, level, reason, legal basis, dryRun, the operator and an optional
// Idempotency-Key. Output: `{ erasureId, status, counts }` (202), or with `dryRun` the counts
// (200), or `noop` when nothing is left to erase (a second erasure of the same user) (200).
// Steps: a repeated Idempotency-Key answers its erasure (another body: 422) -> read the user's
// owner item, records and their outbox items (no scan) -> dry run: counts -> nothing to erase: no-op
// -> a handover in flight: 409 -> an erasure of the user at that level already open: answer it ->
// write the register item, then add it to the eraser's work list (a crash in between leaves the
// item `requested`: `POST /erasures/reapply` or a retry with the same key opens it).
import { createHash } from 'node:crypto';
import { canonicalJson } from '../canonical';
import { ErasureBacklogError, HandoverInProgressError, IdempotencyKeyReusedError } from '../errors';
import { assertUserId } from '../user-id';
import { countsOf, gatherUser, nothingToErase } from './gather';
import type {
  ErasureCounts,
  ErasureDeps,
  ErasureItem,
  ErasureLevel,
  ErasureStatus,
  OpenErasures,
} from './types';

export interface ErasureRequest {
  userId: string;
  level: ErasureLevel;
  reason: string;
  legalBasis: string;
  dryRun?: boolean;
  /** The operator's name (records and register name `operator:{name}`). */
  operator: string;
  idempotencyKey?: string;
}

export type ErasureAnswer =
  | { httpStatus: 202; body: { erasureId: string; status: ErasureStatus; counts: ErasureCounts } }
  | { httpStatus: 200; body: { dryRun: true; noop: boolean; counts: ErasureCounts } }
  | { httpStatus: 200; body: { erasureId: null; noop: true; counts: ErasureCounts } };

/** The work list's entry asking for a retention run. */
export const RETENTION_ENTRY = 'retention';

/** Erasures the work list holds at most (an item of the state table, well under 400 KB). */
export const MAX_OPEN_ERASURES = 500;
const CAS_ATTEMPTS = 5;
const HANDOVER_RETRY_SECONDS = 5;

/** The erasure id a key names, per operator: `era_` + 22 characters of base64url(sha256). */
export const erasureIdForKey = (operator: string, key: string): string =>
  `era_${createHash('sha256').update(`ERASURE#${operator}#${key}`, 'utf8').digest('base64url').slice(0, 22)}`;

const freshErasureId = (deps: ErasureDeps): string =>
  `era_${createHash('sha256').update(deps.ids.next(), 'utf8').digest('base64url').slice(0, 22)}`;

const bodyHashOf = (input: ErasureRequest): string =>
  createHash('sha256')
    .update(
      canonicalJson({
        userId: input.userId,
        level: input.level,
        reason: input.reason,
        legalBasis: input.legalBasis,
      }),
      'utf8',
    )
    .digest('hex');

/** Adds an entry to the eraser's work list (compare-and-set, retried on a concurrent change). */
export async function openErasure(
  entry: OpenErasures['entries'][number],
  store: ErasureDeps['store'],
): Promise<void> {
  for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
    const list = await store.getOpen();
    if (list.entries.some((e) => e.erasureId === entry.erasureId)) return;
    if (list.entries.length >= MAX_OPEN_ERASURES) throw new ErasureBacklogError();
    const next = { ...list, entries: [...list.entries, entry], version: list.version + 1 };
    if (await store.compareAndSetOpen(next, list.version)) return;
  }
  throw new ErasureBacklogError();
}

export async function requestErasure(
  input: ErasureRequest,
  deps: ErasureDeps,
): Promise<ErasureAnswer> {
  assertUserId(input.userId);
  const bodyHash = bodyHashOf(input);
  const keyed =
    input.idempotencyKey !== undefined && !input.dryRun
      ? erasureIdForKey(input.operator, input.idempotencyKey)
      : null;
  if (keyed) {
    const earlier = await deps.store.getErasure(keyed);
    if (earlier) {
      if (earlier.bodyHash !== bodyHash) throw new IdempotencyKeyReusedError();
      if (earlier.status !== 'done') {
        await openErasure(
          { erasureId: keyed, userId: input.userId, level: earlier.level },
          deps.store,
        );
      }
      return accepted(earlier);
    }
  }

  const data = await gatherUser(input.userId, deps);
  const counts = countsOf(data);
  const noop = nothingToErase(data, input.level);
  if (input.dryRun) return { httpStatus: 200, body: { dryRun: true, noop, counts } };
  if (noop) return { httpStatus: 200, body: { erasureId: null, noop: true, counts } };
  if (data.owner?.pending) throw new HandoverInProgressError(HANDOVER_RETRY_SECONDS);

  const open = await deps.store.getOpen();
  const same = open.entries.find((e) => e.userId === input.userId && e.level === input.level);
  if (same) {
    const item = await deps.store.getErasure(same.erasureId);
    if (item) return accepted(item);
  }
  if (open.entries.length >= MAX_OPEN_ERASURES) throw new ErasureBacklogError();

  const item: ErasureItem = {
    erasureId: keyed ?? freshErasureId(deps),
    level: input.level,
    status: 'requested',
    subjectUserId: input.userId,
    reason: input.reason,
    legalBasis: input.legalBasis,
    requestedBy: `operator:${input.operator}`,
    requestedAt: new Date(deps.clock.now()).toISOString(),
    counts,
    ...(input.idempotencyKey !== undefined ? { idempotencyKey: input.idempotencyKey } : {}),
    bodyHash,
    version: 1,
  };
  if (!(await deps.store.putErasure(item))) {
    // The same key, a moment earlier: that request's erasure is the answer.
    const earlier = await deps.store.getErasure(item.erasureId);
    if (earlier && earlier.bodyHash === bodyHash) return accepted(earlier);
    throw new IdempotencyKeyReusedError();
  }
  await openErasure(
    { erasureId: item.erasureId, userId: input.userId, level: item.level },
    deps.store,
  );
  deps.log.info('erasure requested', {
    erasureId: item.erasureId,
    level: item.level,
    requestedBy: item.requestedBy,
    records: counts.records,
  });
  deps.metrics.count('ErasureRequested', 1, { level: item.level });
  return accepted(item);
}

const accepted = (item: ErasureItem): ErasureAnswer => ({
  httpStatus: 202,
  body: { erasureId: item.erasureId, status: item.status, counts: item.counts },
});
