// Erasure end to end through the real handlers: the erasure function (requests, the register),
// the eraser (its schedules, the export) and verify, each on its own strict IAM deps (calls its
// role in the template does not grant are refused), on dynalite and the Parley simulator over
// HTTP. Time moves on an injected clock; a crash is an injected store failure.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  DeleteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/lib-dynamodb';
import { fileErasureKey } from '../../functions/adapters/erasure-key';
import { canonicalJson } from '../../functions/domain/canonical';
import { sha256Hex } from '../../functions/domain/chain';
import { DELIVERIES_DONE_MS } from '../../functions/domain/erasure/apply';
import type { EraserSummary } from '../../functions/domain/erasure/run';
import { CALLBACK_MAX_RECEIVE_COUNT } from '../../functions/contracts/queue';
import { QUEUE_VISIBILITY_TIMEOUT_SECONDS } from '../../lib/config';
import type { ErasureStore } from '../../functions/domain/erasure/types';
import type { AppDeps } from '../../functions/platform/deps';
import { useErasureKey, WRITERS_DONE_MS } from '../../functions/platform/erasure-deps';
import { makeHandler as checkpoint } from '../../functions/handlers/checkpoints';
import { makeHandler as eraser } from '../../functions/handlers/eraser';
import type { HttpResult } from '../../functions/platform/handler';
import { callbackJson, messageCallback } from '../../local/parley-sim/callback-body';
import { apiEvent, type ApiEventInput } from '../support/events';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';
import { type Invoker, invoker, type MovableClock, movableClock } from '../support/reliability';

let h: Harness;
let api: Invoker;
let clock: MovableClock;
let keyDir: string;
const DAY_MS = 86_400_000;

const parse = (result: unknown) => {
  const r = result as HttpResult;
  return {
    status: r.statusCode,
    json: JSON.parse(typeof r.body === 'string' ? r.body : 'null'),
  };
};

/** Through the route's real handler; every answer is held against the OpenAPI document. */
const call = async (input: ApiEventInput) => {
  const res = await api.call(input);
  return { status: res.statusCode, json: res.json };
};

/** The eraser as a deps source gives it (strict: its own role), wrapped by `wrap` if given. */
const eraserWith = (wrap?: (store: ErasureStore) => ErasureStore) => {
  const source = h.source.forFunction!('eraser');
  return eraser(async () => {
    const d = await source();
    if (!wrap) return d;
    const store = wrap(d.erasureStore);
    return { ...d, erasureStore: store } as AppDeps;
  });
};

/** One run of the eraser as the minute's schedule starts it (`retention`: the daily one). */
const runEraser = async (retention = false, wrap?: (store: ErasureStore) => ErasureStore) =>
  (await eraserWith(wrap)({
    source: 'aws.events',
    ...(retention ? { task: 'retention' } : {}),
  } as never)) as EraserSummary;

const requestErasure = (
  userId: string,
  body: Record<string, unknown>,
  headers?: Record<string, string>,
  token = h.tokens.operator,
) =>
  call({
    method: 'POST',
    path: `/users/${userId}/erasure`,
    token,
    body: { reason: 'the user asked', legalBasis: 'GDPR Art. 17(1)(a)', ...body },
    ...(headers ? { headers } : {}),
  });

/** `steps` handovers of a user, Bot and Agent in turn, each with metadata naming it. */
const history = async (userId: string, steps: number) => {
  for (let i = 0; i < steps; i++) {
    const [token, newOwner] = i % 2 === 0 ? [h.tokens.bot.api, AGENT] : [h.tokens.agent.api, BOT];
    const res = await api.call({
      method: 'POST',
      path: '/handovers',
      token,
      body: { userId, newOwner, metadata: { reason: `step_${i}`, note: `private ${userId} ${i}` } },
      headers: { 'Idempotency-Key': `${userId}-step-${i}` },
    });
    expect(res.statusCode).toBe(200);
  }
};

