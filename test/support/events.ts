// Builds API Gateway v2 (payload 2.0) and SQS events for handler tests, as AWS would deliver them.
import type { APIGatewayProxyEventV2, Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { type HttpRoute, httpRoutes } from '../../functions/contracts/routes';
import { createRouter } from '../../local/http/router';

let counter = 0;

const router = createRouter(httpRoutes);

export interface ApiEventInput {
  method: HttpRoute['method'];
  /** Path with its query string, e.g. `/users/20/owner?at=2026-01-01T00:00:00Z`. */
  path: string;
  headers?: Record<string, string>;
  token?: string;
  body?: unknown;
  /** Send this exact text as the body. */
  rawBody?: string;
}

export const apiEvent = (input: ApiEventInput): APIGatewayProxyEventV2 => {
  const [rawPath, rawQueryString = ''] = input.path.split('?') as [string, string?];
  const found = router.match(input.method, rawPath);
  if (found.route === null) throw new Error(`no route for ${input.method} ${rawPath}`);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.headers ?? {})) headers[k.toLowerCase()] = v;
  if (input.token !== undefined) headers.authorization = `Bearer ${input.token}`;
  const body = input.rawBody ?? (input.body === undefined ? undefined : JSON.stringify(input.body));
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  const query = new URLSearchParams(rawQueryString);
  const queryStringParameters = rawQueryString ? Object.fromEntries(query.entries()) : undefined;
  counter++;
  return {
    version: '2.0',
    routeKey: `${found.route.method} ${found.route.path}`,
    rawPath,
    rawQueryString,
    headers,
    queryStringParameters,
    pathParameters: Object.keys(found.params).length ? found.params : undefined,
    body,
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'local',
      domainName: 'localhost',
      domainPrefix: 'localhost',
      http: {
        method: input.method,
        path: rawPath,
        protocol: 'HTTP/1.1',
        sourceIp: '127.0.0.1',
        userAgent: 'test',
      },
      requestId: `req-${counter}`,
      routeKey: `${found.route.method} ${found.route.path}`,
      stage: '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
  };
};

/** A queued message as a queue's `send` received it. */
export interface QueuedMessageInput {
  body: string;
  groupId: string;
  attributes?: Record<string, string>;
}

/** String message attributes as Lambda's SQS event carries them. */
export const sqsMessageAttributes = (
  attributes: Record<string, string> = {},
): SQSRecord['messageAttributes'] =>
  Object.fromEntries(
    Object.entries(attributes).map(([name, value]) => [
      name,
      { stringValue: value, stringListValues: [], binaryListValues: [], dataType: 'String' },
    ]),
  );

/**
 * One SQS record: `sqsRecord(message, receiveCount?)` for a message as sent (with its attributes),
 * or `sqsRecord(body, groupId, receiveCount?)` for a body without attributes.
 */
export function sqsRecord(message: QueuedMessageInput, receiveCount?: number): SQSRecord;
export function sqsRecord(body: string, groupId: string, receiveCount?: number): SQSRecord;
export function sqsRecord(
  first: string | QueuedMessageInput,
  second?: string | number,
  third?: number,
): SQSRecord {
  const message =
    typeof first === 'string' ? { body: first, groupId: String(second), attributes: {} } : first;
  const receiveCount = (typeof first === 'string' ? third : (second as number | undefined)) ?? 1;
  counter++;
  return {
    messageId: `msg-${counter}`,
    receiptHandle: `rh-${counter}`,
    body: message.body,
    attributes: {
      ApproximateReceiveCount: String(receiveCount),
      SentTimestamp: String(Date.now()),
      SenderId: 'local',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
      MessageGroupId: message.groupId,
      MessageDeduplicationId: `dedup-${counter}`,
      SequenceNumber: String(counter),
    },
    messageAttributes: sqsMessageAttributes(message.attributes),
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:eu-west-1:123456789012:callbacks.fifo',
    awsRegion: 'eu-west-1',
  };
}

export const sqsEvent = (records: SQSRecord[]): SQSEvent => ({ Records: records });

/** The invocation context Lambda passes beside the event (`requestId` names the invocation). */
export const lambdaContext = (
  requestId: string,
  functionName = 'parley-handover-test',
): Context => ({
  awsRequestId: requestId,
  functionName,
  functionVersion: '$LATEST',
  invokedFunctionArn: `arn:aws:lambda:eu-west-1:123456789012:function:${functionName}`,
  memoryLimitInMB: '512',
  logGroupName: `/aws/lambda/${functionName}`,
  logStreamName: '2026/03/10/[$LATEST]0123456789abcdef',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 10_000,
  done: () => undefined,
  fail: () => undefined,
  succeed: () => undefined,
});
