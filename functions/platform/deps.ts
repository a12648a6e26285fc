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
  QueueDepths,
  SecretsProvider,
  ServiceCatalog,
  StateStore,
} from '../domain/ports';
import type { ConsoleStore } from '../console/ports';
import type { MetricsStore } from '../domain/metrics/types';
import type { CheckpointPorts } from '../domain/checkpoints/ports';
import type { ErasureStore } from '../domain/erasure/types';
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
  /** The metrics' rollups and notes (state table items). */
  readonly metricsStore: MetricsStore;
  secrets: SecretsProvider;
  readonly auth: Authenticator;
  /** Signed checkpoints: the signer and the store; null where the function keeps none. */
  checkpoints: CheckpointPorts | null;
  /** The dead-letter queues' depths (the console's); null where the function reads none. */
  queueDepths: QueueDepths | null;
  /** The console's sessions and failed-login counters (items of the state table). */
  readonly consoleStore: ConsoleStore;
  /** The erasure register, work list and the eraser's history writes (platform/erasure-deps.ts). */
  readonly erasureStore: ErasureStore;
}

export type DepsSource = () => Promise<AppDeps>;