/** A message from the user to the Bot's webhook, processed: a delivery item of the user. */
const deliver = async (userId: string, id: number) => {
  const raw = callbackJson(messageCallback({ userId, id, text: 'hello', time: 1536739259 + id }));
  const res = await api.send(
    apiEvent({
      method: 'POST',
      path: `/webhooks/parley/${BOT}`,
      headers: { Authorization: `Bearer ${h.tokens.bot.callback}` },
      rawBody: raw,
    }),
  );
  expect(res.statusCode).toBe(200);
  await api.processor(h.drainQueue());
};

/** Every item of both tables whose text mentions `needle` (the user id, its metadata). */
const itemsMentioning = async (needle: string) => {
  const found: Record<string, unknown>[] = [];
  for (const table of [h.dynamo.tables.history, h.dynamo.tables.state]) {
    let start: Record<string, unknown> | undefined;
    do {
      const out = await h.dynamo.client.send(
        new ScanCommand({ TableName: table, ExclusiveStartKey: start }),
      );
      for (const item of out.Items ?? []) {
        if (JSON.stringify(item).includes(needle)) found.push(item);
      }
      start = out.LastEvaluatedKey;
    } while (start);
  }
  return found;
};

const userRecords = async (userId: string) =>
  (
    await h.dynamo.client.send(
      new QueryCommand({
        TableName: h.dynamo.tables.history,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `USER#${userId}` },
      }),
    )
  ).Items ?? [];

/**
 * Moves the clock past the time a stalled writer of the records just made could still append one:
 * a full erasure lists the user's records a last time only then.
 */
const afterWriters = () => clock.advance(WRITERS_DONE_MS);

const verifyUser = (userId: string) =>
  call({ method: 'GET', path: `/users/${userId}/verify`, token: h.tokens.auditor });

beforeAll(async () => {
  clock = movableClock();
  h = await startHarness({
    clock,
    checkpoints: true,
    // A notification url: the records' outbox items are written (and kept pending: no queue).
    services: { [AGENT]: { notify: { url: 'http://127.0.0.1:9/notifications' } } },
  });
  keyDir = mkdtempSync(join(tmpdir(), 'erasure-key-'));
  useErasureKey(h.deps.config, fileErasureKey(join(keyDir, 'erasure-key')));
  api = invoker(h.source);
});

afterAll(async () => {
  await h?.close();
  rmSync(keyDir, { recursive: true, force: true });
});

describe('who may ask', () => {
  it('refuses an erasure to a Service and to an auditor, and registers nothing', async () => {
    await history('who-1', 1);

    const asService = await requestErasure('who-1', { level: 'full' }, undefined, h.tokens.bot.api);
    const asAuditor = await requestErasure('who-1', { level: 'full' }, undefined, h.tokens.auditor);

    expect(asService).toMatchObject({
      status: 403,
      json: { error: { code: 'operator_required' } },
    });
    expect(asAuditor).toMatchObject({
      status: 403,
      json: { error: { code: 'operator_required' } },
    });
    expect((await userRecords('who-1')).length).toBe(1);
  });

  it('refuses a request without a legal basis, naming it', async () => {
    const res = await call({
      method: 'POST',
      path: '/users/who-1/erasure',
      token: h.tokens.operator,
      body: { level: 'full', reason: 'asked' },
    });

    expect(res.status).toBe(400);
    expect(res.json.error.message).toMatch(/legalBasis/);
  });
});

