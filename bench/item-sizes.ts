// Item sizes as DynamoDB counts them, measured on the items the code really writes: a handover
// with an Idempotency-Key and a realistic metadata object, a webhook processed and forwarded, and
// the outbox items the notification builder makes from the handover's record. The key-distribution
// check (bench/keys.ts) charges every write by these sizes.
import type { SQSEvent } from 'aws-lambda';
import { NOTIFICATION_LISTED } from '../functions/contracts/tables';
import { deliveryIdFor, groupIdFor, parseCallback } from '../functions/domain/delivery';
import { closedCircuit } from '../functions/domain/failover/circuit';
import { notificationsFor } from '../functions/domain/notify/build';
import type { QueuedCallback } from '../functions/domain/ports';
import type { HandoverRecord, NotificationItem, ServiceInfo } from '../functions/domain/types';
import type { DepsSource } from '../functions/platform/deps';
import { callbackBody } from './counts';
import type { ItemSizes } from './keys';
import { startReceiver } from './receiver';
import { BENCH_SERVICES, type BenchSystem, TABLES } from './system';

/**
 * An item's size by the rules of DynamoDB's developer guide ("Item sizes and formats"): names and
 * strings in UTF-8 bytes, a number 1 byte per two significant digits plus 1, null and booleans 1,
 * a list or map 3 bytes plus its elements, each element 1 byte more.
 */
export const dynamoItemSize = (item: Record<string, unknown>): number => {
  let size = 0;
  for (const [name, value] of Object.entries(item)) {
    if (value === undefined) continue;
    size += Buffer.byteLength(name, 'utf8') + valueSize(value);
  }
  return size;
};

const valueSize = (value: unknown): number => {
  if (value === null || typeof value === 'boolean') return 1;
  if (typeof value === 'string') return Buffer.byteLength(value, 'utf8');
  if (typeof value === 'number') {
    const digits = String(Math.abs(value))
      .replace(/e.*$/, '')
      .replace('.', '')
      .replace(/^0+/, '')
      .replace(/0+$/, '');
    return Math.ceil(Math.max(1, digits.length) / 2) + 1;
  }
  if (Array.isArray(value)) return 3 + value.reduce((sum, v) => sum + 1 + valueSize(v), 0);
  if (typeof value === 'object') {
    let size = 3;
    for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
      if (v === undefined) continue;
      size += 1 + Buffer.byteLength(name, 'utf8') + valueSize(v);
    }
    return size;
  }
  throw new Error(`No DynamoDB size for a ${typeof value}.`);
};

/** What a bot hands over with a user: a summary and a few fields (about 200 bytes as JSON). */
export const SAMPLE_METADATA = {
  summary: 'Customer asks about a refund for order 48213; no policy matched the question.',
  intent: 'refund_request',
  language: 'en',
  confidence: 0.42,
  orderId: '48213',
};

export interface MeasuredSizes {
  sizes: ItemSizes;
  /** Bytes of the metadata each handover carried (canonical JSON length). */
  metadataBytes: number;
  /** Outbox items the builder made for one desk-to-desk handover. */
  notificationsPerHandover: number;
  /** The history record without its metadata: what byDay and byDestination would hold without it. */
  recordWithoutMetadata: number;
  /** Items seen per kind (a kind the run never wrote would fail the measurement). */
  seen: Record<string, number>;
}

const [BOT, DESK_A, DESK_B] = BENCH_SERVICES.map((s) => s.identification) as [
  string,
  string,
  string,
];

const sqsEventOf = (serviceId: string, raw: string, n: number): SQSEvent => {
  const parsed = parseCallback(raw);
  const message: QueuedCallback = {
    serviceId,
    deliveryId: deliveryIdFor(serviceId, raw, parsed),
    receivedAt: new Date().toISOString(),
    body: raw,
  };
  return {
    Records: [
      {
        messageId: `sizes-${n}`,
        receiptHandle: `sizes-${n}`,
        body: JSON.stringify(message),
        attributes: {
          ApproximateReceiveCount: '1',
          SentTimestamp: String(Date.now()),
          SenderId: 'bench',
          ApproximateFirstReceiveTimestamp: String(Date.now()),
          MessageGroupId: groupIdFor(parsed),
          MessageDeduplicationId: message.deliveryId,
        },
        messageAttributes: {},
        md5OfBody: '',
        eventSource: 'aws:sqs',
        eventSourceARN: 'arn:aws:sqs:us-east-1:000000000000:bench.fifo',
        awsRegion: 'us-east-1',
      },
    ],
  };
};

/**
 * Drives the stack once and measures every item kind the key check charges. The owner item with
 * its marker, the record and the outbox items carry SAMPLE_METADATA.
 */
