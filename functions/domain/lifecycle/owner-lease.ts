// The owner item's lease as the use cases keep it (issue 15): which lease the owning Service holds,
// the lease a change of owner starts, and the `dueAt` every owner write derives from lease and
// offer (the sparse byDue index key: an item without a timer leaves the index).
import type { ServiceCatalog } from '../ports';
import type { OwnerItem, ServiceInfo } from '../types';
import { dueAtOf } from './due';
import { resolveLeaseConfig, startLease } from './lease';
import type { LeaseConfig, LeaseState } from './types';

/**
 * The lease a Service holds: its configured one (resolved by the catalog), else its role's
 * default (agents a day, bots none). None for the default Service (an expiry would send its users
 * to itself), nor for a Service this deployment does not configure: the sweep could not act with
 * its credentials.
 */
export function leaseSettingsOf(service: ServiceInfo | undefined): LeaseConfig | null {
  if (!service || service.default) return null;
  if (service.lease !== undefined) return service.lease;
  return resolveLeaseConfig(service.role, false, undefined);
}

/** The lease settings of an owner, from the configured Services (no I/O). */
export const leaseOfOwner =
  (services: Pick<ServiceCatalog, 'get'>) =>
  (owner: string): LeaseConfig | null =>
    leaseSettingsOf(services.get(owner));

/** The item with `dueAt` derived from its lease and offer; the key left out when no timer runs. */
export function withDueAt(item: OwnerItem, cfg: LeaseConfig | null): OwnerItem {
  const { dueAt: _old, ...rest } = item;
  const dueAt = dueAtOf(item.lease ?? null, item.offer ?? null, cfg);
  return dueAt === null ? rest : { ...rest, dueAt };
}

/**
 * The item after its owner changed (a completed handover, a change seen at Parley, a first sight
 * of the user): a new lease from the new owner's settings, none when it holds none; the old
 * owner's lease never carries over.
 */
export function startOwnerLease(
  item: OwnerItem,
  nowMs: number,
  services: Pick<ServiceCatalog, 'get'>,
): OwnerItem {
  const cfg = leaseSettingsOf(services.get(item.owner));
  const { lease: _old, ...rest } = item;
  return withDueAt(cfg ? { ...rest, lease: startLease(nowMs, cfg) } : rest, cfg);
}

/** What GET /users/{userId}/owner shows of a lease (its bookkeeping of extensions left out). */
export const leaseView = (
  lease: LeaseState,
): Pick<LeaseState, 'expiresAt' | 'hardExpiresAt' | 'lastUserAt' | 'lastOwnerAt' | 'warnedAt'> => ({
  expiresAt: lease.expiresAt,
  hardExpiresAt: lease.hardExpiresAt,
  lastUserAt: lease.lastUserAt,
  lastOwnerAt: lease.lastOwnerAt,
  ...(lease.warnedAt !== undefined ? { warnedAt: lease.warnedAt } : {}),
});
