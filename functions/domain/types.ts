// The domain's data: handover records, the owner item (a cache of Parley's truth), idempotency and
// delivery items. Shapes follow DESIGN.md ("Data model"); stores persist them as they are.

export type HandoverSource = 'api' | 'rule' | 'downstream' | 'observed';
export type HandoverStatus = 'completed' | 'failed';
export type ServiceRole = 'bot' | 'agent';

/** What Parley said to the `PUT owner` behind a record (null for `observed` records). */
export interface ParleyOutcomeInfo {
  status: number | null;
  code: string | null;
  durationMs: number;
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
}

export interface HandoverRule {
  /** A regular expression tested against the message text (case-insensitive). */
  match: string;
  /** Identification, name or "default". */
  newOwner: string;
  reason: string;
}

/** A Service as this deployment knows it: stage configuration merged with Parley's `default`. */
export interface ServiceInfo {
  identification: string;
  name: string;
  role: ServiceRole;
  default: boolean;
  downstreamUrl?: string;
  rules: HandoverRule[];
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
