// The handover protocol (DESIGN.md, "The handover sequence"): one Service moves a user to another
// through Parley, with exactly one history record per ownership change made through this service.
// This module holds the use case and re-exports the owner, recovery and reconcile use cases, so
// handlers import everything from here.
import { canonicalJson } from './canonical';
import { sha256Hex } from './chain';
import {
  ForbiddenError,
  HandoverInProgressError,
  IdempotencyKeyReusedError,
  NotOwnerError,
  OwnerChangedError,
  ValidationError,
} from './errors';
import { withDeadline } from './deadline';
import { checkMetadata } from './metadata';
import { isoAt, nextCreatedAt, pendingRemainingMs, toOwnerView } from './owner';
import type {
  Clock,
  HistoryStore,
  IdGenerator,
  Log,
  MetricsSink,
  ParleyClients,
  ServiceCatalog,
  StateStore,
} from './ports';
import { completePending, ownerItemAtRest, recoverPending } from './recovery';
import type { DraftRecord, HandoverRecord, IdempotencyItem, OwnerItem } from './types';
import { isValidUserId, MAX_USER_ID_LENGTH } from './user-id';

export { currentOwner, type OwnerReader, ownerAt, refreshOwner, toOwnerView } from './owner';
export { reconcile } from './reconcile';
export { recoverPending } from './recovery';

export interface HandoverDeps {
  parley: ParleyClients;
  history: HistoryStore;
  state: StateStore;
  catalog: ServiceCatalog;
  clock: Clock;
  ids: IdGenerator;
  log: Log;
  metrics: MetricsSink;
  /** A pending marker older than this is recovered; younger ones answer 409. */
  staleAfterMs: number;
  /** @default 86400 */
  idempotencyTtlSeconds?: number;
  /** Parley time of one request (all its calls), in ms. @default 12000 */
  requestBudgetMs?: number;
  /** When the current request's Parley time ends; set per request (withDeadline). */
  deadlineMs?: number;
}

export interface HandoverInput {
  userId: string;
  /** Identification, service name (case-insensitive) or 'default'. */
  newOwner: string;
  metadata?: Record<string, unknown>;
  /** Same forms as newOwner: refuse (409) unless this service owns the user now. */
  expectedOwner?: string;
  /** The calling Service's identification. */
  requestedBy: string;
  source: 'api' | 'rule' | 'downstream';
  idempotencyKey?: string;
  /** How long the Idempotency-Key is kept; defaults to deps.idempotencyTtlSeconds (24 h). */
  idempotencyTtlSeconds?: number;
}

export interface OwnerView {
  identification: string;
  name: string;
  default: boolean;
}

export interface HandoverResult {
  changed: boolean;
  owner: OwnerView;
  handover?: HandoverRecord;
}

const DEFAULT_IDEMPOTENCY_TTL_SECONDS = 86_400;
/** How far back (records, newest first) an Idempotency-Key replay looks for its handover. */
const IDEMPOTENCY_LOOKBACK = 100;
/** Reads of an Idempotency-Key's item before giving up on a key that keeps changing hands. */
const CLAIM_ATTEMPTS = 3;

/**
 * Performs a handover.
 * Input: the request (user, new owner and optional expected owner as identification, name or
 * 'default', metadata, caller, source, Idempotency-Key). Output: `{ changed, owner, handover? }`.
 * Steps (DESIGN.md): check the caller and resolve the services -> Idempotency-Key: replay an
 * earlier completed answer, or claim the key (a failed earlier attempt releases it) -> owner item
 * (ownerItemAtRest): a fresh marker 409, recover a stale one, refresh from Parley when
 * missing or not the caller (drift becomes an `observed` record) -> rules (expected owner 409,
 * already owner: unchanged, not owner 403) -> CAS a pending marker holding the full draft ->
 * complete it (PUT owner, settle unknown outcomes, one record, final CAS, agent/unset for a bot).
 * A failed handover throws its error after it is recorded.
 */
export async function performHandover(
  input: HandoverInput,
  requestDeps: HandoverDeps,
): Promise<HandoverResult> {
  const deps = withDeadline(requestDeps);
  const { userId, requestedBy } = input;
  if (typeof userId !== 'string' || !isValidUserId(userId)) {
    throw new ValidationError(
      `userId must be 1 to ${MAX_USER_ID_LENGTH} printable characters without '/'.`,
      'invalid_user_id',
    );
  }
  if (!deps.catalog.get(requestedBy)) {
    throw new ForbiddenError('The calling service is not configured in this deployment.');
  }
  const target = await deps.catalog.resolve(input.newOwner);
  const expected =
    input.expectedOwner === undefined ? undefined : await deps.catalog.resolve(input.expectedOwner);
  const meta = checkMetadata(input.metadata);

  let handoverId: string | undefined;
  if (input.idempotencyKey !== undefined) {
    const claim = await claimIdempotencyKey(input, deps);
    if ('answer' in claim) return claim.answer;
    handoverId = claim.handoverId;
  }

  const item = await ownerItemAtRest(userId, requestedBy, deps);

  if (expected && expected.identification !== item.owner) {
    throw new OwnerChangedError(item.owner, 'The user is not owned by the expected owner.');
  }
  if (target.identification === item.owner) {
    return { changed: false, owner: await toOwnerView(item.owner, deps.catalog) };
  }
  if (item.owner !== requestedBy) throw new NotOwnerError(requestedBy, item.owner);

  const nowMs = deps.clock.now();
  const draft: DraftRecord = {
    handoverId: handoverId ?? deps.ids.next(),
    userId,
    seq: item.lastSeq + 1,
    fromOwner: item.owner,
    toOwner: target.identification,
    reason: meta.reason,
    metadata: meta.metadata,
    metadataDigest: meta.digest,
    requestedBy: input.source === 'rule' ? `rule:${requestedBy}` : requestedBy,
    source: input.source,
    createdAt: nextCreatedAt(item.lastCreatedAt, nowMs),
    prevHash: item.lastHash,
  };
  const marked: OwnerItem = {
    ...item,
    version: item.version + 1,
    pending: {
      draft,
      markedAt: isoAt(nowMs),
      actingService: item.owner,
      ...(input.idempotencyKey !== undefined ? { idempotencyKey: input.idempotencyKey } : {}),
    },
  };
  if (!(await deps.state.compareAndSetOwner(marked, item.version))) {
    const now = await deps.state.getOwner(userId);
    throw new OwnerChangedError(now?.owner ?? null);
  }
  deps.log.info('handover started', {
    handoverId: draft.handoverId,
    userId,
    seq: draft.seq,
    source: draft.source,
  });

  const { record, error } = await completePending(marked, deps, 'put');
  if (error) throw error;
  return {
    changed: true,
    owner: await toOwnerView(record.toOwner, deps.catalog),
    handover: record,
  };
}

