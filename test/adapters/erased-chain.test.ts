// A full erasure on dynalite, through the real handlers (the erasure function, the eraser, the
// erasure view), each on its own strict IAM deps: the erased items keep every field a chain v3
// hash covers, so the erased chain's verify hashes each record again; an erased item changed
// afterwards breaks at its own seq; and nothing kept lets a guessed user id be confirmed.
import { createHash, createHmac } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { fileErasureKey } from '../../functions/adapters/erasure-key';
import { canonicalJson } from '../../functions/domain/canonical';
import { subjectDigest } from '../../functions/domain/chain';
import type { EraserSummary } from '../../functions/domain/erasure/run';
import { makeHandler as eraser } from '../../functions/handlers/eraser';
import { useErasureKey, WRITERS_DONE_MS } from '../../functions/platform/erasure-deps';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';
import { type Invoker, invoker, type MovableClock, movableClock } from '../support/reliability';

let h: Harness;
let api: Invoker;
let clock: MovableClock;
let keyDir: string;

const call = async (input: Parameters<Invoker['call']>[0]) => {
  const res = await api.call(input);
  return { status: res.statusCode, json: res.json };
};

const runEraser = async () =>
  (await eraser(h.source.forFunction!('eraser'))({
    source: 'aws.events',
  } as never)) as EraserSummary;

type Item = Record<string, any>;

const query = async (pk: string): Promise<Item[]> =>
  (
    await h.dynamo.client.send(
      new QueryCommand({
        TableName: h.dynamo.tables.history,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': pk },
        ConsistentRead: true,
      }),
    )
  ).Items ?? [];

/**
 * A history with a free-text reason, a reason code, an offer and the handover that supersedes it
 * (whose `superseded` record has derived salts), then a full erasure run to its end.
 */
const eraseUser = async (userId: string) => {
  const handover = async (token: string, body: Record<string, unknown>, status = 200) => {
    const res = await call({
      method: 'POST',
      path: '/handovers',
      token,
      body: { userId, ...body },
    });
    expect(res.status).toBe(status);
  };
  await handover(h.tokens.bot.api, {
    newOwner: AGENT,
    metadata: { reason: `This is ${userId}, call me on 0612345678`, note: `private ${userId}` },
  });
  await handover(h.tokens.agent.api, { newOwner: BOT, metadata: { reason: 'resolved' } });
  await handover(
    h.tokens.bot.api,
    { newOwner: AGENT, mode: 'offer', offerTimeoutSeconds: 60 },
    202,
  );
  await handover(h.tokens.bot.api, { newOwner: AGENT });
  const live = (await query(`USER#${userId}`)).sort((a, b) => a.seq - b.seq);
  const accepted = await call({
    method: 'POST',
    path: `/users/${userId}/erasure`,
    token: h.tokens.operator,
    body: { level: 'full', reason: 'the user asked', legalBasis: 'GDPR Art. 17(1)(a)' },
  });
  expect(accepted.status).toBe(202);
  const erasureId: string = accepted.json.erasureId;
  // The last listing waits until no stalled writer could still append a record.
  clock.advance(WRITERS_DONE_MS);
  const run = await runEraser();
  expect(run.done).toEqual([erasureId]);
  const erased = (await query(`ERASED#${erasureId}`))
    .filter((i) => i.sk !== 'TOMBSTONE')
    .sort((a, b) => a.seq - b.seq);
  return { live, erased, erasureId };
};

const show = (erasureId: string) =>
  call({ method: 'GET', path: `/erasures/${erasureId}`, token: h.tokens.auditor });

beforeAll(async () => {
  clock = movableClock();
  h = await startHarness({ clock });
  keyDir = mkdtempSync(join(tmpdir(), 'erased-chain-key-'));
  useErasureKey(h.deps.config, fileErasureKey(join(keyDir, 'erasure-key')));
  api = invoker(h.source);
});

afterAll(async () => {
  await h?.close();
  rmSync(keyDir, { recursive: true, force: true });
});

