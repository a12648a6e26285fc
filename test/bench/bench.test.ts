// Smoke test of the bench's pure parts and of its instrumentation on one request. No timing
// assertions: the bench itself measures, this only checks that what it computes with is right.
import { BENCH_SERVICES, startBenchSystem, type BenchSystem } from '../../bench/system';
import { estimateCost, PRICES, type PriceTable, secretsFixedPerMonth } from '../../bench/cost';
import { parleyRouteOf, totalDynamo } from '../../bench/instrument';
import { COLD_FUNCTIONS, parseOptions } from '../../bench/options';
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
  /** Round prices, so that every figure below is worked out by hand in its comment. */
  const prices: PriceTable = {
    ...PRICES,
    httpApiPerMillion: 1,
    lambdaArmPerGbSecond: 0.00002,
    lambdaPerMillionRequests: 0.2,
    sqsFifoPerMillion: 0.5,
    dynamoPerMillionWru: 1.25,
    dynamoPerMillionRru: 0.25,
    secretsPer10kCalls: 0.05,
    secretPerMonth: 0.4,
  };

  it('prices a million requests line by line', () => {
    const est = estimateCost(
      {
        label: 'test',
        apiRequests: 1,
        lambdas: [
          { function: 'f', memoryMb: 1024, durationMs: 99.2, invocations: 1 },
          { function: 'g', memoryMb: 512, durationMs: 250, invocations: 0.1 },
        ],
        sqsRequests: 2,
        wru: 4,
        rru: 2,
        secretFetches: 3,
      },
      prices,
    );
    const perMillion = Object.fromEntries(est.lines.map((l) => [l.item, l.perMillion]));

    // API: 1 request x $1/M = $1.
    expect(perMillion['API Gateway HTTP API']).toBeCloseTo(1, 10);
    // f: 99.2 ms is billed as 100 ms; 1 GB x 0.1 s x 1e6 = 100,000 GB-s x $0.00002 = $2,
    // plus 1e6 invocations x $0.2/M = $0.2: $2.2.
    expect(perMillion['Lambda f (arm64, 1024 MB)']).toBeCloseTo(2.2, 10);
    // g: one invocation per 10 messages; 0.5 GB x 0.25 s x 1e5 = 12,500 GB-s = $0.25, plus
    // 1e5 invocations = $0.02: $0.27.
    expect(perMillion['Lambda g (arm64, 512 MB)']).toBeCloseTo(0.27, 10);
    // SQS: 2 x $0.5 = $1. DynamoDB: 4 WRU x $1.25 + 2 RRU x $0.25 = $5.5.
    expect(perMillion['SQS FIFO']).toBeCloseTo(1, 10);
    expect(perMillion['DynamoDB on-demand']).toBeCloseTo(5.5, 10);
    // Secrets: 3e6 calls = 300 x 10k calls x $0.05 = $15.
    expect(perMillion['Secrets Manager calls']).toBeCloseTo(15, 10);
    // 1 + 2.2 + 0.27 + 1 + 5.5 + 15.
    expect(est.perMillion).toBeCloseTo(24.97, 10);
  });

  it('states the fixed monthly cost of the secrets and their refreshes', () => {
    const fixed = secretsFixedPerMonth(
      { secrets: 2, warmContainers: 1, ttlSeconds: 300, secretsPerContainer: 2 },
      prices,
    );
    // 2 secrets x $0.4 = $0.8; 30 days / 300 s = 8640 refreshes of 2 secrets = 17,280 calls
    // = 1.728 x 10k x $0.05 = $0.0864.
    expect(fixed.perMonth).toBeCloseTo(0.8864, 10);
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

  it('takes lists, the latency and help in every spelling', () => {
    const o = parseOptions([
      '--concurrency=2,4',
      '--functions',
      'inbound,processor',
      '--parley-latency',
      '0',
      '-h',
    ]);
    expect([o.concurrencies, o.functions, o.parleyLatencyMs, o.help]).toEqual([
      [2, 4],
      ['inbound', 'processor'],
      0,
      true,
    ]);
    expect(parseOptions([]).samples).toBe(2000);
  });

  it('cold-starts by default exactly the functions it has a first request for', () => {
    const o = parseOptions([]);

    expect(o.functions).toEqual([...COLD_FUNCTIONS]);
    expect(() => parseOptions(['--functions', 'eraser'])).toThrow(
      'No cold start for eraser: the cold starts cover inbound, processor,',
    );
  });

  it.each([
    [['--samples'], "Option '--samples <value>' argument missing"],
    [['--samples', '0'], '--samples takes positive whole numbers'],
    [['--concurrency', '1,x'], '--concurrency takes positive whole numbers'],
    [['--parley-latency=-5'], '--parley-latency takes a whole number of milliseconds'],
    [['--parley-latency', 'fast'], '--parley-latency takes a whole number of milliseconds'],
    [['--functions', 'nope'], 'Unknown function nope.'],
    [['--only', 'warm,nope'], 'Unknown section nope.'],
    [['--quick=yes'], "Option '--quick' does not take an argument"],
    [['quick'], "Unexpected argument 'quick'"],
  ])('refuses %j with a clear message', (argv, message) => {
    expect(() => parseOptions(argv)).toThrow(message);
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
