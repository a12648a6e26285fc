// The logger: JSON lines through Powertools, levels, child keys, the Lambda context on each line,
// and the redaction safety net (the formatter's) for credential-like and message-text attributes.
import {
  createLogger,
  isSensitiveKey,
  RedactingLogFormatter,
  redact,
} from '../../functions/platform/logger';
import { lambdaContext } from '../support/events';

const capture = (options: Parameters<typeof createLogger>[0] = {}) => {
  const lines: string[] = [];
  const log = createLogger({ level: 'DEBUG', ...options, sink: (line) => lines.push(line) });
  const parsed = (): Record<string, unknown>[] => lines.map((l) => JSON.parse(l));
  return { log, lines, parsed };
};

/** The line without the fields that vary between runs. */
const stable = (line: Record<string, unknown>): Record<string, unknown> => {
  const { timestamp: _t, sampling_rate: _s, ...rest } = line;
  return rest;
};

/** Runs `fn` with `name` set to `value`, then puts the variable back as it was (or unset). */
const withEnv = <T>(name: string, value: string, fn: () => T): T => {
  const before = process.env[name];
  process.env[name] = value;
  try {
    return fn();
  } finally {
    if (before === undefined) delete process.env[name];
    else process.env[name] = before;
  }
};

describe('createLogger', () => {
  it('writes one JSON line per call with level, message, service and attributes', () => {
    const { log, lines, parsed } = capture({ serviceName: 'handover-test' });
    log.info('handover completed', { handoverId: 'h1', durationMs: 12 });
    expect(lines).toHaveLength(1);
    expect(stable(parsed()[0]!)).toEqual({
      level: 'INFO',
      message: 'handover completed',
      service: 'handover-test',
      handoverId: 'h1',
      durationMs: 12,
    });
    expect(typeof parsed()[0]!.timestamp).toBe('string');
  });

  it('redacts credential-like and message-text attributes at any depth', () => {
    const { log, lines, parsed } = capture();
    log.warn('callback refused', {
      deliveryId: 'd1',
      authorization: 'Bearer tok-aaaaaaaaaaaaaaaa',
      headers: { 'X-Api-Token': 'tok-bbbbbbbbbbbbbbbb', accept: 'application/json' },
      secret: { sharedServiceAccountSecret: 'sss-cccccccccccc' },
      password: 'pw-dddddddd',
      signature: 'v1=eeeeeeee',
      callbacks: [{ text: 'my private question', type: 'message' }],
      message: 'hi, this is the user',
      body: '{"message":"raw"}',
    });
    expect(stable(parsed()[0]!)).toEqual({
      level: 'WARN',
      message: 'callback refused',
      service: 'parley-handover',
      deliveryId: 'd1',
      authorization: '[redacted]',
      headers: { 'X-Api-Token': '[redacted]', accept: 'application/json' },
      secret: '[redacted]',
      password: '[redacted]',
      signature: '[redacted]',
      callbacks: [{ text: '[redacted]', type: 'message' }],
      attr_message: '[redacted]',
      body: '[redacted]',
    });
    const all = lines.join('\n');
    for (const value of [
      'tok-aaaa',
      'tok-bbbb',
      'sss-cccc',
      'pw-dddd',
      'v1=eeee',
      'private',
      'raw',
    ]) {
      expect(all).not.toContain(value);
    }
    expect(all).not.toContain('hi, this is the user');
  });

  it('keeps the log message and level when attributes use those names', () => {
    const { log, lines, parsed } = capture();
    log.info('forwarded', { message: 'user text', level: 3 });
    expect(lines).toHaveLength(1);
    expect(stable(parsed()[0]!)).toEqual({
      level: 'INFO',
      message: 'forwarded',
      service: 'parley-handover',
      attr_message: '[redacted]',
      attr_level: 3,
    });
  });

  it('adds a child logger keys to each of its lines and redacts them too', () => {
    const { log, parsed } = capture({ persistentKeys: { stage: 'test' } });
    const child = log.child({ deliveryId: 'd7', apiToken: 'tok-ffffffffffffffff' });
    child.info('claimed', { userId: '20' });
    log.info('parent line');
    expect(parsed().map(stable)).toEqual([
      {
        level: 'INFO',
        message: 'claimed',
        service: 'parley-handover',
        stage: 'test',
        deliveryId: 'd7',
        apiToken: '[redacted]',
        userId: '20',
      },
      { level: 'INFO', message: 'parent line', service: 'parley-handover', stage: 'test' },
    ]);
  });

  it('drops lines below the configured level', () => {
    const { log, parsed } = capture({ level: 'warn' });
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    expect(parsed().map((l) => l.level)).toEqual(['WARN', 'ERROR']);
  });

  it('takes the level from POWERTOOLS_LOG_LEVEL when none is given', () => {
    const lines: string[] = [];
    withEnv('POWERTOOLS_LOG_LEVEL', 'ERROR', () => {
      const log = createLogger({ sink: (line) => lines.push(line) });
      log.info('hidden');
      log.error('shown');
    });
    expect(lines.map((l) => JSON.parse(l).message)).toEqual(['shown']);
  });

  it("puts the invocation's request id and cold start on every line, a child's too", () => {
    // Lambda sets the initialization type; Powertools counts a cold start only for on-demand.
    const { log, parsed } = withEnv('AWS_LAMBDA_INITIALIZATION_TYPE', 'on-demand', () => capture());
    log.addContext(lambdaContext('req-1', 'processor'));
    log.info('first');
    log.child({ deliveryId: 'd1' }).info('first, child');
    log.addContext(lambdaContext('req-2', 'processor'));
    log.info('second');
    log.child({ deliveryId: 'd2' }).info('second, child');

    expect(stable(parsed()[0]!)).toEqual({
      level: 'INFO',
      message: 'first',
      service: 'parley-handover',
      cold_start: true,
      function_name: 'processor',
      function_memory_size: '512',
      function_arn: 'arn:aws:lambda:eu-west-1:123456789012:function:processor',
      function_request_id: 'req-1',
    });
    expect(parsed().map((l) => [l.message, l.function_request_id, l.cold_start])).toEqual([
      ['first', 'req-1', true],
      ['first, child', 'req-1', true],
      ['second', 'req-2', false],
      ['second, child', 'req-2', false],
    ]);
  });
});

