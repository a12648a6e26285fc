// Lowering indexShards without losing a listing (DESIGN.md "Changing N"), on dynalite over HTTP:
// a stage's data written under N=8, read by functions that write N'=2 and fan out over
// indexShardsFrom=8 while `parley-handover reindex --shards 2` re-keys it, then by functions of
// N'=2 alone. Every listing is compared with what was written; the counts the tool reports with
// what the tables held before it ran.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { DeleteCommand, type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  ReindexInterruptedError,
  type ReindexReport,
  reindexTables,
} from '../../cli/parley-handover/reindex-tables';
import { type CliIo, runCli } from '../../cli/parley-handover/main';
import { finalizeRecord, sealMetadata } from '../../functions/domain/chain';
import { shardOf } from '../../functions/domain/shards';
import { verifyUser } from '../../functions/domain/verify';
import type { HandoverRecord } from '../../functions/domain/types';
import { writeRunInfo } from '../../local/paths';
import { TABLES } from '../../local/stack';
import { type LocalDynamo, startDynalite } from '../support/dynalite';
import { recordingLog } from '../support/fakes';
import {
  AGENT,
  BOT,
  createNamedTables,
  expectedListings,
  LATER,
  listEverything,
  storesOf,
  type Tables,
  tableContents,
  withoutIndexKeys,
  type Written,
  writeStage,
} from '../support/shard-fixture';

const OLD = 8;
const NEW = 2;
const LOCAL_TABLES: Tables = { history: TABLES.history, state: TABLES.state };

let dynamo: LocalDynamo;
let localDir: string;

/** A fresh dynalite with the local stack's tables, and a run.json naming it (a running stack). */
const freshLocalStack = async () => {
  dynamo = await startDynalite();
  await createNamedTables(dynamo.client, LOCAL_TABLES);
  localDir = fs.mkdtempSync(path.join(os.tmpdir(), 'reindex-'));
  writeRunInfo(
    {
      pid: process.pid,
      url: 'http://127.0.0.1:9',
      simulatorUrl: null,
      servicesFile: path.join(localDir, 'services.json'),
      demo: false,
      dynamoEndpoint: dynamo.endpoint,
    },
    { PARLEY_LOCAL_DIR: localDir },
  );
};

afterEach(async () => {
  await dynamo?.close();
  if (localDir) fs.rmSync(localDir, { recursive: true, force: true });
});

/** Runs the CLI against the local stack; stdout, stderr and the exit code. */
const cli = async (argv: string[], env: NodeJS.ProcessEnv = {}) => {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIo = {
    env: { PARLEY_LOCAL_DIR: localDir, ...env },
    stdout: (text) => out.push(text),
    stderr: (text) => err.push(text),
  };
  const code = await runCli(argv, io);
  return { code, stdout: out.join(''), stderr: err.join('') };
};

/** The shard an index key names (its last `#` field). */
const shardIn = (key: unknown) => Number(String(key).slice(String(key).lastIndexOf('#') + 1));

/**
 * What a re-key to 2 shards must rewrite, counted from the stored items: an index key in shard 2
 * or above (hash mod 8 in 0..1 is the same shard mod 2, already right).
 */
const misplaced = (items: Map<string, Record<string, unknown>>) => {
  let indexed = 0;
  let wrong = 0;
  for (const item of items.values()) {
    const key = item.dayPk ?? item.ownerPk ?? item.ntfPk ?? item.inboundPk;
    if (key === undefined) continue;
    indexed += 1;
    if (shardIn(key) >= NEW) wrong += 1;
  }
  return { indexed, wrong, notIndexed: items.size - indexed };
};

const verifiesAll = async (written: Written, stores: ReturnType<typeof storesOf>) => {
  const reports = await Promise.all(
    written.users.map((userId) =>
      verifyUser(userId, { history: stores.history, state: stores.state, log: recordingLog() }),
    ),
  );
  return reports.filter((r) => !r.ok).map((r) => [r.userId, r.firstBroken?.problem]);
};

