// The bench's hand-back row (issue 12): a handover from an agent desk back to the bot, gated at
// c=1 against the handover floor measured in the same rounds. The rows are computed from the
// samples; the arm is run against the bench stack and checked against the history it left.
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { LoadResult } from '../../bench/load';
import { armUserId } from '../../bench/load';
import {
  BENCH_SERVICES,
  type BenchSystem,
  benchSettings,
  startBenchSystem,
  TABLES,
} from '../../bench/system';
import { gateRows, phases, runPhase, summarizeLoad, WARM_GATES } from '../../bench/warm';

const [BOT, DESK_A] = BENCH_SERVICES.map((s) => s.identification) as [string, string];
const FLOOR = 'floor: PUT owner + conditional put';

const loadResult = (concurrency: number, handBack: number[], floor: number[]): LoadResult => ({
  concurrency,
  wallMs: 1000,
  requestsPerSecond: (handBack.length + floor.length) / 1,
  arms: [
    { name: 'hand-back', latenciesMs: handBack, statuses: { 200: handBack.length }, errors: 0 },
    { name: FLOOR, latenciesMs: floor, statuses: { 200: floor.length }, errors: 0 },
  ],
});

const functions = { [FLOOR]: 'floorHandover' };
const options = { concurrencies: [1, 8], parleyLatencyMs: 50 };
const gate = WARM_GATES.find((g) => g.phase === 'hand-back')!;

describe('bench hand-back row', () => {
  it('gates the hand-back at c=1 with the handover budget of 1.15x its floor', () => {
    const handover = WARM_GATES.find((g) => g.phase === 'handover')!;
    expect({ phase: gate.phase, budget: gate.budget }).toEqual({
      phase: 'hand-back',
      budget: handover.budget,
    });
    expect(handover.budget).toBe(1.15);
    expect(gate.label(50)).toMatch(/^hand-back/);
  });

  it('computes the ratio from the measured samples of the hand-back and of its floor', () => {
    const warm = [
      // p50 of [64, 60, 62] is 62; of [56, 50, 54, 52] is (52 + 54) / 2 = 53; 62 / 53 = 1.1698.
      summarizeLoad(
        'hand-back',
        loadResult(1, [64, 60, 62], [56, 50, 54, 52]),
        new Map(),
        functions,
      ),
      // p50 of [70, 90] is 80; of [60, 60] is 60: 1.33x, reported only.
      summarizeLoad('hand-back', loadResult(8, [70, 90], [60, 60]), new Map(), functions),
    ];
    const rows = gateRows(warm, gate, options);
    expect(rows.map((r) => [r.section, r.subject, r.floor, r.result, r.budget, r.verdict])).toEqual(
      [
        ['warm c=1', '62.0 ms', '53.0 ms', '1.17x', '<= 1.15x', 'over'],
        ['warm c=1', expect.any(String), expect.any(String), expect.any(String), '-', 'reported'],
        ['warm c=8', '80.0 ms', '60.0 ms', '1.33x', '(1.15x at c=1)', 'reported'],
        ['warm c=8', expect.any(String), expect.any(String), expect.any(String), '-', 'reported'],
      ],
    );
    expect(rows[0]!.check).toBe(
      'hand-back, agent to bot (Parley 50 ms) vs PUT owner + conditional put p50 (n=3)',
    );
  });

  it('is within at 1.15x or less and over when a request failed', () => {
    // p50 57.5 against 50: 1.15x.
    const within = summarizeLoad('hand-back', loadResult(1, [57.5], [50]), new Map(), functions);
    expect(gateRows([within], gate, options)[0]!.verdict).toBe('within');
    const failed = loadResult(1, [57.5], [50]);
    failed.arms[0]!.errors = 1;
    const rows = gateRows(
      [summarizeLoad('hand-back', failed, new Map(), functions)],
      gate,
      options,
    );
    expect([rows[0]!.verdict, rows[0]!.check]).toEqual([
      'over',
      'hand-back, agent to bot (Parley 50 ms) vs PUT owner + conditional put p50 (n=1, 1 errors)',
    ]);
  });
});

describe('bench hand-back arm on the bench stack', () => {
  it('gives each moving arm of a run a user of its own', () => {
    const p = phases({ settings: benchSettings() } as BenchSystem, 'run', 'unused');
    const moving = [p.handover, p.handBack].flatMap((phase) =>
      phase.arms.filter((a) => a.ring ?? a.pair),
    );
    const users = moving.map((a) => armUserId(a, 0, 'run'));
    expect(users).toHaveLength(4);
    expect(new Set(users).size).toBe(users.length);
  });

  let sys: BenchSystem;
  beforeAll(async () => {
    sys = await startBenchSystem({ parleyLatencyMs: 0 });
  });
  afterAll(() => sys.close());

  it('measures only handovers from the desk to the bot, each one a record, with no agent/unset in the request', async () => {
    // As the bench runs it: the handover phase first, on the same run id.
    const runId = 'hb-arm';
    const p = phases(sys, runId, 'unused');
    const handover = await runPhase(sys, 'handover', p.handover.arms, p.handover.functions, {
      concurrency: 2,
      samples: 2,
      warmupRounds: 0,
      runId,
    });
    expect(handover.arms.map((a) => a.statuses)).toEqual([{ 200: 2 }, { 200: 2 }]);
    const phase = p.handBack;
    sys.counters.reset();
    const result = await runPhase(sys, 'hand-back', phase.arms, phase.functions, {
      concurrency: 2,
      samples: 6,
      warmupRounds: 1,
      runId,
    });
    const counted = sys.counters.reset();
    expect(result.arms.map((a) => [a.name, a.n, a.statuses, a.errors])).toEqual([
      ['hand-back', 6, { 200: 6 }, 0],
      [FLOOR, 6, { 200: 6 }, 0],
    ]);

    // Each worker's user: per round (1 warm-up, 3 measured) a move to the desk, then the hand-back.
    const handBack = phase.arms.find((a) => a.name === 'hand-back')!;
    for (const worker of [0, 1]) {
      const userId = armUserId(handBack, worker, runId);
      const out = await sys.client.send(
        new QueryCommand({
          TableName: TABLES.history,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': `USER#${userId}` },
        }),
      );
      const moves = (out.Items ?? []).map((r) => `${r.fromOwner}>${r.toOwner}:${r.status}`);
      expect(moves.filter((m) => m === `${DESK_A}>${BOT}:completed`)).toHaveLength(4);
      expect(moves.filter((m) => m === `${BOT}>${DESK_A}:completed`)).toHaveLength(4);
      expect(sys.sim.ownerOf(userId)).toBe(BOT);
    }
    // The hand-back's agent/unset waits in the outbox: none was made by a request.
    expect(counted.parley['PUT agent/unset']).toBeUndefined();
    // 8 hand-backs, 8 moves to the desk and 8 floor requests, one PUT owner each.
    expect(counted.parley['PUT owner']).toBe(24);
  });
});
