// Write-sharded index keys (DESIGN.md "Index keys"). An index whose partition key many users share
// (a day's records, a desk's escalations, the pending markers, the timers, a Service's users, the
// outbox) spreads its writes over N partitions: `{prefix}#{shard}` with shard = hash(id) mod N.
// Readers fan out over every shard and merge in order. Raising N is safe without a migration
// (readers of N' > N still read shards 0..N-1); lowering it needs the keys rewritten: writers
// move to N' while readers still cover the old N (`indexShardsFrom`), then `parley-handover
// reindex` re-keys what was written under N (DESIGN.md "Changing N").
import { createHash } from 'node:crypto';

export const DEFAULT_INDEX_SHARDS = 8;
export const MAX_INDEX_SHARDS = 64;

/** The shard of an id: the first 4 bytes of its SHA-256, mod `shards`. Stable across releases. */
export function shardOf(id: string, shards: number): number {
  if (!Number.isInteger(shards) || shards < 1 || shards > MAX_INDEX_SHARDS) {
    throw new RangeError(`index shards must be a whole number from 1 to ${MAX_INDEX_SHARDS}`);
  }
  return createHash('sha256').update(id).digest().readUInt32BE(0) % shards;
}

/**
 * The shards a reader fans out over: the writers' `indexShards`, or while N is being lowered the
 * larger count it is lowered from (`indexShardsFrom`), so an item still keyed under the old N
 * stays listed until the reindex has moved it.
 */
export const readShardsOf = (config: { indexShards: number; indexShardsFrom?: number }): number =>
  Math.max(config.indexShards, config.indexShardsFrom ?? 0);

/**
 * A store's two counts checked at construction: `shards` (what it writes) and `readShards` (what
 * it reads, `shards` when not given), each 1..64, reads never over fewer shards than writes.
 * Returns the read count.
 */
export const checkReadShards = (shards: number, readShards: number = shards): number => {
  shardOf('', shards);
  shardOf('', readShards);
  if (readShards < shards) {
    throw new RangeError(
      `a store reads at least the shards it writes (reads ${readShards}, writes ${shards})`,
    );
  }
  return readShards;
};

/** Every shard number, 0..shards-1: what a reader fans out over. */
export const allShards = (shards: number): number[] => Array.from({ length: shards }, (_, i) => i);

/**
 * The partition keys of the sharded indexes. History records shard by handoverId (a busy user's
 * records spread too); items of the state table shard by userId, or by notification id.
 */
export const indexKeys = {
  /** History byDay: one UTC day's records. */
  day: (day: string, shard: number) => `DAY#${day}#${shard}`,
  /** History byDestination: records to one Service, by day. */
  destination: (service: string, day: string, shard: number) => `TO#${service}#${day}#${shard}`,
  /** State byPendingSince: owner items with a pending marker. */
  pending: (shard: number) => `PENDING#${shard}`,
  /** State byDue: owner items with a timer (lease, offer). */
  due: (shard: number) => `DUE#${shard}`,
  /** State byOwner: owner items by their owning Service. */
  owner: (service: string, shard: number) => `OWNER#${service}#${shard}`,
  /** State byNotificationStatus: outbox items by status. */
  notificationStatus: (status: string, shard: number) => `NTF#${status}#${shard}`,
  /** State byInbound: the metrics' first-inbound notes of one UTC day, by user. */
  inbound: (day: string, shard: number) => `INBOUND#${day}#${shard}`,
} as const;
