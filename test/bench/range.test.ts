// The range rows' verdict: items read per page bounded by limit x N at every size and the same
// at both, and every record of the day through the cursor exactly once. A small real run on the
// sharded store, then the same rows with one figure broken.
import { measureRange, type RangeRow, rangeRows } from '../../bench/range';

describe('sharded range rows', () => {
  let rows: RangeRow[];
  beforeAll(async () => {
    rows = await measureRange({ sizes: [1000, 2000], shards: 4, reads: 1 });
  }, 60_000);

  it('reads at most a page per shard, the same at both sizes, and returns every record once', () => {
    const sharded = rows.filter((r) => r.shards === 4);
    expect(sharded.map((r) => r.itemsRead)).toEqual([400, 400]);
    expect(sharded.map((r) => r.queries)).toEqual([4, 4]);
    for (const r of rows) {
      expect(r.pageItems).toBe(100);
      expect(r.day.seenOnce).toBe(r.day.records);
      expect(r.day.seen).toBe(r.day.records);
    }
    expect(rangeRows(rows, 4)[0]!.verdict).toBe('within');
  });

  it('is over when a page reads more than limit x N or a record comes back twice', () => {
    const tooMany = rows.map((r) => (r.shards === 4 ? { ...r, itemsRead: 401 } : r));
    expect(rangeRows(tooMany, 4)[0]!.verdict).toBe('over');
    const twice = rows.map((r) => ({ ...r, day: { ...r.day, seenOnce: r.day.records - 1 } }));
    expect(rangeRows(twice, 4)[0]!.verdict).toBe('over');
  });
});
