// The DynamoDB state store against dynalite over real HTTP: what only the stored item shows, how
// deep a pending draft's metadata nests in it against DynamoDB's 32 levels. What any StateStore
// promises (owner compare-and-set, the pending index, idempotency and delivery items) is in the
// store contract, test/contracts/stores.contract.ts, run against this store and the fake.
import { type AttributeValue, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { UnstorableItemError } from '../../functions/adapters/dynamo';
import { createStateStore } from '../../functions/adapters/state-store';
import { METADATA_MAX_DEPTH } from '../../functions/domain/metadata';
import type { OwnerItem, PendingHandover } from '../../functions/domain/types';
import { type LocalDynamo, startDynalite } from '../support/dynalite';

let dynamo: LocalDynamo;

beforeAll(async () => {
  dynamo = await startDynalite();
});

afterAll(async () => {
  await dynamo.close();
});

const BOT = 'Bot1234567890abcdefg';
const AGENT = 'Jlk9e7cSf9g3FFsaqe39';

const owner = (overrides: Partial<OwnerItem> = {}): OwnerItem => ({
  userId: '20',
  owner: BOT,
  version: 1,
  since: null,
  lastSeq: 0,
  lastHash: '',
  lastCreatedAt: null,
  lastHandoverId: null,
  pending: null,
  refreshedAt: '2026-03-02T10:00:00.000Z',
  ...overrides,
});

const pending = (markedAt: string, userId = '20'): PendingHandover => ({
  draft: {
    handoverId: `h-${userId}`,
    userId,
    seq: 1,
    fromOwner: null,
    toOwner: AGENT,
    reason: null,
    metadata: { reason: 'question_too_complex', nested: { note: null } },
    metadataDigest: 'digest',
    requestedBy: BOT,
    source: 'api',
    createdAt: markedAt,
    prevHash: '',
  },
  markedAt,
  actingService: BOT,
  idempotencyKey: 'key-1',
});

describe('metadata in a pending draft and DynamoDB nesting', () => {
  /** `depth` nested objects, the outermost counting as 1. */
  const nested = (depth: number): Record<string, unknown> => {
    let value: Record<string, unknown> = { leaf: 'x' };
    for (let level = 1; level < depth; level += 1) value = { a: value };
    return value;
  };
  const withDraftMetadata = (metadata: Record<string, unknown>, userId = '20') => {
    const marker = pending('2026-03-02T10:00:01.000Z', userId);
    return owner({ userId, pending: { ...marker, draft: { ...marker.draft, metadata } } });
  };
  /** Levels of a stored item as DynamoDB counts them: the item is 1, each map or list adds 1. */
  const levelsOf = (value: AttributeValue): number => {
    const children = value.M ? Object.values(value.M) : value.L ? value.L : null;
    return children ? 1 + Math.max(0, ...children.map(levelsOf)) : 0;
  };
  const storedLevels = async (tableName: string, userId: string): Promise<number> => {
    const out = await dynamo.client.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: `USER#${userId}` } } }),
    );
    return 1 + Math.max(...Object.values(out.Item ?? {}).map(levelsOf));
  };

  it('stores the deepest metadata a handover accepts within 32 levels, and reads it back', async () => {
    const { state: tableName } = await dynamo.createTables();
    const states = createStateStore({ client: dynamo.client, tableName });
    const item = withDraftMetadata(nested(METADATA_MAX_DEPTH));

    await states.createOwner(item);

    expect(await states.getOwner('20')).toEqual(item);
    expect(await storedLevels(tableName, '20')).toBe(3 + METADATA_MAX_DEPTH);
    expect(3 + METADATA_MAX_DEPTH).toBeLessThanOrEqual(32);
  });

  it('fits draft metadata of 29 levels exactly and refuses 30, as DynamoDB does', async () => {
    const { state: tableName } = await dynamo.createTables();
    const states = createStateStore({ client: dynamo.client, tableName });

    await states.createOwner(withDraftMetadata(nested(29), '21'));
    const err = await states.createOwner(withDraftMetadata(nested(30), '22')).catch((e) => e);

    expect(await storedLevels(tableName, '21')).toBe(32);
    expect(err).toBeInstanceOf(UnstorableItemError);
    expect(await states.getOwner('22')).toBeNull();
  });
});
