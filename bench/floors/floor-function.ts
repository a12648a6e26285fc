// The cold-start floor: a Lambda entry that constructs the same AWS SDK clients as the functions'
// composition root (Secrets Manager, SQS, the DynamoDB document client) on its first invocation and
// makes the same first I/O as the function it stands for, replayed from BENCH_FLOOR_IO (a list of
// calls the bench recorded from that function's first request). None of our code is imported.
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';

export type FloorCall =
  | { kind: 'secret'; id: string }
  | { kind: 'sqs' }
  | { kind: 'dynamo'; op: string }
  | { kind: 'parley'; method: string; path: string };

let clients:
  | { secrets: SecretsManagerClient; sqs: SQSClient; dynamo: DynamoDBDocumentClient }
  | undefined;

const replay = async (call: FloorCall, n: number): Promise<void> => {
  const c = clients!;
  const table = process.env.BENCH_FLOOR_TABLE!;
  const pk = `FLOOR#${process.pid}#${n}`;
  switch (call.kind) {
    case 'secret':
      await c.secrets.send(new GetSecretValueCommand({ SecretId: call.id }));
      return;
    case 'sqs':
      await c.sqs.send(
        new SendMessageCommand({
          QueueUrl: process.env.CALLBACK_QUEUE_URL,
          MessageBody: '{}',
          MessageGroupId: 'floor',
          MessageDeduplicationId: pk,
        }),
      );
      return;
    case 'dynamo':
      if (call.op === 'GetItem')
        await c.dynamo.send(new GetCommand({ TableName: table, Key: { pk } }));
      else if (call.op === 'Query')
        await c.dynamo.send(
          new QueryCommand({
            TableName: table,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': pk },
          }),
        );
      else if (call.op === 'UpdateItem')
        await c.dynamo.send(
          new UpdateCommand({
            TableName: table,
            Key: { pk },
            UpdateExpression: 'SET #a = :a',
            ExpressionAttributeNames: { '#a': 'a' },
            ExpressionAttributeValues: { ':a': n },
          }),
        );
      else
        await c.dynamo.send(
          new PutCommand({
            TableName: table,
            Item: { pk },
            ConditionExpression: 'attribute_not_exists(pk)',
          }),
        );
      return;
    case 'parley': {
      const res = await fetch(`${process.env.BENCH_FLOOR_PARLEY_URL}/${call.path}`, {
        method: call.method,
        headers: {
          authorization: process.env.BENCH_FLOOR_PARLEY_AUTH ?? '',
          'content-type': 'application/json',
        },
        body: call.method === 'GET' ? undefined : '{}',
      });
      await res.text();
      return;
    }
  }
};

export const handler = async (): Promise<{ statusCode: number; body: string }> => {
  clients ??= {
    secrets: new SecretsManagerClient({}),
    sqs: new SQSClient({}),
    dynamo: DynamoDBDocumentClient.from(new DynamoDBClient({})),
  };
  const calls = JSON.parse(process.env.BENCH_FLOOR_IO ?? '[]') as FloorCall[];
  for (const [n, call] of calls.entries()) await replay(call, n);
  return { statusCode: 200, body: '{"ok":true}' };
};