describe('lowering indexShards from 8 to 2', () => {
  beforeEach(freshLocalStack);

  it('lists every item in order while readers fan out over indexShardsFrom', async () => {
    const written = await writeStage(storesOf(dynamo.client, LOCAL_TABLES, { shards: OLD }));
    const transition = storesOf(dynamo.client, LOCAL_TABLES, { shards: NEW, readShards: OLD });
    // A handover written meanwhile, under the new N, is listed with the rest.
    const user = written.owners.find((o) => !o.pending)!;
    const last = written.records.filter((r) => r.userId === user.userId).at(-1)!;
    const next = nextRecord(last, '2026-03-03T20:00:00.000Z');
    await transition.history.append(next);

    const listings = await listEverything(transition, OLD);

    const expected = expectedListings({ ...written, records: [...written.records, next] });
    expect(listings).toEqual(expected);
    expect(expected.range.length).toBeGreaterThan(50);
    expect(expected.pending.length).toBeGreaterThan(3);
    expect(expected.due.length).toBeGreaterThan(5);
  });

  it('loses the items in shards 2..7 from every listing with indexShards 2 alone (why the transition)', async () => {
    const written = await writeStage(storesOf(dynamo.client, LOCAL_TABLES, { shards: OLD }));

    const listings = await listEverything(
      storesOf(dynamo.client, LOCAL_TABLES, { shards: NEW }),
      NEW,
    );

    const expected = expectedListings(written);
    const missing = Object.fromEntries(
      Object.entries(expected).map(([name, ids]) => [
        name,
        ids.length - listings[name as keyof typeof listings].length,
      ]),
    );
    for (const [name, count] of Object.entries(missing)) {
      expect([name, count > 0]).toEqual([name, true]);
    }
  });

  it('re-keys every item with reindex: then readers of 2 alone list everything, the chains verify, a second run rewrites nothing', async () => {
    const written = await writeStage(storesOf(dynamo.client, LOCAL_TABLES, { shards: OLD }));
    const writer = storesOf(dynamo.client, LOCAL_TABLES, { shards: NEW, readShards: OLD });
    await writer.state.putIdempotency(
      {
        callerServiceId: BOT,
        key: 'k-1',
        handoverId: 'h-x',
        userId: written.users[0]!,
        bodyHash: 'b',
        expiresAt: Date.parse(LATER) / 1000,
      },
      Date.parse('2026-03-01T00:00:00.000Z'),
    );
    const before = {
      history: await tableContents(dynamo.client, LOCAL_TABLES.history),
      state: await tableContents(dynamo.client, LOCAL_TABLES.state),
    };

    const first = await cli(['reindex', '--shards', '2', '--page-size', '25', '--json']);
    const second = await cli(['reindex', '--shards', '2', '--json']);

    expect([
      first.code,
      first.stderr.split('\n').filter((l) => l.startsWith('reindex '))[0],
    ]).toEqual([
      0,
      expect.stringMatching(/^reindex history: page 1, read 25, rewritten \d+, already right \d+/),
    ]);
    const report = JSON.parse(first.stdout) as ReindexReport;
    const history = misplaced(before.history);
    const state = misplaced(before.state);
    expect(report).toEqual({
      shards: 2,
      dryRun: false,
      history: counts(before.history.size, history.wrong, history.indexed - history.wrong, 0),
      state: counts(before.state.size, state.wrong, state.indexed - state.wrong, state.notIndexed),
    });
    expect([history.wrong, state.wrong, state.notIndexed].every((n) => n > 0)).toBe(true);
    // A progress line per page, each with the cursor that resumes after it.
    const progress = first.stderr.trim().split('\n');
    expect(progress.length).toBe(
      Math.ceil(before.history.size / 25) + Math.ceil(before.state.size / 25),
    );
    expect(
      progress.slice(0, -1).every((l) => / Resume with --cursor [A-Za-z0-9_-]+$/.test(l)),
    ).toBe(true);
    expect(progress.at(-1)).toMatch(/ Done\.$/);
    // Nothing but the index attributes changed.
    const after = {
      history: await tableContents(dynamo.client, LOCAL_TABLES.history),
      state: await tableContents(dynamo.client, LOCAL_TABLES.state),
    };
    expect(withoutIndexKeys(after.history)).toEqual(withoutIndexKeys(before.history));
    expect(withoutIndexKeys(after.state)).toEqual(withoutIndexKeys(before.state));
    const lowered = storesOf(dynamo.client, LOCAL_TABLES, { shards: NEW });
    expect(await listEverything(lowered, NEW)).toEqual(expectedListings(written));
    expect(await verifiesAll(written, lowered)).toEqual([]);
    expect([second.code, (JSON.parse(second.stdout) as ReindexReport).history.rewritten]).toEqual([
      0, 0,
    ]);
    expect((JSON.parse(second.stdout) as ReindexReport).state).toEqual(
      counts(before.state.size, 0, state.indexed, state.notIndexed),
    );
  });

  it('counts without writing on --dry-run, the same figures the run then reports', async () => {
    await writeStage(storesOf(dynamo.client, LOCAL_TABLES, { shards: OLD }));
    const before = await tableContents(dynamo.client, LOCAL_TABLES.state);

    const dry = await cli(['reindex', '--shards', '2', '--dry-run', '--json']);
    const unchanged = await tableContents(dynamo.client, LOCAL_TABLES.state);
    const real = await cli(['reindex', '--shards', '2', '--json']);

    expect([dry.code, real.code]).toEqual([0, 0]);
    expect(unchanged).toEqual(before);
    const dryReport = JSON.parse(dry.stdout) as ReindexReport;
    const realReport = JSON.parse(real.stdout) as ReindexReport;
    expect(dryReport.dryRun).toBe(true);
    expect([dryReport.history, dryReport.state]).toEqual([realReport.history, realReport.state]);
    expect(dryReport.state.rewritten).toBe(misplaced(before).wrong);
  });

  it('resumes from the cursor an interrupted run printed, and the two runs rewrite each item once', async () => {
    const written = await writeStage(storesOf(dynamo.client, LOCAL_TABLES, { shards: OLD }));
    const wrong =
      misplaced(await tableContents(dynamo.client, LOCAL_TABLES.history)).wrong +
      misplaced(await tableContents(dynamo.client, LOCAL_TABLES.state)).wrong;
    let scans = 0;
    const failing = intercept(dynamo.client, async (command) => {
      if (command.constructor.name === 'ScanCommand' && ++scans === 4) {
        throw new Error('socket hang up');
      }
    });

    const interrupted = await reindexTables({
      client: failing,
      tables: LOCAL_TABLES,
      shards: NEW,
      pageSize: 20,
    }).catch((err: unknown) => err);
    const cursor = (interrupted as ReindexInterruptedError).cursor;
    const resumed = await reindexTables({
      client: dynamo.client,
      tables: LOCAL_TABLES,
      shards: NEW,
      pageSize: 20,
      cursor,
    });

    expect(interrupted).toBeInstanceOf(ReindexInterruptedError);
    expect((interrupted as Error).message).toBe(
      `The reindex stopped: socket hang up. Nothing is lost: run it again with --cursor ${cursor} to go on from the page it was on.`,
    );
    const rewritten = (interrupted as ReindexInterruptedError).report;
    expect(
      rewritten.history.rewritten +
        rewritten.state.rewritten +
        resumed.history.rewritten +
        resumed.state.rewritten,
    ).toBe(wrong);
    const lowered = storesOf(dynamo.client, LOCAL_TABLES, { shards: NEW });
    expect(await listEverything(lowered, NEW)).toEqual(expectedListings(written));
  });
});

