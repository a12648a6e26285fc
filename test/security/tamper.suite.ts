// Tamper evidence through the shipped path: histories written by real handovers, then edited,
// deleted, reordered or rewritten directly in the store (as someone with table access, not through
// this service). Each one is verified the way an auditor does it: `GET /users/{userId}/verify`
// through the local gateway and `parley-handover verify` (the CLI, over HTTP, against that
// gateway); both must report it and name the first broken record and its problem. At the end
// `verify --all` must count exactly the tampered histories as broken. Erased metadata is no
// tampering: it is erased as an operator does it (the erasure route, then the eraser), so the suite
// follows the chain's version.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { fileErasureKey } from '../../functions/adapters/erasure-key';
import { hashRecord } from '../../functions/domain/chain';
import type { EraserSummary } from '../../functions/domain/erasure/run';
import type { VerifyProblem, VerifyReport } from '../../functions/domain/verify';
import { makeHandler as eraserHandler } from '../../functions/handlers/eraser';
import { makeHandler as verifyHandler } from '../../functions/handlers/verify';
import { useErasureKey } from '../../functions/platform/erasure-deps';
import { type CliIo, runCli } from '../../cli/parley-handover/main';
import { type LocalGateway, startGateway } from '../../local/gateway';
import { AGENT, BOT, type Harness, startHarness } from '../support/harness';
import { type Invoker, invoker, reportFigures } from '../support/reliability';

type Item = Record<string, unknown>;
type Io = { put(item: Item): Promise<void>; remove(item: Item): Promise<void> };
type Tamper = {
  name: string;
  /** Changes the stored items; answers the first broken seq and the problem verify must name. */
  apply(items: Item[], io: Io): Promise<{ seq: number; problem: VerifyProblem }>;
};

/** seq is 1-based; items are the stored items in ascending seq. */
const at = (items: Item[], seq: number) => items[seq - 1]!;

/** A stored item's record fields (without the table's key attributes). */
const recordOf = (item: Item): Item => {
  const { pk: _pk, sk: _sk, dayPk: _d, toPk: _t, timeSk: _ts, ...record } = item;
  return record;
};

const TAMPERS = (pick: (n: number) => number): Tamper[] => [
  {
    name: 'edit toOwner',
    apply: async (items, io) => {
      const seq = pick(items.length);
      await io.put({ ...at(items, seq), toOwner: at(items, seq).toOwner === BOT ? AGENT : BOT });
      return { seq, problem: 'hash_mismatch' };
    },
  },
  {
    name: 'edit the reason',
    apply: async (items, io) => {
      const seq = pick(items.length);
      await io.put({ ...at(items, seq), reason: 'nothing_to_see' });
      return { seq, problem: 'hash_mismatch' };
    },
  },
  {
    name: 'backdate createdAt',
    apply: async (items, io) => {
      const seq = pick(items.length);
      await io.put({ ...at(items, seq), createdAt: '2020-01-01T00:00:00.000Z' });
      return { seq, problem: 'hash_mismatch' };
    },
  },
  {
    name: 'flip the status',
    apply: async (items, io) => {
      const seq = pick(items.length);
      await io.put({
        ...at(items, seq),
        status: at(items, seq).status === 'completed' ? 'failed' : 'completed',
      });
      return { seq, problem: 'hash_mismatch' };
    },
  },
  {
    name: 'edit the metadata',
    apply: async (items, io) => {
      const seq = pick(items.length);
      await io.put({ ...at(items, seq), metadata: { reason: 'forged' } });
      return { seq, problem: 'metadata_digest_mismatch' };
    },
  },
  {
    // What an erasure looked like in chain v1. A v2 record keeps its salt, so the digest no longer
    // matches: only the eraser's way (salt removed too, the erasure marked) is no break.
    name: 'null the metadata outside the eraser',
    apply: async (items, io) => {
      const seq = pick(items.length);
      await io.put({ ...at(items, seq), metadata: null });
      return { seq, problem: 'metadata_digest_mismatch' };
    },
  },
  {
    name: 'edit a field and recompute its own hash',
    apply: async (items, io) => {
      // The edited record looks sound alone; the next link gives it away.
      const seq = pick(items.length - 1);
      const edited = { ...recordOf(at(items, seq)), requestedBy: 'someone-else' };
      await io.put({ ...at(items, seq), ...edited, hash: hashRecord(edited as never) });
      return { seq: seq + 1, problem: 'prev_hash_mismatch' };
    },
  },
  {
    name: 'rewrite the newest record (reason, requestedBy) and recompute its hash',
    apply: async (items, io) => {
      // No later link: only the owner item's lastHash gives it away.
      const seq = items.length;
      const edited = {
        ...recordOf(at(items, seq)),
        reason: 'nothing_to_see',
        requestedBy: 'someone-else',
      };
      await io.put({ ...at(items, seq), ...edited, hash: hashRecord(edited as never) });
      return { seq, problem: 'head_mismatch' };
    },
  },
  {
    name: 'delete a record',
    apply: async (items, io) => {
      const seq = pick(items.length - 1);
      await io.remove(at(items, seq));
      return { seq, problem: 'seq_gap' };
    },
  },
  {
    name: 'delete the newest record',
    apply: async (items, io) => {
      await io.remove(at(items, items.length));
      return { seq: items.length, problem: 'record_missing' };
    },
  },
  {
    name: 'reorder two records',
    apply: async (items, io) => {
      const seq = pick(items.length - 1);
      const a = at(items, seq);
      const b = at(items, seq + 1);
      await io.put({ ...b, pk: a.pk, sk: a.sk, seq: a.seq });
      await io.put({ ...a, pk: b.pk, sk: b.sk, seq: b.seq });
      return { seq, problem: 'prev_hash_mismatch' };
    },
  },
];