describe('a metadata erasure', () => {
  it('answers a dry run with the counts and changes nothing', async () => {
    await history('meta-1', 3);

    const dry = await requestErasure('meta-1', { level: 'metadata', dryRun: true });

    expect(dry).toEqual({
      status: 200,
      json: {
        dryRun: true,
        noop: false,
        counts: {
          records: 3,
          withMetadata: 3,
          ownerItem: 1,
          notifications: expect.any(Number),
          stateItems: null,
        },
      },
    });
    const records = await userRecords('meta-1');
    expect(records.every((r) => r.metadata !== null && typeof r.salt === 'string')).toBe(true);
  });

  it('removes metadata and salt from every record; verify is ok and counts them erased', async () => {
    const accepted = await requestErasure('meta-1', { level: 'metadata' });
    const before = await verifyUser('meta-1');

    const run = await runEraser();
    const after = await verifyUser('meta-1');
    const records = await userRecords('meta-1');

    expect(accepted).toMatchObject({
      status: 202,
      json: { erasureId: expect.stringMatching(/^era_/), status: 'requested' },
    });
    expect(before.json).toMatchObject({ ok: true, count: 3 });
    expect(before.json.erased).toBeUndefined();
    expect(run.done).toEqual([accepted.json.erasureId]);
    expect(records).toHaveLength(3);
    for (const record of records) {
      expect(record.metadata).toBeNull();
      expect(record.salt).toBeUndefined();
      expect(record.metadataErased).toEqual({
        at: expect.any(String),
        erasureId: accepted.json.erasureId,
      });
    }
    expect(after).toMatchObject({
      status: 200,
      json: { ok: true, count: 3, erased: { metadata: 3 } },
    });
    expect(await itemsMentioning('private meta-1')).toEqual([]);
  });

  it('answers a second metadata erasure of the same user as a no-op', async () => {
    const again = await requestErasure('meta-1', { level: 'metadata' });

    expect(again).toMatchObject({
      status: 200,
      json: { erasureId: null, noop: true, counts: { records: 3, withMetadata: 0 } },
    });
  });
});

describe('a full erasure', () => {
  let erasureId: string;

  it('moves the records, removes the owner, idempotency, delivery and outbox items', async () => {
    await history('full-1', 4);
    await deliver('full-1', 101);
    expect((await itemsMentioning('full-1')).some((i) => String(i.pk).startsWith('CB#'))).toBe(
      true,
    );
    expect((await itemsMentioning('full-1')).some((i) => String(i.pk).startsWith('IDEM#'))).toBe(
      true,
    );
    const heads = (await userRecords('full-1')).map((r) => ({ seq: r.seq, hash: r.hash }));

    const accepted = await requestErasure('full-1', { level: 'full' });
    erasureId = accepted.json.erasureId;
    afterWriters();
    const run = await runEraser();

    expect(run.done).toEqual([erasureId]);
    expect(await itemsMentioning('full-1')).toEqual([]);
    const erased = (
      await h.dynamo.client.send(
        new QueryCommand({
          TableName: h.dynamo.tables.history,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': `ERASED#${erasureId}` },
        }),
      )
    ).Items!;
    const kept = erased.filter((i) => i.sk !== 'TOMBSTONE');
    expect(kept.map((r) => ({ seq: r.seq, hash: r.hash }))).toEqual(heads);
    expect(Object.keys(kept[0]!).sort()).toEqual(
      [
        'pk',
        'sk',
        'erasureId',
        'seq',
        'prevHash',
        'hash',
        'handoverId',
        'createdAt',
        'fromOwner',
        'toOwner',
        'reason',
        'source',
        'status',
        'requestedBy',
        // chain v3: the rest of what the hash covers, so that it can be computed again
        'chain',
        'parley',
        'metadataDigest',
        'subjectDigest',
      ].sort(),
    );
    const tombstone = erased.find((i) => i.sk === 'TOMBSTONE')!;
    expect(tombstone).toMatchObject({
      erasureId,
      subjectRef: expect.stringMatching(/^[0-9a-f]{64}$/),
      count: 4,
      firstSeq: 1,
      lastSeq: 4,
      lastHash: heads[3]!.hash,
      requestedBy: 'operator:operator',
      reason: 'the user asked',
      legalBasis: 'GDPR Art. 17(1)(a)',
    });
  });

  it('shows the erasure with its erased chain verified, and verify of the user finds nothing', async () => {
    const shown = await call({
      method: 'GET',
      path: `/erasures/${erasureId}`,
      token: h.tokens.auditor,
    });
    const user = await verifyUser('full-1');

    expect(shown).toMatchObject({
      status: 200,
      json: {
        erasure: { erasureId, level: 'full', status: 'done', counts: { records: 4 } },
        tombstone: { count: 4 },
        verify: { erasureId, ok: true, count: 4 },
      },
    });
    expect(shown.json.erasure.subjectUserId).toBeUndefined();
    expect(user.status).toBe(404);
  });

  it('answers a second full erasure of the same user as a no-op', async () => {
    const again = await requestErasure('full-1', { level: 'full' });

    expect(again).toMatchObject({ status: 200, json: { erasureId: null, noop: true } });
  });

  it('exports the user afterwards as its tombstone only', async () => {
    const exported = await call({
      method: 'GET',
      path: '/users/full-1/export',
      token: h.tokens.operator,
    });

    expect(exported.status).toBe(200);
    expect(exported.json).toMatchObject({
      userId: 'full-1',
      owner: null,
      records: [],
      notifications: [],
      deliveries: [],
      idempotency: [],
      erasures: [{ erasure: { erasureId, status: 'done' }, tombstone: { erasureId, count: 4 } }],
    });
  });
});

