// Circuit items in the state table (the `CircuitStore` port): `pk = CIRCUIT#{serviceId}` with the
// CircuitItem fields as they are, replaced whole by a conditional put on `version` (0: none yet).
// No index and no expiry: one small item per Service.
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { CircuitStore } from '../domain/ports';
import type { CircuitItem } from '../domain/types';
import { isConditionFailure } from './dynamo';

export interface CircuitStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
}

export const circuitPk = (serviceId: string) => `CIRCUIT#${serviceId}`;

export const createCircuitStore = ({ client, tableName }: CircuitStoreOptions): CircuitStore => ({
  async get(serviceId) {
    const out = await client.send(
      new GetCommand({
        TableName: tableName,
        Key: { pk: circuitPk(serviceId) },
        ConsistentRead: true,
      }),
    );
    if (!out.Item) return null;
    const { pk: _pk, ...item } = out.Item;
    return item as CircuitItem;
  },

  async compareAndSet(item, expectedVersion) {
    if (item.version !== expectedVersion + 1) {
      throw new Error('A circuit item write must advance the version by exactly one.');
    }
    try {
      await client.send(
        new PutCommand({
          TableName: tableName,
          Item: { ...item, pk: circuitPk(item.serviceId) },
          ...(expectedVersion === 0
            ? { ConditionExpression: 'attribute_not_exists(pk)' }
            : {
                ConditionExpression: '#version = :expected',
                ExpressionAttributeNames: { '#version': 'version' },
                ExpressionAttributeValues: { ':expected': expectedVersion },
              }),
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  },
});