export const defineTamperSuite = (
  usersPerTamper: number,
  recordsPerUser: number,
  label: string,
): void => {
  let h: Harness;
  let api: Invoker;
  let gateway: LocalGateway;
  let keyDir: string;
  let userCount = 0;
  const figures = {
    histories: 0,
    records: 0,
    tampered: 0,
    storeWrites: 0,
    detectedByRoute: 0,
    detectedByCli: 0,
    namedFirstBroken: 0,
    intactVerified: 0,
    allUsers: 0,
    allBroken: 0,
  };

  beforeAll(async () => {
    h = await startHarness();
    keyDir = mkdtempSync(join(tmpdir(), 'tamper-erasure-key-'));
    useErasureKey(h.deps.config, fileErasureKey(join(keyDir, 'erasure-key')));
    api = invoker(h.source);
    gateway = await startGateway({ handlers: { verify: verifyHandler(h.source) as never } });
  });

  afterAll(async () => {
    await gateway.close();
    await h.close();
    rmSync(keyDir, { recursive: true, force: true });
    reportFigures(
      label,
      { ...figures },
      {
        drives: 'histories edited, deleted from, reordered or rewritten directly in the table',
        proved: `${figures.detectedByRoute} of ${figures.tampered} tampered histories reported by GET /users/{userId}/verify and ${figures.detectedByCli} by the CLI, each naming the first broken record and its problem; verify --all counted ${figures.allBroken} broken of ${figures.allUsers}`,
      },
    );
  });

  /** A user with `recordsPerUser` records written through the real handover route. */
  const historyOfHandovers = async (): Promise<string> => {
    const userId = `tamper-${userCount++}`;
    for (let i = 0; i < recordsPerUser; i++) {
      const [token, newOwner] = i % 2 === 0 ? [h.tokens.bot.api, AGENT] : [h.tokens.agent.api, BOT];
      const res = await api.call({
        method: 'POST',
        path: '/handovers',
        token,
        body: { userId, newOwner, metadata: { reason: `step_${i}`, ticket: i } },
      });
      expect(res.statusCode).toBe(200);
    }
    return userId;
  };

  /** The user's stored items in ascending seq, read back from the table. */
  const readItems = async (userId: string): Promise<Item[]> => {
    const items: Item[] = [];
    for (let seq = 1; ; seq++) {
      const out = await h.dynamo.client.send(
        new GetCommand({
          TableName: h.dynamo.tables.history,
          Key: { pk: `USER#${userId}`, sk: `SEQ#${String(seq).padStart(10, '0')}` },
        }),
      );
      if (!out.Item) break;
      items.push(out.Item);
    }
    return items;
  };

  /** The stored items of a history the test goes on with (the figures count these). */
  const storedItems = async (userId: string): Promise<Item[]> => {
    const items = await readItems(userId);
    expect(items).toHaveLength(recordsPerUser);
    figures.histories++;
    figures.records += items.length;
    return items;
  };

  /** Users whose records a tamper changed in the table. */
  const tamperedUsers = new Set<unknown>();
  const put = async (item: Item) => {
    await h.dynamo.client.send(new PutCommand({ TableName: h.dynamo.tables.history, Item: item }));
  };
  const io: Io = {
    put: async (item) => {
      await put(item);
      tamperedUsers.add(item.pk);
      figures.storeWrites++;
    },
    remove: async (item) => {
      await h.dynamo.client.send(
        new DeleteCommand({
          TableName: h.dynamo.tables.history,
          Key: { pk: item.pk, sk: item.sk },
        }),
      );
      tamperedUsers.add(item.pk);
      figures.storeWrites++;
    },
  };

  /** The route, over HTTP through the local gateway, as an auditor. */
  const viaRoute = async (userId: string): Promise<VerifyReport> => {
    const res = await fetch(`${gateway.url}/users/${encodeURIComponent(userId)}/verify`, {
      headers: { authorization: `Bearer ${h.tokens.auditor}` },
    });
    expect(res.status).toBe(200);
    return (await res.json()) as VerifyReport;
  };

  /** The shipped CLI against the same gateway. */
  const cli = async (...argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const cliIo: CliIo = { env: {}, stdout: (t) => out.push(t), stderr: (t) => err.push(t) };
    const code = await runCli(
      [...argv, '--url', gateway.url, '--token', h.tokens.auditor, '--format', 'json'],
      cliIo,
    );
    return { code, json: out.length ? JSON.parse(out.join('')) : undefined, stderr: err.join('') };
  };

  it('verifies untouched histories, and one whose metadata was erased', async () => {
    const userId = await historyOfHandovers();
    const items = await storedItems(userId);
    const untouched = await viaRoute(userId);
    const asked = await api.call({
      method: 'POST',
      path: `/users/${userId}/erasure`,
      token: h.tokens.operator,
      body: { level: 'metadata', reason: 'tamper suite', legalBasis: 'GDPR Art. 17(1)(a)' },
    });
    // One run of the eraser, as its schedule starts it.
    const run = (await eraserHandler(h.source.forFunction?.('eraser') ?? h.source)({
      source: 'aws.events',
    } as never)) as EraserSummary;
    const after = await readItems(userId);
    const erased = await viaRoute(userId);
    const byCli = await cli('verify', userId);

    expect(items.every((i) => i.metadata !== null)).toBe(true);
    expect([asked.statusCode, run.done]).toEqual([202, [asked.json.erasureId]]);
    expect(after.map((i) => [i.metadata, i.salt, (i.metadataErased as Item)?.erasureId])).toEqual(
      items.map(() => [null, undefined, asked.json.erasureId]),
    );
    expect(untouched).toMatchObject({ ok: true, count: recordsPerUser, lastSeq: recordsPerUser });
    expect(erased).toMatchObject({
      ok: true,
      count: recordsPerUser,
      erased: { metadata: recordsPerUser },
    });
    expect(byCli).toMatchObject({ code: 0, json: { ok: true, count: recordsPerUser } });
    if (untouched.ok && erased.ok && byCli.code === 0) figures.intactVerified++;
  });

  let counter = 0;
  const pick = (n: number) => 1 + (counter++ % n);

  it.each(TAMPERS(pick).map((t) => [t.name, t] as const))(
    'reports "%s" naming the first broken record, by the route and by the CLI',
    async (_name, tamper) => {
      for (let u = 0; u < usersPerTamper; u++) {
        const userId = await historyOfHandovers();
        const expected = await tamper.apply(await storedItems(userId), io);

        const report = await viaRoute(userId);
        const byCli = await cli('verify', userId);

        expect(report).toMatchObject({
          ok: false,
          count: expected.seq - 1,
          firstBroken: { seq: expected.seq, problem: expected.problem },
        });
        if (!report.ok) figures.detectedByRoute++;
        expect(byCli.code).toBe(1);
        expect(byCli.json).toEqual(report);
        if (byCli.code === 1 && byCli.json.ok === false) figures.detectedByCli++;
        if (report.firstBroken?.seq === expected.seq) figures.namedFirstBroken++;
      }
    },
  );

  it('counts exactly the tampered histories as broken with verify --all', async () => {
    figures.tampered = tamperedUsers.size;
    const all = await cli('verify', '--all');

    expect(all.code).toBe(1);
    expect(figures.detectedByRoute).toBe(figures.tampered);
    expect(all.json).toMatchObject({
      users: figures.histories,
      ok: figures.histories - figures.tampered,
      broken: figures.tampered,
    });
    figures.allUsers = all.json.users;
    figures.allBroken = all.json.broken;
  });
};
