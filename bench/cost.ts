// The cost model: AWS list prices (stated, dated, assumed) applied to what the bench measured per
// request (durations, memory, DynamoDB capacity units, queue and secret calls). Pure: the inputs
// come from the run, the prices from the table below.

export interface PriceTable {
  region: string;
  /** When these prices were taken as list prices. They are assumptions: check before quoting. */
  asOf: string;
  source: string;
  /** API Gateway HTTP API, per million requests (first 300 M a month; 512 KB per request). */
  httpApiPerMillion: number;
  /** Lambda arm64, per GB-second (first 7.5 B GB-s a month), billed per 1 ms. */
  lambdaArmPerGbSecond: number;
  /** Lambda, per million invocations. */
  lambdaPerMillionRequests: number;
  /** SQS FIFO, per million requests (64 KB chunks). */
  sqsFifoPerMillion: number;
  /** DynamoDB on-demand, standard table class, per million write request units. */
  dynamoPerMillionWru: number;
  /** DynamoDB on-demand, standard table class, per million read request units. */
  dynamoPerMillionRru: number;
  /** Secrets Manager, per 10,000 API calls. */
  secretsPer10kCalls: number;
  /** Secrets Manager, per secret and month. */
  secretPerMonth: number;
}

export const PRICES: PriceTable = {
  region: 'us-east-1',
  asOf: '2025-06 (list prices as the author knew them; not re-checked from this machine, which has no network)',
  source:
    'aws.amazon.com/{api-gateway,lambda,sqs,dynamodb,secrets-manager}/pricing, free tiers ignored',
  httpApiPerMillion: 1.0,
  lambdaArmPerGbSecond: 0.0000133334,
  lambdaPerMillionRequests: 0.2,
  sqsFifoPerMillion: 0.5,
  dynamoPerMillionWru: 0.625,
  dynamoPerMillionRru: 0.125,
  secretsPer10kCalls: 0.05,
  secretPerMonth: 0.4,
};

/** One Lambda invocation's share, per message or per request. */
export interface LambdaUse {
  function: string;
  memoryMb: number;
  /** Billed duration of one invocation (rounded up to 1 ms by the model). */
  durationMs: number;
  /** Invocations per message (1/batch size for the queue consumer). */
  invocations: number;
}

export interface CostInputs {
  label: string;
  apiRequests: number;
  lambdas: LambdaUse[];
  sqsRequests: number;
  /** DynamoDB write and read request units per message/request. */
  wru: number;
  rru: number;
  secretFetches: number;
}

export interface CostLine {
  item: string;
  perMillion: number;
  basis: string;
}

export interface CostEstimate {
  label: string;
  lines: CostLine[];
  perMillion: number;
}

const round = (n: number) => Math.round(n * 10_000) / 10_000;

export const estimateCost = (inputs: CostInputs, prices: PriceTable = PRICES): CostEstimate => {
  const lines: CostLine[] = [];
  lines.push({
    item: 'API Gateway HTTP API',
    perMillion: inputs.apiRequests * prices.httpApiPerMillion,
    basis: `${inputs.apiRequests} request(s) x $${prices.httpApiPerMillion}/M`,
  });
  for (const l of inputs.lambdas) {
    const billedMs = Math.max(1, Math.ceil(l.durationMs));
    const gbSeconds = (l.memoryMb / 1024) * (billedMs / 1000) * l.invocations;
    lines.push({
      item: `Lambda ${l.function} (arm64, ${l.memoryMb} MB)`,
      perMillion:
        gbSeconds * 1e6 * prices.lambdaArmPerGbSecond +
        l.invocations * prices.lambdaPerMillionRequests,
      basis: `${round(l.invocations)} inv x ${billedMs} ms billed; $${prices.lambdaArmPerGbSecond}/GB-s + $${prices.lambdaPerMillionRequests}/M inv`,
    });
  }
  if (inputs.sqsRequests > 0) {
    lines.push({
      item: 'SQS FIFO',
      perMillion: inputs.sqsRequests * prices.sqsFifoPerMillion,
      basis: `${round(inputs.sqsRequests)} request(s) x $${prices.sqsFifoPerMillion}/M`,
    });
  }
  lines.push({
    item: 'DynamoDB on-demand',
    perMillion: inputs.wru * prices.dynamoPerMillionWru + inputs.rru * prices.dynamoPerMillionRru,
    basis: `${round(inputs.wru)} WRU x $${prices.dynamoPerMillionWru}/M + ${round(inputs.rru)} RRU x $${prices.dynamoPerMillionRru}/M`,
  });
  lines.push({
    item: 'Secrets Manager calls',
    perMillion: inputs.secretFetches * (prices.secretsPer10kCalls * 100),
    basis: `${round(inputs.secretFetches)} fetch(es) x $${prices.secretsPer10kCalls}/10k`,
  });
  const perMillion = lines.reduce((sum, l) => sum + l.perMillion, 0);
  return { label: inputs.label, lines, perMillion };
};

/**
 * What the secret cache costs a month whatever the traffic: the secrets themselves, and one fetch
 * per secret per warm container per TTL.
 */
export const secretsFixedPerMonth = (
  options: {
    secrets: number;
    warmContainers: number;
    ttlSeconds: number;
    secretsPerContainer: number;
  },
  prices: PriceTable = PRICES,
): { perMonth: number; basis: string } => {
  const refreshes = ((30 * 86_400) / options.ttlSeconds) * options.warmContainers;
  const calls = refreshes * options.secretsPerContainer;
  const perMonth =
    options.secrets * prices.secretPerMonth + (calls / 10_000) * prices.secretsPer10kCalls;
  return {
    perMonth,
    basis: `${options.secrets} secrets x $${prices.secretPerMonth} + ${Math.round(calls)} fetches (${options.warmContainers} warm containers, ${options.secretsPerContainer} secrets each, TTL ${options.ttlSeconds} s)`,
  };
};
