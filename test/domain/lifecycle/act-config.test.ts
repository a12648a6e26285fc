// Where the sweep's leases come from: a Service's `lease` in the stage configuration and the local
// services file (every field optional), refused at load naming the field; resolved by the catalog
// (the default Service never holds one: ignored with one warning, as failover is); the lease a
// Service holds (leaseSettingsOf: its configured one, else its role's default).
import { createServiceCatalog, mergeServices } from '../../../functions/adapters/catalog';
import { leaseSettingsOf } from '../../../functions/domain/lifecycle/owner-lease';
import type { ParleyService } from '../../../functions/domain/ports';
import { type StageConfig, stageConfigSchema } from '../../../functions/schemas/config';
import { LocalSetupError } from '../../../local/dynamo';
import {
  generateServicesFile,
  parseServicesFile,
  simulatorSeed,
  toStageConfig,
} from '../../../local/services-file';
import { AGENT, BOT, FakeParley, manualClock, recordingLog } from '../../support/fakes';

const DESK = 'Dsk0000000000000000001';

const stage = (services: Record<string, unknown>[]) => ({
  stage: 'test',
  accountIdentification: 'acc-7f3e2a',
  parley: { baseUrl: 'https://parley.test/serviceApi/v2.5' },
  services,
});

const withLease = (botLease?: unknown, agentLease?: unknown, deskLease?: unknown) =>
  stage([
    {
      identification: BOT,
      name: 'Bot Service',
      role: 'bot',
      ...(botLease ? { lease: botLease } : {}),
    },
    {
      identification: AGENT,
      name: 'Agent Service',
      role: 'agent',
      ...(agentLease ? { lease: agentLease } : {}),
    },
    {
      identification: DESK,
      name: 'Night Desk',
      role: 'agent',
      ...(deskLease ? { lease: deskLease } : {}),
    },
  ]);

const firstIssue = (input: unknown) => {
  const parsed = stageConfigSchema.safeParse(input);
  if (parsed.success) throw new Error('expected the configuration to be refused');
  const issue = parsed.error.issues[0]!;
  return { path: issue.path.join('.'), message: issue.message };
};

describe('a Service’s lease in the stage configuration', () => {
  it('refuses a bad field at load, naming the service and the field', () => {
    expect(firstIssue(withLease(undefined, { idleSeconds: 5 }))).toEqual({
      path: 'services.1.lease.idleSeconds',
      message:
        'service "Agent Service": lease.idleSeconds must be a whole number from 10 to maxSeconds (604800)',
    });
    expect(firstIssue(withLease(undefined, { warnBeforeSeconds: 600, idleSeconds: 600 }))).toEqual({
      path: 'services.1.lease.warnBeforeSeconds',
      message:
        'service "Agent Service": lease.warnBeforeSeconds must be a whole number from 0, below idleSeconds (600)',
    });
    expect(firstIssue(withLease(undefined, { idle: 60 })).path).toBe('services.1.lease');
    expect(firstIssue(withLease(undefined, { onExpiry: ' ' })).path).toBe(
      'services.1.lease.onExpiry',
    );
  });

  it('refuses a lease whose expiry names its own Service (it would never end)', () => {
    for (const onExpiry of [AGENT, 'agent service']) {
      expect(firstIssue(withLease(undefined, { onExpiry }))).toEqual({
        path: 'services.1.lease.onExpiry',
        message: 'service "Agent Service" names itself as its lease\'s onExpiry',
      });
    }
  });
});

