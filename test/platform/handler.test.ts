// The HTTP wrapper with the composition root's own log and metrics: the invocation's request id
// and cold start on every line, Powertools' ColdStart metric once per container, none of it
// without a Lambda context (the local runtime, most tests). And the role checks of the routes.
import { createStaticSecretsProvider } from '../../functions/adapters/secrets';
import { createDocumentClient } from '../../functions/adapters/dynamo';
import { ForbiddenError } from '../../functions/domain/errors';
import type { Caller } from '../../functions/domain/ports';
import {
  httpHandler,
  requireAuditor,
  requireOperator,
  requireService,
} from '../../functions/platform/handler';
import { createLogger } from '../../functions/platform/logger';
import { buildDeps } from '../../functions/platform/runtime';
import { stageConfigSchema } from '../../functions/schemas/config';
import { apiEvent, lambdaContext } from '../support/events';

const config = stageConfigSchema.parse({
  stage: 'test',
  accountIdentification: 'acc-1',
  parley: { baseUrl: 'https://parley.example/v2' },
  services: [{ identification: 'bot-1', name: 'Bot', role: 'bot' }],
});

/** Sets the variables for the length of `fn`, then puts each back as it was (or unset). */
const withEnv = async <T>(vars: Record<string, string>, fn: () => Promise<T>): Promise<T> => {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
};

/**
 * A container as Lambda starts one on demand: a health-like handler over the production deps
 * (metrics left to the composition root), its log lines captured, its stdout (EMF) captured.
 */
const container = async (run: (h: ReturnType<typeof httpHandler>) => Promise<void>) => {
  const lines: string[] = [];
  const stdout: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: unknown) => {
    stdout.push(String(chunk));
    return true;
  });
  try {
    await withEnv(
      { AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand', POWERTOOLS_METRICS_DISABLED: 'false' },
      async () => {
        const deps = buildDeps({
          config,
          secrets: createStaticSecretsProvider({ services: {}, auditors: [] }),
          dynamo: {
            client: () => createDocumentClient({ endpoint: 'http://127.0.0.1:9' }),
            historyTable: 'history',
            stateTable: 'state',
          },
          queue: { send: async () => undefined },
          log: createLogger({ level: 'INFO', sink: (line) => lines.push(line) }),
        });
        await run(
          httpHandler(
            async () => deps,
            async () => ({ statusCode: 200, body: '{}' }),
          ),
        );
      },
    );
  } finally {
    spy.mockRestore();
  }
  const metrics = stdout
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((doc) => doc._aws !== undefined);
  return { lines: lines.map((l) => JSON.parse(l) as Record<string, unknown>), metrics };
};

const health = () => apiEvent({ method: 'GET', path: '/health' });

describe('httpHandler', () => {
  it('puts the request id and cold start on the request line of each invocation', async () => {
    const { lines } = await container(async (handler) => {
      await handler(health(), lambdaContext('req-1', 'health'));
      await handler(health(), lambdaContext('req-2', 'health'));
    });

    expect(lines.map((l) => [l.message, l.function_request_id, l.cold_start])).toEqual([
      ['request', 'req-1', true],
      ['request', 'req-2', false],
    ]);
  });

  it("writes Powertools' ColdStart metric on the container's first invocation only", async () => {
    const { metrics } = await container(async (handler) => {
      await handler(health(), lambdaContext('req-1', 'parley-health'));
      await handler(health(), lambdaContext('req-2', 'parley-health'));
    });

    expect(metrics).toEqual([
      expect.objectContaining({
        _aws: expect.objectContaining({
          CloudWatchMetrics: [
            {
              Namespace: 'ParleyHandover',
              Dimensions: [['service', 'function_name']],
              Metrics: [{ Name: 'ColdStart', Unit: 'Count' }],
            },
          ],
        }),
        service: 'parley-handover',
        function_name: 'parley-health',
        ColdStart: 1,
      }),
    ]);
  });

  it('adds no context and no ColdStart when it is called without a Lambda context', async () => {
    const { lines, metrics } = await container(async (handler) => {
      await handler(health());
    });

    expect(lines).toHaveLength(1);
    expect(
      Object.keys(lines[0]!).filter((k) => k.startsWith('function_') || k === 'cold_start'),
    ).toEqual([]);
    expect(metrics).toEqual([]);
  });
});

describe('role checks', () => {
  const service: Caller = { kind: 'service', serviceId: 'bot-1' };
  const auditor: Caller = { kind: 'auditor', name: 'desk' };
  const operator: Caller = { kind: 'operator', name: 'ops-anna' };

  /** The 403 code a check answers, or its value when it lets the caller through. */
  const outcome = (check: (caller: Caller) => string, caller: Caller): string => {
    try {
      return check(caller);
    } catch (err) {
      if (err instanceof ForbiddenError) return `${err.httpStatus} ${err.code}`;
      throw err;
    }
  };

  it('lets auditors and operators through the auditor routes, by name, and refuses Services', () => {
    expect([service, auditor, operator].map((c) => outcome(requireAuditor, c))).toEqual([
      '403 auditor_required',
      'desk',
      'ops-anna',
    ]);
  });

  it('lets only operators through the operator routes (403 operator_required)', () => {
    expect([service, auditor, operator].map((c) => outcome(requireOperator, c))).toEqual([
      '403 operator_required',
      '403 operator_required',
      'ops-anna',
    ]);
  });

  it('keeps the Service routes for Services, operators included', () => {
    expect([service, auditor, operator].map((c) => outcome(requireService, c))).toEqual([
      'bot-1',
      '403 service_required',
      '403 service_required',
    ]);
  });
});
