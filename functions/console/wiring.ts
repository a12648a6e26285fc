// The console's deps from the composition root's: the use cases bound to theirs, so the console
// reaches the stores and Parley only through the same code as the API routes.
import { currentOwner, ownerAt } from '../domain/handover/owner';
import { performHandover } from '../domain/handover/perform';
import { reconcile } from '../domain/handover/reconcile';
import { readMetrics } from '../domain/metrics/rollup';
import { listStuckOwners } from '../domain/metrics/stuck';
import { verifyUser } from '../domain/verify';
import { verifyDepsOf } from '../platform/checkpoint-ports';
import type { AppDeps } from '../platform/deps';
import { metricsDeps } from '../platform/metrics-deps';
import { handoverDeps } from '../platform/views';
import type { ConsoleDeps } from './deps';

export const consoleDeps = (d: AppDeps): ConsoleDeps => {
  const hd = handoverDeps(d);
  return {
    store: d.consoleStore,
    callerOf: (token) => d.auth.caller(`Bearer ${token}`),
    history: d.history,
    state: d.state,
    notifications: d.notifications,
    catalog: d.catalog,
    verify: (userId) => verifyUser(userId, verifyDepsOf(d)),
    metrics: (query) => readMetrics(query, metricsDeps(d)),
    stuckOwners: () => listStuckOwners(metricsDeps(d)),
    ownerNow: async (userId) => (await currentOwner(userId, { kind: 'auditor' }, hd)).owner,
    ownerAt: (userId, instant) => ownerAt(userId, instant, d),
    reconcileUser: (userId) => reconcile(hd, { userId }),
    handover: (input) => performHandover(input, hd),
    ...(d.queueDepths ? { queueDepths: d.queueDepths } : {}),
    clock: d.clock,
    log: d.log,
    staleAfterMs: hd.staleAfterMs,
  };
};