describe('the export', () => {
  it('holds the owner, records with metadata, lease, outbox and deliveries, with a manifest', async () => {
    await history('exp-1', 2);
    await deliver('exp-1', 201);

    const exported = await call({
      method: 'GET',
      path: '/users/exp-1/export',
      token: h.tokens.operator,
    });
    const { manifestSha256, ...body } = exported.json;

    expect(exported.status).toBe(200);
    expect(body.owner).toMatchObject({ userId: 'exp-1', lastSeq: 2 });
    expect(body.records.map((r: { metadata: unknown }) => r.metadata)).toEqual([
      { reason: 'step_0', note: 'private exp-1 0' },
      { reason: 'step_1', note: 'private exp-1 1' },
    ]);
    expect(body.notifications.length).toBeGreaterThan(0);
    expect(body.deliveries).toHaveLength(1);
    expect(body.idempotency).toHaveLength(2);
    expect(body.stateScan.complete).toBe(true);
    expect(body.erasures).toEqual([]);
    expect(manifestSha256).toBe(sha256Hex(canonicalJson(body)));
  });

  it('refuses an auditor', async () => {
    const res = await call({
      method: 'GET',
      path: '/users/exp-1/export',
      token: h.tokens.auditor,
    });

    expect(res).toMatchObject({ status: 403, json: { error: { code: 'operator_required' } } });
  });
});

describe('a crash halfway', () => {
  it('is resumed by the next run: every record erased once, the tombstone complete', async () => {
    await history('crash-1', 5);
    const accepted = await requestErasure('crash-1', { level: 'full' });
    let deletes = 0;
    const dying = (store: ErasureStore): ErasureStore => ({
      ...store,
      deleteRecord: async (...args) => {
        if (++deletes > 2) throw new Error('the eraser died');
        return store.deleteRecord(...args);
      },
    });

    await expect(runEraser(false, dying)).rejects.toThrow('the eraser died');
    const left = (await userRecords('crash-1')).length;
    const register = await h.deps.erasureStore.getErasure(accepted.json.erasureId);
    afterWriters();
    const run = await runEraser();
    const shown = await call({
      method: 'GET',
      path: `/erasures/${accepted.json.erasureId}`,
      token: h.tokens.auditor,
    });

    expect(left).toBe(3);
    expect(register).toMatchObject({ status: 'erasing', subjectUserId: 'crash-1' });
    expect(run.done).toEqual([accepted.json.erasureId]);
    expect(await userRecords('crash-1')).toEqual([]);
    expect(shown.json).toMatchObject({
      erasure: { status: 'done' },
      tombstone: { count: 5, firstSeq: 1, lastSeq: 5 },
      verify: { ok: true, count: 5 },
    });
  });
});

describe('retention', () => {
  it('erases the metadata of records older than metadataDays on the daily run, not newer ones', async () => {
    await history('ret-old', 2);
    clock.advance(60 * DAY_MS);
    await history('ret-new', 1);
    clock.advance(31 * DAY_MS);

    const run = await runEraser(true);
    const old = await userRecords('ret-old');
    const recent = await userRecords('ret-new');
    const check = await verifyUser('ret-old');

    expect(run.retention).toMatchObject({
      complete: true,
      erasureId: expect.stringMatching(/^era_retention_/),
    });
    expect(old.map((r) => r.metadata)).toEqual([null, null]);
    expect(old.map((r) => r.metadataErased?.erasureId)).toEqual([
      run.retention!.erasureId,
      run.retention!.erasureId,
    ]);
    expect(recent.map((r) => r.metadata)).toEqual([
      { reason: 'step_0', note: 'private ret-new 0' },
    ]);
    expect(check.json).toMatchObject({ ok: true, count: 2, erased: { metadata: 2 } });
  });
});

