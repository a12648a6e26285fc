// The timers' views of the deps (issue 15), beside the others (views.ts): the lease
// route's (the owner item only) and the sweep's (the byDue port over the handover's deps).
import { functionSpecs } from '../contracts/routes';
import { sweepPort } from '../domain/lifecycle/act';
import type { ExtendDeps } from '../domain/lifecycle/extend';
import { leaseOfOwner } from '../domain/lifecycle/owner-lease';
import type { SweepDeps } from '../domain/lifecycle/sweep';
import { emitLeaseWarning } from '../domain/notify/lease';
import { expireOfferDue } from '../domain/offers/expire';
import { readShardsOf } from '../domain/shards';
import type { AppDeps } from './deps';
import { handoverDeps, REQUEST_BUDGET_MS } from './views';

/** POST /users/{userId}/lease: the owner item only (the function may write nothing else). */
export const extendDeps = (deps: AppDeps): ExtendDeps => ({
  state: deps.state,
  catalog: deps.catalog,
  clock: deps.clock,
  log: deps.log,
  staleAfterMs: deps.config.staleAfterSeconds * 1000,
});

/**
 * The sweep's view of the deps: the byDue port over the handover's deps (an expiry is a
 * handover), the owner's lease.expiring through the outbox, and the run's time budget: the
 * function's timeout less one whole handover (its Parley time and the writes after), so the last
 * action started still ends within the timeout.
 */
export const sweepDeps = (deps: AppDeps): SweepDeps => {
  const hd = handoverDeps(deps);
  const emit = {
    notifications: deps.notifications,
    queue: deps.notifyQueue,
    services: deps.catalog,
    clock: deps.clock,
    log: deps.log,
  };
  return {
    port: sweepPort({
      ...hd,
      warnLease: async (warning) => {
        await emitLeaseWarning(warning, emit);
      },
      expireOfferDue: (userId, expectedVersion) => expireOfferDue(userId, expectedVersion, hd),
    }),
    leaseConfigOf: leaseOfOwner(deps.catalog),
    clock: deps.clock,
    log: deps.log,
    metrics: deps.metrics,
    shards: readShardsOf(deps.config),
    budgetMs: functionSpecs.sweep.timeoutSeconds * 1000 - (REQUEST_BUDGET_MS + 3_000),
  };
};
