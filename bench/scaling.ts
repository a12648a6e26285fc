// Scaling of the audit reads: the first page of an unfiltered user history and of an unfiltered
// day, at 1e3 and 1e5 records in the history table. Records are written straight into dynalite
// with BatchWrite (the item layout of functions/adapters/history-store.ts, index keys from its own
// historyIndexKeys with the stage's indexShards), then read through the audit function behind the
// local gateway; items read are DynamoDB's ScannedCount, summed. All records fall on one day, so
// that even the smaller table fills every shard of the day beyond a page: the day's first page
// then reads `limit` items per shard at both sizes. The spread of the day over its shards is
// counted from the items written.
import { createHash } from 'node:crypto';
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { historyIndexKeys } from '../functions/adapters/history-store';
import { createStaticSecretsProvider } from '../functions/adapters/secrets';
import { noMetrics, silentLog } from '../functions/domain/ports';
import type { DepsSource } from '../functions/platform/deps';
import { buildDeps } from '../functions/platform/runtime';
import { historyTable, stateTable } from '../functions/contracts/tables';
import { startLocalDynamo } from '../local/dynamo';
import { type HttpFunction, startGateway } from '../local/gateway';
import { toStageConfig } from '../local/services-file';
import { countingDocumentClient, createCounters, totalDynamo } from './instrument';
import { median } from './stats';
import { BENCH_SERVICES, benchSettings } from './system';

const USERS = 5;
const DAY0 = Date.parse('2026-01-01T00:00:00.000Z');

export interface ScalingRow {
  records: number;
  query: string;
  /** Items in the page returned. */
  pageItems: number;
  itemsRead: number;
  queries: number;
  latencyMedianMs: number;
  seedMs: number;
  /** The queried day's records per partition of the day index (from the items written). */
  dayPartitions: { shards: number; fewest: number; most: number };
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * One user's `count` records on DAY0, 2 s apart, in seq order. Handover ids are derived, not
 * random, so the spread over the shards is the same on every run.
 */
const recordsOf = (user: number, count: number, shards: number) => {
  const [a, b] = [BENCH_SERVICES[1]!.identification, BENCH_SERVICES[2]!.identification];
  const items: Record<string, unknown>[] = [];
  for (let k = 0; k < count; k += 1) {
    const createdAt = new Date(DAY0 + k * 2000 + user).toISOString();
    const handoverId = sha(`scale-${user}-${k}`).slice(0, 32);
    const toOwner = k % 2 === 0 ? a : b;
    const userId = `scale-user-${user}`;
    const record = {
      handoverId,
      userId,
      seq: k + 1,
      fromOwner: k % 2 === 0 ? b : a,
      toOwner,
      reason: null,
      metadata: null,
      metadataDigest: sha('null'),
      requestedBy: k % 2 === 0 ? b : a,
      source: 'api',
      status: 'completed',
      parley: { status: 200, code: null, durationMs: 50 },
      createdAt,
      prevHash: sha(`${user}-${k}`),
      hash: sha(`${user}-${k + 1}`),
    };
    items.push({
      ...record,
      pk: `USER#${userId}`,
      sk: `SEQ#${String(k + 1).padStart(10, '0')}`,
      ...historyIndexKeys(record, shards),
    });
  }
  return items;
};

/** Records per partition of DAY0's day index, counted from the items. */
const spreadOf = (items: Record<string, unknown>[], shards: number) => {
  const counts = new Map<unknown, number>();
  for (const item of items) counts.set(item.dayPk, (counts.get(item.dayPk) ?? 0) + 1);
  const values = [...counts.values()];
  return {
    shards,
    fewest: values.length < shards ? 0 : Math.min(...values),
    most: Math.max(0, ...values),
  };
};

const seed = async (
  client: DynamoDBDocumentClient,
  table: string,
  records: number,
  shards: number,
) => {
  const started = performance.now();
  const items = Array.from({ length: USERS }, (_, u) =>
    recordsOf(u, records / USERS, shards),
  ).flat();
  const batches: Record<string, unknown>[][] = [];
  for (let i = 0; i < items.length; i += 25) batches.push(items.slice(i, i + 25));
  let next = 0;
  const worker = async () => {
    while (next < batches.length) {
      let pending = batches[next++]!.map((Item) => ({ PutRequest: { Item } }));
      while (pending.length) {
        const out = await client.send(
          new BatchWriteCommand({ RequestItems: { [table]: pending } }),
        );
        pending = (out.UnprocessedItems?.[table] ?? []) as typeof pending;
      }
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
  return { seedMs: performance.now() - started, dayPartitions: spreadOf(items, shards) };
};

export const measureScaling = async (options: {
  sizes: number[];
  reads: number;
}): Promise<ScalingRow[]> => {
  const dynamo = await startLocalDynamo();
  const counters = createCounters();
  const client = countingDocumentClient(dynamo.endpoint, counters);
  const rows: ScalingRow[] = [];
  try {
    const settings = benchSettings();
    const config = toStageConfig(settings, {
      parleyBaseUrl: 'http://127.0.0.1:9/serviceApi/v2.5',
      stage: 'bench',
    });
    const secrets = createStaticSecretsProvider({
      services: settings.secrets,
      auditors: settings.auditors,
    });
    const auditor = settings.auditors[0]!.token;
    for (const size of options.sizes) {
      const table = `scale-history-${size}`;
      await dynamo.ensureTable(historyTable, table);
      await dynamo.ensureTable(stateTable, `scale-state-${size}`);
      const { seedMs, dayPartitions } = await seed(client, table, size, config.indexShards);
      const deps = buildDeps({
        config,
        secrets,
        dynamo: { client, historyTable: table, stateTable: `scale-state-${size}` },
        queue: { send: async () => {} },
        log: silentLog,
        metrics: noMetrics,
      });
      const source: DepsSource = async () => deps;
      const audit = (
        require('../functions/handlers/audit') as { makeHandler: (s: DepsSource) => HttpFunction }
      ).makeHandler(source);
      const gateway = await startGateway({ handlers: { audit } });
      try {
        const day = new Date(DAY0).toISOString().slice(0, 10);
        const queries = [
          {
            query: 'user history, first page (limit 100)',
            path: '/users/scale-user-0/handovers?limit=100',
          },
          {
            query: 'day, first page (limit 100)',
            path: `/handovers?from=${day}T00:00:00Z&to=${day}T23:59:59.999Z&limit=100`,
          },
        ];
        for (const q of queries) {
          const latencies: number[] = [];
          let last = { pageItems: 0, itemsRead: 0, queries: 0 };
          for (let i = 0; i < options.reads + 2; i += 1) {
            counters.reset();
            const started = performance.now();
            const res = await fetch(gateway.url + q.path, {
              headers: { authorization: `Bearer ${auditor}` },
            });
            const body = (await res.json()) as { handovers?: unknown[] };
            const elapsed = performance.now() - started;
            if (res.status !== 200)
              throw new Error(`audit answered ${res.status} at ${size} records`);
            const c = counters.reset();
            last = {
              pageItems: body.handovers?.length ?? 0,
              itemsRead: c.itemsRead,
              queries: totalDynamo(c),
            };
            if (i >= 2) latencies.push(elapsed); // two warm-up reads
          }
          rows.push({
            records: size,
            query: q.query,
            ...last,
            latencyMedianMs: median(latencies),
            seedMs,
            dayPartitions,
          });
        }
      } finally {
        await gateway.close();
      }
    }
    return rows;
  } finally {
    client.destroy();
    await dynamo.close();
  }
};