describe('the erased chain against its checkpoint', () => {
  it('notes the checkpoint that held the user and verifies the erased chain against it', async () => {
    await history('ckpt-1', 3);
    const made = parse(
      await checkpoint(h.source.forFunction!('checkpoint'))(
        apiEvent({ method: 'POST', path: '/checkpoints', token: h.tokens.operator }),
      ),
    );
    expect(made.status).toBe(201);
    const head = (await userRecords('ckpt-1')).at(-1)!;
    const accepted = await requestErasure('ckpt-1', { level: 'full' });
    afterWriters();
    await runEraser();

    const shown = await call({
      method: 'GET',
      path: `/erasures/${accepted.json.erasureId}`,
      token: h.tokens.auditor,
    });

    expect(shown.json.tombstone.checkpoint).toEqual({
      checkpointId: made.json.checkpoint.checkpointId,
      seq: 3,
      hash: head.hash,
    });
    expect(shown.json.verify).toEqual({
      erasureId: accepted.json.erasureId,
      ok: true,
      count: 3,
      recomputed: 3,
      checkpoint: {
        status: 'verified',
        checkpointId: made.json.checkpoint.checkpointId,
        seq: 3,
      },
    });
  });

  it('names an erased record rewritten afterwards: its kept fields no longer hash to its hash', async () => {
    await history('ckpt-2', 3);
    await checkpoint(h.source.forFunction!('checkpoint'))(
      apiEvent({ method: 'POST', path: '/checkpoints', token: h.tokens.operator }),
    );
    const accepted = await requestErasure('ckpt-2', { level: 'full' });
    afterWriters();
    await runEraser();
    const key = { pk: `ERASED#${accepted.json.erasureId}`, sk: `SEQ#${'2'.padStart(10, '0')}` };
    const stored = (
      await h.dynamo.client.send(new GetCommand({ TableName: h.dynamo.tables.history, Key: key }))
    ).Item!;
    await h.dynamo.client.send(
      new PutCommand({
        TableName: h.dynamo.tables.history,
        Item: { ...stored, toOwner: 'somebody-else', hash: 'f'.repeat(64) },
      }),
    );

    const shown = await call({
      method: 'GET',
      path: `/erasures/${accepted.json.erasureId}`,
      token: h.tokens.auditor,
    });

    expect(shown.json.verify).toMatchObject({
      ok: false,
      count: 1,
      firstBroken: { seq: 2, problem: 'hash_mismatch' },
    });
  });
});

describe('asking twice', () => {
  it('answers a request made while the same erasure is open with that erasure', async () => {
    await history('twice-1', 1);

    const first = await requestErasure('twice-1', { level: 'full' });
    const second = await requestErasure('twice-1', { level: 'full', reason: 'asked again' });
    afterWriters();
    await runEraser();

    expect(second).toEqual({ status: 202, json: first.json });
    expect(await userRecords('twice-1')).toEqual([]);
  });

  it('replays an Idempotency-Key with the same body and refuses it with another', async () => {
    await history('key-1', 1);
    const headers = { 'Idempotency-Key': 'erase-key-1' };

    const first = await requestErasure('key-1', { level: 'metadata' }, headers);
    const replay = await requestErasure('key-1', { level: 'metadata' }, headers);
    const other = await requestErasure('key-1', { level: 'full' }, headers);

    expect(replay).toEqual(first);
    expect(other).toMatchObject({
      status: 422,
      json: { error: { code: 'idempotency_key_reused' } },
    });
  });
});

