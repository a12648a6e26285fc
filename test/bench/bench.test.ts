// Smoke test of the bench's pure parts and of its instrumentation on one request. No timing
// assertions: the bench itself measures, this only checks that what it computes with is right.
import { BENCH_SERVICES, startBenchSystem, type BenchSystem } from '../../bench/system';
import { estimateCost, PRICES, secretsFixedPerMonth } from '../../bench/cost';
import { parleyRouteOf, totalDynamo } from '../../bench/instrument';
import { parseOptions } from '../../bench/options';
import { median, percentile, ratio, summarize } from '../../bench/stats';

describe('bench statistics', () => {
  it('interpolates percentiles between the closest ranks', () => {
    const values = [5, 1, 4, 2, 3];
    expect(percentile(values, 0)).toBe(1);
    expect(percentile(values, 50)).toBe(3);
    expect(percentile(values, 100)).toBe(5);
    expect(percentile([1, 2, 3, 4], 50)).toBe(2.5);
    expect(percentile([10, 20], 99)).toBeCloseTo(19.9, 10);
  });

  it('gives NaN for no values and refuses a percentile outside 0..100', () => {
    expect(percentile([], 50)).toBeNaN();
    expect(() => percentile([1], 101)).toThrow(RangeError);
  });

  it('summarizes latencies and divides by a floor only when the floor is positive', () => {
    const s = summarize(Array.from({ length: 100 }, (_, i) => i + 1));
    expect({ n: s.n, p50: s.p50, max: s.max }).toEqual({ n: 100, p50: 50.5, max: 100 });
    expect(s.p99).toBeCloseTo(99.01, 10);
    expect(median([3, 1, 2])).toBe(2);
    expect(ratio(13, 10)).toBeCloseTo(1.3, 10);
    expect(ratio(1, 0)).toBeNaN();
  });
});

describe('bench cost model', () => {
  it('prices one request of each service from the table', () => {
    const est = estimateCost(
      {
        label: 'test',
        apiRequests: 1,
        lambdas: [{ function: 'f', memoryMb: 1024, durationMs: 99.2, invocations: 1 }],
        sqsRequests: 2,
        wru: 4,
        rru: 2,
        secretFetches: 0,
      },
      PRICES,
    );
    const line = (item: string) => est.lines.find((l) => l.item.startsWith(item))!.perMillion;
    expect(line('API Gateway')).toBeCloseTo(PRICES.httpApiPerMillion, 10);
    // 1 GB x 0.1 s (99.2 ms billed as 100 ms) per request, a million times, plus the requests.
    expect(line('Lambda f')).toBeCloseTo(
      0.1 * 1e6 * PRICES.lambdaArmPerGbSecond + PRICES.lambdaPerMillionRequests,
      6,
    );
    expect(line('SQS')).toBeCloseTo(2 * PRICES.sqsFifoPerMillion, 10);
    expect(line('DynamoDB')).toBeCloseTo(
      4 * PRICES.dynamoPerMillionWru + 2 * PRICES.dynamoPerMillionRru,
      10,
    );
    expect(line('Secrets')).toBe(0);
    expect(est.perMillion).toBeCloseTo(
      est.lines.reduce((a, l) => a + l.perMillion, 0),
      10,
    );
  });

  it('states the fixed monthly cost of the secrets and their refreshes', () => {
    const fixed = secretsFixedPerMonth(
      { secrets: 2, warmContainers: 1, ttlSeconds: 300, secretsPerContainer: 2 },
      PRICES,
    );
    // 8640 refreshes of 2 secrets = 17280 calls.
    expect(fixed.perMonth).toBeCloseTo(
      2 * PRICES.secretPerMonth + 1.728 * PRICES.secretsPer10kCalls,
      10,
    );
  });
});

describe('bench options and counters', () => {
  it('parses the quick run and overrides', () => {
    const o = parseOptions(['--quick', '--samples', '300', '--only=warm,counts']);
    expect({ samples: o.samples, cold: o.coldRounds, only: o.only }).toEqual({
      samples: 300,
      cold: 3,
      only: ['warm', 'counts'],
    });
    expect(() => parseOptions(['--nope'])).toThrow('Unknown option');
  });

  it('names Parley calls by route', () => {
    expect(parleyRouteOf('PUT', 'http://h/serviceApi/v2.5/users/20/owner')).toBe('PUT owner');
    expect(parleyRouteOf('put', 'http://h/serviceApi/v2.5/users/20/agent/unset')).toBe(
      'PUT agent/unset',
    );
    expect(parleyRouteOf('GET', 'http://h/serviceApi/v2.5/services')).toBe('GET services');
  });
});

describe('bench instrumentation on one request', () => {
  let sys: BenchSystem;
  beforeAll(async () => {
    sys = await startBenchSystem({ parleyLatencyMs: 0 });
  });
  afterAll(() => sys.close());

  it('counts the calls of one webhook request and of one handover', async () => {
    const [bot, deskA] = BENCH_SERVICES.map((s) => s.identification) as [string, string];
    const post = (path: string, token: string, body: unknown) =>
      fetch(sys.url + path, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const callback = {
      type: 'message',
      body: {
        id: 1,
        message: 'hi',
        time: 1,
        typeId: 1,
        user: { id: 'u1', uniqueIdentifier: null, additionalInformation: null },
      },
    };
    sys.counters.reset();
    const first = await post(
      `/webhooks/parley/${bot}`,
      sys.settings.secrets[bot]!.callbackTokens[0]!,
      callback,
    );
    const cold = sys.counters.reset();
    const again = await post(
      `/webhooks/parley/${bot}`,
      sys.settings.secrets[bot]!.callbackTokens[0]!,
      { ...callback, body: { ...callback.body, id: 2 } },
    );
    const warm = sys.counters.reset();
    expect([first.status, again.status]).toEqual([200, 200]);
    // A new container reads its secrets once (how many depends on the authenticator), never again.
    expect({ enqueues: cold.enqueues, parley: cold.parley }).toEqual({ enqueues: 1, parley: {} });
    expect(cold.secretFetches).toBeGreaterThanOrEqual(1);
    expect({ enqueues: warm.enqueues, secrets: warm.secretFetches, dynamo: warm.dynamo }).toEqual({
      enqueues: 1,
      secrets: 0,
      dynamo: { PutItem: 1 },
    });

    const handover = await post('/handovers', sys.settings.secrets[bot]!.apiTokens[0]!, {
      userId: 'u-count',
      newOwner: deskA,
    });
    const counted = sys.counters.reset();
    expect(handover.status).toBe(200);
    expect(counted.parley['PUT owner']).toBe(1);
    expect(totalDynamo(counted)).toBeGreaterThanOrEqual(3);
  });
});
