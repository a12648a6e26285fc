// The owner item as a cache of Parley's truth: the view of an owner, keeping the cache in step with
// Parley (a change made elsewhere becomes an `observed` record), and the owner now and at an
// instant.
import { finalizeRecord, GENESIS_HASH } from '../chain';
import { callBudget, withDeadline } from '../deadline';
import { OwnerChangedError, ParleyError, ValidationError } from '../errors';
import type { HistoryStore, ServiceCatalog } from '../ports';
import type { HandoverRecord, OwnerItem } from '../types';
import type { HandoverDeps, OwnerView } from './deps';
import { leaseView, startOwnerLease } from '../lifecycle/owner-lease';
import { advanceItem, appendOnce, isoAt, observedDraft } from './records';

/**
 * The view of a Service. `default` comes from Parley's list (catalog.list() loads the cached list,
 * so a cold container answers it as Parley does); when that list cannot be had, the configuration
 * answers (its `default` as Parley last said).
 */
export async function toOwnerView(
  identification: string,
  catalog: ServiceCatalog,
): Promise<OwnerView> {
  let known: { name: string; default: boolean } | undefined;
  try {
    known = (await catalog.list()).find((s) => s.identification === identification);
  } catch (err) {
    if (!(err instanceof ParleyError)) throw err;
    known = catalog.get(identification);
  }
  // A Service Parley knows but this deployment does not: name it by its identification.
  return known
    ? { identification, name: known.name, default: known.default }
    : { identification, name: identification, default: false };
}

const SYNC_ATTEMPTS = 4;

const sameItem = (a: OwnerItem | null, b: OwnerItem | null): boolean =>
  a === null ? b === null : b !== null && a.version === b.version;

/**
 * Brings the owner item in step with Parley's owner, read as `asService`.
 * Input: the user, the service whose credentials read, and `known`: the item as read before the
 * call (null when missing; read here when not given).
 * Output: the item as stored afterwards and Parley's owner.
 * Steps: the item is read before the GET owner leaves; Parley's answer is taken only if the item
 * is unchanged when it lands (same version). A change in between (a handover marked or completed,
 * another refresher) may be what Parley answered, or may have happened after Parley answered:
 * such an answer proves nothing, so Parley is asked again. With the answer taken: no item ->
 * create a baseline (no record: a baseline is not a change); a pending marker -> left alone (its
 * handover may be what Parley shows); the item agrees -> done; it disagrees -> the change was made
 * outside this service: recordObserved, which a full erasure's fence refuses (then Parley's owner
 * is answered beside the fence). An item deleted meanwhile (the fence dropped) is met as no item. After
 * SYNC_ATTEMPTS answers that all raced a change, the last answer is returned without writing
 * anything.
 */
export async function syncOwner(
  userId: string,
  asService: string,
  deps: HandoverDeps,
  known?: OwnerItem | null,
): Promise<{ item: OwnerItem; parleyOwner: string }> {
  let before = known === undefined ? await deps.state.getOwner(userId) : known;
  let last: { item: OwnerItem; parleyOwner: string } | null = null;
  for (let attempt = 0; attempt < SYNC_ATTEMPTS; attempt++) {
    const budget = callBudget(deps, 'GET', 'owner');
    const parleyOwner = (await deps.parley(asService).getOwner(userId, budget)).data.owner;
    if (!before) {
      // createOwner is conditional on no item existing: it needs no second read.
      // A first sight starts the owner's lease: the user may already sit with an agent.
      const nowMs = deps.clock.now();
      const baseline = startOwnerLease(
        baselineItem(userId, parleyOwner, nowMs),
        nowMs,
        deps.catalog,
      );
      if (await deps.state.createOwner(baseline)) return { item: baseline, parleyOwner };
      before = await deps.state.getOwner(userId);
      continue; // created meanwhile: Parley's answer may predate that item's owner
    }
    const item = await deps.state.getOwner(userId);
    if (!item) {
      // Deleted meanwhile (an erasure's fence went): no item, as at first sight; ask again.
      deps.log.debug('owner item gone while GET owner was in flight; asking again', { userId });
      before = null;
      continue;
    }
    last = { item, parleyOwner };
    if (!sameItem(before, item)) {
      deps.log.debug('owner changed while GET owner was in flight; asking again', { userId });
      before = item;
      continue;
    }
    if (item.pending || item.owner === parleyOwner) return last;
    const observed = await recordObserved(item, parleyOwner, deps);
    if (observed) return { item: observed, parleyOwner };
    // A fence refuses the marker (no record while an erasure moves the records): Parley's answer
    // stands beside it, and the item is brought in step after the erasure.
    if (item.erasing) return last;
    before = await deps.state.getOwner(userId);
  }
  if (last) return last;
  throw new OwnerChangedError(null, 'The owner kept changing while it was being read.');
}

const baselineItem = (userId: string, owner: string, nowMs: number): OwnerItem => ({
  userId,
  owner,
  version: 1,
  since: null,
  lastSeq: 0,
  lastHash: GENESIS_HASH,
  lastCreatedAt: null,
  lastHandoverId: null,
  pending: null,
  refreshedAt: isoAt(nowMs),
});

/**
 * Records a change of owner made outside this service, as a handover records its own: the next
 * seq is first claimed with a marker (a CAS on the item's version, so a handover that marked in
 * the meantime keeps its seq and this writer backs off), then the record is appended and the item
 * advanced. A stale marker of this kind is finished by recovery from its stored draft.
 * Output: the item afterwards, or null when another writer changed the item first.
 */
