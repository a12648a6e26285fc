// Range queries on the sharded day index against the unsharded one: the first page of a day
// (limit 100) through the history store's own listRange, at two table sizes, with the store built
// for N shards and for 1. Records are written straight into dynalite with BatchWrite in the
// store's item layout (historyIndexKeys for the index keys), 1,000 a day, so a larger table is
// more days of the same traffic. Items read are DynamoDB's ScannedCount; then the cursor is
// followed to the end of the day, and every record of the day must come back exactly once.
import { createHash, randomUUID } from 'node:crypto';
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createHistoryStore, historyIndexKeys } from '../functions/adapters/history-store';
import { historyTable } from '../functions/contracts/tables';
import type { HandoverRecord } from '../functions/domain/types';
import { startLocalDynamo } from '../local/dynamo';
import { countingDocumentClient, createCounters, totalDynamo } from './instrument';
import { fmt, median } from './stats';
import { BENCH_SERVICES } from './system';
import { type TableRow, verdict } from './table';

const PER_DAY = 1000;
const USERS = 50;
const DAY0 = Date.parse('2026-01-01T00:00:00.000Z');
const DAY_MS = 86_400_000;
const LIMIT = 100;

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** The records of one table: `count` of them, PER_DAY a day, users taking turns. */
const recordsOf = (count: number): HandoverRecord[] => {
  const [a, b] = [BENCH_SERVICES[1]!.identification, BENCH_SERVICES[2]!.identification];
  const seqs = new Array<number>(USERS).fill(0);
  return Array.from({ length: count }, (_, k) => {
    const user = k % USERS;
    seqs[user]! += 1;
    const seq = seqs[user]!;
    const day = Math.floor(k / PER_DAY);
    const createdAt = new Date(DAY0 + day * DAY_MS + (k % PER_DAY) * 60_000 + user).toISOString();
    return {
      handoverId: randomUUID(),
      userId: `range-user-${user}`,
      seq,
      fromOwner: seq % 2 ? b : a,
      toOwner: seq % 2 ? a : b,
      reason: null,
      metadata: null,
      metadataDigest: sha('null'),
      requestedBy: seq % 2 ? b : a,
      source: 'api',
      status: 'completed',
      parley: { status: 200, code: null, durationMs: 50 },
      createdAt,
      prevHash: sha(`${user}-${seq - 1}`),
      hash: sha(`${user}-${seq}`),
    };
  });
};