describe('the catalog’s leases', () => {
  const parleyServices = (): ParleyService[] => [
    { identification: BOT, name: 'Bot Service', default: true },
    { identification: AGENT, name: 'Agent Service', default: false },
    { identification: DESK, name: 'Night Desk', default: false },
  ];
  const config = (): StageConfig =>
    stageConfigSchema.parse(
      withLease({ idleSeconds: 60 }, { idleSeconds: 10, warnBeforeSeconds: 5 }, undefined),
    );

  it('resolves a configured lease over the defaults; a Service that configures none gets its role’s', () => {
    const [, agent, desk] = mergeServices(config(), parleyServices());

    expect(agent!.lease).toEqual({
      idleSeconds: 10,
      maxSeconds: 604800,
      warnBeforeSeconds: 5,
      onExpiry: 'default',
    });
    expect(desk!.lease).toBeUndefined();
    expect(leaseSettingsOf(desk)).toEqual({
      idleSeconds: 86400,
      maxSeconds: 604800,
      warnBeforeSeconds: 300,
      onExpiry: 'default',
    });
  });

  it('ignores a lease asked of the default Service, once Parley names it, with one warning', async () => {
    const log = recordingLog();
    const parley = new FakeParley(parleyServices());
    const catalog = createServiceCatalog({
      config: config(),
      parley: parley.clients,
      clock: manualClock(),
      log,
    });

    // Before Parley's list the configuration cannot know which Service is the default.
    expect(leaseSettingsOf(catalog.get(BOT))?.idleSeconds).toBe(60);
    await catalog.list();
    await catalog.resolve('default');

    expect(leaseSettingsOf(catalog.get(BOT))).toBeNull();
    expect(leaseSettingsOf(await catalog.resolve(BOT))).toBeNull();
    expect(leaseSettingsOf(catalog.get(AGENT))?.idleSeconds).toBe(10);
    expect(log.lines.filter((l) => l.level === 'warn')).toEqual([
      {
        level: 'warn',
        message: 'lease of the default Service ignored: it never holds one',
        attributes: { serviceId: BOT },
      },
    ]);
  });

  it('gives a bot a lease only when it configures idleSeconds, and none to unconfigured Services', () => {
    const bots = stageConfigSchema.parse(
      stage([
        { identification: BOT, name: 'Bot Service', role: 'bot', lease: { warnBeforeSeconds: 0 } },
        { identification: AGENT, name: 'Survey Bot', role: 'bot' },
      ]),
    );
    const parley = new FakeParley([{ identification: DESK, name: 'Night Desk', default: true }]);
    const catalog = createServiceCatalog({
      config: bots,
      parley: parley.clients,
      clock: manualClock(),
    });

    // The desk Parley knows but this deployment does not configure: no credentials to act with.
    expect([BOT, AGENT, DESK].map((id) => leaseSettingsOf(catalog.get(id)))).toEqual([
      null,
      null,
      null,
    ]);
  });
});

describe('the local services file’s leases', () => {
  const file = (firstLease?: unknown) =>
    generateServicesFile('acc-local', [
      { identification: BOT, name: 'Bot Service', ...(firstLease ? { lease: firstLease } : {}) },
      {
        identification: AGENT,
        name: 'Agent Service',
        role: 'agent',
        lease: { idleSeconds: 10, warnBeforeSeconds: 5 },
      },
    ]);

  it('passes a Service’s lease to the stage configuration as written', () => {
    const config = toStageConfig(parseServicesFile(file()), {
      parleyBaseUrl: 'http://127.0.0.1:3001',
    });

    expect(config.services[1]!.lease).toEqual({ idleSeconds: 10, warnBeforeSeconds: 5 });
  });

  it('refuses a bad lease naming the field, and one given to the simulator’s default Service', () => {
    const bad = file();
    bad.services[1]!.lease = { idleSeconds: 3 };
    const settings = parseServicesFile(bad);
    expect(() => toStageConfig(settings, { parleyBaseUrl: 'http://127.0.0.1:3001' })).toThrow(
      'The services file gives an invalid configuration at services[1].lease.idleSeconds',
    );

    const onDefault = parseServicesFile(file({ idleSeconds: 60 }));
    expect(() => simulatorSeed(onDefault)).toThrow(LocalSetupError);
    expect(() => simulatorSeed(onDefault)).toThrow(/default Service never holds one/);
  });
});
