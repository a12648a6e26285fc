// The composition root while indexShards is lowered (DESIGN.md "Changing N"): every store a
// function gets writes the stage's indexShards and lists over indexShardsFrom, and the sweep walks
// the old shards of byDue too. On dynalite over HTTP.
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { createStaticSecretsProvider } from '../../functions/adapters/secrets';
import { noMetrics } from '../../functions/domain/ports';
import { indexKeys, shardOf } from '../../functions/domain/shards';
import { buildDeps } from '../../functions/platform/runtime';
import { sweepDeps } from '../../functions/platform/timers';
import { stageConfigSchema } from '../../functions/schemas/config';
import { type LocalDynamo, startDynalite } from '../support/dynalite';
import {
  AGENT,
  BOT,
  expectedListings,
  listEverything,
  type Stores,
  storesOf,
  writeStage,
} from '../support/shard-fixture';

let dynamo: LocalDynamo;
beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => {
  await dynamo.close();
});

const config = stageConfigSchema.parse({
  stage: 'test',
  accountIdentification: 'acc-1',
  parley: { baseUrl: 'https://parley.example/v2' },
  services: [
    { identification: BOT, name: 'Bot', role: 'bot' },
    { identification: AGENT, name: 'Agent', role: 'agent' },
  ],
  indexShards: 2,
  indexShardsFrom: 8,
});

it('writes indexShards and lists over indexShardsFrom in every store, the sweep included', async () => {
  const tables = await dynamo.createTables();
  const written = await writeStage(storesOf(dynamo.client, tables, { shards: 8 }), 16);
  const deps = buildDeps({
    config,
    secrets: createStaticSecretsProvider({ services: {}, auditors: [] }),
    dynamo: { client: dynamo.client, historyTable: tables.history, stateTable: tables.state },
    queue: { send: async () => undefined },
    metrics: noMetrics,
  });
  const functions: Stores = {
    history: deps.history,
    state: deps.state,
    notifications: deps.notifications,
    metrics: deps.metricsStore,
  } as Stores;
  const added = { ...written.owners[0]!, userId: 'u-new-under-2', pending: null, dueAt: null };
  await deps.state.createOwner(added);

  const listings = await listEverything(functions, 8);
  const stored = await dynamo.client.send(
    new GetCommand({ TableName: tables.state, Key: { pk: `USER#${added.userId}` } }),
  );

  expect(listings).toEqual(
    expectedListings({
      ...written,
      owners: [...written.owners, added],
    }),
  );
  expect(shardOf(added.userId, 8)).toBeGreaterThanOrEqual(2); // so a write under 8 would differ
  expect(stored.Item?.ownerPk).toBe(indexKeys.owner(added.owner, shardOf(added.userId, 2)));
  expect(sweepDeps(deps).shards).toBe(8);
});