describe('after a point-in-time restore', () => {
  type Item = Record<string, unknown>;
  const tables = () => [h.dynamo.tables.history, h.dynamo.tables.state];
  const keyOf = (table: string, item: Item) =>
    table === h.dynamo.tables.history ? { pk: item.pk, sk: item.sk } : { pk: item.pk };
  const scanAll = async (table: string) => {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const out = await h.dynamo.client.send(
        new ScanCommand({ TableName: table, ExclusiveStartKey: start }),
      );
      items.push(...(out.Items ?? []));
      start = out.LastEvaluatedKey;
    } while (start);
    return items;
  };
  /** Both tables as they are: the backup a restore brings back. */
  const backup = async () =>
    Object.fromEntries(await Promise.all(tables().map(async (t) => [t, await scanAll(t)])));
  /** Both tables set back to the backup, as a restore to a new table would hold them. */
  const restore = async (saved: Record<string, Item[]>) => {
    for (const table of tables()) {
      const keep = new Set(saved[table]!.map((i) => JSON.stringify(keyOf(table, i))));
      for (const item of await scanAll(table)) {
        if (keep.has(JSON.stringify(keyOf(table, item)))) continue;
        await h.dynamo.client.send(
          new DeleteCommand({ TableName: table, Key: keyOf(table, item) }),
        );
      }
      for (const item of saved[table]!) {
        await h.dynamo.client.send(new PutCommand({ TableName: table, Item: item }));
      }
    }
  };

  it('erases again what the restore brought back, from the register saved before the switch', async () => {
    await history('pitr-1', 3);
    await deliver('pitr-1', 301);
    const saved = await backup();
    const accepted = await requestErasure('pitr-1', { level: 'full' });
    afterWriters();
    await runEraser();
    expect(await itemsMentioning('pitr-1')).toEqual([]);
    const register = await call({
      method: 'GET',
      path: '/erasures?limit=100',
      token: h.tokens.auditor,
    });

    await restore(saved);
    const restored = (await itemsMentioning('pitr-1')).length;
    const reapplied = await call({
      method: 'POST',
      path: '/erasures/reapply',
      token: h.tokens.operator,
      body: { erasures: register.json.items },
    });
    const run = await runEraser();

    expect(restored).toBeGreaterThan(0);
    expect(reapplied.status).toBe(200);
    expect(reapplied.json.written).toBeGreaterThan(0);
    expect(run.done).toContain(accepted.json.erasureId);
    expect(await itemsMentioning('pitr-1')).toEqual([]);
    const shown = await call({
      method: 'GET',
      path: `/erasures/${accepted.json.erasureId}`,
      token: h.tokens.auditor,
    });
    expect(shown.json).toMatchObject({
      erasure: { status: 'done' },
      tombstone: { count: 3 },
      verify: { ok: true, count: 3 },
    });
  });
});

