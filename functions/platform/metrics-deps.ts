// The metrics' view of the deps (domain/metrics/): the rollup, the metrics routes and the stuck
// owners, and the notes the processor and the messages route write for them. The notes are made
// once per store, so a container remembers what it has noted.
import { createInboundNoter, createReplyNoter } from '../domain/metrics/notes';
import type { MetricsDeps } from '../domain/metrics/rollup';
import { METRICS_DEFAULTS, type MetricsStore } from '../domain/metrics/types';
import type { AppDeps } from './deps';

const noters = new WeakMap<
  MetricsStore,
  { inbound: ReturnType<typeof createInboundNoter>; reply: ReturnType<typeof createReplyNoter> }
>();
/** The notes of these deps' metrics store (made at the first use). */
export const notesOf = (deps: AppDeps) => {
  const store = deps.metricsStore;
  let made = noters.get(store);
  if (!made) {
    made = {
      inbound: createInboundNoter({ store }),
      reply: createReplyNoter({
        store,
        owner: (userId) => deps.state.getOwner(userId),
        roleOf: (serviceId) => deps.catalog.get(serviceId)?.role,
        clock: deps.clock,
        log: deps.log,
        metrics: deps.metrics,
      }),
    };
    noters.set(store, made);
  }
  return made;
};

/** The metrics' view of the deps: the rollup, the metrics route and the stuck owners. */
export const metricsDeps = (deps: AppDeps): MetricsDeps => ({
  history: deps.history,
  store: deps.metricsStore,
  services: async () =>
    (await deps.catalog.list()).map((s) => ({
      identification: s.identification,
      role: s.role,
      default: s.default,
    })),
  clock: deps.clock,
  log: deps.log,
  metrics: deps.metrics,
  settings: deps.config.metrics ?? METRICS_DEFAULTS,
});
