// The console's items in the state table (the ConsoleStore port of functions/console/ports.ts):
// - sessions `SESSION#{sha256(sessionId)}`: who (name, role), times in ISO, `version`, and
//   `expiresAt` (epoch seconds, the table's TTL attribute) at the session's own end;
// - failed logins `LOGINFAIL#{sha256(source)[0..32]}`: the last minute's failures and `version`,
//   `expiresAt` a minute after the newest.
// Both are replaced whole by a conditional put on `version` (0: none yet); an item past its
// `expiresAt` is read as absent, as DynamoDB's TTL deletes it only some time later.
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { ConsoleStore } from '../console/ports';
import { type ConsoleSession, sessionExpiresAt } from '../console/session';
import { isConditionFailure } from './dynamo';

export interface ConsoleStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
}

const sessionPk = (idHash: string) => `SESSION#${idHash}`;
const failuresPk = (sourceKey: string) => `LOGINFAIL#${sourceKey}`;
const iso = (ms: number) => new Date(ms).toISOString();
const seconds = (ms: number) => Math.ceil(ms / 1000);

export const createConsoleStore = ({ client, tableName }: ConsoleStoreOptions): ConsoleStore => {
  const get = async (pk: string) =>
    (await client.send(new GetCommand({ TableName: tableName, Key: { pk }, ConsistentRead: true })))
      .Item;
  const put = async (item: Record<string, unknown>, expectedVersion: number) => {
    try {
      await client.send(
        new PutCommand({
          TableName: tableName,
          Item: item,
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
  };

  return {
    async getSession(idHash) {
      const item = await get(sessionPk(idHash));
      if (!item) return null;
      const session: ConsoleSession = {
        idHash,
        name: String(item.name),
        role: item.role === 'operator' ? 'operator' : 'auditor',
        createdAt: Date.parse(String(item.createdAt)),
        lastSeenAt: Date.parse(String(item.lastSeenAt)),
        endedAt: typeof item.endedAt === 'string' ? Date.parse(item.endedAt) : null,
        version: Number(item.version),
      };
      return session;
    },

    putSession(session, expectedVersion) {
      if (session.version !== expectedVersion + 1) {
        throw new Error('A session write must advance the version by exactly one.');
      }
      return put(
        {
          pk: sessionPk(session.idHash),
          name: session.name,
          role: session.role,
          createdAt: iso(session.createdAt),
          lastSeenAt: iso(session.lastSeenAt),
          ...(session.endedAt !== null ? { endedAt: iso(session.endedAt) } : {}),
          version: session.version,
          expiresAt: seconds(session.endedAt ?? sessionExpiresAt(session)),
        },
        expectedVersion,
      );
    },

    async getLoginFailures(sourceKey, nowMs) {
      const item = await get(failuresPk(sourceKey));
      if (!item) return { failures: [], version: 0 };
      const live = Number(item.expiresAt) * 1000 > nowMs;
      const failures = live && Array.isArray(item.failures) ? item.failures.map(Number) : [];
      return { failures, version: Number(item.version) };
    },

    putLoginFailures(sourceKey, failures, expectedVersion, nowMs) {
      const newest = Math.max(nowMs, ...failures);
      return put(
        {
          pk: failuresPk(sourceKey),
          failures,
          version: expectedVersion + 1,
          expiresAt: seconds(newest + 60_000),
        },
        expectedVersion,
      );
    },
  };
};
