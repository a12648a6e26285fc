// What a handler needs, built once per container by the composition root (runtime.ts) in AWS, or
// by the local runtime with local adapters. Handlers are made from a `() => Promise<AppDeps>`.
// The readonly members are built at their first read (getters); a test that swaps one spreads
// the deps into a new object.
import type {
  Authenticator,
  CallbackQueue,
  CircuitStore,
  Clock,
  Downstream,
  HistoryStore,
  IdGenerator,
  Log,
  MetricsSink,
  NotificationStore,
  ParleyClients,
  SecretsProvider,
  ServiceCatalog,
  StateStore,
} from '../domain/ports';
import type { StageConfig } from '../schemas/config';

export interface AppDeps {
  config: StageConfig;
  clock: Clock;
  /** Measures a request's elapsed time (deadlines, Parley timeouts). */
  timer: Clock;
  ids: IdGenerator;
  log: Log;
  metrics: MetricsSink;
  readonly history: HistoryStore;
  readonly state: StateStore;
  queue: CallbackQueue;
  /** The outbox (notification items in the state table). */
  readonly notifications: NotificationStore;
  /** The FIFO notify queue the sender consumes (same shape as the callback queue). */
  notifyQueue: CallbackQueue;
  parley: ParleyClients;
  readonly catalog: ServiceCatalog;
  /** The Services' circuits (failover), items of the state table. */
  readonly circuits: CircuitStore;
  readonly downstream: Downstream;
  secrets: SecretsProvider;
  readonly auth: Authenticator;
}

export type DepsSource = () => Promise<AppDeps>;
