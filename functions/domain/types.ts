import type { LeaseConfig, LeaseState, LiveOffer } from './lifecycle/types';

// The domain's data: handover records, the owner item (a cache of Parley's truth), idempotency and
// delivery items. Shapes follow DESIGN.md ("Data model"); stores persist them as they are.

/**
 * Who moved the user: `api`, `rule`, `downstream` (a Service or its program), `observed` (a change
 * made at Parley), `failover` (the processor, a desk that is down), `operator` (a release),
 * `timeout` (a lease expired) and `offer` (an accepted offer or its fallback).
 */
export type HandoverSource =
  | 'api'
  | 'rule'
  | 'downstream'
  | 'observed'
  | 'failover'
  | 'operator'
  | 'timeout'
  | 'offer';
export type HandoverStatus = 'completed' | 'failed';
export type ServiceRole = 'bot' | 'agent';

/** What Parley said to the `PUT owner` behind a record (null for `observed` records). */
export interface ParleyOutcomeInfo {
  status: number | null;
  code: string | null;
  durationMs: number;
}

/** What happened to an offer (LIFECYCLE.md "Records"). */
export type OfferEvent =
  | 'created'
  | 'accepted'
  | 'declined'
  | 'cancelled'
  | 'expired'
  | 'superseded';

/** The offer a record is about. */
export interface OfferRef {
  offerId: string;
  event: OfferEvent;
  /** The offering Service (the owner when it offered). */
  from: string;
  /** The Service offered the user. */
  to: string;
  expiresAt: string;
  /** On `created` only: what the expiry does ('keep', 'default' or a Service). */
  onTimeout?: string;
}

/** One row of the append-only history. `hash` chains it to the user's previous record. */
export interface HandoverRecord {
  handoverId: string;
  userId: string;
  /** 1, 2, 3 ... per user, no gaps. */
  seq: number;
  /** Service identification, or null when nothing was known before. */
  fromOwner: string | null;
  toOwner: string;
  reason: string | null;
  /** Free-form context given to the new owner; may be erased later (the chain keeps its digest). */
  metadata: Record<string, unknown> | null;
  metadataDigest: string;
  /** Service identification of the caller, `rule:{serviceId}`, or `parley` for observed changes. */
  requestedBy: string;
  source: HandoverSource;
  status: HandoverStatus;
  parley: ParleyOutcomeInfo | null;
  /** ISO-8601 with milliseconds, strictly increasing per user. */
  createdAt: string;
  prevHash: string;
  hash: string;
  /**
   * 'offer': an offer's own event (created, declined, cancelled, expired with onTimeout keep,
   * superseded), which changes no owner (fromOwner = toOwner = the owner). Absent on handovers.
   */
  kind?: 'offer';
  /** The offer a record is about: on `kind: 'offer'` records, and on an offer's handover. */
  offer?: OfferRef;
  /**
   * The chain version (chain.ts): 3 on every record written now (user id and reason chained
   * through a salted subject digest), 2 (salted metadata digest); absent on v1 records.
   */
  chain?: 2 | 3;
  /** v2, v3: 32 random bytes (base64url) keying the metadata digest; outside the chained part. */
  salt?: string;
  /**
   * v3: 32 random bytes (base64url) keying the subject digest (user id, reason, offer id); outside
   * the chained part. A metadata erasure keeps it; a full erasure removes it.
   */
  subjectSalt?: string;
  /** Set when the metadata and salt were erased (domain/erasure); outside the chained part. */
  metadataErased?: MetadataErasure;
}

/** Which erasure removed a record's metadata, and when. */
export interface MetadataErasure {
  at: string;
  erasureId: string;
}

/** The record as fixed when the pending marker is written: everything but the outcome. */
export type DraftRecord = Omit<HandoverRecord, 'status' | 'parley' | 'hash'>;

export interface PendingHandover {
  draft: DraftRecord;
  /** When the marker was written (ISO); recovery only touches markers older than staleAfter. */
  markedAt: string;
  /** The service whose credentials make the `PUT owner` (the owner at marking time). */
  actingService: string;
  /** Set when the handover came with an Idempotency-Key. */
  idempotencyKey?: string;
  /**
   * Offer events only: records chained after `draft` in the same change (a new offer's
   * `superseded` record for the one it replaced), written in order before the marker is cleared.
   */
  then?: DraftRecord[];
}

