// The DynamoDB state store against dynalite over real HTTP: what only the stored item shows (the
// sharded index keys an owner item carries, kept in step on every write; how deep a pending
// draft's metadata nests in it against DynamoDB's 32 levels). What any StateStore
// promises (owner compare-and-set, the pending index, idempotency and delivery items) is in the
// store contract, test/contracts/stores.contract.ts, run against this store and the fake.
import { type AttributeValue, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { UnstorableItemError } from '../../functions/adapters/dynamo';
import { createStateStore, ownerIndexKeys } from '../../functions/adapters/state-store';
import { METADATA_MAX_DEPTH } from '../../functions/domain/metadata';
import { DEFAULT_INDEX_SHARDS, indexKeys, shardOf } from '../../functions/domain/shards';
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

describe('the sharded index keys of an owner item', () => {
  const INDEX_ATTRIBUTES = ['ownerPk', 'ownerSk', 'pendingPk', 'pendingSince', 'duePk', 'dueSk'];
  /** The index attributes of the stored item, as DynamoDB holds them. */
  const storedKeys = async (tableName: string, userId: string) => {
    const out = await dynamo.client.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: `USER#${userId}` } } }),
    );
    return Object.fromEntries(
      INDEX_ATTRIBUTES.flatMap((name) => {
        const value = out.Item?.[name];
        return value?.S === undefined ? [] : [[name, value.S]];
      }),
    );
  };
  /** An owner item with a timer (the field a timer sets; the domain type gains it later). */
  const withTimer = (item: OwnerItem, dueAt: string) => ({ ...item, dueAt }) as OwnerItem;

  it('keys an owner item by its owner and the shard of its user, and nothing else without pending or timer', async () => {
    const { state: tableName } = await dynamo.createTables();
    const states = createStateStore({ client: dynamo.client, tableName });
    const item = owner({ userId: 'u-keys' });

    await states.createOwner(item);

    const shard = shardOf('u-keys', DEFAULT_INDEX_SHARDS);
    expect(await storedKeys(tableName, 'u-keys')).toEqual({
      ownerPk: `OWNER#${BOT}#${shard}`,
      ownerSk: 'u-keys',
    });
    expect(ownerIndexKeys(item, DEFAULT_INDEX_SHARDS)).toEqual({
      ownerPk: `OWNER#${BOT}#${shard}`,
      ownerSk: 'u-keys',
    });
    expect(await states.getOwner('u-keys')).toEqual(item);
  });

  it('keeps the keys in step on every write: a marker, a timer, a new owner, then neither', async () => {
    const { state: tableName } = await dynamo.createTables();
    const states = createStateStore({ client: dynamo.client, tableName, shards: 5 });
    const shard = shardOf('u-cas', 5);
    const marked = withTimer(
      owner({
        userId: 'u-cas',
        version: 2,
        pending: pending('2026-03-02T11:00:00+01:00', 'u-cas'),
      }),
      '2026-03-02T10:15:00.000Z',
    );
    const moved = owner({ userId: 'u-cas', version: 3, owner: AGENT, lastSeq: 1 });

    await states.createOwner(owner({ userId: 'u-cas' }));
    await states.compareAndSetOwner(marked, 1);
    const whileMarked = await storedKeys(tableName, 'u-cas');
    const readMarked = await states.getOwner('u-cas');
    await states.compareAndSetOwner(moved, 2);
    const afterMove = await storedKeys(tableName, 'u-cas');

    expect(whileMarked).toEqual({
      ownerPk: indexKeys.owner(BOT, shard),
      ownerSk: 'u-cas',
      pendingPk: indexKeys.pending(shard),
      pendingSince: '2026-03-02T10:00:00.000Z',
      duePk: indexKeys.due(shard),
      dueSk: '2026-03-02T10:15:00.000Z#u-cas',
    });
    expect(ownerIndexKeys(marked, 5)).toEqual(whileMarked);
    expect(readMarked).toEqual(marked);
    expect(afterMove).toEqual({ ownerPk: indexKeys.owner(AGENT, shard), ownerSk: 'u-cas' });
    expect(await states.getOwner('u-cas')).toEqual(moved);
  });

  it('refuses a timer that is not an instant, writing nothing', async () => {
    const { state: tableName } = await dynamo.createTables();
    const states = createStateStore({ client: dynamo.client, tableName });

    const err = await states
      .createOwner(withTimer(owner({ userId: 'u-bad' }), 'tomorrow'))
      .catch((e: unknown) => e);

    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toBe('An owner item timer (dueAt) must be an ISO-8601 instant.');
    expect(await states.getOwner('u-bad')).toBeNull();
  });
});