describe('reindex racing the functions', () => {
  beforeEach(freshLocalStack);

  it('lets a handover and a notification write that race the re-key win: their versions stand, nothing is lost', async () => {
    const written = await writeStage(storesOf(dynamo.client, LOCAL_TABLES, { shards: OLD }));
    const functions = storesOf(dynamo.client, LOCAL_TABLES, { shards: NEW, readShards: OLD });
    const user = written.owners.find((o) => !o.pending && shardOf(o.userId, OLD) >= NEW)!;
    const notification = written.notifications.find(
      (n) => n.status === 'pending' && shardOf(n.id, OLD) >= NEW,
    )!;
    const last = written.records.filter((r) => r.userId === user.userId).at(-1)!;
    const handover = nextRecord(last, '2026-03-03T21:00:00.000Z');
    const raceOnce = { owner: 0, outbox: 0 };
    const raced = intercept(dynamo.client, async (command) => {
      if (!(command instanceof UpdateCommand)) return;
      const pk = command.input.Key?.pk;
      if (
        pk === `USER#${user.userId}` &&
        command.input.TableName === LOCAL_TABLES.state &&
        raceOnce.owner === 0
      ) {
        // A handover lands between the reindex's read of the owner item and its write.
        await functions.history.append(handover);
        await functions.state.compareAndSetOwner(
          {
            ...user,
            owner: handover.toOwner,
            version: user.version + 1,
            since: handover.createdAt,
            lastSeq: handover.seq,
            lastHash: handover.hash,
            lastCreatedAt: handover.createdAt,
            lastHandoverId: handover.handoverId,
          },
          user.version,
        );
        raceOnce.owner += 1;
      }
      if (pk === `NOTIFY#${notification.id}` && raceOnce.outbox === 0) {
        // The notifier sends it meanwhile.
        await functions.notifications.compareAndSet(
          { ...notification, status: 'sent', attempts: 1, lastStatus: 200, version: 2 },
          1,
        );
        raceOnce.outbox += 1;
      }
    });

    const report = await reindexTables({ client: raced, tables: LOCAL_TABLES, shards: NEW });

    expect([raceOnce, report.state.lostRaces]).toEqual([{ owner: 1, outbox: 1 }, 2]);
    expect(await functions.state.getOwner(user.userId)).toEqual(
      expect.objectContaining({ owner: handover.toOwner, version: user.version + 1 }),
    );
    const lowered = storesOf(dynamo.client, LOCAL_TABLES, { shards: NEW });
    const moved = {
      ...written,
      records: [...written.records, handover],
      owners: written.owners.map((o) =>
        o.userId === user.userId ? { ...o, owner: handover.toOwner } : o,
      ),
      notifications: written.notifications.map((n) =>
        n.id === notification.id ? { ...n, status: 'sent' as const } : n,
      ),
    };
    const listings = await listEverything(lowered, NEW);
    expect(listings).toEqual(expectedListings(moved));
    expect(await verifiesAll(written, lowered)).toEqual([]);
    expect(
      (await reindexTables({ client: dynamo.client, tables: LOCAL_TABLES, shards: NEW })).state
        .rewritten,
    ).toBe(0);
  });

  it('brings back no record the eraser deletes while the reindex runs', async () => {
    const written = await writeStage(storesOf(dynamo.client, LOCAL_TABLES, { shards: OLD }));
    const victim = written.records.find((r) => shardOf(r.handoverId, OLD) >= NEW)!;
    const key = { pk: `USER#${victim.userId}`, sk: `SEQ#${String(victim.seq).padStart(10, '0')}` };
    const erasing = intercept(dynamo.client, async (command) => {
      if (
        command instanceof UpdateCommand &&
        command.input.Key?.sk === key.sk &&
        command.input.Key?.pk === key.pk
      ) {
        await dynamo.client.send(new DeleteCommand({ TableName: LOCAL_TABLES.history, Key: key }));
      }
    });

    const report = await reindexTables({ client: erasing, tables: LOCAL_TABLES, shards: NEW });

    expect([report.history.gone, report.history.lostRaces]).toEqual([1, 1]);
    const stored = await tableContents(dynamo.client, LOCAL_TABLES.history);
    expect(stored.has(`${key.pk}|${key.sk}`)).toBe(false);
  });
});