/** Per-user owner item of the state table. Always written with a condition on `version`. */
export interface OwnerItem {
  userId: string;
  /** Identification of the owning Service as last known. */
  owner: string;
  /** 1 on creation, +1 on every write. */
  version: number;
  /** When the current owner took over, if known (ISO). */
  since: string | null;
  lastSeq: number;
  lastHash: string;
  lastCreatedAt: string | null;
  lastHandoverId: string | null;
  pending: PendingHandover | null;
  /** When this item last agreed with Parley (ISO). */
  refreshedAt: string;
  /** The owner's lease (functions/domain/lifecycle/lease.ts); absent when its Service has none. */
  lease?: LeaseState | null;
  /** The user's one live offer (functions/domain/lifecycle/offer.ts). */
  offer?: LiveOffer | null;
  /** The earliest timer of lease and offer (dueAtOf): the byDue index key; absent without one. */
  dueAt?: string | null;
  /**
   * Set by the eraser alone when a full erasure starts (domain/erasure/apply.ts): the item is then
   * a fence that no owner write passes (the state store refuses every compare-and-set of it), so
   * no handover, offer or timer adds a record while the user's records are moved; the eraser
   * deletes it when done.
   */
  erasing?: { erasureId: string; since: string };
}

export interface IdempotencyItem {
  callerServiceId: string;
  key: string;
  handoverId: string;
  userId: string;
  bodyHash: string;
  /** Epoch seconds; the item counts as absent from then on. */
  expiresAt: number;
}

export type DeliveryState = 'in_progress' | 'done';
/** forwarded: sent downstream; stored: accepted, the Service has no downstream; handed_over: the
 * message went to the user's owner, another Service (a rule or the downstream moved the user, or
 * the owner changed after Parley routed it); standby: kept only in items of the first version,
 * which held such messages back. */
export type DeliveryDisposition =
  | 'forwarded'
  | 'stored'
  | 'standby'
  | 'quarantined'
  | 'handed_over';
/** A downstream reply is sent at most once: `sending` is set before the Parley call. */
export type ReplyState = 'none' | 'sending' | 'sent' | 'failed';

/** One callback delivery, keyed by its delivery id. No message text. */
export interface DeliveryItem {
  deliveryId: string;
  serviceId: string;
  userId: string | null;
  type: string;
  receivedAt: string;
  state: DeliveryState;
  disposition: DeliveryDisposition | null;
  replyState: ReplyState;
  handoverId: string | null;
  /** Epoch ms; an in-progress item whose lease has passed may be claimed again. */
  leaseUntil: number;
  /** Epoch seconds (30 days). */
  expiresAt: number;
  /**
   * The Service the delivery was first forwarded to (written before that forward): a retry after
   * an attempt that died mid-way sends it there again, never to a second Service.
   */
  forwardedTo?: string;
  /** Failed forwards to the receiving Service (a timeout, no connection, 5xx, 429, a bad answer). */
  failures?: number;
  /** The HTTP status of the last failed forward; null when none came (a timeout, no connection). */
  lastStatus?: number | null;
  /**
   * The failover this delivery asked for, written before the handover: a retry resumes it with
   * the same request (its Idempotency-Key), never a second one.
   */
  failover?: FailoverRequest;
}

/** What a failover's record carries as metadata (DESIGN.md "Failover"). */
export interface FailoverRequest {
  failures: number;
  lastStatus: number | null;
  /** Set when the owner's circuit was open: the message was not sent to it. */
  circuit?: 'open';
}

export interface HandoverRule {
  /** A regular expression tested against the message text (case-insensitive). */
  match: string;
  /** Identification, name or "default". */
  newOwner: string;
  reason: string;
  /** `offer`: offer the user to newOwner instead of moving it (issue 15). */
  mode?: 'handover' | 'offer';
  offerTimeoutSeconds?: number;
  onTimeout?: string;
}