const seed = async (
  client: DynamoDBDocumentClient,
  table: string,
  records: HandoverRecord[],
  shards: number,
) => {
  const started = performance.now();
  const items = records.map((r) => ({
    ...r,
    pk: `USER#${r.userId}`,
    sk: `SEQ#${String(r.seq).padStart(10, '0')}`,
    ...historyIndexKeys(r, shards),
  }));
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const start = next;
      next += 25;
      let pending = items.slice(start, start + 25).map((Item) => ({ PutRequest: { Item } }));
      while (pending.length) {
        const out = await client.send(
          new BatchWriteCommand({ RequestItems: { [table]: pending } }),
        );
        pending = (out.UnprocessedItems?.[table] ?? []) as typeof pending;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return performance.now() - started;
};

export interface RangeRow {
  records: number;
  shards: number;
  pageItems: number;
  itemsRead: number;
  queries: number;
  hasCursor: boolean;
  latencyMedianMs: number;
  /** The whole day through the cursor: pages, the most items one page read, records seen once. */
  day: { records: number; pages: number; maxItemsRead: number; seenOnce: number; seen: number };
  seedMs: number;
}

export const measureRange = async (options: {
  sizes: number[];
  shards: number;
  reads: number;
}): Promise<RangeRow[]> => {
  const dynamo = await startLocalDynamo();
  const counters = createCounters();
  const client = countingDocumentClient(dynamo.endpoint, counters);
  const rows: RangeRow[] = [];
  try {
    for (const size of options.sizes) {
      const records = recordsOf(size);
      const days = Math.ceil(size / PER_DAY);
      const dayIndex = Math.floor(days / 2);
      const day = new Date(DAY0 + dayIndex * DAY_MS).toISOString().slice(0, 10);
      const ofDay = new Set(
        records.filter((r) => r.createdAt.startsWith(day)).map((r) => r.handoverId),
      );
      for (const shards of [1, options.shards]) {
        const table = `range-history-${shards}-${size}`;
        await dynamo.ensureTable(historyTable, table);
        const seedMs = await seed(client, table, records, shards);
        const store = createHistoryStore({ client, tableName: table, shards });
        const range = { from: `${day}T00:00:00.000Z`, to: `${day}T23:59:59.999Z`, limit: LIMIT };
        const latencies: number[] = [];
        let first = { pageItems: 0, itemsRead: 0, queries: 0, hasCursor: false };
        for (let i = 0; i < options.reads + 2; i += 1) {
          counters.reset();
          const started = performance.now();
          const page = await store.listRange(range);
          const elapsed = performance.now() - started;
          const c = counters.reset();
          first = {
            pageItems: page.items.length,
            itemsRead: page.itemsRead ?? c.itemsRead,
            queries: totalDynamo(c),
            hasCursor: page.cursor !== undefined,
          };
          if (i >= 2) latencies.push(elapsed); // two warm-up reads
        }
        const seen = new Map<string, number>();
        let pages = 0;
        let maxItemsRead = 0;
        let cursor: string | undefined;
        do {
          const page = await store.listRange({ ...range, ...(cursor ? { cursor } : {}) });
          pages += 1;
          maxItemsRead = Math.max(maxItemsRead, page.itemsRead ?? 0);
          for (const r of page.items) seen.set(r.handoverId, (seen.get(r.handoverId) ?? 0) + 1);
          cursor = page.cursor;
        } while (cursor !== undefined && pages < 10_000);
        const seenOnce = [...seen].filter(([id, n]) => n === 1 && ofDay.has(id)).length;
        rows.push({
          records: size,
          shards,
          ...first,
          latencyMedianMs: median(latencies),
          day: { records: ofDay.size, pages, maxItemsRead, seenOnce, seen: seen.size },
          seedMs,
        });
      }
    }
    return rows;
  } finally {
    client.destroy();
    await dynamo.close();
  }
};

export const rangeRows = (rows: RangeRow[], shards: number): TableRow[] => {
  const sizes = [...new Set(rows.map((r) => r.records))];
  const at = (n: number, size: number) => rows.find((r) => r.shards === n && r.records === size)!;
  const describe = (r: RangeRow) =>
    `${r.pageItems} items, ${r.itemsRead} read, ${r.queries} queries, ${fmt(r.latencyMedianMs, 1)} ms`;
  const sharded = sizes.map((s) => at(shards, s));
  const flat = sizes.map((s) => at(1, s));
  const bounded = sharded.every(
    (r) => r.itemsRead <= LIMIT * shards && r.day.maxItemsRead <= LIMIT * shards,
  );
  const independent = sharded.every((r) => r.itemsRead === sharded[0]!.itemsRead);
  const complete = rows.every(
    (r) => r.day.seenOnce === r.day.records && r.day.seen === r.day.records,
  );
  return [
    {
      section: 'range',
      check: `day, first page (limit ${LIMIT}), N=${shards} vs unsharded, at ${sizes.map((s) => s.toLocaleString('en-US')).join(' / ')} records`,
      subject: sharded.map(describe).join(' / '),
      floor: `unsharded: ${flat.map(describe).join(' / ')}`,
      result: `latency ${sharded.map((r, i) => `${fmt(r.latencyMedianMs / flat[i]!.latencyMedianMs)}x`).join(' / ')} the unsharded; whole day through the cursor: ${sharded.map((r) => `${r.day.pages} pages, ${r.day.seenOnce} of ${r.day.records} records once`).join(' / ')}`,
      budget: `items read per page <= ${LIMIT} x ${shards}, independent of size; every record once`,
      verdict: verdict(bounded && independent && complete),
    },
  ];
};
