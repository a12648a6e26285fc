// The floors of the warm runs: HTTP handlers served through the same local gateway as the real
// functions, doing only the I/O that a route cannot avoid, with the same document client and the
// same fetch. Nothing of ours runs in them: no auth, no zod, no logger, no domain.
// - put floor: one conditional put (what the webhook's one enqueue costs at best);
// - handover floor: one Parley `PUT owner` (signed, Authorization cached like the real client)
//   plus one conditional put.
import { createHmac, randomUUID } from 'node:crypto';
import { PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
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
export const handoverFloor = (options: {
  client: DynamoDBDocumentClient;
  tableName: string;
  parleyBaseUrl: string;
  account: string;
  services: FloorService[];
  fetch: typeof fetch;
}): FloorHandler => {
  const auth = new Map<string, string>();
  const validUntil = Math.floor(Date.now() / 1000) + 3600;
  for (const s of options.services)
    auth.set(s.identification, authorization(options.account, s, validUntil));
  const base = options.parleyBaseUrl.replace(/\/+$/, '');
  return async (event) => {
    const { userId, newOwner, as } = JSON.parse(event.body ?? '{}') as Record<string, string>;
    const res = await options.fetch(`${base}/users/${encodeURIComponent(userId!)}/owner`, {
      method: 'PUT',
      headers: { authorization: auth.get(as!) ?? '', 'content-type': 'application/json' },
      body: JSON.stringify({ newOwner }),
    });
    const text = await res.text();
    if (!res.ok) return { statusCode: 502, body: text };
    await conditionalPut(options.client, options.tableName, `FLOOR#${randomUUID()}`);
    return ok({ changed: true });
  };
};