export const measureItemSizes = async (sys: BenchSystem, runId: string): Promise<MeasuredSizes> => {
  const captured: { table: string; command: string; item: Record<string, unknown> }[] = [];
  const receiver = await startReceiver();
  sys.counters.onItem = (table, command, item) => captured.push({ table, command, item });
  try {
    const api = (id: string) => sys.settings.secrets[id]!.apiTokens[0]!;
    const userId = `${runId}-sizes`;
    const handover = async (from: string, to: string, key: string) => {
      const res = await fetch(`${sys.url}/handovers`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${api(from)}`,
          'content-type': 'application/json',
          'idempotency-key': key,
        },
        body: JSON.stringify({ userId, newOwner: to, metadata: SAMPLE_METADATA }),
      });
      const body = (await res.json()) as { handover?: HandoverRecord };
      if (res.status !== 200 || !body.handover) {
        throw new Error(`the sizing handover answered ${res.status}`);
      }
      return body.handover;
    };
    await handover(BOT, DESK_A, `${runId}-sizes-1`);
    captured.length = 0; // the first handover also created the owner item; the next is steady state
    const record = await handover(DESK_A, DESK_B, `${runId}-sizes-2`);

    // A webhook for a bot's user, forwarded to the bot's downstream: claim, forwardedTo, done.
    const config = {
      ...sys.config,
      services: sys.config.services.map((s) =>
        s.identification === BOT ? { ...s, downstreamUrl: receiver.url } : s,
      ),
    };
    const deps = sys.freshDeps(config);
    const source: DepsSource = async () => deps;
    const processor = (
      require('../functions/handlers/processor') as {
        makeHandler: (s: DepsSource) => (e: SQSEvent) => Promise<{ batchItemFailures: unknown[] }>;
      }
    ).makeHandler(source);
    const out = await processor(
      sqsEventOf(BOT, callbackBody(`${runId}-sizes-cb`, `${runId}-cb`), 1),
    );
    if (out.batchItemFailures.length) throw new Error('the sizing webhook was not processed');

    // The outbox: what the builder makes for that record when every Service takes notifications.
    const catalog = {
      get: (id: string): ServiceInfo | undefined => {
        const s = BENCH_SERVICES.find((b) => b.identification === id);
        return s
          ? { ...s, default: s.identification === BOT, rules: [], notify: { url: receiver.url } }
          : undefined;
      },
    };
    const outbox = notificationsFor(record, catalog, new Date().toISOString());
    const stored = (item: NotificationItem) => ({
      ...item,
      pk: `NOTIFY#${item.id}`,
      ntfPk: `NTF#${item.status}#0`,
      ntfSk: `${item.createdAt}#${item.id}`,
    });
    const sent = (item: NotificationItem): NotificationItem => ({
      ...item,
      status: 'sent',
      attempts: 1,
      lastStatus: 200,
      updatedAt: new Date().toISOString(),
      sentAt: new Date().toISOString(),
      version: 2,
    });

    const seen: Record<string, number> = {};
    const largest: Record<string, number> = {};
    const note = (kind: string, item: Record<string, unknown>) => {
      seen[kind] = (seen[kind] ?? 0) + 1;
      largest[kind] = Math.max(largest[kind] ?? 0, dynamoItemSize(item));
    };
    let recordWithoutMetadata = 0;
    for (const { table, command, item } of captured) {
      const pk = String(item.pk);
      if (table === TABLES.history) {
        note('record', item);
        const { metadata: _metadata, ...rest } = item;
        recordWithoutMetadata = Math.max(recordWithoutMetadata, dynamoItemSize(rest));
      } else if (pk.startsWith('USER#')) note(item.pending ? 'ownerMarked' : 'ownerAtRest', item);
      else if (pk.startsWith('IDEM#')) note('idempotency', item);
      else if (pk.startsWith('CB#'))
        note(command === 'PutItemCommand' ? 'deliveryClaimed' : 'deliveryDone', item);
    }
    // What byNotificationStatus holds of an item: its keys and the listed attributes (tables.ts).
    const listed = (item: Record<string, unknown>) =>
      Object.fromEntries(
        ['pk', 'ntfPk', 'ntfSk', ...NOTIFICATION_LISTED].map((name) => [name, item[name]]),
      );
    for (const item of outbox) {
      note('notificationPending', stored(item));
      note('notificationSent', stored(sent(item)));
      note('notificationListed', listed(stored(sent(item))));
    }
    // A busy Service's circuit item, as the breaker stores it (circuit-store adds its pk).
    const circuit = { ...closedCircuit(BOT, Date.now()), requests: 48_213, failures: 17 };
    note('circuit', { ...circuit, version: 1_204_577, pk: `CIRCUIT#${BOT}` });
    const kinds: (keyof ItemSizes)[] = [
      'ownerAtRest',
      'ownerMarked',
      'record',
      'idempotency',
      'deliveryClaimed',
      'deliveryDone',
      'notificationPending',
      'notificationSent',
      'notificationListed',
      'circuit',
    ];
    const missing = kinds.filter((k) => largest[k] === undefined);
    if (missing.length) throw new Error(`no item of kind ${missing.join(', ')} was written`);
    return {
      sizes: Object.fromEntries(kinds.map((k) => [k, largest[k]!])) as unknown as ItemSizes,
      metadataBytes: JSON.stringify(SAMPLE_METADATA).length,
      notificationsPerHandover: outbox.length,
      recordWithoutMetadata,
      seen,
    };
  } finally {
    sys.counters.onItem = undefined;
    await new Promise((resolve) => receiver.server.close(resolve));
  }
};
