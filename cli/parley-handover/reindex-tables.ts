// The re-key behind `parley-handover reindex` (DESIGN.md "Changing N"): scans the history table,
// then the state table, a page at a time, and gives each item of a sharded index the index
// attributes its own fields give it under the new N, with the stores' own key functions. It
// writes only those attributes (UpdateItem SET/REMOVE), each write conditioned on the item being
// the one read: a record on its hash, an owner or outbox item on its version (never advanced, so
// no function loses a compare-and-set to it), a note on its existence. A write that loses reads
// the item again; one the functions wrote meanwhile already has the new N's keys. A record's
// index attributes are outside the hash chain (domain/chain.ts hashes neither them nor the item's
// keys), so the chain verifies the same after. Runs with the operator's credentials: no function
// may update a history item.
import {
  type DynamoDBDocumentClient,
  GetCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { historyIndexKeys } from '../../functions/adapters/history-store';
import { isConditionFailure } from '../../functions/adapters/dynamo';
import { inboundIndexKeys } from '../../functions/adapters/metrics-store';
import { notificationIndexKeys } from '../../functions/adapters/notification-store';
import { OWNER_INDEX_ATTRIBUTES, ownerIndexKeys } from '../../functions/adapters/owner-index';
import type { NotificationStatus, PendingHandover } from '../../functions/domain/types';

export type TableName = 'history' | 'state';

export interface ReindexCounts {
  /** Items the scan read. */
  read: number;
  /** Items whose index attributes were rewritten (in a dry run: would be). */
  rewritten: number;
  /** Items already keyed for the new N (written by functions of that N, or in shards both share). */
  alreadyRight: number;
  /** Items of no sharded index (idempotency and delivery items, tombstones, ...). */
  notIndexed: number;
  /** Items deleted between the scan and their write (an erasure, an expiry). */
  gone: number;
  /** Conditional writes that lost to a function's write (each followed by a fresh read). */
  lostRaces: number;
  /** Items whose fields give no index keys (each named through onUnkeyable). */
  unkeyable: number;
}

export interface ReindexReport {
  shards: number;
  dryRun: boolean;
  history: ReindexCounts;
  state: ReindexCounts;
}

export interface ReindexPage {
  table: TableName;
  /** The page's number in this run and table, from 1. */
  page: number;
  /** The table's counts so far in this run. */
  counts: ReindexCounts;
  /** Resumes just after this page; absent after the last page of the state table. */
  cursor?: string;
}

export interface ReindexOptions {
  client: DynamoDBDocumentClient;
  tables: Record<TableName, string>;
  /** The new indexShards. */
  shards: number;
  /** Count only; write nothing. @default false */
  dryRun?: boolean;
  /** A cursor a page printed: go on after that page. */
  cursor?: string;
  /** Items per scan page. @default 100 */
  pageSize?: number;
  onPage?: (page: ReindexPage) => void;
  onUnkeyable?: (table: TableName, key: Record<string, unknown>, problem: string) => void;
}

/** A cursor this command did not print, or one printed for another run (one sentence). */
export class ReindexCursorError extends Error {
  override readonly name = 'ReindexCursorError';
}

/** The run stopped on an error; `cursor` goes on from the page it was on (nothing is lost). */
export class ReindexInterruptedError extends Error {
  override readonly name = 'ReindexInterruptedError';
  constructor(
    readonly cursor: string,
    readonly report: ReindexReport,
    cause: unknown,
  ) {
    super(
      `The reindex stopped: ${cause instanceof Error ? cause.message : String(cause)}. Nothing is lost: run it again with --cursor ${cursor} to go on from the page it was on.`,
    );
  }
}

/** How one kind of item is keyed, and how a write makes sure the item is still the one read. */
interface Kind {
  attributes: readonly string[];
  keys(item: Record<string, unknown>, shards: number): Record<string, string>;
  condition(item: Record<string, unknown>): {
    expression: string;
    names: Record<string, string>;
    values: Record<string, unknown>;
  };
}

const text = (item: Record<string, unknown>, name: string): string => {
  const value = item[name];
  if (typeof value !== 'string' || value === '') throw new Error(`it has no ${name}`);
  return value;
};

const onVersion = (item: Record<string, unknown>) => {
  if (typeof item.version !== 'number') throw new Error('it has no version');
  return { expression: '#v = :v', names: { '#v': 'version' }, values: { ':v': item.version } };
};

const RECORD: Kind = {
  attributes: ['dayPk', 'toPk', 'timeSk'],
  keys: (item, shards) =>
    historyIndexKeys(
      {
        handoverId: text(item, 'handoverId'),
        toOwner: text(item, 'toOwner'),
        createdAt: text(item, 'createdAt'),
      },
      shards,
    ),
  // A record never changes its hash; the eraser deletes it (a write then finds it gone).
  condition: (item) => ({
    expression: '#h = :h',
    names: { '#h': 'hash' },
    values: { ':h': text(item, 'hash') },
  }),
};

const OWNER: Kind = {
  attributes: OWNER_INDEX_ATTRIBUTES,
  keys: (item, shards) =>
    ownerIndexKeys(
      {
        userId: text(item, 'userId'),
        owner: text(item, 'owner'),
        pending: (item.pending ?? null) as PendingHandover | null,
        dueAt: item.dueAt,
      },
      shards,
    ),
  condition: onVersion,
};

const OUTBOX: Kind = {
  attributes: ['ntfPk', 'ntfSk'],
  keys: (item, shards) =>
    notificationIndexKeys(
      {
        id: text(item, 'id'),
        status: text(item, 'status') as NotificationStatus,
        createdAt: text(item, 'createdAt'),
      },
      shards,
    ),
  condition: onVersion,
};

// A note is put once and never changed: it only has to still be there.
const NOTE: Kind = {
  attributes: ['inboundPk', 'inboundSk'],
  keys: (item, shards) =>
    inboundIndexKeys({ day: text(item, 'day'), userId: text(item, 'userId') }, shards),
  condition: () => ({
    expression: 'attribute_exists(#pk)',
    names: { '#pk': 'pk' },
    values: {},
  }),
};

const kindOf = (table: TableName, item: Record<string, unknown>): Kind | null => {
  const pk = String(item.pk);
  if (table === 'history') {
    return pk.startsWith('USER#') && String(item.sk).startsWith('SEQ#') ? RECORD : null;
  }
  if (pk.startsWith('USER#')) return OWNER;
  if (pk.startsWith('NOTIFY#')) return OUTBOX;
  if (pk.startsWith('INBOUND#')) return NOTE;
  return null;
};

type Plan =
  | { kind: 'right' }
  | { kind: 'unkeyable'; problem: string }
  | { kind: 'rewrite'; set: Record<string, string>; remove: string[] };

const planOf = (kind: Kind, item: Record<string, unknown>, shards: number): Plan => {
  let wanted: Record<string, string>;
  try {
    wanted = kind.keys(item, shards);
    kind.condition(item);
  } catch (err) {
    return { kind: 'unkeyable', problem: err instanceof Error ? err.message : String(err) };
  }
  const set = Object.fromEntries(Object.entries(wanted).filter(([name, v]) => item[name] !== v));
  const remove = kind.attributes.filter((name) => !(name in wanted) && item[name] !== undefined);
  return Object.keys(set).length === 0 && remove.length === 0
    ? { kind: 'right' }
    : { kind: 'rewrite', set, remove };
};

/** Fresh reads after lost races before the run gives up on an item (and stops, resumable). */
const ATTEMPTS = 5;
/** Items of a page rewritten at once. */
const IN_FLIGHT = 16;
const TABLE_ORDER: readonly TableName[] = ['history', 'state'];

interface Position {
  table: TableName;
  start?: Record<string, string>;
}

const encodeCursor = (shards: number, dryRun: boolean, at: Position): string =>
  Buffer.from(
    JSON.stringify({
      v: 1,
      shards,
      dryRun,
      table: at.table,
      ...(at.start ? { start: at.start } : {}),
    }),
  ).toString('base64url');

/** The position a cursor names, for a run to `shards` (dry or not). */
export const decodeCursor = (cursor: string, shards: number, dryRun: boolean): Position => {
  const foreign = () => new ReindexCursorError('--cursor is not a cursor this command printed.');
  let state: Record<string, unknown>;
  try {
    if (!/^[A-Za-z0-9_-]+$/.test(cursor)) throw foreign();
    state = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw foreign();
  }
  const start = state?.start;
  const validStart =
    start === undefined ||
    (typeof start === 'object' &&
      start !== null &&
      Object.entries(start).every(([k, v]) => ['pk', 'sk'].includes(k) && typeof v === 'string') &&
      typeof (start as Record<string, unknown>).pk === 'string');
  if (
    typeof state !== 'object' ||
    state === null ||
    state.v !== 1 ||
    !Number.isInteger(state.shards) ||
    typeof state.dryRun !== 'boolean' ||
    !TABLE_ORDER.includes(state.table as TableName) ||
    !validStart
  ) {
    throw foreign();
  }
  if (state.shards !== shards) {
    throw new ReindexCursorError(
      `This cursor was printed by a reindex to ${state.shards} shards: run it with --shards ${state.shards}, or start again without --cursor.`,
    );
  }
  if (state.dryRun && !dryRun) {
    throw new ReindexCursorError(
      'This cursor was printed by a dry run, which rewrote nothing: start the real run without --cursor.',
    );
  }
  return { table: state.table as TableName, start: start as Record<string, string> | undefined };
};

const zero = (): ReindexCounts => ({
  read: 0,
  rewritten: 0,
  alreadyRight: 0,
  notIndexed: 0,
  gone: 0,
  lostRaces: 0,
  unkeyable: 0,
});

/**
 * Re-keys both tables for `shards` index shards, from the cursor's page on.
 * Input: the tables, the new N. Output: the counts per table. Steps: per page of a scan, each
 * item's plan from its own fields (right, unkeyable, or the attributes to set and remove), then
 * the conditional writes; a lost race reads the item again and plans again.
 */
export const reindexTables = async (options: ReindexOptions): Promise<ReindexReport> => {
  const { client, tables, shards } = options;
  const dryRun = options.dryRun ?? false;
  const pageSize = options.pageSize ?? 100;
  const report: ReindexReport = { shards, dryRun, history: zero(), state: zero() };
  const from: Position = options.cursor
    ? decodeCursor(options.cursor, shards, dryRun)
    : { table: 'history' };

  const keyOf = (table: TableName, item: Record<string, unknown>) =>
    table === 'history' ? { pk: item.pk, sk: item.sk } : { pk: item.pk };

  const write = (table: TableName, kind: Kind, item: Record<string, unknown>, plan: Plan) => {
    if (plan.kind !== 'rewrite') throw new Error('Only a rewrite is written.');
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = {};
    const sets = Object.entries(plan.set).map(([name, value], i) => {
      names[`#s${i}`] = name;
      values[`:s${i}`] = value;
      return `#s${i} = :s${i}`;
    });
    const removes = plan.remove.map((name, i) => {
      names[`#r${i}`] = name;
      return `#r${i}`;
    });
    const condition = kind.condition(item);
    const values_ = { ...values, ...condition.values };
    return client.send(
      new UpdateCommand({
        TableName: tables[table],
        Key: keyOf(table, item),
        UpdateExpression: [
          sets.length ? `SET ${sets.join(', ')}` : '',
          removes.length ? `REMOVE ${removes.join(', ')}` : '',
        ]
          .filter(Boolean)
          .join(' '),
        ConditionExpression: condition.expression,
        ExpressionAttributeNames: { ...names, ...condition.names },
        ...(Object.keys(values_).length ? { ExpressionAttributeValues: values_ } : {}),
      }),
    );
  };

  const rekey = async (table: TableName, read: Record<string, unknown>): Promise<void> => {
    const counts = report[table];
    const kind = kindOf(table, read);
    if (!kind) {
      counts.notIndexed += 1;
      return;
    }
    let item = read;
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      const plan = planOf(kind, item, shards);
      if (plan.kind === 'right') {
        counts.alreadyRight += 1;
        return;
      }
      if (plan.kind === 'unkeyable') {
        counts.unkeyable += 1;
        options.onUnkeyable?.(table, keyOf(table, item), plan.problem);
        return;
      }
      if (dryRun) {
        counts.rewritten += 1;
        return;
      }
      try {
        await write(table, kind, item, plan);
        counts.rewritten += 1;
        return;
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
      }
      counts.lostRaces += 1;
      const fresh = await client.send(
        new GetCommand({ TableName: tables[table], Key: keyOf(table, item), ConsistentRead: true }),
      );
      if (!fresh.Item) {
        counts.gone += 1;
        return;
      }
      item = fresh.Item;
    }
    throw new Error(
      `an item of the ${table} table lost ${ATTEMPTS} races in a row to the functions' writes`,
    );
  };

  for (const table of TABLE_ORDER.slice(TABLE_ORDER.indexOf(from.table))) {
    let start = table === from.table ? from.start : undefined;
    let page = 0;
    do {
      const here = encodeCursor(shards, dryRun, { table, start });
      try {
        const out = await client.send(
          new ScanCommand({
            TableName: tables[table],
            Limit: pageSize,
            ConsistentRead: true,
            ...(start ? { ExclusiveStartKey: start } : {}),
          }),
        );
        const items = (out.Items ?? []) as Record<string, unknown>[];
        report[table].read += items.length;
        for (let i = 0; i < items.length; i += IN_FLIGHT) {
          // Every write of the batch settles before a failure stops the run: the counts are whole.
          const settled = await Promise.allSettled(
            items.slice(i, i + IN_FLIGHT).map((item) => rekey(table, item)),
          );
          const failed = settled.find((s) => s.status === 'rejected');
          if (failed) throw failed.reason;
        }
        start = out.LastEvaluatedKey as Record<string, string> | undefined;
      } catch (err) {
        throw new ReindexInterruptedError(here, report, err);
      }
      page += 1;
      const next: Position | undefined = start
        ? { table, start }
        : table === 'history'
          ? { table: 'state' }
          : undefined;
      options.onPage?.({
        table,
        page,
        counts: { ...report[table] },
        ...(next ? { cursor: encodeCursor(shards, dryRun, next) } : {}),
      });
    } while (start);
  }
  return report;
};