async function recordObserved(
  item: OwnerItem,
  parleyOwner: string,
  deps: HandoverDeps,
): Promise<OwnerItem | null> {
  const nowMs = deps.clock.now();
  const draft = observedDraft(
    { userId: item.userId, seq: item.lastSeq, hash: item.lastHash, createdAt: item.lastCreatedAt },
    item.owner,
    parleyOwner,
    deps.ids.next(),
    nowMs,
    deps.salts,
  );
  const marked: OwnerItem = {
    ...item,
    version: item.version + 1,
    pending: { draft, markedAt: isoAt(nowMs), actingService: parleyOwner },
  };
  if (!(await deps.state.compareAndSetOwner(marked, item.version))) return null;
  const stored = await appendOnce(finalizeRecord(draft, 'completed', null), deps);
  const next = advanceItem(marked, [stored], deps.clock.now(), deps.catalog);
  return (await deps.state.compareAndSetOwner(next, marked.version)) ? next : null;
}

/**
 * Reads the owner from Parley as `asService` and brings the cache in step.
 * Input: user, service. Output: the owner item as stored afterwards.
 */
export async function refreshOwner(
  userId: string,
  asService: string,
  deps: HandoverDeps,
): Promise<OwnerItem> {
  return (await syncOwner(userId, asService, withDeadline(deps))).item;
}

/** Who asks for the owner: a Service reads with its own credentials, an auditor through the default's. */
export type OwnerReader = { kind: 'service'; serviceId: string } | { kind: 'auditor' };

/**
 * The owner now. Input: user, who asks. Output: Parley's owner as a view, since when (when the
 * cache agrees and knows) and the last handover id (when there is one); both left out when
 * unknown. Steps: the reading service (an auditor reads as the default Service) -> syncOwner ->
 * answer.
 */
export async function currentOwner(
  userId: string,
  reader: OwnerReader,
  deps: HandoverDeps,
): Promise<{
  userId: string;
  owner: OwnerView;
  since?: string;
  lastHandoverId?: string;
  lease?: ReturnType<typeof leaseView>;
}> {
  const asService =
    reader.kind === 'service'
      ? reader.serviceId
      : (await deps.catalog.resolve('default')).identification;
  const { item, parleyOwner } = await syncOwner(userId, asService, withDeadline(deps));
  const since = item.owner === parleyOwner ? item.since : null;
  // The lease is the cached owner's: shown only while Parley agrees it owns the user.
  const lease = item.owner === parleyOwner && item.lease ? leaseView(item.lease) : null;
  return {
    userId,
    owner: await toOwnerView(parleyOwner, deps.catalog),
    ...(since !== null ? { since } : {}),
    ...(item.lastHandoverId !== null ? { lastHandoverId: item.lastHandoverId } : {}),
    ...(lease ? { lease } : {}),
  };
}

/**
 * How many records that moved no one (failed handovers, offer events) ownerAt walks back over
 * before it stops: past that, the owner is the earliest one's fromOwner, since unknown.
 */
export const OWNER_AT_MAX_FAILED = 50;

/**
 * The owner at an instant, from the history only.
 * Input: user, ISO instant. Output: the owner then, or `{ owner: null, known: false }` before the
 * first record. Steps: the newest record at or before the instant; a `failed` record or an
 * offer's own record changed nothing, so walk back to the one before it (or, with none before or
 * after OWNER_AT_MAX_FAILED such records in a row, the earliest one's fromOwner, since unknown).
 */
export async function ownerAt(
  userId: string,
  instant: string,
  deps: Pick<HandoverDeps, 'history' | 'catalog'>,
): Promise<{
  userId: string;
  at: string;
  owner: OwnerView | null;
  known: boolean;
  since?: string;
  handoverId?: string;
}> {
  const ms = Date.parse(instant);
  if (Number.isNaN(ms)) {
    throw new ValidationError('The instant is not an ISO-8601 date and time.', 'invalid_instant');
  }
  // Records carry ISO strings with milliseconds: compare in that exact form.
  const at = isoAt(ms);
  const record = await latestEffective(userId, at, deps.history);
  if (!record) return { userId, at, owner: null, known: false };
  if (changedNoOwner(record)) {
    // Only records that moved no one (or more than the walk takes): the earliest one's fromOwner
    // owned the user then, since an unknown time.
    return record.fromOwner === null
      ? { userId, at, owner: null, known: false }
      : { userId, at, owner: await toOwnerView(record.fromOwner, deps.catalog), known: true };
  }
  return {
    userId,
    at,
    owner: await toOwnerView(record.toOwner, deps.catalog),
    known: true,
    since: record.createdAt,
    handoverId: record.handoverId,
  };
}

/** A record that moved no one: a failed handover, or an offer's own event. */
const changedNoOwner = (record: HandoverRecord): boolean =>
  record.status === 'failed' || record.kind === 'offer';

/**
 * The newest completed change of owner at or before `at`; else (none before, or
 * OWNER_AT_MAX_FAILED records that moved no one walked) the earliest such record met on the way
 * back: a failed handover or an offer's own record, whose fromOwner owned the user then.
 */
async function latestEffective(
  userId: string,
  at: string,
  history: HistoryStore,
): Promise<HandoverRecord | null> {
  let record = await history.latestAtOrBefore(userId, at);
  let lastFailed: HandoverRecord | null = null;
  for (let walked = 0; record && changedNoOwner(record); walked++) {
    if (walked === OWNER_AT_MAX_FAILED) return lastFailed;
    lastFailed = record;
    record = record.seq > 1 ? await history.get(userId, record.seq - 1) : null;
  }
  return record ?? lastFailed;
}
