// The use cases' views of the deps, beside the composition root (runtime.ts): each function's use
// case gets the ports and settings it needs from AppDeps, and nothing else.
import { functionSpecs } from '../contracts/routes';
import type { HandoverDeps } from '../domain/handover/deps';
import { withDeadline } from '../domain/deadline';
import { syncOwner } from '../domain/handover/owner';
import { performHandover } from '../domain/handover/perform';
import { recoverPending } from '../domain/handover/recover';
import { runOutboxAction } from '../domain/notify/actions';
import { emitNotifications } from '../domain/notify/emit';
import type { RelayDeps } from '../domain/notify/relay';
import type { SendDeps } from '../domain/notify/send';
import type { CallbackDeps } from '../domain/processor/deps';
import type { ReleaseDeps } from '../domain/release';
import type { AppDeps } from './deps';
import { notesOf } from './metrics-deps';

/**
 * Parley time of one request: the handover function's timeout less a margin for the writes that
 * follow the last Parley call, so the contract's 503/504 is answered before the platform cuts in.
 */
export const REQUEST_BUDGET_MS = functionSpecs.handover.timeoutSeconds * 1000 - 3_000;

/** The handover use case's view of the deps. */
export const handoverDeps = (deps: AppDeps): HandoverDeps => ({
  parley: deps.parley,
  history: deps.history,
  state: deps.state,
  catalog: deps.catalog,
  clock: deps.clock,
  timer: deps.timer,
  ids: deps.ids,
  log: deps.log,
  metrics: deps.metrics,
  staleAfterMs: deps.config.staleAfterSeconds * 1000,
  requestBudgetMs: REQUEST_BUDGET_MS,
  noteOwnerMessage: (message) => notesOf(deps).reply(message),
  notify: async (record) => {
    await emitNotifications(record, {
      notifications: deps.notifications,
      queue: deps.notifyQueue,
      services: deps.catalog,
      clock: deps.clock,
      log: deps.log,
    });
  },
});

/** The notifier's view of the deps: one attempt at a notification (sendNotification). */
export const sendDeps = (deps: AppDeps): SendDeps => ({
  notifications: deps.notifications,
  downstream: deps.downstream,
  services: deps.catalog,
  signingSecret: async (serviceId) => (await deps.secrets.service(serviceId)).signingSecret,
  clock: deps.clock,
  log: deps.log,
  metrics: deps.metrics,
  downstreamTimeoutMs: deps.config.downstreamTimeoutMs,
  retrySeconds: deps.config.notifyRetrySeconds,
  // The outbox's actions (a bot's agent/unset), each within one attempt's time like a POST.
  runAction: (item) =>
    runOutboxAction(item, {
      parley: deps.parley,
      state: deps.state,
      timeoutMs: deps.config.downstreamTimeoutMs,
    }),
});

/** The outbox relay's view of the deps (relayPending). */
export const relayDeps = (deps: AppDeps): RelayDeps => ({
  notifications: deps.notifications,
  queue: deps.notifyQueue,
  clock: deps.clock,
  log: deps.log,
  metrics: deps.metrics,
  relayAfterMs: deps.config.notifyRelayAfterSeconds * 1000,
  retrySeconds: deps.config.notifyRetrySeconds,
});

/** The processor's view of the deps: the handover use cases bound to the handover's deps. */
export const callbackDeps = (deps: AppDeps): CallbackDeps => {
  const hd = handoverDeps(deps);
  return {
    state: deps.state,
    catalog: deps.catalog,
    parley: deps.parley,
    downstream: deps.downstream,
    clock: deps.clock,
    log: deps.log,
    metrics: deps.metrics,
    signingSecret: async (serviceId) => (await deps.secrets.service(serviceId)).signingSecret,
    handover: (input) => performHandover(input, hd),
    refreshOwner: (userId, asService) => syncOwner(userId, asService, withDeadline(hd)),
    recoverPending: (userId) => recoverPending(userId, hd),
    failover: { circuits: deps.circuits, history: deps.history },
    staleAfterMs: hd.staleAfterMs,
    downstreamTimeoutMs: deps.config.downstreamTimeoutMs,
    noteInbound: (message) => notesOf(deps).inbound(message),
    noteOwnerMessage: (message) => notesOf(deps).reply(message),
  };
};

/**
 * A bulk release's view of the deps: the handover use case bound to its deps, and the call's time
 * (the release function's timeout less a margin for the answer); a user is started only while one
 * whole handover (its Parley time and the writes after) still fits.
 */
export const releaseDeps = (deps: AppDeps): ReleaseDeps => {
  const hd = handoverDeps(deps);
  return {
    state: deps.state,
    catalog: deps.catalog,
    handover: (input) => performHandover(input, hd),
    ids: deps.ids,
    timer: deps.timer,
    log: deps.log,
    metrics: deps.metrics,
    budgetMs: functionSpecs.release.timeoutSeconds * 1000 - 2_000,
    handoverReserveMs: REQUEST_BUDGET_MS + 3_000,
  };
};
