// Ownership leases (issue 15): an owner that lets its user go idle gives the user back. A handover
// starts a lease; a user message processed for the owner and a message the owner sends reset it
// (standby callbacks and reads never call touchLease); the owner may extend it up to a hard cap.
// One formula, kept by every function here:
//   expiresAt = min(max(max(lastUserAt, lastOwnerAt) + idleSeconds, extendedUntil), hardExpiresAt)
// Plain functions over ISO strings and epoch milliseconds, no zod (the configuration schema and the
// request schema call them).
import { ValidationError } from '../errors';
import type { ServiceRole } from '../types';
import type { HandoverPlan, LifecycleEvent } from './ports';
import type { LeaseConfig, LeaseConfigInput, LeaseState } from './types';

export const LEASE_DEFAULTS = {
  /** An agent's idle time when it configures none. */
  agentIdleSeconds: 86_400,
  maxSeconds: 604_800,
  warnBeforeSeconds: 300,
  onExpiry: 'default',
} as const;
/** Low enough for an end-to-end test to wait out, high enough that no lease flaps. */
export const MIN_IDLE_SECONDS = 10;
/** A year: bounds every instant a lease computes well inside what a Date can hold. */
export const MAX_LEASE_SECONDS = 31_536_000;
const FIELDS = ['idleSeconds', 'maxSeconds', 'warnBeforeSeconds', 'onExpiry'] as const;
const SECOND = 1000;

/** A lease setting the configuration load refuses; names the field (`lease.idleSeconds`). */
export class LeaseConfigError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = 'LeaseConfigError';
  }
}

const wholeIn = (value: unknown, min: number, max: number): value is number =>
  typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;

/**
 * A Service's lease: the configured fields (any subset) over the defaults, or null when it holds
 * no lease. Agents get one by default (a day); a bot only when it configures idleSeconds; the
 * default Service never (an expiry would send its users to itself; Parley names it, so the caller
 * that finds a configured lease ignored there warns). Refuses a bad field, naming it and `service`.
 */
export function resolveLeaseConfig(
  role: ServiceRole,
  isDefault: boolean,
  partial: LeaseConfigInput | undefined,
  service?: string,
): LeaseConfig | null {
  const given = (partial ?? {}) as Record<string, unknown>;
  // Only an absent field takes its default: an explicit null is a bad value.
  const field = (key: string, fallback: unknown) =>
    given[key] === undefined ? fallback : given[key];
  const refuse = (field: string, rule: string): never => {
    const who = service === undefined ? '' : `service "${service}": `;
    throw new LeaseConfigError(`lease.${field}`, `${who}lease.${field} ${rule}`);
  };
  for (const key of Object.keys(given)) {
    if (!(FIELDS as readonly string[]).includes(key)) {
      refuse(key, `is not a lease setting (${FIELDS.join(', ')})`);
    }
  }
  const maxSeconds = field('maxSeconds', LEASE_DEFAULTS.maxSeconds);
  if (!wholeIn(maxSeconds, MIN_IDLE_SECONDS, MAX_LEASE_SECONDS)) {
    refuse('maxSeconds', `must be a whole number from ${MIN_IDLE_SECONDS} to ${MAX_LEASE_SECONDS}`);
  }
  const max = maxSeconds as number;
  const idleSeconds = field('idleSeconds', LEASE_DEFAULTS.agentIdleSeconds);
  if (!wholeIn(idleSeconds, MIN_IDLE_SECONDS, max)) {
    refuse('idleSeconds', `must be a whole number from ${MIN_IDLE_SECONDS} to maxSeconds (${max})`);
  }
  const idle = idleSeconds as number;
  // A short lease warns at half its idle time, so a test lease of 10 s still warns first.
  const warnBeforeSeconds = field(
    'warnBeforeSeconds',
    Math.min(LEASE_DEFAULTS.warnBeforeSeconds, Math.floor(idle / 2)),
  );
  if (!wholeIn(warnBeforeSeconds, 0, idle - 1)) {
    refuse('warnBeforeSeconds', `must be a whole number from 0, below idleSeconds (${idle})`);
  }
  const onExpiry = field('onExpiry', LEASE_DEFAULTS.onExpiry);
  if (typeof onExpiry !== 'string' || onExpiry.trim() === '' || onExpiry.length > 100) {
    refuse('onExpiry', 'must name a Service (its identification or name) or "default"');
  }
  if (isDefault) return null;
  if (role === 'bot' && given.idleSeconds === undefined) return null;
  return {
    idleSeconds: idle,
    maxSeconds: max,
    warnBeforeSeconds: warnBeforeSeconds as number,
    onExpiry: (onExpiry as string).trim(),
  };
}

const iso = (ms: number): string => new Date(ms).toISOString();
const ms = (at: string): number => Date.parse(at);

