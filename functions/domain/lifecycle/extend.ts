// POST /users/{userId}/lease { extendSeconds }: the owner keeps its user longer (issue 15). The
// owner item alone decides (no Parley call, no record, no notification): the route's function
// may write the state table only.
import {
  HandoverInProgressError,
  NotFoundError,
  NotOwnerError,
  OwnerChangedError,
} from '../errors';
import { pendingRemainingMs } from '../handover/pending';
import type { Clock, Log, ServiceCatalog, StateStore } from '../ports';
import { assertUserId } from '../user-id';
import { LeaseLimitExceededError } from './errors';
import { extendLease } from './lease';
import { leaseSettingsOf, withDueAt } from './owner-lease';

export interface ExtendDeps {
  state: StateStore;
  catalog: Pick<ServiceCatalog, 'get'>;
  clock: Clock;
  log: Log;
  /** A pending marker older than this is a handover that died: not in flight. */
  staleAfterMs: number;
}

const ATTEMPTS = 3;

/**
 * extendOwnerLease
 * Input: the user, the calling Service, extendSeconds (a whole number of seconds).
 * Output: `{ expiresAt, hardExpiresAt }` of the lease afterwards.
 * Steps: validate the user id -> the owner item (none: 404) -> a handover in flight: 409 -> not
 * the caller's: 403 not_owner -> no lease (or its Service holds none now): 404 -> extendLease
 * (past the hard cap: 422 lease_limit_exceeded, nothing written) -> CAS with dueAt derived again;
 * a lost race reads again and follows these rules (activity may have moved the lease meanwhile).
 */
export async function extendOwnerLease(
  input: { userId: string; serviceId: string; extendSeconds: number },
  deps: ExtendDeps,
): Promise<{ expiresAt: string; hardExpiresAt: string }> {
  const { userId, serviceId, extendSeconds } = input;
  assertUserId(userId);
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    const item = await deps.state.getOwner(userId);
    if (!item) throw new NotFoundError('This user has no owner here yet, so no lease.');
    const nowMs = deps.clock.now();
    const inFlightMs = pendingRemainingMs(item, nowMs, deps.staleAfterMs);
    if (inFlightMs > 0) throw new HandoverInProgressError(inFlightMs / 1000);
    if (item.owner !== serviceId) throw new NotOwnerError(serviceId, item.owner);
    const cfg = leaseSettingsOf(deps.catalog.get(item.owner));
    if (!item.lease || !cfg) throw new NotFoundError('The owner holds no lease of this user.');
    const out = extendLease(item.lease, extendSeconds, nowMs, cfg);
    if (!out.ok) throw new LeaseLimitExceededError(out.hardExpiresAt);
    const next = withDueAt({ ...item, version: item.version + 1, lease: out.lease }, cfg);
    if (await deps.state.compareAndSetOwner(next, item.version)) {
      deps.log.info('lease extended', {
        userId,
        serviceId,
        extendSeconds,
        expiresAt: out.lease.expiresAt,
      });
      return { expiresAt: out.lease.expiresAt, hardExpiresAt: out.lease.hardExpiresAt };
    }
  }
  throw new OwnerChangedError(null, "The user's lease kept changing while it was extended; retry.");
}
