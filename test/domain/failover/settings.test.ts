// Failover settings: the stage configuration's `failover` (every field optional, bad values
// refused naming the field), the defaults (on for agents, off for bots), and the default Service,
// which never fails over: Parley names it, so the catalog settles it and warns.
import { createServiceCatalog } from '../../../functions/adapters/catalog';
import { failoverSettingsOf, resolveFailover } from '../../../functions/domain/failover/settings';
import { CALLBACK_MAX_RECEIVE_COUNT } from '../../../functions/contracts/queue';
import { MAX_AFTER_FAILURES, stageConfigSchema } from '../../../functions/schemas/config';
import {
  generateServicesFile,
  parseServicesFile,
  simulatorSeed,
  toStageConfig,
} from '../../../local/services-file';
import { AGENT, BOT, FakeParley, manualClock, recordingLog } from '../../support/fakes';

const stage = (services: unknown[]) => ({
  stage: 'test',
  accountIdentification: 'acc-7f3e2a',
  parley: { baseUrl: 'https://parley.test/serviceApi/v2.5' },
  services,
});

const firstIssue = (input: unknown) => {
  const parsed = stageConfigSchema.safeParse(input);
  if (parsed.success) return null;
  const issue = parsed.error.issues[0]!;
  return { path: issue.path.join('.'), message: issue.message };
};

describe('failover configuration', () => {
  it('takes the issue defaults for every field left out; enabled by role', () => {
    expect(resolveFailover(undefined, 'agent')).toEqual({
      enabled: true,
      afterFailures: 3,
      target: 'default',
      maxPerUserPerDay: 2,
      circuit: { windowSeconds: 60, minRequests: 10, failureRate: 0.5, openSeconds: 120 },
    });
    expect(resolveFailover(undefined, 'bot').enabled).toBe(false);
    expect(resolveFailover({ enabled: true }, 'bot').enabled).toBe(true);
  });

  it("lets afterFailures come before the queue's last receive, never at or past it", () => {
    expect(MAX_AFTER_FAILURES).toBeLessThan(CALLBACK_MAX_RECEIVE_COUNT);
  });

  it('keeps configured fields and fills the rest, inside the circuit too', () => {
    const parsed = stageConfigSchema.parse(
      stage([
        {
          identification: AGENT,
          name: 'Agent Service',
          role: 'agent',
          failover: { afterFailures: 2, target: 'Night Desk', circuit: { openSeconds: 5 } },
        },
      ]),
    );

    expect(resolveFailover(parsed.services[0]!.failover, 'agent')).toEqual({
      enabled: true,
      afterFailures: 2,
      target: 'Night Desk',
      maxPerUserPerDay: 2,
      circuit: { windowSeconds: 60, minRequests: 10, failureRate: 0.5, openSeconds: 5 },
    });
  });

  it.each([
    [{ afterFailures: 0 }, 'services.0.failover.afterFailures'],
    [{ afterFailures: 10 }, 'services.0.failover.afterFailures'],
    [{ afterFailures: 2.5 }, 'services.0.failover.afterFailures'],
    [{ maxPerUserPerDay: 0 }, 'services.0.failover.maxPerUserPerDay'],
    [{ circuit: { failureRate: 1 } }, 'services.0.failover.circuit.failureRate'],
    [{ circuit: { openSeconds: 0 } }, 'services.0.failover.circuit.openSeconds'],
    [{ circuit: { window: 60 } }, 'services.0.failover.circuit'],
    [{ afterFailure: 3 }, 'services.0.failover'],
    [{ enabled: 'yes' }, 'services.0.failover.enabled'],
  ])('refuses failover %j at %s', (failover, path) => {
    const issue = firstIssue(
      stage([{ identification: AGENT, name: 'Agent Service', role: 'agent', failover }]),
    );

    expect(issue?.path).toBe(path);
  });

  it('refuses a Service that names itself as its failover target, naming it', () => {
    const issue = firstIssue(
      stage([
        {
          identification: AGENT,
          name: 'Agent Service',
          role: 'agent',
          failover: { target: 'agent service' },
        },
      ]),
    );

    expect(issue).toEqual({
      path: 'services.0.failover.target',
      message: 'service "Agent Service" names itself as its failover target',
    });
  });
});

describe('failover of the default Service', () => {
  const config = stageConfigSchema.parse(
    stage([
      {
        identification: BOT,
        name: 'Bot Service',
        role: 'agent',
        failover: { enabled: true, afterFailures: 2 },
      },
      { identification: AGENT, name: 'Agent Service', role: 'agent' },
    ]),
  );
  const setup = () => {
    const parley = new FakeParley([
      { identification: BOT, name: 'Bot Service', default: true },
      { identification: AGENT, name: 'Agent Service', default: false },
    ]);
    const log = recordingLog();
    const catalog = createServiceCatalog({
      config,
      parley: parley.clients,
      clock: manualClock(),
      log,
    });
    return { catalog, log };
  };

  it("is ignored once Parley's list names it, with one warning naming the Service", async () => {
    const t = setup();

    const resolved = await t.catalog.resolve('default');
    await t.catalog.list();
    const fromCache = t.catalog.get(BOT)!;

    expect(resolved.identification).toBe(BOT);
    expect(failoverSettingsOf(resolved)).toMatchObject({ enabled: false, afterFailures: 2 });
    expect(resolved.failover?.enabled).toBe(false);
    expect(fromCache.failover?.enabled).toBe(false);
    expect(t.log.lines).toEqual([
      {
        level: 'warn',
        message: 'failover of the default Service ignored: it never fails over',
        attributes: { serviceId: BOT },
      },
    ]);
  });

  it('is never enabled, even before the list is known, through failoverSettingsOf', async () => {
    const t = setup();
    const early = t.catalog.get(AGENT)!;

    await t.catalog.list();

    expect(failoverSettingsOf(early).enabled).toBe(true);
    expect(failoverSettingsOf({ ...early, default: true }).enabled).toBe(false);
  });
});

describe('failover in the local services file', () => {
  const file = (failover: unknown) =>
    generateServicesFile('acc-7f3e2a', [
      { identification: BOT, name: 'Bot Service', role: 'bot' },
      { identification: AGENT, name: 'Agent Service', role: 'agent' },
    ]).services.map((s, i) => (i === 1 ? { ...s, failover } : s));

  it('passes a Service failover through to the stage configuration', () => {
    const settings = parseServicesFile({
      services: file({ afterFailures: 2, circuit: { openSeconds: 5 } }),
    });

    const config = toStageConfig(settings, {
      parleyBaseUrl: 'http://127.0.0.1:3001/serviceApi/v2.5',
    });

    expect(config.services.map((s) => s.failover)).toEqual([
      undefined,
      { afterFailures: 2, circuit: { openSeconds: 5 } },
    ]);
  });

  it('refuses a bad failover naming the field', () => {
    expect(() => parseServicesFile({ services: file({ afterFailures: 0 }) })).toThrow(
      'The services file is invalid at services[1].failover.afterFailures: Too small: expected number to be >=1.',
    );
  });

  it("refuses failover of the simulator's default Service (the file's first), naming it", () => {
    const settings = parseServicesFile({
      services: file(undefined).map((s, i) =>
        i === 0 ? { ...s, failover: { enabled: true } } : s,
      ),
    });

    expect(() => simulatorSeed(settings)).toThrow(
      'The services file asks failover of "Bot Service", the simulator\'s default Service; the default Service never fails over (remove failover.enabled).',
    );
  });
});
