// The data stack's template: tables exactly as the shared definitions declare them (keys, every
// GSI and LSI, TTL), on-demand with PITR, deletion protection and RETAIN; the secrets created with
// placeholders only, tagged for the secrets CLI, retained; the outputs.
import type { Template } from 'aws-cdk-lib/assertions';
import {
  createTableInput,
  historyTable,
  NOTIFICATION_LISTED,
  stateTable,
} from '../../functions/contracts/tables';
import { toNotificationView } from '../../functions/domain/notify/routes';
import type { NotificationItem } from '../../functions/domain/types';
import { buildApp, templatesOf } from './support';

let data: Template;
const resources = (type: string) =>
  Object.entries(data.findResources(type)) as [
    string,
    { Properties: any; DeletionPolicy?: string; UpdateReplacePolicy?: string },
  ][];
const table = (prefix: string) =>
  resources('AWS::DynamoDB::Table').find(([id]) => id.startsWith(prefix))!;
const sortByName = <T extends { AttributeName?: string; IndexName?: string }>(xs: T[] = []) =>
  [...xs].sort((a, b) =>
    String(a.AttributeName ?? a.IndexName).localeCompare(String(b.AttributeName ?? b.IndexName)),
  );

beforeAll(() => {
  ({ data } = templatesOf(buildApp()));
});

describe('tables', () => {
  it.each([
    ['History', historyTable],
    ['State', stateTable],
  ] as const)('builds the %s table from its shared definition', (prefix, definition) => {
    const [, t] = table(`${prefix}Table`);
    const expected = createTableInput(definition, 'unused');
    expect(t.Properties.KeySchema).toEqual(expected.KeySchema);
    expect(sortByName(t.Properties.AttributeDefinitions)).toEqual(
      sortByName(expected.AttributeDefinitions),
    );
    expect(sortByName(t.Properties.GlobalSecondaryIndexes)).toEqual(
      sortByName(expected.GlobalSecondaryIndexes),
    );
    expect(sortByName(t.Properties.LocalSecondaryIndexes)).toEqual(
      sortByName(expected.LocalSecondaryIndexes),
    );
    expect(t.Properties.TableName).toBeUndefined();
  });

  it('declares the history GSIs byDay and byDestination and the LSI byTime from the start', () => {
    const [, t] = table('HistoryTable');
    expect(t.Properties.GlobalSecondaryIndexes.map((g: any) => g.IndexName).sort()).toEqual([
      'byDay',
      'byDestination',
    ]);
    expect(t.Properties.LocalSecondaryIndexes.map((l: any) => l.IndexName)).toEqual(['byTime']);
  });

  it('declares every state GSI of the shared definition with the table, each with its own keys', () => {
    const [, t] = table('StateTable');
    const keys = (g: any) =>
      `${g.IndexName}: ${g.KeySchema.map((k: any) => `${k.AttributeName}/${k.KeyType}`).join(' ')}`;
    expect(t.Properties.GlobalSecondaryIndexes.map(keys).sort()).toEqual([
      'byDue: duePk/HASH dueSk/RANGE',
      'byInbound: inboundPk/HASH inboundSk/RANGE',
      'byNotificationStatus: ntfPk/HASH ntfSk/RANGE',
      'byOwner: ownerPk/HASH ownerSk/RANGE',
      'byPendingSince: pendingPk/HASH pendingSince/RANGE',
    ]);
  });

  it('projects on each index only what its readers take (a write that changes nothing projected costs the index nothing)', () => {
    const projections = (t: { Properties: any }) =>
      Object.fromEntries(
        [
          ...(t.Properties.GlobalSecondaryIndexes ?? []),
          ...(t.Properties.LocalSecondaryIndexes ?? []),
        ].map((g: any) => [
          g.IndexName,
          g.Projection.NonKeyAttributes
            ? { ...g.Projection, NonKeyAttributes: [...g.Projection.NonKeyAttributes].sort() }
            : g.Projection,
        ]),
      );
    // The audit lists whole records (ALL); reconcile and release take only user ids (KEYS_ONLY);
    // the sweep and the metrics decide on the listed lease, offer and version (ALL); the outbox
    // listing returns everything but the body, and the relay reads the item again.
    expect(projections(table('HistoryTable')[1])).toEqual({
      byDay: { ProjectionType: 'ALL' },
      byDestination: { ProjectionType: 'ALL' },
      byTime: { ProjectionType: 'ALL' },
    });
    expect(projections(table('StateTable')[1])).toEqual({
      byPendingSince: { ProjectionType: 'KEYS_ONLY' },
      byOwner: { ProjectionType: 'KEYS_ONLY' },
      byDue: { ProjectionType: 'ALL' },
      byNotificationStatus: {
        ProjectionType: 'INCLUDE',
        NonKeyAttributes: [
          'attempts',
          'createdAt',
          'handoverId',
          'id',
          'kind',
          'lastError',
          'lastStatus',
          'recipient',
          'sentAt',
          'seq',
          'status',
          'type',
          'updatedAt',
          'userId',
        ],
      },
      byInbound: { ProjectionType: 'ALL' },
    });
  });

  it('projects on the outbox index exactly what the listing returns', () => {
    const item: NotificationItem = {
      id: 'ntf_1',
      kind: 'notification',
      type: 'handover.completed',
      recipient: 'desk',
      userId: '20',
      seq: 3,
      handoverId: 'h1',
      body: '{}',
      status: 'sent',
      attempts: 1,
      lastStatus: 200,
      lastError: null,
      createdAt: '2026-06-15T12:00:00.000Z',
      updatedAt: '2026-06-15T12:00:01.000Z',
      sentAt: '2026-06-15T12:00:01.000Z',
      version: 2,
    };

    expect(Object.keys(toNotificationView(item)).sort()).toEqual([...NOTIFICATION_LISTED].sort());
  });

  it('expires state items by expiresAt and finds pending handovers by a sparse index', () => {
    const [, t] = table('StateTable');
    expect(t.Properties.TimeToLiveSpecification).toEqual({
      AttributeName: 'expiresAt',
      Enabled: true,
    });
    expect(t.Properties.GlobalSecondaryIndexes[0].IndexName).toBe('byPendingSince');
  });

  it('keeps both tables: on-demand, PITR, deletion protection, encryption, RETAIN', () => {
    const tables = resources('AWS::DynamoDB::Table');
    expect(tables).toHaveLength(2);
    for (const [, t] of tables) {
      expect(t.Properties).toMatchObject({
        BillingMode: 'PAY_PER_REQUEST',
        PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
        DeletionProtectionEnabled: true,
        SSESpecification: { SSEEnabled: true },
      });
      expect(t.DeletionPolicy).toBe('Retain');
      expect(t.UpdateReplacePolicy).toBe('Retain');
    }
  });
});

