// The DynamoDB document client every store uses. Build it once per container at module scope and
// hand it to the stores; the endpoint comes from `options.endpoint` or, through the SDK itself,
// from AWS_ENDPOINT_URL_DYNAMODB (the local runtime and tests point it at dynalite).
import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  QueryCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { ValidationError } from '../domain/errors';

export interface DocumentClientOptions {
  /** Overrides the SDK's endpoint resolution (otherwise AWS_ENDPOINT_URL_DYNAMODB or AWS). */
  endpoint?: string;
  /** Defaults to the SDK's region chain (AWS_REGION in Lambda). */
  region?: string;
  /**
   * Called once per DynamoDB request with the SDK's command name (`PutItemCommand`,
   * `QueryCommand`, ...), before it is sent: the benchmarks count calls with it.
   */
  onCall?: (command: string) => void;
}

/**
 * A document client that keeps nulls (they are data in our records) and drops undefined values.
 * With an explicit `endpoint` and no credentials in the environment, placeholder credentials are
 * used: a local DynamoDB-compatible server does not check them, and the SDK would otherwise go
 * looking for an instance role.
 */
export const createDocumentClient = (
  options: DocumentClientOptions = {},
): DynamoDBDocumentClient => {
  const config: DynamoDBClientConfig = {};
  if (options.endpoint) {
    config.endpoint = options.endpoint;
    if (!process.env.AWS_ACCESS_KEY_ID && !process.env.AWS_PROFILE) {
      config.credentials = { accessKeyId: 'local', secretAccessKey: 'local' };
    }
  }
  const region =
    options.region ?? (options.endpoint ? process.env.AWS_REGION || 'local' : undefined);
  if (region) config.region = region;

  const base = new DynamoDBClient(config);
  // Before the document marshaller (it runs just before serialization): refuse what it or
  // DynamoDB would not store as given.
  base.middlewareStack.add(
    (next) => async (args) => {
      checkStorable(args.input as Record<string, unknown>);
      return next(args);
    },
    { step: 'initialize', name: 'parleyHandoverStorableCheck', override: true },
  );
  const onCall = options.onCall;
  if (onCall) {
    base.middlewareStack.add(
      (next, context) => async (args) => {
        onCall(context.commandName ?? 'UnknownCommand');
        return next(args);
      },
      { step: 'initialize', name: 'parleyHandoverCallCounter', override: true },
    );
  }
  return DynamoDBDocumentClient.from(base, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
    unmarshallOptions: { wrapNumbers: false },
  });
};

// ---------------------------------------------------------------- what can be stored

/** DynamoDB's nesting limit, the item itself counting as level 1. */
export const MAX_ITEM_DEPTH = 32;

/**
 * Map keys the document marshaller mishandles: it reads `constructor` to tell a map from a class
 * instance (so the item fails, or another value is stored), and loses `__proto__` building a map.
 */
const MARSHALLER_UNSAFE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor']);

/**
 * An item (or an expression value) that would not be stored as given: a map key the marshaller
 * mishandles, or nesting DynamoDB refuses (which dynalite does not check). The message names the
 * top-level attribute and the problem, never a value.
 */
export class UnstorableItemError extends Error {
  constructor(
    readonly attribute: string,
    problem: string,
  ) {
    super(`The item cannot be stored: attribute "${attribute}" ${problem}.`);
    this.name = 'UnstorableItemError';
  }
}

const isContainer = (value: unknown): value is object => {
  if (Array.isArray(value)) return true;
  if (typeof value !== 'object' || value === null) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
};

/**
 * Throws UnstorableItemError for a command input whose Item, Key or expression values hold a map
 * key of MARSHALLER_UNSAFE_KEYS or nest deeper than MAX_ITEM_DEPTH (iterative: no recursion).
 * Each expression value counts as a top-level attribute: the stores set top-level attributes only.
 */
const checkStorable = (input: Record<string, unknown>): void => {
  for (const field of ['Item', 'Key', 'ExclusiveStartKey', 'ExpressionAttributeValues']) {
    const attributes = input[field];
    if (!isContainer(attributes)) continue;
    for (const [attribute, value] of Object.entries(attributes)) {
      if (MARSHALLER_UNSAFE_KEYS.has(attribute)) {
        throw new UnstorableItemError(
          attribute,
          'has a name the document marshaller does not keep',
        );
      }
      const stack: [unknown, number][] = [[value, 2]];
      while (stack.length > 0) {
        const [node, level] = stack.pop()!;
        if (!isContainer(node)) continue;
        if (level > MAX_ITEM_DEPTH) {
          throw new UnstorableItemError(
            attribute,
            `nests deeper than DynamoDB's ${MAX_ITEM_DEPTH} levels`,
          );
        }
        if (!Array.isArray(node)) {
          for (const key of Object.keys(node)) {
            if (MARSHALLER_UNSAFE_KEYS.has(key)) {
              throw new UnstorableItemError(
                attribute,
                `has a map key "${key}" that the document marshaller does not keep`,
              );
            }
          }
        }
        for (const child of Object.values(node)) stack.push([child, level + 1]);
      }
    }
  }
};