/** A Service as this deployment knows it: stage configuration merged with Parley's `default`. */
export interface ServiceInfo {
  identification: string;
  name: string;
  role: ServiceRole;
  default: boolean;
  downstreamUrl?: string;
  rules: HandoverRule[];
  /** Its notifications: `url` defaults to downstreamUrl, `events` to every type. */
  notify?: ServiceNotify;
  /** Resolved failover settings; absent: the defaults of its role (failoverSettingsOf). */
  failover?: FailoverSettings;
  /**
   * Its lease as configured and resolved (null: it holds none); absent: its role's default
   * (lifecycle/owner-lease.ts leaseSettingsOf). The default Service never holds one.
   */
  lease?: LeaseConfig | null;
}

/** A Service's circuit breaker (DESIGN.md "Failover"). */
export interface CircuitSettings {
  windowSeconds: number;
  minRequests: number;
  /** Opens when the window's failures / requests is above it. */
  failureRate: number;
  openSeconds: number;
}

/** A Service's failover settings, every field resolved (functions/domain/failover/settings.ts). */
export interface FailoverSettings {
  enabled: boolean;
  afterFailures: number;
  /** 'default', or a Service's identification or name. */
  target: string;
  maxPerUserPerDay: number;
  circuit: CircuitSettings;
}

export type CircuitState = 'closed' | 'open' | 'half_open';

/** A Service's circuit (state table, `pk = CIRCUIT#{serviceId}`), written with a CAS on version. */
export interface CircuitItem {
  serviceId: string;
  state: CircuitState;
  /** Epoch ms when the current window of counts began. */
  windowStart: number;
  requests: number;
  failures: number;
  /** Epoch ms it last opened; null while closed. */
  openedAt: number | null;
  /** Epoch ms the half-open probe was let through; null when none is out. */
  probeAt: number | null;
  /** 1 on creation, +1 on every write. */
  version: number;
}

export interface Page<T> {
  items: T[];
  /** Opaque; present when there may be more. */
  cursor?: string;
  /** Items DynamoDB read to build this page (for the scaling budget). */
  itemsRead?: number;
}

export interface HistoryFilters {
  /** Destination service identification. */
  toOwner?: string;
  reason?: string;
  status?: HandoverStatus;
  source?: HandoverSource;
}

// ---------------------------------------------------------------- Notifications (the outbox)

export type NotificationType =
  | 'handover.completed'
  | 'handover.failed'
  | 'handover.observed'
  | 'failover.triggered'
  | 'offer.created'
  | 'offer.accepted'
  | 'offer.declined'
  | 'offer.expired'
  | 'offer.cancelled'
  | 'offer.superseded'
  | 'lease.expiring'
  | 'lease.expired';

/**
 * pending: written, not yet delivered (queued or waiting for a retry); sent: the receiver answered
 * 2xx (an action: Parley did it); failed: either refused for good (the receiver's 400/401/403/404/
 * 410, or Parley's refusal of an action): failed at once and its message deleted, never in the
 * DLQ; or out of retries (24 h after the event): failed, and its message goes on to the DLQ.
 */
export type NotificationStatus = 'pending' | 'sent' | 'failed';

/**
 * One notification in the outbox (state table, `pk = NOTIFY#{id}`). `id` is derived from
 * `NOTIFY#{handoverId}#{type}#{recipient}`, so a retry of the writer writes the same item.
 * `kind: 'action'` items are work for the sender that no Service receives (e.g. clearing Parley's
 * agent label after a hand-back); they share the queue, retries and outcome records.
 */
export interface NotificationItem {
  id: string;
  kind: 'notification' | 'action';
  type: NotificationType | 'parley.agent_unset';
  /** The receiving Service's identification (for an action: the Service whose credentials act). */
  recipient: string;
  userId: string;
  /** The seq of the history record it is about. */
  seq: number;
  handoverId: string;
  /** The exact JSON body to send (built once, so every attempt sends the same bytes). */
  body: string;
  status: NotificationStatus;
  /** Delivery attempts made so far. */
  attempts: number;
  /** HTTP status of the last attempt, or null (no answer, or not tried yet). */
  lastStatus: number | null;
  /** A short, secret-free reason for the last failure. */
  lastError: string | null;
  createdAt: string;
  /** When it was last changed (ISO). */
  updatedAt: string;
  sentAt: string | null;
  /** 1 on creation, +1 on every write (compare-and-set). */
  version: number;
}

/** A Service's notification settings, as configured (every field optional). */
export interface ServiceNotify {
  url?: string;
  events?: NotificationType[];
}