describe('an erasure meeting writers', () => {
  const erasedItems = async (erasureId: string) =>
    (
      (
        await h.dynamo.client.send(
          new QueryCommand({
            TableName: h.dynamo.tables.history,
            KeyConditionExpression: 'pk = :pk',
            ExpressionAttributeValues: { ':pk': `ERASED#${erasureId}` },
          }),
        )
      ).Items ?? []
    ).filter((i) => i.sk !== 'TOMBSTONE');

  /** A stalled writer whose marker recovery finished: its copy of the record, another outcome. */
  const zombieCopy = (record: Record<string, unknown>) => ({
    ...record,
    status: 'failed',
    hash: 'e'.repeat(64),
  });

  const changesAtParley = (userId: string) =>
    h.sim.log().filter((e) => e.kind === 'change' && e.userId === userId).length;

  it('refuses a handover while the records move (409 erasure_in_progress), and takes it once done', async () => {
    await history('fence-1', 2);
    const before = changesAtParley('fence-1');
    const accepted = await requestErasure('fence-1', { level: 'full' });

    const first = await runEraser();
    const refused = await api.call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      body: { userId: 'fence-1', newOwner: AGENT },
    });
    const changesWhileErasing = changesAtParley('fence-1') - before;
    afterWriters();
    const second = await runEraser();
    const after = await api.call({
      method: 'POST',
      path: '/handovers',
      token: h.tokens.bot.api,
      body: { userId: 'fence-1', newOwner: AGENT },
    });

    expect(first.waiting).toEqual([
      { erasureId: accepted.json.erasureId, stop: 'waiting_for_writers' },
    ]);
    expect(refused.statusCode).toBe(409);
    expect(refused.json.error.code).toBe('erasure_in_progress');
    expect(changesWhileErasing).toBe(0);
    expect(second.done).toEqual([accepted.json.erasureId]);
    expect(after.statusCode).toBe(200);
    expect((await userRecords('fence-1')).map((r) => r.seq)).toEqual([1]);
    expect((await verifyUser('fence-1')).json).toMatchObject({ ok: true, count: 1 });
  });

  it('keeps a record of every change at Parley when the user comes back as the erasure ends', async () => {
    await history('back-1', 2);
    const before = changesAtParley('back-1');
    const accepted = await requestErasure('back-1', { level: 'full' });
    let comeBack: Promise<unknown> | null = null;
    // The user's next handover, made the moment the owner item is gone.
    const returning = (store: ErasureStore): ErasureStore => ({
      ...store,
      deleteOwner: async (...args) => {
        const deleted = await store.deleteOwner(...args);
        if (deleted && !comeBack) {
          comeBack = api.call({
            method: 'POST',
            path: '/handovers',
            token: h.tokens.bot.api,
            body: { userId: 'back-1', newOwner: AGENT },
          });
          await comeBack;
        }
        return deleted;
      },
    });

    afterWriters();
    const run = await runEraser(false, returning);
    const changes = changesAtParley('back-1') - before;
    const moved = (await erasedItems(accepted.json.erasureId)).length;
    const live = await userRecords('back-1');

    expect(run.done).toContain(accepted.json.erasureId);
    expect(changes).toBe(1);
    expect(moved).toBe(2);
    // The change made while the erasure ended has its record, in the user's new chain.
    expect(live.map((r) => ({ seq: r.seq, toOwner: r.toOwner, status: r.status }))).toEqual([
      { seq: 1, toOwner: AGENT, status: 'completed' },
    ]);
  });

  it('moves what a stalled writer appends after the records moved, within its lifetime', async () => {
    await history('late-1', 3);
    const records = await userRecords('late-1');
    const accepted = await requestErasure('late-1', { level: 'full' });
    const lifetimeEnds = Date.parse(String(records.at(-1)!.createdAt)) + WRITERS_DONE_MS;
    let appended = 0;
    // The writer appends its copy of seq 3 just after the eraser's last listing, if still alive.
    const late = (store: ErasureStore): ErasureStore => ({
      ...store,
      putTombstone: async (tombstone) => {
        if (appended === 0 && clock.now() < lifetimeEnds) {
          appended++;
          await h.dynamo.client.send(
            new PutCommand({ TableName: h.dynamo.tables.history, Item: zombieCopy(records[2]!) }),
          );
        }
        return store.putTombstone(tombstone);
      },
    });

    await runEraser(false, late);
    afterWriters();
    await runEraser(false, late);

    expect(await itemsMentioning('late-1')).toEqual([]);
    expect((await erasedItems(accepted.json.erasureId)).map((r) => r.hash)).toEqual(
      records.map((r) => r.hash),
    );
  });

  it('drops a stalled writer’s late copy of an erased seq and keeps the first record', async () => {
    await history('late-2', 3);
    const records = await userRecords('late-2');
    const accepted = await requestErasure('late-2', { level: 'full' });

    const first = await runEraser();
    await h.dynamo.client.send(
      new PutCommand({ TableName: h.dynamo.tables.history, Item: zombieCopy(records[2]!) }),
    );
    afterWriters();
    const second = await runEraser();
    const shown = await call({
      method: 'GET',
      path: `/erasures/${accepted.json.erasureId}`,
      token: h.tokens.auditor,
    });

    expect(first.done).toEqual([]);
    expect(second.done).toEqual([accepted.json.erasureId]);
    expect(await itemsMentioning('late-2')).toEqual([]);
    expect((await erasedItems(accepted.json.erasureId)).map((r) => r.hash)).toEqual(
      records.map((r) => r.hash),
    );
    expect(shown.json.verify).toMatchObject({ ok: true, count: 3 });
  });
});

