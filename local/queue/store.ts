// The local queue's messages, kept in a dynalite table of their own so that a Ctrl-C loses no
// accepted callback: the queue and its DLQ, deduplication markers and a sequence counter share one
// key shape. This room holds what SQS FIFO does with a message: send (size limit, dedup window),
// receive (group order, visibility timeout, receive count, the DLQ), delete, visibility changes and
// redrive. Who receives, and when, is the poller's (poller.ts).
import { randomUUID } from 'node:crypto';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { messageSizeBytes, SQS_MAX_MESSAGE_BYTES } from '../../functions/contracts/queue';
import type { TableDefinition } from '../../functions/contracts/tables';
import type { CallbackQueue, Clock, Log } from '../../functions/domain/ports';

/** The queue table: messages, the DLQ, dedup markers and a sequence counter share one key shape. */
export const queueTable: TableDefinition = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  globalIndexes: [],
  localIndexes: [],
};

export interface QueuedMessage {
  messageId: string;
  groupId: string;
  dedupId: string;
  body: string;
  /** String message attributes, by name. */
  attributes: Record<string, string>;
  /** Epoch ms. */
  sentAt: number;
  receiveCount: number;
  /** Epoch ms; in flight while in the future. */
  visibleAt: number;
}

export interface QueueStats {
  /** Waiting in the queue, visible now. */
  visible: number;
  /** Received and not yet deleted, visibility timeout still running. */
  inFlight: number;
  dlq: number;
}

/** A message as stored: its key, and what its latest receive set. */
export interface MessageItem extends QueuedMessage {
  pk: string;
  sk: string;
  firstReceivedAt?: number;
  receipt?: string;
}

export interface QueueStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /** Names the queue inside the table (and in the event's ARN). */
  name: string;
  visibilityTimeoutMs: number;
  maxReceiveCount: number;
  dedupWindowMs: number;
  /** Messages per receive. */
  batchSize: number;
  clock: Clock;
  log: Log;
  /** Called when a message becomes available (a send, a redrive): the poller looks at once. */
  onAvailable: () => void;
}

export interface QueueStore {
  /** The queue's ARN, as the event's records name it. */
  arn: string;
  send: CallbackQueue['send'];
  /**
   * Claims the next batch: the visible head of each group and the messages behind it, never a
   * group whose head is in flight or `held` (handed to a consumer that has not answered);
   * messages received maxReceiveCount times move to the DLQ instead.
   */
  receive(held: ReadonlySet<string>): Promise<MessageItem[]>;
  /** Deletes a received message, unless a later receive holds it now. */
  remove(item: MessageItem): Promise<void>;
  /** Makes received messages visible again at once (SQS's ChangeMessageVisibility to 0). */
  release(batch: readonly MessageItem[]): Promise<void>;
  changeVisibility(receiptHandle: string, seconds: number): Promise<void>;
  /** Drops dedup markers whose window has passed (DynamoDB TTL would; dynalite has none). */
  sweepDedup(): Promise<void>;
  stats(): Promise<QueueStats>;
  list(): Promise<QueuedMessage[]>;
  listDlq(): Promise<QueuedMessage[]>;
  redrive(options?: { messageIds?: string[] }): Promise<number>;
}

const pad = (n: number) => String(n).padStart(16, '0');
const isConditionFailure = (err: unknown) =>
  err instanceof ConditionalCheckFailedException ||
  (err instanceof Error && err.name === 'ConditionalCheckFailedException');

const toMessage = (item: MessageItem): QueuedMessage => ({
  messageId: item.messageId,
  groupId: item.groupId,
  dedupId: item.dedupId,
  body: item.body,
  attributes: item.attributes ?? {},
  sentAt: item.sentAt,
  receiveCount: item.receiveCount,
  visibleAt: item.visibleAt,
});

