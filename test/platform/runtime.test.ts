// The composition root builds an adapter when a handler first uses it: a function that never
// touches a table, the queue or a secret does not construct those clients.
import { type DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient } from '../../functions/adapters/dynamo';
import { createStaticSecretsProvider } from '../../functions/adapters/secrets';
import { type Downstream, noMetrics } from '../../functions/domain/ports';
import { DEFAULT_INDEX_SHARDS, indexKeys, shardOf } from '../../functions/domain/shards';
import { buildDeps } from '../../functions/platform/runtime';
import { type StageConfig, stageConfigSchema } from '../../functions/schemas/config';

const config: StageConfig = stageConfigSchema.parse({
  stage: 'test',
  accountIdentification: 'acc-1',
  parley: { baseUrl: 'https://parley.example/v2' },
  services: [{ identification: 'bot-1', name: 'Bot', role: 'bot' }],
});

/** A real document client; nothing listens at its endpoint, and these tests send it nothing. */
const idleClient = (): DynamoDBDocumentClient =>
  createDocumentClient({ endpoint: 'http://127.0.0.1:9', region: 'eu-west-1' });

const build = (client: () => DynamoDBDocumentClient) =>
  buildDeps({
    config,
    secrets: createStaticSecretsProvider({ services: {}, auditors: [] }),
    dynamo: { client, historyTable: 'history', stateTable: 'state' },
    queue: { send: async () => undefined },
    metrics: noMetrics,
  });

describe('buildDeps', () => {
  it('makes the DynamoDB client when a table is first used, once for both tables', () => {
    const client = jest.fn(idleClient);
    const deps = build(client);
    expect(deps.config.stage).toBe('test');
    expect(client).not.toHaveBeenCalled();
    expect(deps.history).toBe(deps.history);
    expect(deps.state).toBeDefined();
    expect(client).toHaveBeenCalledTimes(1);
  });

  it("gives both stores the stage's index shards", async () => {
    const { startDynalite } = await import('../support/dynalite');
    const dynamo = await startDynalite();
    try {
      const tables = await dynamo.createTables();
      const deps = buildDeps({
        config: { ...config, indexShards: 3 },
        secrets: createStaticSecretsProvider({ services: {}, auditors: [] }),
        dynamo: { client: dynamo.client, historyTable: tables.history, stateTable: tables.state },
        queue: { send: async () => undefined },
        metrics: noMetrics,
      });
      const createdAt = '2026-03-02T10:00:00.000Z';
      await deps.history.append({
        handoverId: 'h-shards',
        userId: 'u-shards',
        seq: 1,
        fromOwner: null,
        toOwner: 'bot-1',
        reason: null,
        metadata: null,
        metadataDigest: 'd',
        requestedBy: 'bot-1',
        source: 'api',
        status: 'completed',
        parley: null,
        createdAt,
        prevHash: '',
        hash: 'h',
      });
      await deps.state.createOwner({
        userId: 'u-shards',
        owner: 'bot-1',
        version: 1,
        since: null,
        lastSeq: 1,
        lastHash: 'h',
        lastCreatedAt: createdAt,
        lastHandoverId: 'h-shards',
        pending: null,
        refreshedAt: createdAt,
      });
      const stored = async (TableName: string, Key: Record<string, string>) =>
        (await dynamo.client.send(new GetCommand({ TableName, Key }))).Item;

      const record = await stored(tables.history, { pk: 'USER#u-shards', sk: 'SEQ#0000000001' });
      const owner = await stored(tables.state, { pk: 'USER#u-shards' });

      expect([record?.dayPk, owner?.ownerPk]).toEqual([
        indexKeys.day('2026-03-02', shardOf('h-shards', 3)),
        indexKeys.owner('bot-1', shardOf('u-shards', 3)),
      ]);
      expect(config.indexShards).toBe(DEFAULT_INDEX_SHARDS);
    } finally {
      await dynamo.close();
    }
  });

  it('lets a test replace an adapter', () => {
    const deps = build(idleClient);
    const downstream: Downstream = { post: jest.fn() };
    const replaced = { ...deps, downstream };
    expect(replaced.downstream).toBe(downstream);
  });
});

describe('Parley call metrics', () => {
  it('records the latency of every Parley call and counts its errors, by call kind', async () => {
    const { startParleySimulator } = await import('../../local/parley-sim');
    const sim = await startParleySimulator({ port: 0 });
    try {
      const bot = sim.seed.services.find((s) => s.default)!;
      const recorded: { kind: string; name: string; dims?: Record<string, string> }[] = [];
      const deps = buildDeps({
        config: stageConfigSchema.parse({
          stage: 'test',
          accountIdentification: sim.seed.accountIdentification,
          parley: { baseUrl: sim.baseUrl, timeoutMs: 1000, budgetMs: 2000 },
          services: [{ identification: bot.identification, name: bot.name, role: 'bot' }],
        }),
        secrets: createStaticSecretsProvider({
          services: {
            [bot.identification]: {
              accountIdentification: sim.seed.accountIdentification,
              sharedServiceAccountSecret: bot.sharedSecret,
              callbackTokens: [],
              apiTokens: [],
              signingSecret: undefined,
            },
          },
          auditors: [],
        }),
        dynamo: {
          client: idleClient,
          historyTable: 'h',
          stateTable: 's',
        },
        queue: { send: async () => undefined },
        metrics: {
          count: (name, _v, dims) => recorded.push({ kind: 'count', name, dims }),
          milliseconds: (name, _v, dims) => recorded.push({ kind: 'ms', name, dims }),
          gauge: () => undefined,
        },
      });
      await deps.parley(bot.identification).getOwner('20');
      sim.setFaults([{ route: 'putOwner', errorRate: 1, errorStatus: 400 }]);
      await deps
        .parley(bot.identification)
        .setOwner('20', bot.identification, {})
        .catch(() => undefined);

      expect(recorded).toEqual([
        { kind: 'ms', name: 'ParleyLatency', dims: { call: 'GET users/{userId}/owner' } },
        { kind: 'ms', name: 'ParleyLatency', dims: { call: 'PUT users/{userId}/owner' } },
        {
          kind: 'count',
          name: 'ParleyError',
          dims: { call: 'PUT users/{userId}/owner', status: '400' },
        },
      ]);
    } finally {
      await sim.close();
    }
  });
});
