// The merge of sharded index pages (functions/adapters/shard-merge.ts: mergeShardPage and the
// cursor form of its positions), as properties over random shards: each shard a sorted stream read
// the way DynamoDB reads a partition (a Limit per query, a filter applied after reading, sometimes a
// page cut short as by its 1 MB cap). Walking the pages with the positions, through the cursor's
// JSON each time, must give every matching item exactly once, in order, in pages no larger than
// asked, reading at most `limit x shards` items per unfiltered page; oldest or newest first.
import fc from 'fast-check';
import {
  allDone,
  compareSortKeys,
  decodeShardPositions,
  encodeShardPositions,
  mergeShardPage,
  type ShardPosition,
  type ShardSegment,
  startPositions,
} from '../../functions/adapters/shard-merge';

interface Entry {
  id: string;
  key: string;
  match: boolean;
}

/** Keys from an alphabet whose UTF-16 and UTF-8 orders differ (U+E000 against an emoji). */
const keyArb = fc
  .array(fc.constantFrom('a', 'b', 'z', '\u00e9', '\ue000', '\u{1f600}'), {
    minLength: 1,
    maxLength: 3,
  })
  .map((chars) => chars.join(''));

const world = fc.record({
  shards: fc.array(fc.array(fc.record({ key: keyArb, match: fc.boolean() }), { maxLength: 25 }), {
    minLength: 1,
    maxLength: 8,
  }),
  limit: fc.integer({ min: 1, max: 12 }),
  filtered: fc.boolean(),
  /** Extra items a filtered query reads per step (DynamoDB's Limit counts items read). */
  step: fc.integer({ min: 1, max: 15 }),
  /** Some queries stop early, as at DynamoDB's 1 MB page size. */
  cuts: fc.array(fc.integer({ min: 1, max: 12 }), { minLength: 1, maxLength: 10 }),
  unique: fc.boolean(),
  descending: fc.boolean(),
});

/**
 * The shards as stored and read: in UTF-8 byte order of the key (then id, the table key of a tie),
 * or its reverse. With `unique`, a key is kept only once in the whole world, as a sort key that
 * ends with an id is.
 */
const store = (
  input: { key: string; match: boolean }[][],
  unique: boolean,
  descending = false,
): Entry[][] => {
  const seen = new Set<string>();
  const sign = descending ? -1 : 1;
  return input.map((entries, shard) =>
    entries
      .map((e, i) => ({ id: `${shard}.${i}`, key: e.key, match: e.match }))
      .filter((e) => !unique || (!seen.has(e.key) && seen.add(e.key)))
      .sort((a, b) => sign * (compareSortKeys(a.key, b.key) || compareSortKeys(a.id, b.id))),
  );
};

/** A position: the key itself (unique keys) or key and id, as an ExclusiveStartKey would be. */
const positionOf = (e: Entry, unique: boolean) => (unique ? e.key : `${e.key}\u0001${e.id}`);
const keyOfPosition = (position: string) => position.split('\u0001')[0]!;

/** One shard read like a Query: from after `after`, at most `limit` read, filter after reading. */
const reader =
  (
    shards: Entry[][],
    unique: boolean,
    limitOf: () => number,
    filtered: boolean,
    descending = false,
  ) =>
  async (shard: number, after: string | undefined): Promise<ShardSegment> => {
    const entries = shards[shard]!;
    const sign = descending ? -1 : 1;
    const start =
      after === undefined
        ? 0
        : entries.findIndex((e) => sign * compareSortKeys(positionOf(e, unique), after) > 0);
    if (start === -1) return { items: [], read: 0, queries: 1 };
    const limit = limitOf();
    const scanned = entries.slice(start, start + limit);
    const last = scanned[scanned.length - 1];
    return {
      items: scanned
        .filter((e) => !filtered || e.match)
        .map((e) => ({ id: e.id, key: e.key, position: positionOf(e, unique) })),
      ...(scanned.length === limit && last ? { next: positionOf(last, unique) } : {}),
      read: scanned.length,
      queries: 1,
    };
  };

/** Through the cursor's JSON and back, as a client would hand it in. */
const viaCursor = (positions: ShardPosition[]): ShardPosition[] =>
  decodeShardPositions(
    JSON.parse(JSON.stringify(encodeShardPositions(positions))),
    positions.length,
    () => true,
  );

