// The service catalog: configuration merged with Parley's service list, resolution by
// identification, name (any case) or "default", and the list cached for its TTL.
import { createServiceCatalog, mergeServices } from '../../functions/adapters/catalog';
import { ParleyApiError, UnknownServiceError } from '../../functions/domain/errors';
import type { ParleyService } from '../../functions/domain/ports';
import { type StageConfig, stageConfigSchema } from '../../functions/schemas/config';
import { AGENT, BOT, FakeParley, manualClock } from '../support/fakes';

const OUTSIDE = 'Zz9outsideService0001';

const config: StageConfig = stageConfigSchema.parse({
  stage: 'test',
  accountIdentification: 'acc-7f3e2a',
  parley: { baseUrl: 'https://parley.test/serviceApi/v2.5' },
  services: [
    {
      identification: BOT,
      name: 'Bot Service',
      role: 'bot',
      downstreamUrl: 'https://bot.example.test/parley',
      rules: [{ match: '\\bhuman\\b', newOwner: 'Agent Service', reason: 'user_requested_human' }],
    },
    { identification: AGENT, name: 'Agent Service', role: 'agent' },
  ],
  servicesCacheSeconds: 60,
});

const parleyServices = (): ParleyService[] => [
  { identification: BOT, name: 'Bot Service', default: true },
  { identification: AGENT, name: 'Agent Service', default: false },
  { identification: OUTSIDE, name: 'Survey Service', default: false },
];

const setup = (ttlMs?: number) => {
  const parley = new FakeParley(parleyServices());
  const clock = manualClock();
  const catalog = createServiceCatalog({ config, parley: parley.clients, clock, ttlMs });
  return { parley, clock, catalog };
};

const bot = {
  identification: BOT,
  name: 'Bot Service',
  role: 'bot',
  default: true,
  downstreamUrl: 'https://bot.example.test/parley',
  rules: [{ match: '\\bhuman\\b', newOwner: 'Agent Service', reason: 'user_requested_human' }],
};
const agent = {
  identification: AGENT,
  name: 'Agent Service',
  role: 'agent',
  default: false,
  rules: [],
};
const outside = {
  identification: OUTSIDE,
  name: 'Survey Service',
  role: 'agent',
  default: false,
  rules: [],
};

describe('createServiceCatalog', () => {
  it('lists configured services with Parley’s default flag, then the ones only Parley knows', async () => {
    const { catalog, parley } = setup();
    expect(await catalog.list()).toEqual([bot, agent, outside]);
    expect(parley.calls).toEqual([{ as: BOT, method: 'listServices' }]);
  });

  it('resolves an exact identification', async () => {
    expect(await setup().catalog.resolve(AGENT)).toEqual(agent);
  });

  it('resolves a name in any case', async () => {
    const { catalog } = setup();
    expect(await catalog.resolve('agent service')).toEqual(agent);
    expect(await catalog.resolve('BOT SERVICE')).toEqual(bot);
    expect(await catalog.resolve('Survey Service')).toEqual(outside);
  });

  it('resolves "default" to the service Parley marks default', async () => {
    expect(await setup().catalog.resolve('default')).toEqual(bot);
  });

  it('follows Parley when it moves the default', async () => {
    const { catalog, parley } = setup();
    parley.services[0]!.default = false;
    parley.services[1]!.default = true;
    expect((await catalog.resolve('Default')).identification).toBe(AGENT);
  });

  it('refuses an unknown reference with UnknownServiceError', async () => {
    const err = await setup()
      .catalog.resolve('Billing Service')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnknownServiceError);
    expect((err as UnknownServiceError).message).toBe('No service is known as "Billing Service".');
  });

  it('does not match an identification in another case', async () => {
    await expect(setup().catalog.resolve(AGENT.toLowerCase())).rejects.toThrow(UnknownServiceError);
  });

  it('asks Parley once per TTL', async () => {
    const { catalog, parley, clock } = setup();
    await catalog.list();
    clock.advance(59_999);
    await catalog.resolve('default');
    await catalog.resolve(AGENT);
    expect(parley.callsOf('listServices')).toHaveLength(1);
    clock.advance(1);
    await catalog.list();
    expect(parley.callsOf('listServices')).toHaveLength(2);
  });

  it('takes its TTL from the option when given', async () => {
    const { catalog, parley, clock } = setup(1_000);
    await catalog.list();
    clock.advance(1_000);
    await catalog.list();
    expect(parley.callsOf('listServices')).toHaveLength(2);
  });

  it('shares one Parley call between concurrent callers', async () => {
    const { catalog, parley } = setup();
    await Promise.all([catalog.list(), catalog.resolve('default'), catalog.resolve(AGENT)]);
    expect(parley.callsOf('listServices')).toHaveLength(1);
  });

  it('passes a Parley failure on when it has no list yet', async () => {
    const { catalog, parley } = setup();
    parley.failNext('listServices', 'reject_500');
    await expect(catalog.list()).rejects.toThrow(ParleyApiError);
  });

  it('keeps serving the previous list when a refresh fails', async () => {
    const { catalog, parley, clock } = setup();
    await catalog.list();
    clock.advance(60_000);
    parley.failNext('listServices', 'timeout');
    expect(await catalog.resolve('default')).toEqual(bot);
    expect(parley.callsOf('listServices')).toHaveLength(2);
  });

  it('returns copies that callers cannot use to change the catalog', async () => {
    const { catalog } = setup();
    const first = await catalog.resolve(BOT);
    first.rules.push({ match: 'x', newOwner: 'y', reason: 'z' });
    first.name = 'changed';
    expect(await catalog.resolve(BOT)).toEqual(bot);
  });

  it('gets a configured service without calling Parley', () => {
    const { catalog, parley } = setup();
    expect(catalog.get(BOT)).toEqual({ ...bot, default: false });
    expect(catalog.get(OUTSIDE)).toBeUndefined();
    expect(parley.calls).toEqual([]);
  });

  it('gets the default flag Parley last reported once the list is known', async () => {
    const { catalog } = setup();
    await catalog.list();
    expect(catalog.get(BOT)?.default).toBe(true);
  });
});

describe('mergeServices', () => {
  it('marks configured services Parley does not list as not default', () => {
    expect(mergeServices(config, [])).toEqual([{ ...bot, default: false }, agent]);
  });
});
