// The stores' contract (functions/domain/ports.ts: HistoryStore and StateStore) as one set of
// cases, run against the in-memory fakes the domain tests use (stores.fakes.test.ts) and against
// the DynamoDB adapters over dynalite (stores.dynalite.test.ts), so the fakes cannot drift from
// what the real stores do. Only what the port promises is asserted: page contents and order, the
// bound on items read per page (the scaling budget: at most limit x index shards, whatever the
// table holds), not how a short filtered page is cut. The sharded indexes are walked with 1, 3 and
// 8 shards; the fakes have no shards and keep the same promises.
import { ValidationError } from '../../functions/domain/errors';
import type { HistoryStore, StateStore } from '../../functions/domain/ports';
import type {
  DeliveryItem,
  HandoverRecord,
  IdempotencyItem,
  OwnerItem,
  Page,
  PendingHandover,
} from '../../functions/domain/types';

export interface Stores {
  history: HistoryStore;
  state: StateStore;
}

const BOT = 'as272d6g2ds766fcdfgh';
const AGENT = 'Jlk9e7cSf9g3FFsaqe39';
const NOW = Date.parse('2026-03-02T10:00:00.000Z');

const record = (overrides: Partial<HandoverRecord> = {}): HandoverRecord => ({
  handoverId: 'h-1',
  userId: '20',
  seq: 1,
  fromOwner: BOT,
  toOwner: AGENT,
  reason: 'question_too_complex',
  metadata: { reason: 'question_too_complex' },
  metadataDigest: 'digest-1',
  requestedBy: BOT,
  source: 'api',
  status: 'completed',
  parley: { status: 200, code: null, durationMs: 48 },
  createdAt: '2026-03-02T10:00:00.000Z',
  prevHash: '0'.repeat(64),
  hash: 'hash-1',
  ...overrides,
});

/** `count` records of one user, one minute apart from `start`. */
const userRecords = (userId: string, count: number, start = '2026-03-02T10:00:00.000Z') =>
  Array.from({ length: count }, (_, i) =>
    record({
      userId,
      seq: i + 1,
      handoverId: `${userId}-h${String(i + 1).padStart(2, '0')}`,
      createdAt: new Date(Date.parse(start) + i * 60_000).toISOString(),
    }),
  );

const owner = (overrides: Partial<OwnerItem> = {}): OwnerItem => ({
  userId: '20',
  owner: BOT,
  version: 1,
  since: null,
  lastSeq: 0,
  lastHash: '0'.repeat(64),
  lastCreatedAt: null,
  lastHandoverId: null,
  pending: null,
  refreshedAt: '2026-03-02T10:00:00.000Z',
  ...overrides,
});

const pending = (markedAt: string, userId = '20'): PendingHandover => ({
  draft: {
    handoverId: `h-${userId}`,
    userId,
    seq: 1,
    fromOwner: null,
    toOwner: AGENT,
    reason: null,
    metadata: { reason: 'question_too_complex', nested: { note: null, list: [1, null] } },
    metadataDigest: 'digest',
    requestedBy: BOT,
    source: 'api',
    createdAt: markedAt,
    prevHash: '0'.repeat(64),
  },
  markedAt,
  actingService: BOT,
  idempotencyKey: 'key-1',
});

const idempotency = (overrides: Partial<IdempotencyItem> = {}): IdempotencyItem => ({
  callerServiceId: BOT,
  key: 'key-1',
  handoverId: 'h-1',
  userId: '20',
  bodyHash: 'body-1',
  expiresAt: NOW / 1000 + 86_400,
  ...overrides,
});

const LEASE_MS = 60_000;
const delivery = (overrides: Partial<DeliveryItem> = {}): DeliveryItem => ({
  deliveryId: `${BOT}#message#m-1`,
  serviceId: BOT,
  userId: '20',
  type: 'message',
  receivedAt: '2026-03-02T10:00:00.000Z',
  state: 'in_progress',
  disposition: null,
  replyState: 'none',
  handoverId: null,
  leaseUntil: NOW + LEASE_MS,
  expiresAt: NOW / 1000 + 30 * 86_400,
  ...overrides,
});

/** Follows the cursors to the end: every page's items, in order, and the page sizes. */
const allPages = async <T>(read: (cursor?: string) => Promise<Page<T>>, maxPages = 100) => {
  const items: T[] = [];
  const sizes: number[] = [];
  let cursor: string | undefined;
  do {
    const page = await read(cursor);
    items.push(...page.items);
    sizes.push(page.items.length);
    cursor = page.cursor;
  } while (cursor && sizes.length < maxPages);
  return { items, sizes };
};

/** The error a call throws: its ValidationError code, or the error itself. */
const codeOf = async (run: () => Promise<unknown>): Promise<unknown> => {
  try {
    await run();
  } catch (err) {
    return err instanceof ValidationError ? err.code : err;
  }
  return 'no error';
};

/**
 * Cursors no store made: not base64url, or base64url of something it could not have written
 * (an array, not JSON, a cursor's kind without a position).
 */
const FORGED_CURSORS = [
  'not a cursor!',
  Buffer.from('[1,2]').toString('base64url'),
  'bm90IGpzb24',
  Buffer.from('{"kind":"user"}').toString('base64url'),
];

/**
 * Registers the contract's cases. `fresh` gives empty stores for each case; `hooks` start and stop
 * whatever the stores need (a dynalite server).
 */
/** The index shards the sharded cases run with (the fakes ignore it). */
export interface StoreOptions {
  shards?: number;
}

/** `count` distinct ids, a 32-bit LCG from `seed`: the same spread of shards on every run. */
const pseudoIds = (prefix: string, count: number, seed = 7): string[] => {
  let x = seed;
  return Array.from({ length: count }, (_, i) => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return `${prefix}-${i}-${x.toString(36)}`;
  });
};

/** Appends with a few writes in flight at once (seeding thousands of records one by one is slow). */
const appendMany = async (history: HistoryStore, records: HandoverRecord[]) => {
  for (let i = 0; i < records.length; i += 50) {
    await Promise.all(records.slice(i, i + 50).map((r) => history.append(r)));
  }
};