describe('merging the pages of a sharded index', () => {
  it('walks every matching item of the union exactly once, in order, in bounded pages', async () => {
    await fc.assert(
      fc.asyncProperty(world, async (w) => {
        const { shards: input, limit, filtered, step, cuts, unique, descending } = w;
        const shards = store(input, unique, descending);
        let cut = 0;
        // Unfiltered: one page's worth per shard, sometimes less. Filtered: larger steps.
        const limitOf = () => {
          const wanted = filtered ? limit + step : limit;
          return Math.max(1, Math.min(wanted, cuts[cut++ % cuts.length]! + (cut % 2) * 100));
        };
        const read = reader(shards, unique, limitOf, filtered, descending);
        const walked: Record<string, unknown>[] = [];
        let positions = startPositions(shards.length);
        let pages = 0;
        const totalEntries = shards.reduce((sum, s) => sum + s.length, 0);
        while (!allDone(positions)) {
          pages += 1;
          // Each page takes an item or moves a shard on: never more pages than entries + shards.
          expect(pages).toBeLessThanOrEqual(totalEntries + shards.length + 1);
          const page = await mergeShardPage({
            positions,
            want: limit,
            read,
            sortKeyOf: (item) => item.key as string,
            sortKeyOfPosition: unique ? (p) => p : keyOfPosition,
            positionOf: (item) => item.position as string,
            uniqueSortKeys: unique,
            descending,
          });
          expect(page.items.length).toBeLessThanOrEqual(limit);
          if (!filtered) expect(page.read).toBeLessThanOrEqual(limit * shards.length);
          // Unique sort keys: one position for every open shard, whatever their number.
          if (unique) expect(encodeShardPositions(page.positions)).not.toHaveProperty('other');
          walked.push(...page.items);
          positions = allDone(page.positions) ? page.positions : viaCursor(page.positions);
        }

        const expected = shards.flat().filter((e) => !filtered || e.match);
        const ids = walked.map((item) => item.id as string);
        expect(new Set(ids).size).toBe(ids.length);
        expect([...ids].sort()).toEqual(expected.map((e) => e.id).sort());
        const sign = descending ? -1 : 1;
        for (let i = 1; i < walked.length; i += 1) {
          expect(
            sign * compareSortKeys(walked[i - 1]!.key as string, walked[i]!.key as string),
          ).toBeLessThanOrEqual(0);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('fills an unfiltered page from the shards at once when they hold enough', async () => {
    await fc.assert(
      fc.asyncProperty(world, async ({ shards: input, limit, unique }) => {
        const shards = store(input, unique);
        const read = reader(shards, unique, () => limit, false);

        const page = await mergeShardPage({
          positions: startPositions(shards.length),
          want: limit,
          read,
          sortKeyOf: (item) => item.key as string,
          sortKeyOfPosition: unique ? (p) => p : keyOfPosition,
          positionOf: (item) => item.position as string,
          uniqueSortKeys: unique,
        });

        const all = shards.flat().sort((a, b) => compareSortKeys(a.key, b.key));
        expect(page.items.map((i) => i.key)).toEqual(all.slice(0, limit).map((e) => e.key));
        expect(page.read).toBe(shards.reduce((sum, s) => sum + Math.min(s.length, limit), 0));
      }),
      { numRuns: 200 },
    );
  });
});

describe('the cursor form of shard positions', () => {
  it('keeps the shared position once and lists the others, start and exhausted shards included', () => {
    const positions: ShardPosition[] = [
      { state: 'after', key: 'k5' },
      { state: 'done' },
      { state: 'after', key: 'k5' },
      { state: 'start' },
      { state: 'after', key: 'k9' },
      { state: 'after', key: 'k5' },
    ];

    const encoded = encodeShardPositions(positions);

    expect(encoded).toEqual({ n: 6, at: 'k5', done: '2', other: { 3: null, 4: 'k9' } });
    expect(decodeShardPositions(encoded, 6, () => true)).toEqual(positions);
  });

  it.each([
    ['another shard count', { n: 4, at: 'k' }],
    ['a mask beyond the shards', { n: 3, done: '8' }],
    ['a mask that is not hex', { n: 3, done: 'xyz' }],
    ['every shard exhausted', { n: 2, done: '3' }],
    ['a shard number out of range', { n: 3, other: { 3: 'k' } }],
    ['a shard number written another way', { n: 3, other: { '01': 'k' } }],
    ['a position on an exhausted shard', { n: 3, done: '1', other: { 0: 'k' } }],
    ['a position that is not a string', { n: 3, at: 7 }],
    ['a position the store refuses', { n: 3, at: 'bad' }],
  ])('refuses %s as invalid_cursor', (_case, state) => {
    expect(() => decodeShardPositions(state, 3, (key) => key !== 'bad')).toThrow(
      expect.objectContaining({ code: 'invalid_cursor' }),
    );
  });
});
