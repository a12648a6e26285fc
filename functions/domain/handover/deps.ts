// The handover use cases' shapes: what they need and what they take and answer. Types only, in a
// module of their own, so the use cases that share them import no one another for a type.
import type {
  Clock,
  HistoryStore,
  IdGenerator,
  Log,
  MetricsSink,
  ParleyClients,
  ServiceCatalog,
  StateStore,
} from '../ports';
import type { SaltSource } from '../chain';
import type { HandoverRecord, HandoverSource } from '../types';

export interface HandoverDeps {
  parley: ParleyClients;
  history: HistoryStore;
  state: StateStore;
  catalog: ServiceCatalog;
  clock: Clock;
  /** Measures a request's elapsed time (its deadline). @default clock */
  timer?: Clock;
  ids: IdGenerator;
  /** Each new record's metadata salt (chain v2). @default 32 random bytes */
  salts?: SaltSource;
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
  /**
   * Writes the notifications a stored record causes (the outbox) and queues them; called by
   * appendOnce for every record it returns. Throws only when the outbox could not be written.
   */
  notify?: (record: HandoverRecord) => Promise<void>;
  /**
   * Notes an owner's message sent through us, for the metrics' time to first agent reply
   * (domain/metrics/notes.ts); never throws.
   */
  noteOwnerMessage?: (message: {
    userId: string;
    serviceId: string;
    since?: string | null;
  }) => Promise<void>;
}

export interface HandoverInput {
  userId: string;
  /** Identification, service name (case-insensitive) or 'default'. */
  newOwner: string;
  metadata?: Record<string, unknown>;
  /** Same forms as newOwner: refuse (409) unless this service owns the user now. */
  expectedOwner?: string;
  /** The calling Service's identification (the handover acts with its credentials). */
  requestedBy: string;
  /**
   * Who the record names as `requestedBy` when someone acts through that Service (e.g.
   * `operator:{name}` releasing its users). @default requestedBy (`rule:{id}` for a rule)
   */
  actor?: string;
  source: Exclude<HandoverSource, 'observed'>;
  /**
   * A timer's claim (the sweep): refused with TimerClaimLostError unless the owner item is still
   * at this version when its marker is written, so activity since wins the tie.
   */
  expectedVersion?: number;
  idempotencyKey?: string;
  /** How long the Idempotency-Key is kept; defaults to deps.idempotencyTtlSeconds (24 h). */
  idempotencyTtlSeconds?: number;
  /**
   * Asks for an offer instead (a rule's or a downstream answer's `mode: "offer"`): the user stays,
   * `changed: false`, `handover` the offer's `created` record (offers/create.ts).
   */
  offer?: { offerTimeoutSeconds?: number; onTimeout?: string };
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