describe('secrets', () => {
  it('creates two secrets per Service (Parley values, callback tokens) and one for auditors, retained and tagged for the CLI', () => {
    const secrets = resources('AWS::SecretsManager::Secret');
    const tags = secrets.map(([, s]) =>
      Object.fromEntries(s.Properties.Tags.map((t: any) => [t.Key, t.Value])),
    );
    expect(tags).toEqual(
      expect.arrayContaining([
        {
          'parley-handover:stage': 'dev',
          'parley-handover:kind': 'service',
          'parley-handover:service': 'as272d6g2ds766fcdfgh',
        },
        {
          'parley-handover:stage': 'dev',
          'parley-handover:kind': 'service',
          'parley-handover:service': 'Jlk9e7cSf9g3FFsaqe39',
        },
        {
          'parley-handover:stage': 'dev',
          'parley-handover:kind': 'callback-tokens',
          'parley-handover:service': 'as272d6g2ds766fcdfgh',
        },
        {
          'parley-handover:stage': 'dev',
          'parley-handover:kind': 'callback-tokens',
          'parley-handover:service': 'Jlk9e7cSf9g3FFsaqe39',
        },
        { 'parley-handover:stage': 'dev', 'parley-handover:kind': 'auditors' },
      ]),
    );
    expect(secrets).toHaveLength(5);
    for (const [, s] of secrets) {
      expect(s.DeletionPolicy).toBe('Retain');
      expect(s.Properties.Name).toBeUndefined();
    }
  });

  it('puts no value in the template: a placeholder shape, the rest generated by Secrets Manager', () => {
    for (const [, s] of resources('AWS::SecretsManager::Secret')) {
      expect(s.Properties.SecretString).toBeUndefined();
      const template = JSON.parse(s.Properties.GenerateSecretString.SecretStringTemplate);
      const values = Object.values(template).flat();
      expect(values).toEqual([]);
      expect(s.Properties.GenerateSecretString.GenerateStringKey).toMatch(
        /^(signingSecret|placeholder)$/,
      );
    }
  });
});

describe('outputs', () => {
  it('names both tables and every secret ARN', () => {
    const outputs = data.findOutputs('*');
    expect(outputs.HistoryTableName!.Value.Ref).toMatch(/^HistoryTable/);
    expect(outputs.StateTableName!.Value.Ref).toMatch(/^StateTable/);
    expect(outputs.AuditorsSecretArn!.Value.Ref).toMatch(/^SecretsAuditors/);
    expect(outputs.SecretArnBotService!.Value.Ref).toMatch(/^SecretsServiceas272d6g2ds766fcdfgh/);
    expect(outputs.SecretArnAgentService!.Value.Ref).toMatch(/^SecretsServiceJlk9e7cSf9g3FFsaqe39/);
    expect(outputs.CallbackTokensSecretArnBotService!.Value.Ref).toMatch(
      /^SecretsCallbackTokensas272d6g2ds766fcdfgh/,
    );
    expect(outputs.CallbackTokensSecretArnAgentService!.Value.Ref).toMatch(
      /^SecretsCallbackTokensJlk9e7cSf9g3FFsaqe39/,
    );
  });
});
