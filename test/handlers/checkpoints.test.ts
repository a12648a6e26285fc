// POST /checkpoints, GET /checkpoints/public-key and the schedule through the real handler, and the
// verify route against what they store: dynalite and the Parley simulator over HTTP, each function
// under its role's grants, the checkpoints in a folder with a key file (the local runtime's
// adapters). The tamper cases rewrite the stored items directly, as someone with table access would.
import { createPublicKey, verify as verifySignature } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DeleteCommand, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { hashRecord } from '../../functions/domain/chain';
import { type Checkpoint, signedBytes } from '../../functions/domain/checkpoints/document';
import { makeHandler as checkpoints } from '../../functions/handlers/checkpoints';
import { makeHandler as handover } from '../../functions/handlers/handover';
import { makeHandler as verify } from '../../functions/handlers/verify';
import { withCheckpoints } from '../../functions/platform/checkpoint-ports';
import type { HttpResult } from '../../functions/platform/handler';
import { ENV } from '../../functions/schemas/config';
import { type ApiEventInput, apiEvent } from '../support/events';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';
import { checkResponse } from '../support/openapi-check';

let h: Harness;
let handlers: {
  checkpoint: ReturnType<typeof checkpoints>;
  handover: ReturnType<typeof handover>;
  verify: ReturnType<typeof verify>;
};

const call = async (fn: keyof typeof handlers, input: ApiEventInput) => {
  const res = (await handlers[fn](apiEvent(input))) as HttpResult;
  const body = typeof res.body === 'string' ? res.body : '';
  checkResponse(input.method, input.path, res.statusCode!, res.headers, body);
  const json = body && String(res.headers?.['Content-Type']).startsWith('application/json');
  return {
    status: res.statusCode!,
    headers: res.headers ?? {},
    body,
    json: json ? JSON.parse(body) : undefined,
  };
};

const makeCheckpoint = (token = h.tokens.operator, body?: unknown) =>
  call('checkpoint', { method: 'POST', path: '/checkpoints', token, body });
const verifyUser = (userId: string) =>
  call('verify', { method: 'GET', path: `/users/${userId}/verify`, token: h.tokens.auditor });

/** `steps` handovers of a user, Bot and Agent in turn. */
const handovers = async (userId: string, steps: number) => {
  for (let i = 0; i < steps; i++) {
    const [token, newOwner] = i % 2 === 0 ? [h.tokens.bot.api, AGENT] : [h.tokens.agent.api, BOT];
    const res = await call('handover', {
      method: 'POST',
      path: '/handovers',
      token,
      body: { userId, newOwner },
    });
    expect(res.status).toBe(200);
  }
};

const key = (userId: string, seq: number) => ({
  pk: `USER#${userId}`,
  sk: `SEQ#${String(seq).padStart(10, '0')}`,
});
const stateKey = (userId: string) => ({ pk: `USER#${userId}` });

const recordsOf = async (userId: string) =>
  (
    await h.dynamo.client.send(
      new QueryCommand({
        TableName: h.dynamo.tables.history,
        KeyConditionExpression: 'pk = :pk',
        ExpressionAttributeValues: { ':pk': `USER#${userId}` },
        ConsistentRead: true,
      }),
    )
  ).Items!;

beforeAll(async () => {
  h = await startHarness({ checkpoints: true });
  const of = (fn: string) => h.source.forFunction?.(fn) ?? h.source;
  handlers = {
    checkpoint: checkpoints(of('checkpoint')),
    handover: handover(of('handover')),
    verify: verify(of('verify')),
  };
}, 60_000);

afterAll(async () => {
  await h.close();
});

