// Scaling of the audit reads: the first page of an unfiltered user history and of an unfiltered
// day, at 1e3 and 1e5 records in the history table. Records are written straight into dynalite
// with BatchWrite (the item layout of functions/adapters/history-store.ts), then read through the
// audit function behind the local gateway; items read are DynamoDB's ScannedCount, summed.
import { createHash, randomUUID } from 'node:crypto';
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
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
const DAYS = 5;
const DAY0 = Date.parse('2026-01-01T00:00:00.000Z');
const DAY_MS = 86_400_000;

export interface ScalingRow {
  records: number;
  query: string;
  /** Items in the page returned. */
  pageItems: number;
  itemsRead: number;
  queries: number;
  latencyMedianMs: number;
  seedMs: number;
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

/** One user's `count` records, spread evenly over DAYS days, in seq order. */
const recordsOf = (user: number, count: number) => {
  const [a, b] = [BENCH_SERVICES[1]!.identification, BENCH_SERVICES[2]!.identification];
  const perDay = Math.max(1, Math.ceil(count / DAYS));
  const items: Record<string, unknown>[] = [];
  for (let k = 0; k < count; k += 1) {
    const createdAt = new Date(
      DAY0 + Math.floor(k / perDay) * DAY_MS + (k % perDay) * 1000 + user,
    ).toISOString();
    const handoverId = randomUUID();
    const toOwner = k % 2 === 0 ? a : b;
    const userId = `scale-user-${user}`;
    items.push({
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
      pk: `USER#${userId}`,
      sk: `SEQ#${String(k + 1).padStart(10, '0')}`,
      dayPk: `DAY#${createdAt.slice(0, 10)}`,
      toPk: `TO#${toOwner}`,
      timeSk: `${createdAt}#${handoverId}`,
    });
  }
  return items;
};

const seed = async (client: DynamoDBDocumentClient, table: string, records: number) => {
  const started = performance.now();
  const items = Array.from({ length: USERS }, (_, u) => recordsOf(u, records / USERS)).flat();
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
  return performance.now() - started;
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
      const seedMs = await seed(client, table, size);
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
        const day = new Date(DAY0 + 2 * DAY_MS).toISOString().slice(0, 10);
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
