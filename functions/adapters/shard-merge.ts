// The fan-out of a sharded index (functions/domain/shards.ts): one page merged from N sorted
// partitions read in parallel, with each shard's position kept in the cursor. Used by every store
// that reads a write-sharded index (history byDay/byDestination; state byPendingSince, byOwner,
// byDue; the outbox's byNotificationStatus).
import { invalidCursor } from './dynamo';

/**
 * Where one shard's stream stands between pages: not read yet, just after `key` (a position the
 * shard's reader understands), or exhausted within the query's bounds.
 */
export type ShardPosition =
  | { state: 'start' }
  | { state: 'after'; key: string }
  | { state: 'done' };

/** What a shard's reader got from one query (or a few) of its partition. */
export interface ShardSegment {
  /** Matching items, in the index's order. */
  items: Record<string, unknown>[];
  /**
   * The position after the last item read, matched or not (a filtered query can read past its
   * last match); absent when the shard has nothing more within the bounds.
   */
  next?: string;
  /** Sum of ScannedCount. */
  read: number;
  queries: number;
}

export interface ShardMergeOptions {
  /** One per shard, in shard order (from a cursor, or every shard at its start). */
  positions: ShardPosition[];
  /** The most items the page may still take. */
  want: number;
  /**
   * Reads shard `shard` from just after `after` (its start when undefined). It may return fewer
   * items than asked, never more than `want` on an unfiltered query if the page is to stay within
   * `want x shards` items read.
   */
  read(shard: number, after: string | undefined): Promise<ShardSegment>;
  /** The merge order of an item (compareSortKeys): items of one shard come in this order. */
  sortKeyOf(item: Record<string, unknown>): string;
  /** The sort key at a shard's position (a reader's `next`). */
  sortKeyOfPosition(position: string): string;
  /** The position just after an item. */
  positionOf(item: Record<string, unknown>): string;
  /**
   * True when the position is the sort key itself and no two items share it, in any shard: every
   * shard left open then resumes from the page's last sort key, so the cursor holds one position
   * and the exhausted shards (see encodeShardPositions), whatever the number of shards.
   */
  uniqueSortKeys?: boolean;
  /**
   * Newest first: every shard comes in descending sort-key order (ScanIndexForward false) and
   * the merge takes the largest items first. @default false
   */
  descending?: boolean;
}

export interface ShardMergePage {
  /** At most `want`, in merge order: the first items of the union still to be listed. */
  items: Record<string, unknown>[];
  positions: ShardPosition[];
  read: number;
  queries: number;
}

/**
 * One page of a sharded index: reads every open shard in parallel, once, and merges their items
 * by sort key (ties by shard number) into at most `want` items, with each shard's new position.
 * An item is taken only while no open shard could still hold one before it: up to the first sort
 * key (in the merge's direction) at which an open shard stopped reading. So pages walked with the
 * positions give every item of the union exactly once, in order, whatever each shard returned; a
 * page may come back short (filtered reads, DynamoDB's 1 MB pages) while shards are open, and a
 * caller that wants a fuller page calls again with the positions returned. Items read: what the
 * readers read (with `want` per shard and no filter, at most `want x shards`).
 */
export const mergeShardPage = async (options: ShardMergeOptions): Promise<ShardMergePage> => {
  const { positions, want } = options;
  // Byte order, or its reverse: order(a, b) < 0 when a comes first.
  const sign = options.descending ? -1 : 1;
  const order = (a: Buffer, b: Buffer) => sign * Buffer.compare(a, b);
  const segments = await Promise.all(
    positions.map((position, shard) =>
      position.state === 'done'
        ? undefined
        : options.read(shard, position.state === 'after' ? position.key : undefined),
    ),
  );
  // The bound: an open shard that stopped at sort key B may hold more items from B on.
  let bound: Buffer | undefined;
  let boundKey: string | undefined;
  for (const segment of segments) {
    if (segment?.next === undefined) continue;
    const key = options.sortKeyOfPosition(segment.next);
    const encoded = utf8(key);
    if (bound === undefined || order(encoded, bound) < 0) {
      bound = encoded;
      boundKey = key;
    }
  }
  const heads = segments.map(() => 0);
  // Each head's sort key, encoded once (the merge compares them as DynamoDB does: UTF-8 bytes).
  const headKey = (shard: number): Buffer | undefined => {
    const item = segments[shard]?.items[heads[shard]!];
    return item ? utf8(options.sortKeyOf(item)) : undefined;
  };
  const headKeys = segments.map((_, shard) => headKey(shard));
  const items: Record<string, unknown>[] = [];
  while (items.length < want) {
    let pick = -1;
    headKeys.forEach((key, shard) => {
      if (key && (pick === -1 || order(key, headKeys[pick]!) < 0)) pick = shard;
    });
    if (pick === -1 || (bound !== undefined && order(headKeys[pick]!, bound) > 0)) break;
    items.push(segments[pick]!.items[heads[pick]!]!);
    heads[pick]! += 1;
    headKeys[pick] = headKey(pick);
  }

  let next: ShardPosition[] = positions.map((position, shard) => {
    const segment = segments[shard];
    if (!segment) return position;
    const taken = heads[shard]!;
    if (taken === segment.items.length) {
      return segment.next === undefined ? { state: 'done' } : { state: 'after', key: segment.next };
    }
    return taken > 0
      ? { state: 'after', key: options.positionOf(segment.items[taken - 1]!) }
      : position;
  });
  if (options.uniqueSortKeys) {
    // Every item up to `floor` in every open shard has been read, and taken if it matched: all
    // open shards may resume there. A shard that had read further re-reads that stretch on the
    // next page, but the cursor holds one position however many shards there are.
    const last = items.length === want ? items[items.length - 1] : undefined;
    const floor = last ? options.sortKeyOf(last) : boundKey;
    if (floor !== undefined) {
      next = next.map((position) =>
        position.state === 'done' ? position : { state: 'after', key: floor },
      );
    }
  }
  let read = 0;
  let queries = 0;
  for (const segment of segments) {
    read += segment?.read ?? 0;
    queries += segment?.queries ?? 0;
  }
  return { items, positions: next, read, queries };
};

