// `notify` in a Service's configuration: the stage schema, the local services file and the catalog
// carry it to the sender; a bad value is refused at load, naming the field.
import { mergeServices } from '../../../functions/adapters/catalog';
import { stageConfigSchema } from '../../../functions/schemas/config';
import {
  generateServicesFile,
  parseServicesFile,
  toStageConfig,
} from '../../../local/services-file';
import { AGENT, BOT } from '../../support/fakes';

const stage = (notify: unknown) => ({
  stage: 'test',
  accountIdentification: 'acc-1',
  parley: { baseUrl: 'https://parley.example/serviceApi/v2.5' },
  services: [
    { identification: BOT, name: 'Bot Service', role: 'bot', notify },
    { identification: AGENT, name: 'Agent Service', role: 'agent' },
  ],
});

const problem = (notify: unknown) => {
  const parsed = stageConfigSchema.safeParse(stage(notify));
  if (parsed.success) return null;
  const issue = parsed.error.issues[0]!;
  return `${issue.path.join('.')}: ${issue.message}`;
};

describe('notify in the configuration', () => {
  it('takes a url and a list of event types, every field optional, with the retry defaults', () => {
    const config = stageConfigSchema.parse(
      stage({ url: 'https://bot.example/events', events: ['handover.failed'] }),
    );
    expect(config.services[0]!.notify).toEqual({
      url: 'https://bot.example/events',
      events: ['handover.failed'],
    });
    expect(stageConfigSchema.parse(stage({})).services[0]!.notify).toEqual({});
    expect(config.services[1]!.notify).toBeUndefined();
    expect([config.notifyRetrySeconds, config.notifyRelayAfterSeconds]).toEqual([[2, 10, 30], 60]);
  });

  it('refuses an unknown event type, a url that is not http(s), and an unknown field', () => {
    expect(problem({ events: ['handover.done'] })).toMatch(/^services\.0\.notify\.events\.0: /);
    expect(problem({ url: 'ftp://bot.example/x' })).toMatch(/^services\.0\.notify\.url: /);
    expect(problem({ uri: 'https://bot.example/x' })).toMatch(/^services\.0\.notify: .*uri/);
    expect(problem({ events: [] })).toBeNull();
  });

  it('comes from the local services file into the stage configuration and the catalog', () => {
    const file = generateServicesFile('acc-1', [
      { identification: BOT, name: 'Bot Service' },
      { identification: AGENT, name: 'Agent Service', role: 'agent' },
    ]);
    file.services[1]!.notify = { url: 'http://127.0.0.1:4200/events', events: ['lease.expiring'] };
    const config = toStageConfig(parseServicesFile(file), {
      parleyBaseUrl: 'http://127.0.0.1:3001',
    });

    const [bot, agent] = mergeServices(config, []);
    expect(bot!.notify).toBeUndefined();
    expect(agent!.notify).toEqual({
      url: 'http://127.0.0.1:4200/events',
      events: ['lease.expiring'],
    });

    file.services[1]!.notify = { events: ['lease.expired', 'nope'] as never };
    expect(() =>
      toStageConfig(parseServicesFile(file), { parleyBaseUrl: 'http://127.0.0.1:3001' }),
    ).toThrow(/services\[1\]\.notify\.events\[1\]/);
  });
});
