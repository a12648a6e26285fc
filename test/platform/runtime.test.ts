// The composition root builds an adapter when a handler first uses it: a function that never
// touches a table, the queue or a secret does not construct those clients.
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createStaticSecretsProvider } from '../../functions/adapters/secrets';
import { noMetrics } from '../../functions/domain/ports';
import { buildDeps } from '../../functions/platform/runtime';
import { type StageConfig, stageConfigSchema } from '../../functions/schemas/config';

const config: StageConfig = stageConfigSchema.parse({
  stage: 'test',
  accountIdentification: 'acc-1',
  parley: { baseUrl: 'https://parley.example/v2' },
  services: [{ identification: 'bot-1', name: 'Bot', role: 'bot' }],
});

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
    const client = jest.fn(() => ({ send: jest.fn() }) as unknown as DynamoDBDocumentClient);
    const deps = build(client);
    expect(deps.config.stage).toBe('test');
    expect(client).not.toHaveBeenCalled();
    expect(deps.history).toBe(deps.history);
    expect(deps.state).toBeDefined();
    expect(client).toHaveBeenCalledTimes(1);
  });

  it('lets a test replace an adapter', () => {
    const deps = build(() => ({}) as DynamoDBDocumentClient);
    const downstream = { forward: jest.fn() } as unknown as typeof deps.downstream;
    deps.downstream = downstream;
    expect(deps.downstream).toBe(downstream);
  });
});
