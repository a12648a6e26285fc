// Counting at the boundaries, never guessing: DynamoDB calls by command (the document client's
// `onCall`) with the capacity units DynamoDB reports when asked, Parley calls by route (a counting
// `fetch` handed to buildDeps), Secrets Manager fetches (aws-sdk-client-mock on the SDK client),
// enqueues (a counting queue) and log bytes (the production logger's sink).
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createDocumentClient } from '../functions/adapters/dynamo';

export interface Counts {
  dynamo: Record<string, number>;
  parley: Record<string, number>;
  secretFetches: number;
  enqueues: number;
  /** Capacity units DynamoDB reported (only while `capacity` is on). */
  readUnits: number;
  writeUnits: number;
  /** ScannedCount summed over queries (items read). */
  itemsRead: number;
  /** Capacity units by table name (table only: DynamoDB-compatible servers do not report indexes). */
  unitsByTable: Record<string, { read: number; write: number }>;
  /** Secrets Manager fetches by secret id. */
  secretsById: Record<string, number>;
  logBytes: number;
  logLines: number;
}

export const emptyCounts = (): Counts => ({
  dynamo: {},
  parley: {},
  secretFetches: 0,
  enqueues: 0,
  readUnits: 0,
  writeUnits: 0,
  itemsRead: 0,
  unitsByTable: {},
  secretsById: {},
  logBytes: 0,
  logLines: 0,
});

export interface Counters {
  current: Counts;
  /** Ask DynamoDB for consumed capacity on every call (off during timed runs). */
  capacity: boolean;
  /**
   * When set, every item a PutItem writes and every item an UpdateItem leaves (asked back with
   * ReturnValues ALL_NEW unless the caller asked for something else) is handed to it.
   */
  onItem?: (table: string, command: string, item: Record<string, unknown>) => void;
  reset(): Counts;
}

export const createCounters = (): Counters => {
  const counters: Counters = {
    current: emptyCounts(),
    capacity: false,
    reset() {
      const before = counters.current;
      counters.current = emptyCounts();
      return before;
    },
  };
  return counters;
};

const bump = (table: Record<string, number>, key: string, by = 1) => {
  table[key] = (table[key] ?? 0) + by;
};

export const totalDynamo = (c: Counts): number =>
  Object.values(c.dynamo).reduce((a, b) => a + b, 0);
export const totalParley = (c: Counts): number =>
  Object.values(c.parley).reduce((a, b) => a + b, 0);

const READ_COMMANDS = new Set([
  'GetItemCommand',
  'QueryCommand',
  'ScanCommand',
  'BatchGetItemCommand',
]);

type Capacity = { CapacityUnits?: number } | undefined;

/** The functions' document client (createDocumentClient), counting into `counters`. */
export const countingDocumentClient = (
  endpoint: string,
  counters: Counters,
): DynamoDBDocumentClient => {
  const client = createDocumentClient({
    endpoint,
    region: 'local',
    onCall: (command) => bump(counters.current.dynamo, command.replace(/Command$/, '')),
  });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as Record<string, unknown>;
      if (counters.capacity && input.ReturnConsumedCapacity === undefined) {
        input.ReturnConsumedCapacity = 'TOTAL';
      }
      const command = context.commandName ?? '';
      const onItem = counters.onItem;
      const askedBack = onItem && command === 'UpdateItemCommand' && !input.ReturnValues;
      if (askedBack) input.ReturnValues = 'ALL_NEW';
      const result = await next(args);
      const output = result.output as {
        ConsumedCapacity?: Capacity | Capacity[];
        ScannedCount?: number;
        Attributes?: Record<string, unknown>;
      };
      const table = String(input.TableName ?? '?');
      if (onItem && command === 'PutItemCommand' && input.Item) {
        onItem(table, command, input.Item as Record<string, unknown>);
      }
      if (askedBack && output.Attributes) {
        onItem(table, command, output.Attributes);
        delete output.Attributes; // the caller did not ask for them
      }
      counters.current.itemsRead += output.ScannedCount ?? 0;
      const consumed = output.ConsumedCapacity;
      const units = (Array.isArray(consumed) ? consumed : [consumed]).reduce(
        (sum, c) => sum + (c?.CapacityUnits ?? 0),
        0,
      );
      const isRead = READ_COMMANDS.has(command);
      if (isRead) counters.current.readUnits += units;
      else counters.current.writeUnits += units;
      if (units > 0) {
        const byTable = counters.current.unitsByTable[table] ?? { read: 0, write: 0 };
        counters.current.unitsByTable[table] = byTable;
        if (isRead) byTable.read += units;
        else byTable.write += units;
      }
      return result;
    },
    { step: 'initialize', name: 'benchCapacityCounter', override: true },
  );
  return client;
};

/** `GET owner`, `PUT owner`, `PUT agent/unset`, `POST messages`, `GET services`, ... */
export const parleyRouteOf = (method: string, url: string): string => {
  const path = new URL(url).pathname;
  const m = /\/users\/[^/]+\/(.+)$/.exec(path);
  const what = m ? m[1]! : (path.split('/').pop() ?? path);
  return `${method.toUpperCase()} ${what}`;
};

/** A fetch that counts each call by Parley route before passing it on. */
export const countingFetch =
  (counters: Counters, inner: typeof fetch = globalThis.fetch): typeof fetch =>
  (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const method =
      init?.method ?? (typeof input === 'object' && 'method' in input ? input.method : 'GET');
    bump(counters.current.parley, parleyRouteOf(method, url));
    return inner(input, init);
  };