describe('POST /checkpoints', () => {
  it('refuses a caller that is not an operator, and a body it does not know', async () => {
    const a = await makeCheckpoint(h.tokens.auditor);
    expect(a.json.error.code).toBe('operator_required');
    expect((await makeCheckpoint(h.tokens.bot.api)).json.error.code).toBe('operator_required');
    expect((await call('checkpoint', { method: 'POST', path: '/checkpoints' })).status).toBe(401);
    const bad = await makeCheckpoint(h.tokens.operator, { reason: 'x', extra: true });
    expect(bad.status).toBe(400);
  });

  it('answers 201 with each checkpoint signed and stored, then 200 with checkpoint null while nothing changed', async () => {
    await handovers('cp-1', 2);
    await handovers('cp-2', 1);
    const first = await makeCheckpoint(h.tokens.operator, { reason: 'before the audit' });
    expect(first.status).toBe(201);
    const stored = first.json.checkpoint;
    expect(first.json.checkpoints.at(-1)).toEqual(stored);
    const again = await makeCheckpoint();
    expect(again).toMatchObject({
      status: 200,
      json: { checkpoint: null, checkpoints: [], complete: true },
    });

    const run = h.logs.find((l) => l.message === 'checkpoint run' && l.attributes?.reason);
    expect(run?.attributes).toMatchObject({ by: 'operator:operator', reason: 'before the audit' });
    expect(JSON.stringify(h.logs)).not.toContain(h.tokens.operator);
  });

  it("stores what the public key verifies, and each user's newest record as its head", async () => {
    const pem = await call('checkpoint', { method: 'GET', path: '/checkpoints/public-key' });
    expect(pem.status).toBe(200);
    expect(pem.headers).toMatchObject({
      'Content-Type': 'application/x-pem-file',
      'Cache-Control': 'public, max-age=3600',
    });
    expect(createPublicKey(pem.body).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    const store = (await h.source.forFunction!('checkpoint')()).checkpoints!.store;
    const latest = await store.latest();
    expect(
      verifySignature(
        'sha256',
        signedBytes(latest!.checkpoint),
        { key: pem.body, dsaEncoding: 'der' },
        latest!.signature,
      ),
    ).toBe(true);
    const all = (await recordsOf('cp-1')).sort((a, b) => a.seq - b.seq);
    // Heads name the user by the subjectRef verify answers with, never by its id.
    const subjectRef = (await verifyUser('cp-1')).json.subjectRef;
    expect(subjectRef).toMatch(/^[0-9a-f]{64}$/);
    const held = [];
    let id: string | undefined = latest!.checkpoint.checkpointId;
    while (id) {
      const c: Checkpoint = (await store.get(id))!.checkpoint;
      held.push(...c.heads.filter((head) => head.subjectRef === subjectRef));
      id =
        c.checkpointId === '000000000001'
          ? undefined
          : String(Number(c.checkpointId) - 1).padStart(12, '0');
    }
    expect(held).toEqual([{ subjectRef, lastSeq: 2, lastHash: all[1]!.hash }]);
  });

  it('runs the same job on its schedule', async () => {
    await handovers('cp-3', 1);
    const answer = (await handlers.checkpoint({ source: 'aws.events' } as never)) as {
      checkpoint: { treeSize: number } | null;
    };
    expect(answer.checkpoint?.treeSize).toBe(1);
  });
});

describe('the deployed wiring', () => {
  it('reaches the bucket and key its environment names; file: URLs in the local bundle mode', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'checkpoint-env-'));
    const saved = { ...process.env };
    try {
      process.env[ENV.checkpointBucket] = pathToFileURL(join(folder, 'bucket')).href;
      process.env[ENV.checkpointKeyId] = pathToFileURL(join(folder, 'key.pem')).href;
      const bare = async () => ({ ...h.deps, checkpoints: null });
      const fn = checkpoints(withCheckpoints(bare));
      const res = (await fn(
        apiEvent({ method: 'GET', path: '/checkpoints/public-key' }),
      )) as HttpResult;
      expect(res.statusCode).toBe(200);
      expect(readFileSync(join(folder, 'key.pem'), 'utf8')).toMatch(/BEGIN PRIVATE KEY/);
      const run = (await fn({ source: 'aws.events' } as never)) as {
        checkpoint: { checkpointId: string };
      };
      expect(readdirSync(join(folder, 'bucket', 'checkpoints'))).toEqual([
        `${String(999999999999 - Number(run.checkpoint.checkpointId)).padStart(12, '0')}-${run.checkpoint.checkpointId}.json`,
      ]);
      delete process.env[ENV.checkpointBucket];
      const none = checkpoints(withCheckpoints(bare));
      const refused = (await none({ source: 'aws.events' } as never).catch(
        (e: unknown) => e,
      )) as Error;
      expect(refused.name).toBe('CheckpointsNotConfiguredError');
    } finally {
      process.env = saved;
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('GET /users/{userId}/verify against the checkpoints', () => {
  it('reports the records verified against the newest checkpoint, and a later one not yet checkpointed', async () => {
    await handovers('cp-4', 2);
    await makeCheckpoint();
    const verified = await verifyUser('cp-4');
    expect(verified.json).toMatchObject({
      ok: true,
      count: 2,
      checkpoint: { status: 'verified', seq: 2, notYetCheckpointed: 0 },
    });
    await handovers('cp-4', 1);
    const later = await verifyUser('cp-4');
    expect(later.json).toMatchObject({
      ok: true,
      count: 3,
      checkpoint: { status: 'verified', seq: 2, notYetCheckpointed: 1 },
    });
  });

  it('fails a history and owner item rewritten together with new hashes, which the owner item alone calls intact', async () => {
    await handovers('cp-5', 3);
    await makeCheckpoint();
    let prevHash = '0'.repeat(64);
    for (const item of (await recordsOf('cp-5')).sort((a, b) => a.seq - b.seq)) {
      const { pk: _pk, sk: _sk, dayPk: _d, toPk: _t, timeSk: _ts, ...record } = item;
      const rewritten = { ...record, reason: 'nothing_to_see', prevHash };
      const hash = hashRecord(rewritten as never);
      await h.dynamo.client.send(
        new PutCommand({
          TableName: h.dynamo.tables.history,
          Item: { ...item, ...rewritten, hash },
        }),
      );
      prevHash = hash;
    }
    const owner = (
      await h.dynamo.client.send(
        new GetCommand({ TableName: h.dynamo.tables.state, Key: stateKey('cp-5') }),
      )
    ).Item!;
    await h.dynamo.client.send(
      new PutCommand({ TableName: h.dynamo.tables.state, Item: { ...owner, lastHash: prevHash } }),
    );

    const report = await verifyUser('cp-5');
    expect(report.json).toMatchObject({
      ok: false,
      firstBroken: { seq: 3, problem: 'checkpoint_mismatch' },
      checkpoint: { status: 'broken', seq: 3 },
    });
  });

  it('fails when the newest records and the head were deleted together', async () => {
    await handovers('cp-6', 3);
    await makeCheckpoint();
    const records = (await recordsOf('cp-6')).sort((a, b) => a.seq - b.seq);
    for (const seq of [3, 2]) {
      await h.dynamo.client.send(
        new DeleteCommand({ TableName: h.dynamo.tables.history, Key: key('cp-6', seq) }),
      );
    }
    const owner = (
      await h.dynamo.client.send(
        new GetCommand({ TableName: h.dynamo.tables.state, Key: stateKey('cp-6') }),
      )
    ).Item!;
    await h.dynamo.client.send(
      new PutCommand({
        TableName: h.dynamo.tables.state,
        Item: {
          ...owner,
          lastSeq: 1,
          lastHash: records[0]!.hash,
          lastHandoverId: records[0]!.handoverId,
        },
      }),
    );
    const report = await verifyUser('cp-6');
    expect(report.json).toMatchObject({
      ok: false,
      count: 1,
      firstBroken: { seq: 2, problem: 'checkpoint_record_missing' },
    });
  });
});