/** Every shard at its start: the positions of a first page. */
export const startPositions = (shards: number): ShardPosition[] =>
  Array.from({ length: shards }, () => ({ state: 'start' }));

export const allDone = (positions: ShardPosition[]): boolean =>
  positions.every((p) => p.state === 'done');

/**
 * Shard positions as cursor fields, compactly: `n` shards; `at`, the position most shards share
 * (absent: their start); `done`, the exhausted shards as a hex bit mask; `other`, the shards
 * elsewhere (`null`: at their start). With unique sort keys every open shard usually shares `at`.
 */
export const encodeShardPositions = (positions: ShardPosition[]): Record<string, unknown> => {
  const keyOf = (p: ShardPosition) => (p.state === 'after' ? p.key : null);
  const counts = new Map<string | null, number>();
  let mask = 0n;
  positions.forEach((p, shard) => {
    if (p.state === 'done') mask |= 1n << BigInt(shard);
    else counts.set(keyOf(p), (counts.get(keyOf(p)) ?? 0) + 1);
  });
  let common: string | null = null;
  let most = 0;
  for (const [key, count] of counts) {
    if (count > most) [common, most] = [key, count];
  }
  const other: Record<string, string | null> = {};
  positions.forEach((p, shard) => {
    if (p.state !== 'done' && keyOf(p) !== common) other[shard] = keyOf(p);
  });
  return {
    n: positions.length,
    ...(common !== null ? { at: common } : {}),
    ...(mask !== 0n ? { done: mask.toString(16) } : {}),
    ...(Object.keys(other).length ? { other } : {}),
  };
};

/**
 * Reads the positions of `encodeShardPositions` back from a decoded cursor, for `shards` shards;
 * `validKey` checks each position. Anything else (another shard count, a mask or shard number out
 * of range, a position that fails the check) throws ValidationError('invalid_cursor').
 */
export const decodeShardPositions = (
  state: Record<string, unknown>,
  shards: number,
  validKey: (key: string) => boolean,
): ShardPosition[] => {
  if (state.n !== shards) throw invalidCursor();
  const position = (key: unknown): ShardPosition => {
    if (key === null || key === undefined) return { state: 'start' };
    if (typeof key !== 'string' || key.length === 0 || key.length > 2048 || !validKey(key)) {
      throw invalidCursor();
    }
    return { state: 'after', key };
  };
  const common = position(state.at);
  let mask = 0n;
  if (state.done !== undefined) {
    if (typeof state.done !== 'string' || !/^[0-9a-f]{1,16}$/.test(state.done)) {
      throw invalidCursor();
    }
    mask = BigInt(`0x${state.done}`);
    if (mask >> BigInt(shards) !== 0n) throw invalidCursor();
  }
  const positions: ShardPosition[] = Array.from({ length: shards }, (_, shard) =>
    (mask >> BigInt(shard)) & 1n ? { state: 'done' } : common,
  );
  if (state.other !== undefined) {
    const other = state.other;
    if (typeof other !== 'object' || other === null || Array.isArray(other)) throw invalidCursor();
    for (const [name, key] of Object.entries(other)) {
      const shard = Number(name);
      if (String(shard) !== name || shard >= shards || positions[shard]!.state === 'done') {
        throw invalidCursor();
      }
      positions[shard] = position(key);
    }
  }
  if (allDone(positions)) throw invalidCursor();
  return positions;
};

/**
 * DynamoDB's order of string keys: by their UTF-8 bytes (which differs from JavaScript's `<` on
 * UTF-16 code units once a key holds characters beyond U+FFFF). The merge must agree with the
 * order each shard comes back in, or it could stall on a shard whose head it thinks too large.
 */
export const compareSortKeys = (a: string, b: string): number =>
  a === b ? 0 : Buffer.compare(utf8(a), utf8(b));

const utf8 = (text: string): Buffer => Buffer.from(text, 'utf8');

/**
 * The smallest string above `key` (DynamoDB orders strings by their UTF-8 bytes): a sort-key
 * condition `BETWEEN successor(key) AND upper` resumes just after `key` with a range bound kept.
 */
export const successor = (key: string): string => `${key}\u0000`;
