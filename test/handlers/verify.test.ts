// GET /users/{userId}/verify and GET /verify through the real handler: events built by the
// factory, the production composition root, dynalite and the Parley simulator over HTTP. What the
// SDK sends is watched at the client: consistent reads only, no write, no Parley call.
import { GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { hashRecord } from '../../functions/domain/chain';
import { makeHandler as handover } from '../../functions/handlers/handover';
import { makeHandler as verify } from '../../functions/handlers/verify';
import type { HttpResult } from '../../functions/platform/handler';
import { type ApiEventInput, apiEvent } from '../support/events';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';

let h: Harness;
let verifyFn: ReturnType<typeof verify>;
let handoverFn: ReturnType<typeof handover>;
const sent: { command: string; consistent: unknown }[] = [];

const parse = (result: HttpResult) => ({
  status: result.statusCode,
  json: JSON.parse(typeof result.body === 'string' ? result.body : 'null'),
});

const call = async (input: Omit<ApiEventInput, 'method'>) => {
  sent.length = 0;
  const parleyBefore = h.sim.log().length;
  const res = parse(await verifyFn(apiEvent({ method: 'GET', ...input })));
  return { ...res, commands: [...sent], parleyCalls: h.sim.log().length - parleyBefore };
};

const asAuditor = (path: string) => call({ path, token: h.tokens.auditor });

/** `steps` handovers of a user through the real handover handler, Bot and Agent in turn. */
const history = async (userId: string, steps: number) => {
  for (let i = 0; i < steps; i++) {
    const [token, newOwner] = i % 2 === 0 ? [h.tokens.bot.api, AGENT] : [h.tokens.agent.api, BOT];
    const res = await handoverFn(
      apiEvent({ method: 'POST', path: '/handovers', token, body: { userId, newOwner } }),
    );
    expect(res.statusCode).toBe(200);
  }
};

const recordKey = (userId: string, seq: number) => ({
  pk: `USER#${userId}`,
  sk: `SEQ#${String(seq).padStart(10, '0')}`,
});

/** Rewrites a user's record `seq` with a recomputed hash; returns the record as it was stored. */
const rewriteRecord = async (userId: string, seq: number) => {
  const stored = (
    await h.dynamo.client.send(
      new GetCommand({ TableName: h.dynamo.tables.history, Key: recordKey(userId, seq) }),
    )
  ).Item!;
  const { pk: _pk, sk: _sk, dayPk: _d, toPk: _t, timeSk: _ts, ...record } = stored;
  const rewritten = { ...record, reason: 'nothing_to_see', requestedBy: 'someone-else' };
  await h.dynamo.client.send(
    new PutCommand({
      TableName: h.dynamo.tables.history,
      Item: { ...stored, ...rewritten, hash: hashRecord(rewritten as never) },
    }),
  );
  return { stored, rewritten };
};

beforeAll(async () => {
  h = await startHarness();
  verifyFn = verify(h.source);
  handoverFn = handover(h.source);
  h.dynamo.client.middlewareStack.add(
    (next, context) => async (args) => {
      sent.push({
        command: context.commandName ?? 'unknown',
        consistent: (args.input as { ConsistentRead?: unknown }).ConsistentRead,
      });
      return next(args);
    },
    { step: 'initialize', name: 'verifyHandlerCapture' },
  );
});

afterAll(async () => {
  await h.close();
});

describe('GET /users/{userId}/verify', () => {
  it('answers an intact history with reads only, all consistent, and no Parley call', async () => {
    await history('v1', 3);
    const owner = (
      await h.dynamo.client.send(
        new GetCommand({ TableName: h.dynamo.tables.state, Key: { pk: 'USER#v1' } }),
      )
    ).Item!;

    const res = await asAuditor('/users/v1/verify');

    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      userId: 'v1',
      ok: true,
      count: 3,
      lastSeq: 3,
      lastHash: owner.lastHash,
    });
    expect(res.commands.length).toBeGreaterThanOrEqual(3);
    expect(res.commands.filter((c) => !/^(GetItem|Query)Command$/.test(c.command))).toEqual([]);
    expect(res.commands.filter((c) => c.consistent !== true)).toEqual([]);
    expect(res.parleyCalls).toBe(0);
  });

  it('reports the newest record rewritten with a recomputed hash (the owner item’s lastHash differs)', async () => {
    await history('v2', 2);
    const { stored, rewritten } = await rewriteRecord('v2', 2);

    const res = await asAuditor('/users/v2/verify');

    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({
      userId: 'v2',
      ok: false,
      count: 1,
      lastSeq: 2,
      firstBroken: { seq: 2, handoverId: stored.handoverId, problem: 'head_mismatch' },
    });
    expect(res.json.lastHash).not.toBe(hashRecord(rewritten as never));
    expect(res.commands.filter((c) => !/^(GetItem|Query)Command$/.test(c.command))).toEqual([]);
  });

  it('answers 404 for a user with neither an owner item nor a record, 400 for a bad user id', async () => {
    const unknown = await asAuditor('/users/nobody-here/verify');
    const bad = await asAuditor(`/users/${encodeURIComponent('..')}/verify`);

    expect(unknown).toMatchObject({ status: 404, json: { error: { code: 'not_found' } } });
    expect(bad).toMatchObject({ status: 400, json: { error: { code: 'invalid_user_id' } } });
  });

  it('is for auditors: 401 without a token, 403 with a Service token', async () => {
    const none = await call({ path: '/users/v1/verify' });
    const service = await call({ path: '/users/v1/verify', token: h.tokens.bot.api });
    const all = await call({ path: '/verify', token: h.tokens.agent.api });

    expect(none.status).toBe(401);
    expect(service).toMatchObject({ status: 403, json: { error: { code: 'auditor_required' } } });
    expect(all.status).toBe(403);
    expect([...none.commands, ...service.commands, ...all.commands]).toEqual([]);
  });
});