describe('RedactingLogFormatter', () => {
  it('redacts whatever attributes reach it, and keeps the line fields', () => {
    const item = new RedactingLogFormatter().formatAttributes(
      {
        logLevel: 'WARN',
        timestamp: new Date(Date.UTC(2026, 2, 10, 14)),
        message: 'refused',
        serviceName: 'svc',
        sampleRateValue: 0,
        awsRegion: 'eu-west-1',
      },
      { apiKey: 'k-1234567890', nested: [{ rawBody: '{"a":1}', userId: '20' }], status: 401 },
    );
    item.prepareForPrint();

    expect(item.getAttributes()).toEqual({
      level: 'WARN',
      message: 'refused',
      timestamp: '2026-03-10T14:00:00.000Z',
      service: 'svc',
      sampling_rate: 0,
      apiKey: '[redacted]',
      nested: [{ rawBody: '[redacted]', userId: '20' }],
      status: 401,
    });
  });
});

describe('redact', () => {
  it('classifies keys by name, whatever their case and separators', () => {
    expect(
      [
        'Authorization',
        'callback_tokens',
        'signingSecret',
        'messageText',
        'userId',
        'owner',
        'type',
      ].map(isSensitiveKey),
    ).toEqual([true, true, true, true, false, false, false]);
  });

  it('returns a copy and leaves the input untouched', () => {
    const input = { token: 'tok-1234567890abcdef', nested: { ok: 1 } };
    expect(redact(input)).toEqual({ token: '[redacted]', nested: { ok: 1 } });
    expect(input.token).toBe('tok-1234567890abcdef');
  });

  it('survives circular attributes', () => {
    const a: Record<string, unknown> = { id: 'x' };
    a.self = a;
    expect(redact(a)).toEqual({ id: 'x', self: '[circular]' });
  });
});
