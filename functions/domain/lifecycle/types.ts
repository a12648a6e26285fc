// The shapes of the timers (issue 15, LIFECYCLE.md): a lease that sends an idle user back, an
// offer with a deadline, what the one sweep finds due and what it made of it. Times are ISO
// strings as the owner item stores them; the functions take epoch milliseconds from a clock. It
// imports nothing, so ../types.ts (the owner item holds a lease and an offer) reads it without an
// import circle; what the timers ask of the rest of the domain is in ./ports.ts.

/** A Service's lease, every field resolved (lease.ts `resolveLeaseConfig`). */
export interface LeaseConfig {
  /** Idle time after the last activity of either side; 10 <= idleSeconds <= maxSeconds. */
  idleSeconds: number;
  /** The hard cap from the lease's start, whatever the activity or extensions. */
  maxSeconds: number;
  /** `lease.expiring` this long before expiresAt; 0: no warning. Below idleSeconds. */
  warnBeforeSeconds: number;
  /** Where an expired lease sends the user: 'default' or a Service (identification or name). */
  onExpiry: string;
}

/** What the configuration may give (every field optional). */
export type LeaseConfigInput = Partial<LeaseConfig>;

/** The lease on an owner item; a handover starts a new one. */
export interface LeaseState {
  /** min(max(lastUserAt, lastOwnerAt) + idleSeconds, hardExpiresAt), or a later extension. */
  expiresAt: string;
  hardExpiresAt: string;
  /** The last user message processed for the owner (the lease's start before any). */
  lastUserAt: string;
  /** The last message the owner sent (the lease's start before any). */
  lastOwnerAt: string;
  /** Set when `lease.expiring` went out; cleared when activity moves the warning point ahead. */
  warnedAt?: string;
  /** The owner asked for the lease to run at least this long (POST /users/{userId}/lease). */
  extendedUntil?: string;
}

/** What happens to the user when an offer runs out: stays, or goes to the default or a Service. */
export type OfferTimeout = 'keep' | 'default' | (string & {});

/** The one live offer of a user, kept on the owner item until it ends. */
export interface LiveOffer {
  offerId: string;
  /** The offering Service (the owner when it offered). */
  from: string;
  /** The Service offered the user. */
  to: string;
  createdAt: string;
  expiresAt: string;
  onTimeout: OfferTimeout;
  metadata: Record<string, unknown> | null;
  requestedBy: string;
  idempotencyKey?: string;
  /** 'both': the offeree gets a standby copy of the user's messages while the offer is open. */
  deliverDuringOffer?: 'owner' | 'both';
}

export type OfferStatus =
  | 'pending'
  | 'accepted'
  | 'declined'
  | 'cancelled'
  | 'expired'
  | 'superseded';

/** An offer as found: live on the owner item (`pending`), else as its end record says. */
export interface OfferState {
  offer: LiveOffer;
  status: OfferStatus;
}

/** The 409 codes of an offer that has ended, by how it ended. */
export type OfferConflictCode =
  | 'offer_expired'
  | 'offer_superseded'
  | 'offer_cancelled'
  | 'offer_declined'
  | 'offer_accepted';

/** One timer that is due; `dueAt` is when it fell due (ISO). */
export type DueAction =
  | { kind: 'offer_expiry'; offerId: string; dueAt: string }
  | { kind: 'lease_warning'; dueAt: string }
  | { kind: 'lease_expiry'; dueAt: string }
  /** Listed as due with nothing due (e.g. the lease was switched off): write dueAt again. */
  | { kind: 'reschedule'; dueAt: string };

/** The part of an owner item the timers read. OwnerItem gains `lease`, `offer` and `dueAt`. */
export interface TimedItem {
  userId: string;
  owner: string;
  version: number;
  lease?: LeaseState | null;
  offer?: LiveOffer | null;
}

/** An owner item as the byDue index lists it. */
export interface DueEntry extends TimedItem {
  dueAt: string;
}

/**
 * 'acted': the claim (a CAS on `expectedVersion`) won and the action ran; 'lost_race': the item
 * changed since it was listed (activity wins a tie with a timer); 'not_due': a fresh read shows
 * nothing of that kind due any more.
 */
export type ActOutcome = 'acted' | 'lost_race' | 'not_due';

/** The sweep's one summary line; every figure is counted from what the port answered. */
export interface SweepSummary {
  /** Items listed as due. */
  due: number;
  acted: number;
  lostRace: number;
  notDue: number;
  /** Items listed with nothing due, written again so they leave the index. */
  rescheduled: number;
  /** Actions that threw (logged; the next run finds them again). */
  failed: number;
  /** Now minus the oldest dueAt seen (0 when none was). */
  lagSeconds: number;
  /** Shards queried at least once. */
  shards: number;
  /** Stopped by the page, item or time budget with items possibly left. */
  truncated: boolean;
}