export const createQueueStore = (options: QueueStoreOptions): QueueStore => {
  const { client, tableName, name, visibilityTimeoutMs, maxReceiveCount, dedupWindowMs } = options;
  const { batchSize, clock, log, onAvailable } = options;

  const mainPk = `QUEUE#${name}`;
  const dlqPk = `QUEUE#${name}-dlq`;
  const dedupPrefix = `DEDUP#${name}#`;

  // ------------------------------------------------------------------ send

  const nextSeq = async (): Promise<number> => {
    const out = await client.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: `SEQ#${name}`, sk: '-' },
        UpdateExpression: 'ADD #n :one',
        ExpressionAttributeNames: { '#n': 'n' },
        ExpressionAttributeValues: { ':one': 1 },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(out.Attributes?.n);
  };

  const putMessage = async (item: MessageItem) => {
    try {
      await client.send(
        new PutCommand({
          TableName: tableName,
          Item: item,
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
    }
  };

  const markStored = (dedupId: string) =>
    client.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: dedupPrefix + dedupId, sk: '-' },
        UpdateExpression: 'SET #stored = :true REMOVE #pending',
        ExpressionAttributeNames: { '#stored': 'stored', '#pending': 'pending' },
        ExpressionAttributeValues: { ':true': true },
      }),
    );

  // The dedup marker is written first and carries the message until the message itself is
  // stored: a crash in between leaves a marker that the sender's retry (Parley retries anything
  // but a 200) completes, so a dedup id is never marked without its message reaching the queue.
  const send: CallbackQueue['send'] = async ({ groupId, dedupId, body, attributes = {} }) => {
    if (!groupId || !dedupId) throw new Error('A FIFO message needs a group id and a dedup id.');
    const size = messageSizeBytes(body, attributes);
    if (size > SQS_MAX_MESSAGE_BYTES) {
      throw new Error(
        `The message takes ${size} bytes with its attributes; SQS accepts at most ${SQS_MAX_MESSAGE_BYTES} bytes.`,
      );
    }
    const now = clock.now();
    const seq = await nextSeq();
    const message: MessageItem = {
      pk: mainPk,
      sk: pad(seq),
      messageId: randomUUID(),
      groupId,
      dedupId,
      body,
      attributes,
      sentAt: now,
      visibleAt: now,
      receiveCount: 0,
    };
    try {
      await client.send(
        new PutCommand({
          TableName: tableName,
          Item: {
            pk: dedupPrefix + dedupId,
            sk: '-',
            messageId: message.messageId,
            expiresAt: now + dedupWindowMs,
            stored: false,
            pending: message,
          },
          ConditionExpression: 'attribute_not_exists(pk) OR #expiresAt < :now',
          ExpressionAttributeNames: { '#expiresAt': 'expiresAt' },
          ExpressionAttributeValues: { ':now': now },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      // A duplicate within the window: accepted and dropped, after finishing an interrupted send.
      const existing = await client.send(
        new GetCommand({
          TableName: tableName,
          Key: { pk: dedupPrefix + dedupId, sk: '-' },
          ConsistentRead: true,
        }),
      );
      const pending = existing.Item?.pending as MessageItem | undefined;
      if (existing.Item && existing.Item.stored === false && pending) {
        await putMessage(pending);
        await markStored(dedupId);
        onAvailable();
      }
      return;
    }
    await putMessage(message);
    await markStored(dedupId);
    onAvailable();
  };

  // ------------------------------------------------------------------ receive and delete

  const queryAll = async (pk: string, limit = Number.POSITIVE_INFINITY): Promise<MessageItem[]> => {
    const items: MessageItem[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await client.send(
        new QueryCommand({
          TableName: tableName,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': pk },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
          Limit: Math.min(500, limit - items.length),
        }),
      );
      items.push(...((out.Items ?? []) as MessageItem[]));
      startKey = out.LastEvaluatedKey;
    } while (startKey && items.length < limit);
    return items;
  };

  const moveToDlq = async (item: MessageItem) => {
    await client.send(
      new PutCommand({
        TableName: tableName,
        Item: { ...item, pk: dlqPk, movedAt: clock.now(), receipt: undefined },
      }),
    );
    await client.send(
      new DeleteCommand({ TableName: tableName, Key: { pk: mainPk, sk: item.sk } }),
    );
    log.warn('queue message moved to the DLQ', {
      messageId: item.messageId,
      dedupId: item.dedupId,
      receiveCount: item.receiveCount,
    });
  };

  /** Marks a message received; false when someone else changed it first. */
  const claim = async (item: MessageItem, now: number, receipt: string): Promise<boolean> => {
    try {
      await client.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { pk: mainPk, sk: item.sk },
          UpdateExpression:
            'SET #visibleAt = :until, #receiveCount = :count, #receipt = :receipt, #first = if_not_exists(#first, :now)',
          ConditionExpression: '#visibleAt = :seen AND #receiveCount = :seenCount',
          ExpressionAttributeNames: {
            '#visibleAt': 'visibleAt',
            '#receiveCount': 'receiveCount',
            '#receipt': 'receipt',
            '#first': 'firstReceivedAt',
          },
          ExpressionAttributeValues: {
            ':until': now + visibilityTimeoutMs,
            ':count': item.receiveCount + 1,
            ':receipt': receipt,
            ':now': now,
            ':seen': item.visibleAt,
            ':seenCount': item.receiveCount,
          },
        }),
      );
      item.visibleAt = now + visibilityTimeoutMs;
      item.receiveCount += 1;
      item.receipt = receipt;
      item.firstReceivedAt ??= now;
      return true;
    } catch (err) {
      if (isConditionFailure(err)) return false;
      throw err;
    }
  };

  const receive = async (held: ReadonlySet<string>): Promise<MessageItem[]> => {
    const now = clock.now();
    const items = await queryAll(mainPk, 1000);
    const blocked = new Set<string>();
    const batch: MessageItem[] = [];
    const receipt = randomUUID();
    for (const item of items) {
      if (batch.length >= batchSize) break;
      if (blocked.has(item.groupId)) continue;
      if (item.visibleAt > now || held.has(item.messageId)) {
        blocked.add(item.groupId);
        continue;
      }
      if (item.receiveCount >= maxReceiveCount) {
        await moveToDlq(item);
        continue;
      }
      if (await claim(item, now, receipt)) batch.push(item);
      else blocked.add(item.groupId);
    }
    return batch;
  };

  const remove = async (item: MessageItem) => {
    try {
      await client.send(
        new DeleteCommand({
          TableName: tableName,
          Key: { pk: mainPk, sk: item.sk },
          ConditionExpression: '#receipt = :receipt',
          ExpressionAttributeNames: { '#receipt': 'receipt' },
          ExpressionAttributeValues: { ':receipt': item.receipt },
        }),
      );
    } catch (err) {
      // Received again by someone else after its visibility timeout: theirs to delete now.
      if (!isConditionFailure(err)) throw err;
    }
  };

  const release = async (batch: readonly MessageItem[]) => {
    for (const item of batch) {
      await client
        .send(
          new UpdateCommand({
            TableName: tableName,
            Key: { pk: mainPk, sk: item.sk },
            UpdateExpression: 'SET #visibleAt = :now',
            ConditionExpression: '#receipt = :receipt',
            ExpressionAttributeNames: { '#visibleAt': 'visibleAt', '#receipt': 'receipt' },
            ExpressionAttributeValues: { ':now': clock.now(), ':receipt': item.receipt },
          }),
        )
        .catch(() => undefined);
    }
  };

  /** SQS's ChangeMessageVisibility: valid only while the receive that handed out the handle holds it. */
  const changeVisibility = async (receiptHandle: string, seconds: number): Promise<void> => {
    const [sk, receipt] = receiptHandle.split(':');
    if (!sk || !receipt || !Number.isInteger(seconds) || seconds < 0 || seconds > 43_200) {
      throw new Error('A visibility change needs a receipt handle and 0 to 43200 seconds.');
    }
    try {
      await client.send(
        new UpdateCommand({
          TableName: tableName,
          Key: { pk: mainPk, sk },
          UpdateExpression: 'SET #visibleAt = :at',
          ConditionExpression: '#receipt = :receipt',
          ExpressionAttributeNames: { '#visibleAt': 'visibleAt', '#receipt': 'receipt' },
          ExpressionAttributeValues: { ':at': clock.now() + seconds * 1000, ':receipt': receipt },
        }),
      );
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      throw new Error('The receipt handle is no longer valid: the message was received again.');
    }
  };

  const sweepDedup = async () => {
    const now = clock.now();
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await client.send(
        new ScanCommand({
          TableName: tableName,
          FilterExpression: 'begins_with(pk, :prefix) AND #expiresAt < :now',
          ExpressionAttributeNames: { '#expiresAt': 'expiresAt' },
          ExpressionAttributeValues: { ':prefix': dedupPrefix, ':now': now },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) {
        if (item.stored === false) continue; // an interrupted send still waits for its retry
        await client
          .send(
            new DeleteCommand({
              TableName: tableName,
              Key: { pk: item.pk, sk: item.sk },
              ConditionExpression: '#expiresAt < :now',
              ExpressionAttributeNames: { '#expiresAt': 'expiresAt' },
              ExpressionAttributeValues: { ':now': now },
            }),
          )
          .catch((err) => {
            if (!isConditionFailure(err)) throw err;
          });
      }
      startKey = out.LastEvaluatedKey;
    } while (startKey);
  };

  return {
    arn: `arn:aws:sqs:local:000000000000:${name}.fifo`,
    send,
    receive,
    remove,
    release,
    changeVisibility,
    sweepDedup,
    async stats() {
      const now = clock.now();
      const items = await queryAll(mainPk);
      const inFlight = items.filter((i) => i.visibleAt > now).length;
      const dlq = await queryAll(dlqPk);
      return { visible: items.length - inFlight, inFlight, dlq: dlq.length };
    },
    async list() {
      return (await queryAll(mainPk)).map(toMessage);
    },
    async listDlq() {
      return (await queryAll(dlqPk)).map(toMessage);
    },
    async redrive(redriveOptions = {}) {
      const wanted = redriveOptions.messageIds ? new Set(redriveOptions.messageIds) : null;
      let moved = 0;
      for (const item of await queryAll(dlqPk)) {
        if (wanted && !wanted.has(item.messageId)) continue;
        const seq = await nextSeq();
        const now = clock.now();
        const back: MessageItem = {
          pk: mainPk,
          sk: pad(seq),
          messageId: item.messageId,
          groupId: item.groupId,
          dedupId: item.dedupId,
          body: item.body,
          attributes: item.attributes ?? {},
          sentAt: item.sentAt,
          visibleAt: now,
          receiveCount: 0,
        };
        await putMessage(back);
        await client.send(
          new DeleteCommand({ TableName: tableName, Key: { pk: dlqPk, sk: item.sk } }),
        );
        moved += 1;
      }
      if (moved > 0) {
        log.info('DLQ redriven', { moved });
        onAvailable();
      }
      return moved;
    },
  };
};
