// The floors of the warm runs: HTTP handlers served through the same local gateway as the real
// functions, doing only the I/O that a route cannot avoid, with the same document client and the
// same fetch. Nothing of ours runs in them: no auth, no zod, no logger, no domain.
// - put floor: one conditional put (what the webhook's one enqueue costs at best);
// - handover floor: one Parley `PUT owner` (signed, Authorization cached like the real client)
//   plus one conditional put;
// - handover-calls floor: the handover's own store calls around the same `PUT owner` (a read, a
//   versioned put, the PUT, a put of a new key, a versioned put), items of the handover's sizes:
//   what the handover costs the local store, with none of our code.
import { createHmac, randomUUID } from 'node:crypto';
import { GetCommand, PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';

export type FloorHandler = (
  event: APIGatewayProxyEventV2,
) => Promise<APIGatewayProxyStructuredResultV2>;

const ok = (body: unknown): APIGatewayProxyStructuredResultV2 => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

const conditionalPut = (client: DynamoDBDocumentClient, tableName: string, pk: string) =>
  client.send(
    new PutCommand({
      TableName: tableName,
      Item: { pk, at: Date.now() },
      ConditionExpression: 'attribute_not_exists(pk)',
    }),
  );

export const putFloor =
  (client: DynamoDBDocumentClient, tableName: string): FloorHandler =>
  async () => {
    await conditionalPut(client, tableName, `FLOOR#${randomUUID()}`);
    return ok({ ok: true });
  };

export interface FloorService {
  identification: string;
  sharedServiceAccountSecret: string;
}

/** Parley's Authorization value (PARLEY.md's formula), written out here so the floor owes nothing to our client. */
const authorization = (account: string, service: FloorService, validUntil: number): string => {
  const hash = createHmac('sha512', service.sharedServiceAccountSecret)
    .update(service.identification + account + String(validUntil))
    .digest('hex');
  return Buffer.from(
    [service.identification, account, String(validUntil), hash].join('|'),
    'utf8',
  ).toString('base64');
};

/**
 * Body `{ userId, newOwner, as }`: PUT owner as `as`, then one conditional put. The load generator
 * alternates the owner of its users, exactly as it does for the real route.
 */
export interface HandoverFloorOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  parleyBaseUrl: string;
  account: string;
  services: FloorService[];
  fetch: typeof fetch;
}

/** `PUT owner` as the body's `as`, answered 502 when Parley refuses it. */
const putOwner = (options: HandoverFloorOptions) => {
  const auth = new Map<string, string>();
  const validUntil = Math.floor(Date.now() / 1000) + 3600;
  for (const s of options.services)
    auth.set(s.identification, authorization(options.account, s, validUntil));
  const base = options.parleyBaseUrl.replace(/\/+$/, '');
  return async (body: Record<string, string>): Promise<string | null> => {
    const res = await options.fetch(`${base}/users/${encodeURIComponent(body.userId!)}/owner`, {
      method: 'PUT',
      headers: { authorization: auth.get(body.as!) ?? '', 'content-type': 'application/json' },
      body: JSON.stringify({ newOwner: body.newOwner }),
    });
    const text = await res.text();
    return res.ok ? null : text;
  };
};

export const handoverFloor = (options: HandoverFloorOptions): FloorHandler => {
  const put = putOwner(options);
  return async (event) => {
    const refused = await put(JSON.parse(event.body ?? '{}') as Record<string, string>);
    if (refused !== null) return { statusCode: 502, body: refused };
    await conditionalPut(options.client, options.tableName, `FLOOR#${randomUUID()}`);
    return ok({ changed: true });
  };
};

/**
 * The handover's store calls around the same `PUT owner`: read the user's item, put it with a
 * marker (conditional on its version), PUT owner, put a record under a new key (conditional on
 * its absence), put the item again (conditional on the marker's version). `sizes`: the bytes of
 * the marked item, the record and the item at rest, padded to.
 */
export const handoverCallsFloor = (
  options: HandoverFloorOptions & { sizes: { marked: number; record: number; rest: number } },
): FloorHandler => {
  const put = putOwner(options);
  const { client, tableName } = options;
  const pad = (bytes: number) => 'x'.repeat(Math.max(0, bytes - 60));
  const versioned = (pk: string, version: number, bytes: number) =>
    client.send(
      new PutCommand({
        TableName: tableName,
        Item: { pk, version: version + 1, pad: pad(bytes) },
        ConditionExpression: 'attribute_not_exists(pk) OR #v = :v',
        ExpressionAttributeNames: { '#v': 'version' },
        ExpressionAttributeValues: { ':v': version },
      }),
    );
  return async (event) => {
    const body = JSON.parse(event.body ?? '{}') as Record<string, string>;
    const pk = `FLOOR-USER#${body.userId}`;
    const read = await client.send(new GetCommand({ TableName: tableName, Key: { pk } }));
    const version = (read.Item?.version as number | undefined) ?? 0;
    await versioned(pk, version, options.sizes.marked);
    const refused = await put(body);
    if (refused !== null) return { statusCode: 502, body: refused };
    await client.send(
      new PutCommand({
        TableName: tableName,
        Item: { pk: `FLOOR-RECORD#${randomUUID()}`, pad: pad(options.sizes.record) },
        ConditionExpression: 'attribute_not_exists(pk)',
      }),
    );
    await versioned(pk, version + 1, options.sizes.rest);
    return ok({ changed: true });
  };
};