/** The formula, from the lease's own fields. */
function expiresAtMs(lease: Omit<LeaseState, 'expiresAt'>, cfg: LeaseConfig): number {
  const idle = Math.max(ms(lease.lastUserAt), ms(lease.lastOwnerAt)) + cfg.idleSeconds * SECOND;
  const extended =
    lease.extendedUntil === undefined ? Number.NEGATIVE_INFINITY : ms(lease.extendedUntil);
  return Math.min(Math.max(idle, extended), ms(lease.hardExpiresAt));
}

/** When `lease.expiring` is due (epoch ms), or null when the Service wants no warning. */
export function warningAtMs(lease: LeaseState, cfg: LeaseConfig): number | null {
  return cfg.warnBeforeSeconds > 0 ? ms(lease.expiresAt) - cfg.warnBeforeSeconds * SECOND : null;
}

/** Recomputes expiresAt; a warning already sent is forgotten once the warning point is ahead. */
function settle(lease: Omit<LeaseState, 'expiresAt'>, nowMs: number, cfg: LeaseConfig): LeaseState {
  const { warnedAt, ...rest } = lease;
  const next: LeaseState = { ...rest, expiresAt: iso(expiresAtMs(lease, cfg)) };
  if (warnedAt === undefined) return next;
  const warnAt = warningAtMs(next, cfg);
  return warnAt !== null && nowMs < warnAt ? next : { ...next, warnedAt };
}

/** A new lease, started by a handover to a Service that holds leases. */
export function startLease(nowMs: number, cfg: LeaseConfig): LeaseState {
  const now = iso(nowMs);
  return settle(
    { hardExpiresAt: iso(nowMs + cfg.maxSeconds * SECOND), lastUserAt: now, lastOwnerAt: now },
    nowMs,
    cfg,
  );
}

/**
 * Activity: a user message processed for the owner ('user') or a message the owner sent
 * ('owner'). An activity time never moves back (a message stamped before the last one keeps it),
 * so a lease never gets shorter from activity.
 */
export function touchLease(
  lease: LeaseState,
  side: 'user' | 'owner',
  nowMs: number,
  cfg: LeaseConfig,
): LeaseState {
  const field = side === 'user' ? 'lastUserAt' : 'lastOwnerAt';
  const at = iso(Math.max(ms(lease[field]), nowMs));
  return settle({ ...lease, [field]: at }, nowMs, cfg);
}

export type ExtendResult =
  | { ok: true; lease: LeaseState }
  | { ok: false; code: 'lease_limit_exceeded'; hardExpiresAt: string };

/**
 * POST /users/{userId}/lease { extendSeconds } by the owner: the lease runs extendSeconds past its
 * current expiry (past now, when it ran out and the sweep has not come yet). Past the hard cap:
 * `lease_limit_exceeded` and nothing changes. A bad extendSeconds is a ValidationError.
 */
export function extendLease(
  lease: LeaseState,
  extendSeconds: number,
  nowMs: number,
  cfg: LeaseConfig,
): ExtendResult {
  // Any whole number is a fair question; past the hard cap its answer is lease_limit_exceeded.
  if (!wholeIn(extendSeconds, 1, MAX_LEASE_SECONDS)) {
    throw new ValidationError(
      `extendSeconds must be a whole number from 1 to ${MAX_LEASE_SECONDS}.`,
    );
  }
  const until = Math.max(ms(lease.expiresAt), nowMs) + extendSeconds * SECOND;
  if (until > ms(lease.hardExpiresAt)) {
    return { ok: false, code: 'lease_limit_exceeded', hardExpiresAt: lease.hardExpiresAt };
  }
  return { ok: true, lease: settle({ ...lease, extendedUntil: iso(until) }, nowMs, cfg) };
}

/** The lease after `lease.expiring` went out (the sweep's warning). */
export function markWarned(lease: LeaseState, nowMs: number): LeaseState {
  return { ...lease, warnedAt: iso(nowMs) };
}

/** The warning's notification: to the owner. */
export const leaseWarningEvents = (owner: string): LifecycleEvent[] => [
  { type: 'lease.expiring', recipients: [owner] },
];

/**
 * What an expired lease does: the handover sequence to onExpiry, as a timeout asked by the
 * system, with the facts of the idle time; `lease.expired` to both sides (recipients are Service
 * references: onExpiry may read 'default').
 */
export function leaseExpiryPlan(
  owner: string,
  lease: LeaseState,
  cfg: LeaseConfig,
): { handover: HandoverPlan; events: LifecycleEvent[] } {
  return {
    handover: {
      newOwner: cfg.onExpiry,
      actingService: owner,
      source: 'timeout',
      reason: 'lease_expired',
      requestedBy: 'system:lease',
      metadata: {
        idleSeconds: cfg.idleSeconds,
        lastUserAt: lease.lastUserAt,
        lastOwnerAt: lease.lastOwnerAt,
      },
    },
    events: [{ type: 'lease.expired', recipients: [owner, cfg.onExpiry] }],
  };
}