describe('the reindex command line', () => {
  beforeEach(freshLocalStack);

  it('explains itself with --help and refuses a wrong command line with exit code 2', async () => {
    const help = await cli(['reindex', '--help']);
    const refusals = await Promise.all([
      cli(['reindex']),
      cli(['reindex', '--shards', '65']),
      cli(['reindex', '--shards', '2', '--page-size', '0']),
      cli(['reindex', '--shards', '2', '--history-table', 'h']),
      cli(['reindex', '--shards', '2', '--cursor', 'not a cursor']),
    ]);

    expect([help.code, help.stdout]).toEqual([0, expect.stringContaining('indexShardsFrom')]);
    expect(refusals.map((r) => [r.code, r.stderr.trim()])).toEqual([
      [
        2,
        'Missing --shards: the index shards to re-key every item for (the new indexShards). Try --help.',
      ],
      [2, '--shards must be a whole number from 1 to 64. Try --help.'],
      [2, '--page-size must be a whole number from 1 to 1000. Try --help.'],
      [2, '--history-table and --state-table go together: name both tables. Try --help.'],
      [2, '--cursor is not a cursor this command printed. Try --help.'],
    ]);
  });

  it('refuses a cursor printed for another shard count or by a dry run', async () => {
    await writeStage(storesOf(dynamo.client, LOCAL_TABLES, { shards: OLD }), 8);
    const dry = await cli(['reindex', '--shards', '2', '--dry-run', '--page-size', '5']);
    const cursor = /--cursor (\S+)/.exec(dry.stderr)![1]!;

    const otherCount = await cli(['reindex', '--shards', '4', '--cursor', cursor]);
    const realRun = await cli(['reindex', '--shards', '2', '--cursor', cursor]);

    expect([otherCount.code, otherCount.stderr.trim()]).toEqual([
      2,
      'This cursor was printed by a reindex to 2 shards: run it with --shards 2, or start again without --cursor. Try --help.',
    ]);
    expect([realRun.code, realRun.stderr.trim()]).toEqual([
      2,
      'This cursor was printed by a dry run, which rewrote nothing: start the real run without --cursor. Try --help.',
    ]);
  });

  it('says so when no local stack runs and no deployed tables are named', async () => {
    fs.rmSync(path.join(localDir, 'run.json'));

    const run = await cli(['reindex', '--shards', '2']);

    expect([run.code, run.stderr.trim()]).toEqual([
      1,
      'No local stack is running (npm start): start it, or name a deployed stage with --stage (its outputs file) or --history-table and --state-table.',
    ]);
  });

  it("reaches a deployed stage's tables with the operator's own AWS credentials, by --stage or by name", async () => {
    const tables = await dynamo.createTables();
    await writeStage(storesOf(dynamo.client, tables, { shards: OLD }), 6);
    const outputs = path.join(localDir, 'outputs-staging.json');
    fs.writeFileSync(
      outputs,
      JSON.stringify({
        'ParleyHandover-staging-Data': {
          HistoryTableName: tables.history,
          StateTableName: tables.state,
        },
      }),
    );
    const aws = { AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint, AWS_REGION: 'eu-west-1' };

    const byStage = await cli(
      [
        'reindex',
        '--shards',
        '2',
        '--dry-run',
        '--json',
        '--stage',
        'staging',
        '--outputs-file',
        outputs,
      ],
      aws,
    );
    const byName = await cli(
      [
        'reindex',
        '--shards',
        '2',
        '--json',
        '--history-table',
        tables.history,
        '--state-table',
        tables.state,
      ],
      aws,
    );
    const noOutputs = await cli(
      ['reindex', '--shards', '2', '--stage', 'prod', '--outputs-file', outputs],
      aws,
    );

    expect([byStage.code, byName.code]).toEqual([0, 0]);
    const [dry, real] = [byStage, byName].map((r) => JSON.parse(r.stdout) as ReindexReport);
    expect(dry!.history.read).toBeGreaterThan(5);
    expect(real!.history).toEqual(dry!.history);
    expect([noOutputs.code, noOutputs.stderr.trim()]).toEqual([
      1,
      `${outputs} has no outputs of ParleyHandover-prod-Data: deploy stage "prod" first, or name its tables with --history-table and --state-table.`,
    ]);
  });
});