/** True when a DynamoDB call failed only because its condition did not hold. */
export const isConditionFailure = (err: unknown): boolean =>
  err instanceof Error && err.name === 'ConditionalCheckFailedException';

// ---------------------------------------------------------------- cursors and limits

/** The largest page a store serves. */
export const MAX_PAGE_LIMIT = 1000;

/** Throws ValidationError('invalid_limit') unless `limit` is an integer in 1..MAX_PAGE_LIMIT. */
export const checkLimit = (limit: number): number => {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
    throw new ValidationError(
      `The page limit must be a whole number from 1 to ${MAX_PAGE_LIMIT}.`,
      'invalid_limit',
    );
  }
  return limit;
};

/** An opaque cursor: base64url of a small JSON object. */
export const encodeCursor = (state: Record<string, unknown>): string =>
  Buffer.from(JSON.stringify(state), 'utf8').toString('base64url');

export const invalidCursor = (): ValidationError =>
  new ValidationError('The cursor is not valid.', 'invalid_cursor');

/**
 * Decodes a cursor made by `encodeCursor` and checks its kind; anything else throws
 * ValidationError('invalid_cursor'). Field checks beyond the kind are the caller's (`field`).
 * `maxChars`: longer cursors are refused before they are parsed.
 */
export const decodeCursor = (
  cursor: string,
  kind: string,
  maxChars = 4096,
): Record<string, unknown> => {
  if (cursor.length === 0 || cursor.length > maxChars || !/^[A-Za-z0-9_-]+$/.test(cursor)) {
    throw invalidCursor();
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw invalidCursor();
  const state = parsed as Record<string, unknown>;
  if (state.kind !== kind) throw invalidCursor();
  return state;
};

/** A string field of a decoded cursor, or ValidationError('invalid_cursor'). */
export const cursorString = (state: Record<string, unknown>, name: string): string => {
  const value = state[name];
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048) throw invalidCursor();
  return value;
};

/** DynamoDB rejected a start key built from a cursor: the cursor was not one of ours. */
export const isInvalidStartKey = (err: unknown): boolean =>
  err instanceof Error && err.name === 'ValidationException';

// ---------------------------------------------------------------- paged queries

export type Key = Record<string, unknown>;

export interface QuerySegment {
  /** Matching items, at most `want`, in index order. */
  items: Record<string, unknown>[];
  /** Where to resume in this partition; absent when the partition (within the condition) is done. */
  next?: Key;
  /** Sum of ScannedCount. */
  read: number;
  queries: number;
}

/**
 * Reads up to `want` matching items of one query (one partition), resuming at `startKey`.
 * Without a FilterExpression it asks for `want + 1` items, so `next` is set only when another
 * item really exists; with one, it reads in larger steps until `want` items matched, the
 * partition ends, or `maxRead` items were read (then `next` says where to go on).
 * `next` is built from the last item returned when the page ends inside a DynamoDB page, hence
 * `keyAttributes`: the table's and the index's key attribute names.
 */
export const collectQuery = async (
  client: DynamoDBDocumentClient,
  input: QueryCommandInput,
  options: { want: number; keyAttributes: string[]; startKey?: Key; maxRead: number },
): Promise<QuerySegment> => {
  const filtered = input.FilterExpression !== undefined;
  const items: Record<string, unknown>[] = [];
  let startKey = options.startKey;
  let read = 0;
  let queries = 0;
  for (;;) {
    const want = options.want - items.length;
    const limit = filtered
      ? Math.max(1, Math.min(Math.max(want + 1, 100), options.maxRead - read))
      : want + 1;
    const out = await client.send(
      new QueryCommand({ ...input, Limit: limit, ExclusiveStartKey: startKey }),
    );
    queries += 1;
    read += out.ScannedCount ?? 0;
    const found = (out.Items ?? []) as Record<string, unknown>[];
    if (found.length > want) {
      items.push(...found.slice(0, want));
      return { items, next: pick(items[items.length - 1], options.keyAttributes), read, queries };
    }
    items.push(...found);
    if (!out.LastEvaluatedKey) return { items, read, queries };
    startKey = out.LastEvaluatedKey;
    if (items.length === options.want || read >= options.maxRead) {
      return { items, next: startKey, read, queries };
    }
  }
};

const pick = (item: Record<string, unknown> | undefined, names: string[]): Key => {
  const key: Key = {};
  if (item) for (const name of names) key[name] = item[name];
  return key;
};