describe('a fully erased chain v3 on dynalite', () => {
  it('is verified by hashing every erased record again', async () => {
    const { live, erased, erasureId } = await eraseUser('ec-1');

    const shown = await show(erasureId);

    expect(live.map((r) => [r.chain, r.kind ?? 'handover', r.offer?.event ?? null])).toEqual([
      [3, 'handover', null],
      [3, 'handover', null],
      [3, 'offer', 'created'],
      [3, 'handover', null],
      [3, 'offer', 'superseded'],
    ]);
    expect(erased.map((r) => ({ seq: r.seq, hash: r.hash }))).toEqual(
      live.map((r) => ({ seq: r.seq, hash: r.hash })),
    );
    expect(erased.map((r) => r.reason)).toEqual([null, 'resolved', null, null, 'offer_superseded']);
    expect(shown.json.verify).toEqual({
      erasureId,
      ok: true,
      count: 5,
      recomputed: 5,
      checkpoint: { status: 'none', checkpointId: null, seq: null },
    });
  });

  it.each([
    ['toOwner', (item: Item) => ({ ...item, toOwner: 'somebody-else' })],
    ['createdAt', (item: Item) => ({ ...item, createdAt: '2026-01-01T00:00:00.000Z' })],
  ])(
    'names an erased item whose %s was changed afterwards (hash and links kept) at its seq',
    async (_, change) => {
      const { erasureId } = await eraseUser(`ec-edit-${_}`);
      const key = { pk: `ERASED#${erasureId}`, sk: `SEQ#${'3'.padStart(10, '0')}` };
      const stored = (
        await h.dynamo.client.send(new GetCommand({ TableName: h.dynamo.tables.history, Key: key }))
      ).Item!;
      await h.dynamo.client.send(
        new PutCommand({ TableName: h.dynamo.tables.history, Item: change(stored) }),
      );

      const shown = await show(erasureId);

      expect(shown.json.verify).toMatchObject({
        ok: false,
        count: 2,
        recomputed: 2,
        firstBroken: { seq: 3, problem: 'hash_mismatch' },
      });
    },
  );

  it('keeps nothing a guessed user id could be tested against without the salts', async () => {
    const userId = 'ec-guess';
    const { live, erased } = await eraseUser(userId);
    const bytes = Buffer.from(userId, 'utf8');
    const text = JSON.stringify(erased);
    const sha = (value: string | Buffer) => createHash('sha256').update(value);
    const hmac = (key: Buffer, value: string | Buffer) =>
      createHmac('sha256', key).update(value).digest('hex');
    const known = [Buffer.alloc(0), Buffer.alloc(32)];

    for (const value of [
      userId,
      bytes.toString('base64url'),
      bytes.toString('base64'),
      bytes.toString('hex'),
      sha(bytes).digest('hex'),
      sha(bytes).digest('base64url'),
      ...known.map((key) => hmac(key, bytes)),
    ]) {
      expect(text).not.toContain(value);
    }
    for (const [i, item] of erased.entries()) {
      expect(Object.keys(item)).not.toEqual(
        expect.arrayContaining(['userId', 'metadata', 'salt', 'subjectSalt']),
      );
      for (const name of ['userId', 'metadata', 'salt', 'subjectSalt'])
        expect(item[name]).toBeUndefined();
      // The digest is the live record's, under its salt: a guess needs that salt.
      const subject = { userId, reason: live[i]!.reason, offerId: live[i]!.offer?.offerId ?? null };
      expect(item.subjectDigest).toBe(subjectDigest(subject, live[i]!.subjectSalt));
      // No salt derivable from what is kept keys it: the superseded record's included.
      const kept = [
        ...known,
        sha(`${item.prevHash}#superseded`).digest(),
        sha(`${item.hash}#superseded`).digest(),
      ];
      for (const key of kept)
        expect(item.subjectDigest).not.toBe(hmac(key, canonicalJson(subject)));
    }
  });
});