export function describeStoreContract(
  subject: string,
  fresh: (options?: StoreOptions) => Promise<Stores>,
  hooks: { beforeAll?: () => Promise<void>; afterAll?: () => Promise<void> } = {},
): void {
  describe(`the store contract: ${subject}`, () => {
    let history: HistoryStore;
    let state: StateStore;

    if (hooks.beforeAll) beforeAll(hooks.beforeAll);
    if (hooks.afterAll) afterAll(hooks.afterAll);
    beforeEach(async () => {
      ({ history, state } = await fresh());
    });

    const appendAll = async (records: HandoverRecord[]) => {
      for (const r of records) await history.append(r);
    };

    describe('history: append once', () => {
      it('appends a record once and answers exists for another record at the same seq', async () => {
        const first = record();
        const second = record({ handoverId: 'h-other', toOwner: BOT, hash: 'hash-other' });

        const results = [await history.append(first), await history.append(second)];

        expect(results).toEqual(['appended', 'exists']);
        expect(await history.get('20', 1)).toEqual(first);
      });

      it('reads back exactly what was appended, nulls and nested metadata included', async () => {
        const observed = record({
          fromOwner: null,
          reason: null,
          metadata: null,
          source: 'observed',
          requestedBy: 'parley',
          parley: null,
        });
        const failed = record({
          seq: 2,
          handoverId: 'h-2',
          metadata: { ticket: { id: 7, tags: ['vip', null], note: null, empty: {} }, flag: false },
          parley: { status: 503, code: 'http_503', durationMs: 0 },
          status: 'failed',
        });
        await appendAll([observed, failed]);

        const read = [await history.get('20', 1), await history.get('20', 2)];

        expect(read).toEqual([observed, failed]);
        expect(read[0]?.fromOwner).toBeNull();
        expect(read[0]?.metadata).toBeNull();
        expect(Object.keys(read[1] ?? {}).sort()).toEqual(Object.keys(failed).sort());
      });

      it('answers null for a seq or a user never written', async () => {
        await history.append(record());

        expect([await history.get('20', 2), await history.get('21', 1)]).toEqual([null, null]);
      });

      it('returns copies: changing what it returned changes nothing stored', async () => {
        await history.append(record());
        const read = (await history.get('20', 1))!;
        read.toOwner = 'changed';
        (read.metadata as Record<string, unknown>).reason = 'changed';

        expect(await history.get('20', 1)).toEqual(record());
      });
    });

    describe('history: a user in pages', () => {
      it('lists newest first in pages of 10, 10 and 5, without duplicates or gaps', async () => {
        const records = userRecords('20', 25);
        await appendAll([...records, ...userRecords('21', 3)]);

        const { items, sizes } = await allPages((cursor) =>
          history.listUser('20', { limit: 10, cursor }),
        );

        expect(sizes).toEqual([10, 10, 5]);
        expect(items).toEqual([...records].reverse());
      });

      it('lists oldest first when asked, with no cursor after a last full page', async () => {
        const records = userRecords('20', 20);
        await appendAll(records);

        const { items, sizes } = await allPages((cursor) =>
          history.listUser('20', { limit: 10, cursor, order: 'asc' }),
        );

        expect(sizes).toEqual([10, 10]);
        expect(items).toEqual(records);
      });

      it('answers an empty page without a cursor for a user without records', async () => {
        const page = await history.listUser('nobody', { limit: 10 });

        expect([page.items, page.cursor]).toEqual([[], undefined]);
      });

      it('rejects a cursor it did not make as invalid_cursor', async () => {
        await appendAll(userRecords('20', 5));

        const codes = [];
        for (const cursor of FORGED_CURSORS) {
          codes.push(await codeOf(() => history.listUser('20', { limit: 2, cursor })));
        }

        expect(codes).toEqual(FORGED_CURSORS.map(() => 'invalid_cursor'));
      });

      it('rejects a cursor made for another query as invalid_cursor', async () => {
        await appendAll(userRecords('20', 5, '2026-03-01T00:00:00.000Z'));
        const userCursor = (await history.listUser('20', { limit: 2 })).cursor;
        const range = {
          from: '2026-03-01T00:00:00.000Z',
          to: '2026-03-02T00:00:00.000Z',
          limit: 2,
        };
        const rangeCursor = (await history.listRange(range)).cursor;

        const codes = [
          await codeOf(() =>
            history.listUser('20', { limit: 2, cursor: userCursor, order: 'asc' }),
          ),
          await codeOf(() => history.listUser('20', { limit: 2, cursor: rangeCursor })),
          await codeOf(() => history.listRange({ ...range, cursor: userCursor })),
          await codeOf(() =>
            history.listRange({ ...range, cursor: rangeCursor, filters: { toOwner: AGENT } }),
          ),
        ];

        expect([userCursor, rangeCursor]).toEqual([expect.any(String), expect.any(String)]);
        expect(codes).toEqual([
          'invalid_cursor',
          'invalid_cursor',
          'invalid_cursor',
          'invalid_cursor',
        ]);
      });

      it('rejects a limit above 1000 or below 1 as invalid_limit', async () => {
        const codes = [
          await codeOf(() => history.listUser('20', { limit: 1001 })),
          await codeOf(() => history.listUser('20', { limit: 0 })),
        ];

        expect(codes).toEqual(['invalid_limit', 'invalid_limit']);
      });
    });

    describe('history: the owner at an instant', () => {
      it('finds the record in force before, at, between and after the records', async () => {
        const records = userRecords('20', 3);
        await appendAll([...records, ...userRecords('21', 2, '2026-03-01T00:00:00Z')]);

        const answers = [
          await history.latestAtOrBefore('20', '2026-03-02T09:59:59.999Z'),
          await history.latestAtOrBefore('20', '2026-03-02T10:00:00.000Z'),
          await history.latestAtOrBefore('20', '2026-03-02T10:01:30Z'),
          await history.latestAtOrBefore('20', '2026-03-02T10:02:00.000Z'),
          await history.latestAtOrBefore('20', '2027-01-01T00:00:00.000Z'),
        ];

        expect(answers.map((r) => r?.handoverId ?? null)).toEqual([
          null,
          '20-h01',
          '20-h02',
          '20-h03',
          '20-h03',
        ]);
        expect(answers[1]).toEqual(records[0]);
      });

      it('compares instants as times, whatever ISO form the instant is written in', async () => {
        await appendAll([
          record({ createdAt: '2026-03-02T10:00:59.500Z' }),
          record({ seq: 2, handoverId: 'h-2', createdAt: '2026-03-02T10:01:00.000Z' }),
        ]);

        const answers = [
          await history.latestAtOrBefore('20', '2026-03-02T10:00:59Z'),
          await history.latestAtOrBefore('20', '2026-03-02T11:00:59.600+01:00'),
        ];

        expect(answers.map((r) => r?.handoverId ?? null)).toEqual([null, 'h-1']);
      });
    });

    describe('history: time ranges', () => {
      // Four users, records on 1-4 March at 08:00, 12:00 and 23:59:59.999, plus one record
      // before and one after the range asked; the 12:00 records go to the Agent.
      const dayRecords = (): HandoverRecord[] => {
        const out: HandoverRecord[] = [];
        const seqs = new Map<string, number>();
        const add = (userId: string, createdAt: string, extra: Partial<HandoverRecord> = {}) => {
          const seq = (seqs.get(userId) ?? 0) + 1;
          seqs.set(userId, seq);
          out.push(
            record({ userId, seq, handoverId: `${createdAt}-${userId}`, createdAt, ...extra }),
          );
        };
        add('u0', '2026-02-28T12:00:00.000Z');
        for (let day = 1; day <= 4; day += 1) {
          ['08:00:00.000', '12:00:00.000', '23:59:59.999'].forEach((time, i) => {
            add(`u${(day + i) % 4}`, `2026-03-0${day}T${time}Z`, {
              toOwner: i === 1 ? AGENT : BOT,
              reason: i === 2 ? 'user_requested_human' : 'question_too_complex',
              status: day === 3 && i === 0 ? 'failed' : 'completed',
              source: i === 0 ? 'rule' : 'api',
            });
          });
        }
        add('u1', '2026-03-05T00:00:00.000Z');
        return out;
      };
      const from = '2026-03-01T08:00:00.000Z';
      const to = '2026-03-04T23:59:59.999Z';
      const inRange = (records: HandoverRecord[]) =>
        records.filter((r) => r.createdAt >= from && r.createdAt <= to).map((r) => r.handoverId);

      it('walks several days oldest first, bounds included, in pages no larger than the limit', async () => {
        const records = dayRecords();
        await appendAll(records);

        const { items, sizes } = await allPages((cursor) =>
          history.listRange({ from, to, limit: 5, cursor }),
        );

        expect(items.map((r) => r.handoverId)).toEqual(inRange(records));
        expect(sizes[0]).toEqual(5);
        expect(Math.max(...sizes)).toBeLessThanOrEqual(5);
      });

      it('starts and ends inside a day', async () => {
        const records = dayRecords();
        await appendAll(records);
        const bounds = { from: '2026-03-01T12:00:00.000Z', to: '2026-03-03T12:00:00.000Z' };

        const { items } = await allPages((cursor) =>
          history.listRange({ ...bounds, limit: 2, cursor }),
        );

        expect(items.map((r) => r.handoverId)).toEqual(
          records
            .filter((r) => r.createdAt >= bounds.from && r.createdAt <= bounds.to)
            .map((r) => r.handoverId),
        );
        expect(items).toHaveLength(7);
      });

      it('orders records of the same instant by handover id', async () => {
        const at = '2026-03-02T10:00:00.000Z';
        await appendAll([
          record({ userId: 'a', handoverId: 'h-c', createdAt: at, toOwner: BOT }),
          record({ userId: 'b', handoverId: 'h-a', createdAt: at, toOwner: AGENT }),
          record({ userId: 'c', handoverId: 'h-b', createdAt: at, toOwner: BOT }),
        ]);

        const plain = await history.listRange({ from: at, to: at, limit: 10 });
        const toAgent = await history.listRange({
          from: at,
          to: at,
          limit: 10,
          filters: { toOwner: AGENT },
        });

        expect(plain.items.map((r) => r.handoverId)).toEqual(['h-a', 'h-b', 'h-c']);
        expect(toAgent.items.map((r) => r.handoverId)).toEqual(['h-a']);
      });

      it('applies the destination, reason, status and source filters across days and pages', async () => {
        const records = dayRecords();
        await appendAll(records);
        const walk = (filters: Parameters<HistoryStore['listRange']>[0]['filters']) =>
          allPages((cursor) => history.listRange({ from, to, limit: 2, cursor, filters }));
        const expected = (keep: (r: HandoverRecord) => boolean) => inRange(records.filter(keep));

        const results = [
          await walk({ toOwner: AGENT }),
          await walk({ toOwner: BOT, reason: 'user_requested_human' }),
          await walk({ reason: 'user_requested_human' }),
          await walk({ status: 'failed' }),
          await walk({ source: 'rule', reason: 'question_too_complex' }),
        ];

        expect(results.map((r) => r.items.map((i) => i.handoverId))).toEqual([
          expected((r) => r.toOwner === AGENT),
          expected((r) => r.toOwner === BOT && r.reason === 'user_requested_human'),
          expected((r) => r.reason === 'user_requested_human'),
          ['2026-03-03T08:00:00.000Z-u3'],
          expected((r) => r.source === 'rule' && r.reason === 'question_too_complex'),
        ]);
        expect(results.map((r) => r.items.length)).toEqual([4, 4, 4, 1, 4]);
      });

      it('answers an empty page without a cursor for a range without records, or reversed', async () => {
        await appendAll(dayRecords());

        const empty = await history.listRange({
          from: '2026-04-01T00:00:00.000Z',
          to: '2026-04-03T00:00:00.000Z',
          limit: 10,
        });
        const reversed = await history.listRange({ from: to, to: from, limit: 10 });

        expect([empty.items, empty.cursor, reversed.items, reversed.cursor]).toEqual([
          [],
          undefined,
          [],
          undefined,
        ]);
      });

      it('rejects bounds that are not instants, a forged cursor and a bad limit', async () => {
        await appendAll(dayRecords());
        const range = { from, to, limit: 2 };

        const codes = [
          await codeOf(() => history.listRange({ ...range, from: 'yesterday' })),
          await codeOf(() => history.listRange({ ...range, to: '2026-13-45T00:00:00Z' })),
          ...(await Promise.all(
            FORGED_CURSORS.map((cursor) => codeOf(() => history.listRange({ ...range, cursor }))),
          )),
          await codeOf(() => history.listRange({ ...range, limit: 2.5 })),
          await codeOf(() => history.listRange({ ...range, limit: 1001 })),
        ];

        expect(codes).toEqual([
          'invalid_request',
          'invalid_request',
          ...FORGED_CURSORS.map(() => 'invalid_cursor'),
          'invalid_limit',
          'invalid_limit',
        ]);
      });
    });

    describe('state: owner items (conditional puts, CAS on version)', () => {
      it('creates an owner item once; a second create is refused and changes nothing', async () => {
        const first = owner();

        const results = [
          await state.createOwner(first),
          await state.createOwner(owner({ owner: AGENT })),
        ];

        expect(results).toEqual([true, false]);
        expect(await state.getOwner('20')).toEqual(first);
      });

      it('answers null for a user without an owner item', async () => {
        expect(await state.getOwner('nobody')).toBeNull();
      });

      it('replaces the item when the expected version matches, and refuses a stale version', async () => {
        await state.createOwner(owner());
        const marked = owner({ version: 2, pending: pending('2026-03-02T10:00:01.000Z') });

        const results = [
          await state.compareAndSetOwner(marked, 1),
          await state.compareAndSetOwner(owner({ version: 2, owner: AGENT }), 1),
        ];

        expect(results).toEqual([true, false]);
        expect(await state.getOwner('20')).toEqual(marked);
      });

      it('refuses every compare-and-set of a fenced item (a full erasure under way), and a create', async () => {
        await state.createOwner(owner());
        const fenced = owner({
          version: 2,
          erasing: { erasureId: 'era_1', since: '2026-03-02T10:00:01.000Z' },
        });

        const results = [
          await state.compareAndSetOwner(fenced, 1),
          await state.compareAndSetOwner(owner({ version: 3, owner: AGENT }), 2),
          await state.compareAndSetOwner({ ...fenced, version: 3 }, 2),
          await state.createOwner(owner({ owner: AGENT })),
        ];

        expect(results).toEqual([true, false, false, false]);
        expect(await state.getOwner('20')).toEqual(fenced);
      });

      it('refuses a compare-and-set on a user without an owner item', async () => {
        expect(await state.compareAndSetOwner(owner({ version: 2 }), 1)).toEqual(false);
        expect(await state.getOwner('20')).toBeNull();
      });

      it('throws when the new version does not follow the expected one, writing nothing', async () => {
        await state.createOwner(owner());

        await expect(state.compareAndSetOwner(owner({ version: 3 }), 1)).rejects.toThrow(
          'An owner item write must advance the version by exactly one.',
        );
        expect(await state.getOwner('20')).toEqual(owner());
      });

      it('lets exactly one of 20 concurrent writers from the same version win', async () => {
        await state.createOwner(owner());
        const writers = Array.from({ length: 20 }, (_, i) =>
          owner({
            version: 2,
            owner: `Service${i}`,
            refreshedAt: `2026-03-02T10:00:${String(i).padStart(2, '0')}.000Z`,
          }),
        );

        const results = await Promise.all(writers.map((w) => state.compareAndSetOwner(w, 1)));

        expect(results.filter(Boolean)).toHaveLength(1);
        expect(await state.getOwner('20')).toEqual(writers[results.indexOf(true)]);
      });

      it('lists every user with an owner item once, across pages, and nothing else', async () => {
        for (const userId of ['a', 'b', 'c']) await state.createOwner(owner({ userId }));
        await state.putIdempotency(idempotency(), NOW);
        await state.claimDelivery(delivery(), NOW, null);

        const { items } = await allPages((cursor) => state.listUsers({ limit: 2, cursor }));

        expect(items.map((u) => u.userId).sort()).toEqual(['a', 'b', 'c']);
      });
    });

    describe('state: the pending index', () => {
      const mark = async (userId: string, markedAt: string | null) => {
        await state.createOwner(owner({ userId }));
        await state.compareAndSetOwner(
          owner({ userId, version: 2, pending: markedAt ? pending(markedAt, userId) : null }),
          1,
        );
      };

      it('lists only users whose marker is older than the cutoff, oldest first', async () => {
        await mark('a', '2026-03-02T10:00:00.000Z');
        await mark('b', '2026-03-02T10:05:00.000Z');
        await mark('c', null);
        await mark('d', '2026-03-02T10:20:00.000Z');
        await mark('e', '2026-03-02T10:10:00.000Z');

        const page = await state.listStalePending('2026-03-02T10:10:00.000Z', { limit: 10 });

        expect([page.items, page.cursor]).toEqual([
          [
            { userId: 'a', markedAt: '2026-03-02T10:00:00.000Z' },
            { userId: 'b', markedAt: '2026-03-02T10:05:00.000Z' },
          ],
          undefined,
        ]);
      });

      it('forgets a marker once a write clears it', async () => {
        await mark('a', '2026-03-02T10:00:00.000Z');
        await mark('b', '2026-03-02T10:05:00.000Z');

        const cleared = owner({ userId: 'a', version: 3, owner: AGENT, lastSeq: 1, pending: null });

        await state.compareAndSetOwner(cleared, 2);

        const page = await state.listStalePending('2026-03-02T11:00:00.000Z', { limit: 10 });
        expect(page.items.map((i) => i.userId)).toEqual(['b']);
        expect(await state.getOwner('a')).toEqual(cleared);
      });

      it('pages through markers with a cursor', async () => {
        for (let i = 0; i < 5; i += 1) await mark(`u${i}`, `2026-03-02T10:0${i}:00.000Z`);

        const { items, sizes } = await allPages((cursor) =>
          state.listStalePending('2026-03-02T12:00:00.000Z', { limit: 2, cursor }),
        );

        expect(sizes).toEqual([2, 2, 1]);
        expect(items.map((i) => i.userId)).toEqual(['u0', 'u1', 'u2', 'u3', 'u4']);
      });

      it('rejects a forged cursor and a bad limit', async () => {
        await mark('a', '2026-03-02T10:00:00.000Z');
        const cutoff = '2026-03-02T12:00:00.000Z';

        const codes = [
          ...(await Promise.all(
            FORGED_CURSORS.map((cursor) =>
              codeOf(() => state.listStalePending(cutoff, { limit: 2, cursor })),
            ),
          )),
          await codeOf(() => state.listStalePending(cutoff, { limit: 0 })),
        ];

        expect(codes).toEqual([...FORGED_CURSORS.map(() => 'invalid_cursor'), 'invalid_limit']);
      });
    });

    describe.each([1, 3, 8])('sharded indexes, %i shard(s)', (shards) => {
      // Records of many users over three days, several at the same instant, to two Services; the
      // range asked starts and ends inside a day.
      const spread = (): HandoverRecord[] => {
        const ids = pseudoIds('h', 90);
        const seqs = new Map<string, number>();
        return ids.map((handoverId, i) => {
          const userId = `u${i % 23}`;
          const seq = (seqs.get(userId) ?? 0) + 1;
          seqs.set(userId, seq);
          const at = Date.parse('2026-03-01T06:00:00.000Z') + Math.floor(i / 3) * 7_200_000;
          return record({
            userId,
            seq,
            handoverId,
            createdAt: new Date(at).toISOString(),
            toOwner: i % 4 === 0 ? AGENT : BOT,
            reason: i % 5 === 0 ? 'user_requested_human' : 'question_too_complex',
          });
        });
      };
      const bounds = { from: '2026-03-01T08:00:00.000Z', to: '2026-03-03T20:00:00.000Z' };
      const ordered = (records: HandoverRecord[]) =>
        records
          .filter((r) => r.createdAt >= bounds.from && r.createdAt <= bounds.to)
          .sort(
            (a, b) =>
              a.createdAt.localeCompare(b.createdAt) || a.handoverId.localeCompare(b.handoverId),
          )
          .map((r) => r.handoverId);

      it('walks a range across the shards oldest first, each record exactly once', async () => {
        const stores = await fresh({ shards });
        const records = spread();
        await appendMany(stores.history, records);

        const walks = [];
        for (const limit of [1, 7, 40]) {
          walks.push(
            await allPages((cursor) => stores.history.listRange({ ...bounds, limit, cursor }), 500),
          );
        }

        const expected = ordered(records);
        expect(expected.length).toBeGreaterThan(60);
        for (const walk of walks) expect(walk.items.map((r) => r.handoverId)).toEqual(expected);
        expect(walks.map((w) => Math.max(...w.sizes))).toEqual([1, 7, 40]);
      });

      it('walks a destination, and a filtered range, across the shards each record once', async () => {
        const stores = await fresh({ shards });
        const records = spread();
        await appendMany(stores.history, records);

        const toAgent = await allPages((cursor) =>
          stores.history.listRange({ ...bounds, limit: 4, cursor, filters: { toOwner: AGENT } }),
        );
        const asked = await allPages((cursor) =>
          stores.history.listRange({
            ...bounds,
            limit: 3,
            cursor,
            filters: { reason: 'user_requested_human' },
          }),
        );

        expect(toAgent.items.map((r) => r.handoverId)).toEqual(
          ordered(records.filter((r) => r.toOwner === AGENT)),
        );
        expect(asked.items.map((r) => r.handoverId)).toEqual(
          ordered(records.filter((r) => r.reason === 'user_requested_human')),
        );
      });

      it('reads at most limit x shards items for a first page, the same at 200 and 2,000 records', async () => {
        // One day of records: every shard holds far more than a page.
        const dayOf = (count: number) =>
          pseudoIds('d', count, 11).map((handoverId, i) =>
            record({
              userId: `d${i}`,
              handoverId,
              createdAt: new Date(
                Date.parse('2026-03-02T00:00:00.000Z') + i * 40_000,
              ).toISOString(),
            }),
          );
        const firstPage = async (count: number) => {
          const stores = await fresh({ shards });
          await appendMany(stores.history, dayOf(count));
          const range = { from: '2026-03-02T00:00:00.000Z', to: '2026-03-02T23:59:59.999Z' };
          return [
            await stores.history.listRange({ ...range, limit: 10 }),
            await stores.history.listRange({ ...range, limit: 10, filters: { toOwner: AGENT } }),
          ];
        };

        const small = await firstPage(200);
        const large = await firstPage(2_000);

        const read = (pages: Page<HandoverRecord>[]) => pages.map((p) => p.itemsRead);
        expect([...small, ...large].map((p) => p.items.length)).toEqual([10, 10, 10, 10]);
        for (const n of [...read(small), ...read(large)]) {
          expect(n).toBeGreaterThanOrEqual(10);
          expect(n).toBeLessThanOrEqual(10 * shards);
        }
        expect(read(large)).toEqual(read(small));
      });

      it("lists a Service's users across the shards by user id, each once", async () => {
        const stores = await fresh({ shards });
        const users = pseudoIds('user', 30, 3);
        for (const [i, userId] of users.entries()) {
          await stores.state.createOwner(owner({ userId, owner: i % 3 === 0 ? AGENT : BOT }));
        }
        await stores.state.putIdempotency(idempotency(), NOW);

        const walks = [];
        for (const limit of [1, 4, 100]) {
          walks.push(
            await allPages((cursor) => stores.state.listOwnedBy(BOT, { limit, cursor }), 100),
          );
        }
        const agents = await allPages((cursor) =>
          stores.state.listOwnedBy(AGENT, { limit: 3, cursor }),
        );

        const expected = (service: string) =>
          users.filter((_, i) => (i % 3 === 0 ? AGENT : BOT) === service).sort();
        for (const walk of walks)
          expect(walk.items).toEqual(expected(BOT).map((userId) => ({ userId })));
        expect(agents.items).toEqual(expected(AGENT).map((userId) => ({ userId })));
        const first = await stores.state.listOwnedBy(BOT, { limit: 4 });
        expect(first.itemsRead).toBeLessThanOrEqual(4 * shards);
        const nobody = await stores.state.listOwnedBy('nobody', { limit: 5 });
        expect([nobody.items, nobody.cursor]).toEqual([[], undefined]);
      });

      it('moves a user between the byOwner listings when its owner changes', async () => {
        const stores = await fresh({ shards });
        const users = pseudoIds('mover', 6, 5);
        for (const userId of users) await stores.state.createOwner(owner({ userId }));
        const moved = owner({ userId: users[2]!, owner: AGENT, version: 2, lastSeq: 1 });

        await stores.state.compareAndSetOwner(moved, 1);
        const listed = async (service: string) =>
          (
            await allPages((cursor) => stores.state.listOwnedBy(service, { limit: 2, cursor }))
          ).items.map((u) => u.userId);

        expect(await listed(BOT)).toEqual(users.filter((u) => u !== users[2]).sort());
        expect(await listed(AGENT)).toEqual([users[2]]);
        expect(await stores.state.getOwner(users[2]!)).toEqual(moved);
      });

      it('lists stale pending markers across the shards oldest first, each once', async () => {
        const stores = await fresh({ shards });
        const users = pseudoIds('pending', 24, 9);
        // Two users per minute: markers of the same instant in different shards.
        const markedAt = (i: number) =>
          new Date(
            Date.parse('2026-03-02T10:00:00.000Z') + Math.floor(i / 2) * 60_000,
          ).toISOString();
        for (const [i, userId] of users.entries()) {
          await stores.state.createOwner(owner({ userId }));
          await stores.state.compareAndSetOwner(
            owner({ userId, version: 2, pending: pending(markedAt(i), userId) }),
            1,
          );
        }
        const cutoff = markedAt(20);

        const walks = [];
        for (const limit of [1, 5, 50]) {
          walks.push(
            await allPages(
              (cursor) => stores.state.listStalePending(cutoff, { limit, cursor }),
              100,
            ),
          );
        }

        const expected = users.slice(0, 20).map((userId, i) => ({ userId, markedAt: markedAt(i) }));
        const first = await stores.state.listStalePending(cutoff, { limit: 5 });
        expect(first.itemsRead).toBeLessThanOrEqual(5 * shards);
        for (const walk of walks) {
          expect(walk.items.map((i) => i.markedAt)).toEqual(expected.map((i) => i.markedAt));
          expect([...walk.items].sort((a, b) => a.userId.localeCompare(b.userId))).toEqual(
            [...expected].sort((a, b) => a.userId.localeCompare(b.userId)),
          );
        }
      });
    });

    describe('state: the byOwner listing', () => {
      it('rejects a forged cursor, a cursor of another Service and a bad limit', async () => {
        for (const userId of ['a', 'b', 'c']) await state.createOwner(owner({ userId }));
        for (const userId of ['d', 'e', 'f'])
          await state.createOwner(owner({ userId, owner: AGENT }));
        const botCursor = (await state.listOwnedBy(BOT, { limit: 1 })).cursor;

        const codes = [
          ...(await Promise.all(
            FORGED_CURSORS.map((cursor) =>
              codeOf(() => state.listOwnedBy(BOT, { limit: 2, cursor })),
            ),
          )),
          await codeOf(() => state.listOwnedBy(AGENT, { limit: 2, cursor: botCursor })),
          await codeOf(() => state.listOwnedBy(BOT, { limit: 0 })),
          await codeOf(() => state.listOwnedBy(BOT, { limit: 1001 })),
        ];

        expect(botCursor).toEqual(expect.any(String));
        expect(codes).toEqual([
          ...FORGED_CURSORS.map(() => 'invalid_cursor'),
          'invalid_cursor',
          'invalid_limit',
          'invalid_limit',
        ]);
      });
    });

    describe('state: idempotency items (expiry on read)', () => {
      it('stores an item and reads it back until it expires', async () => {
        const stored = idempotency();

        const put = await state.putIdempotency(stored, NOW);

        expect(put).toEqual(true);
        expect([
          await state.getIdempotency(BOT, 'key-1', NOW),
          await state.getIdempotency(BOT, 'key-1', stored.expiresAt * 1000 - 1),
          await state.getIdempotency(BOT, 'key-1', stored.expiresAt * 1000),
          await state.getIdempotency(AGENT, 'key-1', NOW),
        ]).toEqual([stored, stored, null, null]);
      });

      it('refuses a second item while the first lives, and takes it once the first expired', async () => {
        const first = idempotency();
        const second = idempotency({
          handoverId: 'h-2',
          bodyHash: 'body-2',
          expiresAt: first.expiresAt + 86_400,
        });
        await state.putIdempotency(first, NOW);

        const results = [
          await state.putIdempotency(second, first.expiresAt * 1000 - 1),
          await state.putIdempotency(second, first.expiresAt * 1000),
        ];

        expect(results).toEqual([false, true]);
        expect(await state.getIdempotency(BOT, 'key-1', first.expiresAt * 1000)).toEqual(second);
      });

      it('replaces an item only while it names the previous handover, or is gone or expired', async () => {
        await state.putIdempotency(idempotency(), NOW);
        const retry = idempotency({ handoverId: 'h-2', expiresAt: NOW / 1000 + 90_000 });
        const expiry = retry.expiresAt * 1000;
        const last = idempotency({ handoverId: 'h-5', expiresAt: NOW / 1000 + 2 * 86_400 });

        const results = [
          await state.replaceIdempotency(idempotency({ handoverId: 'h-3' }), 'h-0', NOW),
          await state.replaceIdempotency(retry, 'h-1', NOW),
          await state.replaceIdempotency(idempotency({ handoverId: 'h-4' }), 'h-1', NOW),
        ];
        const afterRetry = await state.getIdempotency(BOT, 'key-1', NOW);
        results.push(
          await state.replaceIdempotency(idempotency({ key: 'key-2' }), 'h-other', NOW),
          await state.replaceIdempotency(last, 'h-other', expiry),
        );

        expect(results).toEqual([false, true, false, true, true]);
        expect(afterRetry).toEqual(retry);
        expect(await state.getIdempotency(BOT, 'key-1', expiry)).toEqual(last);
      });
    });

    describe('state: delivery claims and fenced updates', () => {
      it('claims a fresh delivery, and shows a duplicate the live item', async () => {
        const first = delivery();

        const claims = [
          await state.claimDelivery(first, NOW, null),
          await state.claimDelivery(
            delivery({
              receivedAt: '2026-03-02T10:00:01.000Z',
              leaseUntil: NOW + 1_000 + LEASE_MS,
            }),
            NOW + 1_000,
            null,
          ),
        ];

        expect(claims).toEqual([{ claimed: true }, { claimed: false, existing: first }]);
        expect(await state.getDelivery(first.deliveryId, NOW)).toEqual(first);
      });

      it('lets a retry that read the item claim it once its lease has ended', async () => {
        const first = delivery();
        await state.claimDelivery(first, NOW, null);
        const later = NOW + LEASE_MS + 1;
        const read = await state.getDelivery(first.deliveryId, later);
        const retry = delivery({ leaseUntil: later + LEASE_MS });

        const claim = await state.claimDelivery(retry, later, read);

        expect(claim).toEqual({ claimed: true });
        expect(await state.getDelivery(first.deliveryId, later)).toEqual(retry);
      });

      it('refuses a stalled attempt whose read is out of date', async () => {
        await state.claimDelivery(delivery(), NOW, null);
        const later = NOW + LEASE_MS + 1;
        const staleRead = await state.getDelivery(delivery().deliveryId, later);
        const winner = delivery({ leaseUntil: later + LEASE_MS });
        await state.claimDelivery(winner, later, staleRead);
        await state.updateDelivery(winner.deliveryId, { leaseUntil: 0 }, winner.leaseUntil);

        const stalled = await state.claimDelivery(
          delivery({ leaseUntil: later + 2 * LEASE_MS }),
          later + 1,
          staleRead,
        );

        expect(stalled).toEqual({ claimed: false, existing: { ...winner, leaseUntil: 0 } });
      });

      it('never claims a done delivery again until it expires', async () => {
        const first = delivery();
        await state.claimDelivery(first, NOW, null);
        await state.updateDelivery(first.deliveryId, { state: 'done', disposition: 'forwarded' });
        const done = { ...first, state: 'done', disposition: 'forwarded' };
        const expiry = first.expiresAt * 1000;

        const claims = [
          await state.claimDelivery(delivery(), NOW + LEASE_MS + 1, done as DeliveryItem),
          await state.claimDelivery(delivery(), expiry - 1, done as DeliveryItem),
          await state.claimDelivery(delivery({ expiresAt: first.expiresAt + 60 }), expiry, null),
        ];

        expect(claims).toEqual([
          { claimed: false, existing: done },
          { claimed: false, existing: done },
          { claimed: true },
        ]);
      });

      it('reads an expired delivery as absent', async () => {
        const item = delivery();
        await state.claimDelivery(item, NOW, null);

        expect([
          await state.getDelivery(item.deliveryId, item.expiresAt * 1000 - 1),
          await state.getDelivery(item.deliveryId, item.expiresAt * 1000),
          await state.getDelivery('unknown', NOW),
        ]).toEqual([item, null, null]);
      });

      it('updates only the given fields', async () => {
        const item = delivery({ disposition: 'forwarded', handoverId: 'h-1' });
        await state.claimDelivery(item, NOW, null);

        const updated = await state.updateDelivery(item.deliveryId, {
          replyState: 'sending',
          handoverId: null,
          leaseUntil: NOW + 5,
        });

        expect(updated).toEqual(true);
        expect(await state.getDelivery(item.deliveryId, NOW)).toEqual({
          ...item,
          replyState: 'sending',
          handoverId: null,
          leaseUntil: NOW + 5,
        });
      });

      it("keeps a delivery's failed forwards, last status and the failover it asked for", async () => {
        const item = delivery();
        await state.claimDelivery(item, NOW, null);

        await state.updateDelivery(
          item.deliveryId,
          { failures: 2, lastStatus: 503 },
          NOW + LEASE_MS,
        );
        const counted = await state.getDelivery(item.deliveryId, NOW);
        await state.updateDelivery(item.deliveryId, {
          failures: 3,
          lastStatus: null,
          failover: { failures: 3, lastStatus: null, circuit: 'open' },
        });

        expect(counted).toEqual({ ...item, failures: 2, lastStatus: 503 });
        expect(await state.getDelivery(item.deliveryId, NOW)).toEqual({
          ...item,
          failures: 3,
          lastStatus: null,
          failover: { failures: 3, lastStatus: null, circuit: 'open' },
        });
      });

      it('updates under a lease only while the item still holds that lease', async () => {
        const item = delivery();
        await state.claimDelivery(item, NOW, null);

        const results = [
          await state.updateDelivery(item.deliveryId, { state: 'done' }, NOW + 1),
          await state.updateDelivery(item.deliveryId, { replyState: 'sending' }, item.leaseUntil),
          await state.updateDelivery('missing', { state: 'done' }, item.leaseUntil),
        ];

        expect(results).toEqual([false, true, false]);
        expect(await state.getDelivery(item.deliveryId, NOW)).toEqual({
          ...item,
          replyState: 'sending',
        });
      });

      it('refuses to update a delivery that does not exist', async () => {
        await expect(state.updateDelivery('missing', { state: 'done' })).rejects.toThrow(
          'does not exist',
        );
        expect(await state.getDelivery('missing', NOW)).toBeNull();
      });
    });

    // The processor reads a delivery item, then claims it on the strength of that read (see
    // takeDelivery): the store must refuse the claim once the item is no longer as read, whatever
    // the clock says.
    describe('state: claiming a delivery on what was read', () => {
      const DELIVERY_ID = delivery().deliveryId;

      /** What an attempt claims with after reading `read` at `at`: a new lease, the rest kept. */
      const retryOf = (read: DeliveryItem, at: number): DeliveryItem => ({
        ...read,
        leaseUntil: at + LEASE_MS,
      });

      /** A first attempt claimed at NOW and never finished: its lease ends at NOW + LEASE_MS. */
      const abandoned = () => state.claimDelivery(delivery(), NOW, null);

      /** Two attempts read the delivery at `at`; the second claims it, the first stalls. */
      const stallOneClaimOther = async (at: number) => {
        const stalledRead = (await state.getDelivery(DELIVERY_ID, at))!;
        const read = (await state.getDelivery(DELIVERY_ID, at))!;
        const claimed = retryOf(read, at);
        await state.claimDelivery(claimed, at, read);
        return { stalledRead, claimed };
      };

      it('lets only the first of two attempts that read the same expired lease claim it', async () => {
        await abandoned();
        const at = NOW + LEASE_MS + 1;
        const readA = (await state.getDelivery(DELIVERY_ID, at))!;
        const readB = (await state.getDelivery(DELIVERY_ID, at))!;

        const a = await state.claimDelivery(retryOf(readA, at), at, readA);
        const b = await state.claimDelivery(retryOf(readB, at + 5), at + 5, readB);

        expect([a, b]).toEqual([
          { claimed: true },
          { claimed: false, existing: retryOf(readA, at) },
        ]);
      });

      it('refuses a stalled attempt after the attempt that claimed since released its lease', async () => {
        await abandoned();
        const at = NOW + LEASE_MS + 1;
        const { stalledRead, claimed } = await stallOneClaimOther(at);
        await state.updateDelivery(DELIVERY_ID, { replyState: 'sending' }, claimed.leaseUntil);
        await state.updateDelivery(DELIVERY_ID, { leaseUntil: 0 }, claimed.leaseUntil);

        const stalled = await state.claimDelivery(retryOf(stalledRead, at), at, stalledRead);

        const left: DeliveryItem = { ...claimed, replyState: 'sending', leaseUntil: 0 };
        expect(stalled).toEqual({ claimed: false, existing: left });
        expect(await state.getDelivery(DELIVERY_ID, at)).toEqual(left);
      });

      it('refuses a stalled attempt once the lease of the attempt that claimed since ran out', async () => {
        await abandoned();
        const at = NOW + LEASE_MS + 1;
        const { stalledRead, claimed } = await stallOneClaimOther(at);
        const later = claimed.leaseUntil + 1;

        const stalled = await state.claimDelivery(retryOf(stalledRead, later), later, stalledRead);

        expect(stalled).toEqual({ claimed: false, existing: claimed });
      });

      it('refuses a stalled attempt that read a released lease another attempt has used since', async () => {
        // The lease reads 0 before and after: what the other attempt did to the delivery tells.
        await abandoned();
        await state.updateDelivery(DELIVERY_ID, { leaseUntil: 0 }, NOW + LEASE_MS);
        const at = NOW + 1_000;
        const { stalledRead, claimed } = await stallOneClaimOther(at);
        await state.updateDelivery(DELIVERY_ID, { replyState: 'sent' }, claimed.leaseUntil);
        await state.updateDelivery(DELIVERY_ID, { handoverId: 'h-1' }, claimed.leaseUntil);
        await state.updateDelivery(DELIVERY_ID, { leaseUntil: 0 }, claimed.leaseUntil);

        const stalled = await state.claimDelivery(retryOf(stalledRead, at), at, stalledRead);

        expect(stalledRead.leaseUntil).toBe(0);
        expect(stalled).toEqual({
          claimed: false,
          existing: { ...claimed, replyState: 'sent', handoverId: 'h-1', leaseUntil: 0 },
        });
      });

      it('lets a retry claim a released lease that nothing has touched since it read it', async () => {
        await abandoned();
        await state.updateDelivery(DELIVERY_ID, { replyState: 'sent' }, NOW + LEASE_MS);
        await state.updateDelivery(DELIVERY_ID, { leaseUntil: 0 }, NOW + LEASE_MS);
        const at = NOW + 1_000;
        const read = (await state.getDelivery(DELIVERY_ID, at))!;

        const result = await state.claimDelivery(retryOf(read, at), at, read);

        expect(result).toEqual({ claimed: true });
        expect(await state.getDelivery(DELIVERY_ID, at)).toEqual({
          ...delivery(),
          replyState: 'sent',
          leaseUntil: at + LEASE_MS,
        });
      });

      it('claims over an item that expired after it was read, whatever it holds', async () => {
        const first = delivery({ expiresAt: NOW / 1000 + 30 });
        await state.claimDelivery(first, NOW, null);
        const read = (await state.getDelivery(DELIVERY_ID, NOW + 1))!;
        await state.updateDelivery(DELIVERY_ID, { replyState: 'sent' }, first.leaseUntil);
        const at = NOW + 31_000;
        const next = delivery({ leaseUntil: at + LEASE_MS, expiresAt: at / 1000 + 3600 });

        const result = await state.claimDelivery(next, at, read);

        expect(at).toBeLessThan(first.leaseUntil);
        expect(result).toEqual({ claimed: true });
        expect(await state.getDelivery(DELIVERY_ID, at)).toEqual(next);
      });
    });
  });
}