describe('an erasure meeting callbacks', () => {
  /** The user's delivery items as stored (the real adapter's scan finds the same). */
  const deliveriesOf = async (userId: string) =>
    (await itemsMentioning(userId)).filter((i) => String(i.pk).startsWith('CB#'));

  /** A delivery of the user whose attempt forwarded it to `forwardedTo` and died before done. */
  const deliveryInFlight = async (userId: string, forwardedTo: string) => {
    const now = clock.now();
    const item = {
      deliveryId: `${BOT}-inflight-${userId}`,
      serviceId: BOT,
      userId,
      type: 'message',
      receivedAt: new Date(now).toISOString(),
      state: 'in_progress' as const,
      disposition: null,
      replyState: 'none' as const,
      handoverId: null,
      leaseUntil: now + 60_000,
      expiresAt: Math.floor(now / 1000) + 30 * 86_400,
      forwardedTo,
    };
    expect(await h.deps.state.claimDelivery(item, now, null)).toEqual({ claimed: true });
    return item;
  };

  it('waits for a delivery in flight (its retry must reach the Service it reached), then takes it once done', async () => {
    await history('cb-1', 2);
    const delivery = await deliveryInFlight('cb-1', BOT);
    const accepted = await requestErasure('cb-1', { level: 'full' });
    afterWriters();

    const first = await runEraser();
    const kept = await deliveriesOf('cb-1');
    const done = await h.deps.state.updateDelivery(
      delivery.deliveryId,
      { state: 'done', disposition: 'forwarded', leaseUntil: 0 },
      delivery.leaseUntil,
    );
    const second = await runEraser();

    expect(first.waiting).toEqual([
      { erasureId: accepted.json.erasureId, stop: 'delivery_in_flight' },
    ]);
    expect(kept.map((i) => [i.state, i.forwardedTo])).toEqual([['in_progress', BOT]]);
    expect(done).toBe(true);
    expect(second.done).toEqual([accepted.json.erasureId]);
    expect(await itemsMentioning('cb-1')).toEqual([]);
  });

  it('waits no longer than the queue can bring a delivery back (then it is in the dead-letter queue)', async () => {
    await history('cb-2', 1);
    await deliveryInFlight('cb-2', BOT);
    const accepted = await requestErasure('cb-2', { level: 'full' });
    afterWriters();

    const first = await runEraser();
    clock.advance(DELIVERIES_DONE_MS);
    const second = await runEraser();

    // Its receives, each at most a visibility timeout after the last, and a minute for clocks.
    expect(DELIVERIES_DONE_MS).toBe(
      CALLBACK_MAX_RECEIVE_COUNT * QUEUE_VISIBILITY_TIMEOUT_SECONDS * 1000 + 60_000,
    );
    expect(first.waiting).toEqual([
      { erasureId: accepted.json.erasureId, stop: 'delivery_in_flight' },
    ]);
    expect(second.done).toEqual([accepted.json.erasureId]);
    expect(await itemsMentioning('cb-2')).toEqual([]);
  });

  it('gives a message Parley routed to the owner it changed to while the fence stands to that owner, not the fence’s', async () => {
    await history('cb-3', 1);
    const accepted = await requestErasure('cb-3', { level: 'full' });
    const first = await runEraser();
    // The user moves back to the Bot at Parley; Parley sends the Bot the user's next message.
    h.sim.setOwner('cb-3', BOT);
    await deliver('cb-3', 401);
    const [delivery] = await deliveriesOf('cb-3');
    afterWriters();
    const second = await runEraser();
    const owner = await call({
      method: 'GET',
      path: '/users/cb-3/owner',
      token: h.tokens.auditor,
    });

    expect(first.waiting).toEqual([
      { erasureId: accepted.json.erasureId, stop: 'waiting_for_writers' },
    ]);
    // The Bot heard it (it has no downstream here: stored), not the Agent the fence names.
    expect(delivery).toMatchObject({ state: 'done', disposition: 'stored' });
    expect(second.done).toEqual([accepted.json.erasureId]);
    expect(owner.json.owner.identification).toBe(BOT);
    expect(await userRecords('cb-3')).toEqual([]);
  });
});
