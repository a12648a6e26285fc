// The processor's shapes: what processing a callback needs and what it answers, and how long a
// delivery item lives. In a module of their own so the entry and the run import no one another.
import type { ParsedCallback } from '../delivery';
import { deliveryTtlSeconds } from '../delivery';
import type { HandoverInput, HandoverResult } from '../handover/deps';
import type {
  CircuitStore,
  Clock,
  Downstream,
  HistoryStore,
  Log,
  MetricsSink,
  ParleyClients,
  ServiceCatalog,
  StateStore,
} from '../ports';
import type { DeliveryDisposition, DeliveryItem, OwnerItem } from '../types';

export interface CallbackDeps {
  state: StateStore;
  catalog: ServiceCatalog;
  parley: ParleyClients;
  downstream: Downstream;
  clock: Clock;
  log: Log;
  metrics: MetricsSink;
  /** A Service's downstream signing secret, if it has one. */
  signingSecret: (serviceId: string) => Promise<string | undefined>;
  handover: (input: HandoverInput) => Promise<HandoverResult>;
  /**
   * Brings the owner item in step with Parley's owner, read as `asService` (handover/owner.ts
   * syncOwner): the item as stored afterwards and Parley's answer, which differ where the item
   * could not follow (a full erasure's fence).
   */
  refreshOwner: (
    userId: string,
    asService: string,
  ) => Promise<{ item: OwnerItem; parleyOwner: string }>;
  /** Finishes a user's stale pending handover (recoverPending). */
  recoverPending: (userId: string) => Promise<'none' | 'busy' | 'recovered'>;
  /**
   * Failover of a desk that is down (DESIGN.md "Failover"): the Services' circuits, and the
   * history the loop guard reads. Absent: no circuit is kept and no user fails over.
   */
  failover?: { circuits: CircuitStore; history: HistoryStore };
  /** A pending marker older than this is recovered (the handover's staleAfter). */
  staleAfterMs: number;
  downstreamTimeoutMs: number;
  /** How long an attempt owns a delivery. @default 60000 (below the queue's 90 s visibility) */
  leaseMs?: number;
  /** @default 2592000 (30 days) */
  deliveryTtlSeconds?: number;
  /** Notes a user's first message of the day (domain/metrics/notes.ts); throws on a store error. */
  noteInbound?: (message: {
    userId: string;
    serviceId: string;
    receivedAt: string;
  }) => Promise<void>;
  /** Notes an owner's reply sent through us (domain/metrics/notes.ts); never throws. */
  noteOwnerMessage?: (message: { userId: string; serviceId: string }) => Promise<void>;
}

export interface CallbackOutcome {
  deliveryId: string;
  disposition: DeliveryDisposition;
  duplicate: boolean;
  handoverId?: string;
}

/** How long a delivery item (and its handovers' Idempotency-Keys) is kept: 30 days. */
export const DEFAULT_DELIVERY_TTL_SECONDS = 30 * 24 * 3600;

/** A callback the processor could read. */
export type Parsed = Extract<ParsedCallback, { ok: true }>;

/** When a done delivery stops counting as a duplicate (deliveryTtlSeconds: by body id or not). */
export const doneExpiry = (parsed: ParsedCallback, item: DeliveryItem, nowMs: number): number =>
  Math.min(item.expiresAt, Math.floor(nowMs / 1000) + deliveryTtlSeconds(parsed));