describe('GET /verify', () => {
  it('pages through every user with an owner item, each verified, with scans and reads only', async () => {
    await history('v3', 1);
    await history('v4', 1);
    await history('v5', 2);
    await rewriteRecord('v5', 2);
    // Every user with an owner item, this file's other tests' included.
    const owners = await h.dynamo.client.send(
      new ScanCommand({ TableName: h.dynamo.tables.state, ConsistentRead: true }),
    );
    const expectedUsers = (owners.Items ?? [])
      .map((i) => String(i.pk))
      .filter((pk) => pk.startsWith('USER#'))
      .map((pk) => pk.slice('USER#'.length))
      .sort();
    const seen: Record<string, boolean> = {};
    const commands = new Set<string>();
    let cursor: string | undefined;
    let pages = 0;
    do {
      const res = await asAuditor(`/verify?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      expect(res.status).toBe(200);
      expect(res.json.users.length).toBeLessThanOrEqual(2);
      for (const u of res.json.users) {
        expect(seen[u.userId]).toBeUndefined();
        seen[u.userId] = u.ok;
      }
      for (const c of res.commands) commands.add(c.command);
      expect(res.parleyCalls).toBe(0);
      cursor = res.json.cursor;
      pages++;
    } while (cursor);

    expect(Object.keys(seen).sort()).toEqual(expectedUsers);
    expect([seen.v3, seen.v4, seen.v5]).toEqual([true, true, false]);
    expect(pages).toBeGreaterThanOrEqual(2);
    expect([...commands].sort()).toEqual(['GetItemCommand', 'QueryCommand', 'ScanCommand']);
  });

  it('refuses a limit outside 1..100 and a cursor that is not one of ours', async () => {
    const zero = await asAuditor('/verify?limit=0');
    const big = await asAuditor('/verify?limit=101');
    const forged = await asAuditor('/verify?cursor=not-a-cursor');

    expect(zero).toMatchObject({ status: 400, json: { error: { code: 'invalid_limit' } } });
    expect(big).toMatchObject({ status: 400, json: { error: { code: 'invalid_limit' } } });
    expect(forged).toMatchObject({ status: 400, json: { error: { code: 'invalid_cursor' } } });
  });
});
