// Circuit items in the state table (the `CircuitStore` port): `pk = CIRCUIT#{serviceId}` with the
// CircuitItem fields as they are, replaced whole by a conditional put on `version` (0: none yet)
// for a change of state, and counts added with an atomic ADD (conditioned on the window and the
// closed state only, so processors writing at once never fail each other's writes). No index and
// no expiry: one small item per Service.
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
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

  async addCounts(serviceId, windowStart, counts) {
    try {
      const out = await client.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { pk: circuitPk(serviceId) },
          UpdateExpression: 'ADD #requests :requests, #failures :failures, #version :one',
          ConditionExpression: '#state = :closed AND #windowStart = :windowStart',
          ExpressionAttributeNames: {
            '#requests': 'requests',
            '#failures': 'failures',
            '#version': 'version',
            '#state': 'state',
            '#windowStart': 'windowStart',
          },
          ExpressionAttributeValues: {
            ':requests': counts.requests,
            ':failures': counts.failures,
            ':one': 1,
            ':closed': 'closed',
            ':windowStart': windowStart,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      const { pk: _pk, ...item } = out.Attributes ?? {};
      return item as CircuitItem;
    } catch (err) {
      if (isConditionFailure(err)) return null;
      throw err;
    }
  },
});