const counts = (read: number, rewritten: number, alreadyRight: number, notIndexed: number) => ({
  read,
  rewritten,
  alreadyRight,
  notIndexed,
  gone: 0,
  lostRaces: 0,
  unkeyable: 0,
});

/** The record a handover after `last` appends (the chain goes on). */
const nextRecord = (last: HandoverRecord, createdAt: string): HandoverRecord =>
  finalizeRecord(
    {
      handoverId: `${last.handoverId}-next`,
      userId: last.userId,
      seq: last.seq + 1,
      fromOwner: last.toOwner,
      toOwner: last.toOwner === BOT ? AGENT : BOT,
      reason: 'user_requested_human',
      ...sealMetadata(null),
      requestedBy: last.toOwner,
      source: 'api',
      createdAt,
      prevHash: last.hash,
    },
    'completed',
    { status: 200, code: null, durationMs: 4 },
  );

/** The client, with `before` run ahead of every command it sends (where a test makes a race). */
const intercept = (
  client: DynamoDBDocumentClient,
  before: (command: object) => Promise<void>,
): DynamoDBDocumentClient =>
  new Proxy(client, {
    get(target, name, receiver) {
      if (name !== 'send') return Reflect.get(target, name, receiver);
      return async (command: never, ...rest: never[]) => {
        await before(command);
        return (target.send as (...args: unknown[]) => Promise<unknown>).call(
          target,
          command,
          ...rest,
        );
      };
    },
  });
