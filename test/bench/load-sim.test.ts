// The load simulation counts from what happened: the level's queue table holds one message per
// webhook answered 200 and the history one record per handover answered 200, and a store that
// disagrees with the answers makes the level an error. No timing is asserted.
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { runLoadSim } from '../../bench/load-sim';
import { type BenchSystem, startBenchSystem } from '../../bench/system';

describe('load simulation', () => {
  let sys: BenchSystem;
  beforeAll(async () => {
    sys = await startBenchSystem({ parleyLatencyMs: 0 });
  });
  afterAll(() => sys.close());

  it('holds the queue and the history against the answers of a mixed level', async () => {
    const sim = await runLoadSim(sys, {
      concurrencies: [2],
      seconds: 1,
      runId: 'ls-ok',
      usersPerWorker: 3,
    });
    const [level] = sim.levels;
    expect(level!.webhook.n).toBeGreaterThan(0);
    expect(level!.handover.n).toBeGreaterThan(0);
    expect(level!.store.queueItems).toBe(level!.store.webhooksOk);
    // Each primed user's first handover, and every measured one, left one record.
    expect(level!.store.records).toBe(level!.store.handoversOk);
    expect(level!.store.records).toBeGreaterThanOrEqual(6);
    expect(level!.errors).toBe(0);
  });

  it('counts a queue that holds what no answer sent as an error', async () => {
    await sys.useQueueTable('bench-queue-ls-bad-c2');
    await sys.client.send(
      new PutCommand({ TableName: 'bench-queue-ls-bad-c2', Item: { pk: 'MSG#stray' } }),
    );
    const sim = await runLoadSim(sys, {
      concurrencies: [2],
      seconds: 1,
      runId: 'ls-bad',
      usersPerWorker: 3,
    });
    const [level] = sim.levels;
    expect(level!.store.queueItems).toBe(level!.store.webhooksOk + 1);
    expect(level!.errors).toBe(1);
  });
});
