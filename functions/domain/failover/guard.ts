// The loop guard of a failover (DESIGN.md "Failover"): a user is never handed to a Service whose
// circuit is not closed, nor to one that already failed them today (no ping-pong between two
// failing desks), nor more than maxPerUserPerDay times a UTC day. What the user went through
// today comes from their history: the completed failover records of the current UTC day, read
// newest first in one bounded page.
import { UnknownServiceError } from '../errors';
import type { CircuitStore, Clock, HistoryStore, ServiceCatalog } from '../ports';
import type { CircuitItem, HandoverRecord, ServiceInfo } from '../types';
import { isHealthy } from './circuit';
import { failoverSettingsOf } from './settings';

/** Records of the user read to count today's failovers (newest first). */
export const GUARD_HISTORY_LIMIT = 100;

export type GuardRefusal =
  | 'disabled'
  | 'no_target'
  | 'target_is_owner'
  | 'daily_limit'
  | 'target_failed_today'
  | 'target_circuit_open';

export type GuardVerdict =
  | { ok: true; target: ServiceInfo; failoversToday: number }
  | { ok: false; reason: GuardRefusal; target: string | null; failoversToday: number };

/** Midnight UTC of the instant's day, as ISO. */
export const utcDayStart = (nowMs: number): string =>
  `${new Date(nowMs).toISOString().slice(0, 10)}T00:00:00.000Z`;

/** Today's completed failovers among the records (any order), and the Services they left. */
export function failoversToday(
  records: readonly HandoverRecord[],
  nowMs: number,
): { count: number; failed: Set<string> } {
  const since = Date.parse(utcDayStart(nowMs));
  const today = records.filter(
    (r) => r.source === 'failover' && r.status === 'completed' && Date.parse(r.createdAt) >= since,
  );
  return {
    count: today.length,
    failed: new Set(today.flatMap((r) => (r.fromOwner === null ? [] : [r.fromOwner]))),
  };
}

export interface GuardInput {
  /** The Service that failed the user (the owner), as the catalog knows it now. */
  owner: ServiceInfo;
  /** Its failover target, resolved; null when the catalog knows no such Service. */
  target: ServiceInfo | null;
  targetCircuit: CircuitItem | null;
  /** The user's records, newest first (today's are all that count). */
  records: readonly HandoverRecord[];
  nowMs: number;
}

/** The rules alone: may the owner's user go to the target now? */
export function checkFailover(input: GuardInput): GuardVerdict {
  const { owner, target } = input;
  const settings = failoverSettingsOf(owner);
  const { count, failed } = failoversToday(input.records, input.nowMs);
  const refuse = (reason: GuardRefusal): GuardVerdict => ({
    ok: false,
    reason,
    target: target?.identification ?? null,
    failoversToday: count,
  });
  if (!settings.enabled) return refuse('disabled');
  if (!target) return refuse('no_target');
  if (target.identification === owner.identification) return refuse('target_is_owner');
  if (count >= settings.maxPerUserPerDay) return refuse('daily_limit');
  if (failed.has(target.identification)) return refuse('target_failed_today');
  if (!isHealthy(input.targetCircuit)) return refuse('target_circuit_open');
  return { ok: true, target, failoversToday: count };
}

export interface GuardDeps {
  catalog: ServiceCatalog;
  history: HistoryStore;
  circuits: CircuitStore;
  clock: Clock;
}

/**
 * The guard with its reads: the owner and the target from the catalog (Parley's list: which one
 * is the default), the user's records of today, the target's circuit.
 */
export async function chooseFailoverTarget(
  userId: string,
  ownerId: string,
  deps: GuardDeps,
): Promise<GuardVerdict> {
  const owner = await deps.catalog.resolve(ownerId);
  const settings = failoverSettingsOf(owner);
  let target: ServiceInfo | null = null;
  try {
    target = await deps.catalog.resolve(settings.target);
  } catch (err) {
    if (!(err instanceof UnknownServiceError)) throw err;
  }
  const page = await deps.history.listUser(userId, { limit: GUARD_HISTORY_LIMIT, order: 'desc' });
  const targetCircuit = target ? await deps.circuits.get(target.identification) : null;
  return checkFailover({
    owner,
    target,
    targetCircuit,
    records: page.items,
    nowMs: deps.clock.now(),
  });
}