type Claim = { handoverId: string } | { answer: HandoverResult };

/**
 * Idempotency-Key: the same key and body give the same answer; another body is refused (422).
 * Input: the request. Output: the handoverId to proceed under, or the earlier answer.
 * Steps: no live item -> store one with a fresh handoverId (before any marker); an item with
 * another body -> 422; else replay: in flight -> 409 (a stale one is recovered first), completed
 * -> its answer, failed -> the key is released: its item is replaced with a fresh handoverId (a
 * CAS on the failed one's id) and the request proceeds as a new handover. A lost race re-reads
 * the item and follows these rules again.
 */
async function claimIdempotencyKey(input: HandoverInput, deps: HandoverDeps): Promise<Claim> {
  const key = input.idempotencyKey!;
  const bodyHash = sha256Hex(
    canonicalJson({
      userId: input.userId,
      newOwner: input.newOwner,
      metadata: input.metadata ?? null,
      expectedOwner: input.expectedOwner,
    }),
  );
  const fresh = (nowMs: number): IdempotencyItem => ({
    callerServiceId: input.requestedBy,
    key,
    handoverId: deps.ids.next(),
    userId: input.userId,
    bodyHash,
    expiresAt:
      Math.floor(nowMs / 1000) +
      (input.idempotencyTtlSeconds ??
        deps.idempotencyTtlSeconds ??
        DEFAULT_IDEMPOTENCY_TTL_SECONDS),
  });
  for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
    const nowMs = deps.clock.now();
    const existing = await deps.state.getIdempotency(input.requestedBy, key, nowMs);
    if (!existing) {
      const item = fresh(nowMs);
      if (await deps.state.putIdempotency(item, nowMs)) return { handoverId: item.handoverId };
      continue; // a concurrent request with the same key stored its item first
    }
    if (existing.bodyHash !== bodyHash) throw new IdempotencyKeyReusedError();
    const earlier = await replay(existing, deps);
    if (earlier !== 'failed') return earlier;
    // A failed handover changed nothing: the key is free for a new attempt.
    const retry = fresh(nowMs);
    if (await deps.state.replaceIdempotency(retry, existing.handoverId, nowMs)) {
      deps.log.info('idempotency key released by a failed handover', {
        handoverId: retry.handoverId,
        failedHandoverId: existing.handoverId,
      });
      return { handoverId: retry.handoverId };
    }
    // Another retry with the same key replaced it first: follow the rules with its item.
  }
  throw new HandoverInProgressError(1);
}

/**
 * Where an earlier request with this key got to: in flight (409; a stale one is recovered first),
 * completed (its answer), failed ('failed'), or not started (proceed under its handoverId).
 */
async function replay(existing: IdempotencyItem, deps: HandoverDeps): Promise<Claim | 'failed'> {
  const { userId, handoverId } = existing;
  let item = await deps.state.getOwner(userId);
  if (item?.pending?.draft.handoverId === handoverId) {
    const remainingMs = pendingRemainingMs(item, deps.clock.now(), deps.staleAfterMs);
    if (remainingMs > 0) throw new HandoverInProgressError(remainingMs / 1000);
    if ((await recoverPending(userId, deps)) === 'busy') {
      throw new HandoverInProgressError(deps.staleAfterMs / 1000);
    }
    item = await deps.state.getOwner(userId);
  }
  const record = await findRecord(userId, handoverId, item, deps.history);
  if (record?.status === 'failed') return 'failed';
  if (record) {
    return {
      answer: {
        changed: true,
        owner: await toOwnerView(record.toOwner, deps.catalog),
        handover: record,
      },
    };
  }
  // Not in flight and not recorded: the earlier request stopped before its marker (or found the
  // user already owned, or lost its seq to another record). Proceed as new under its handoverId.
  return { handoverId };
}

async function findRecord(
  userId: string,
  handoverId: string,
  item: OwnerItem | null,
  history: HistoryStore,
): Promise<HandoverRecord | null> {
  if (item && item.lastHandoverId === handoverId) {
    const last = await history.get(userId, item.lastSeq);
    if (last?.handoverId === handoverId) return last;
  }
  const page = await history.listUser(userId, { limit: IDEMPOTENCY_LOOKBACK, order: 'desc' });
  return page.items.find((r) => r.handoverId === handoverId) ?? null;
}
