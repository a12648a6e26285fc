// The audit queries' parameters (schemas/api.ts, read with platform/http's parseQuery): the
// range of GET /handovers, page limits, the ISO-8601 instants, the outbox listing and the
// operators' bodies (release, redeliver).
import { ValidationError } from '../../functions/domain/errors';
import { parseQuery } from '../../functions/platform/http';
import { handoverRequestSchema } from '../../functions/schemas/handover-request';
import {
  AUDIT_PAGE_DEFAULT,
  AUDIT_PAGE_MAX,
  instantSchema,
  NOTIFICATIONS_PAGE_MAX,
  notificationIdSchema,
  notificationsQuerySchema,
  pageQuerySchema,
  rangeBoundSchema,
  rangeQuerySchema,
  reconcileRequestSchema,
  redeliverRequestSchema,
  releaseRequestSchema,
} from '../../functions/schemas/api';

const parseRangeQuery = (params: Record<string, string | undefined>) =>
  parseQuery(rangeQuerySchema, params);

const parseLimit = (value: string | undefined, fallback = AUDIT_PAGE_DEFAULT) =>
  parseQuery(pageQuerySchema(fallback, AUDIT_PAGE_MAX), { limit: value }).limit;

/** Epoch ms of a range's start, or null when refused. */
const parseInstant = (value: string): number | null => {
  const parsed = rangeBoundSchema('from').safeParse(value);
  return parsed.success ? parsed.data : null;
};

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return err.code;
    throw err;
  }
  return undefined;
};

const range = { from: '2026-03-01T00:00:00Z', to: '2026-03-31T23:59:59Z' };

/** The sentence a refused query answers with. */
const messageOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return err.message;
    throw err;
  }
  return undefined;
};

describe('rangeQuerySchema (GET /handovers)', () => {
  it('normalizes the range and reads every filter', () => {
    const query = parseRangeQuery({
      from: '2026-03-01T01:00:00+01:00',
      to: '2026-03-31T23:59:59.5Z',
      limit: '50',
      cursor: 'abc',
      status: 'completed',
      source: 'downstream',
      reason: 'question_too_complex',
      service: 'Agent Service',
    });

    expect(query).toEqual({
      from: '2026-03-01T00:00:00.000Z',
      to: '2026-03-31T23:59:59.500Z',
      limit: 50,
      cursor: 'abc',
      filters: { status: 'completed', source: 'downstream', reason: 'question_too_complex' },
      service: 'Agent Service',
    });
  });

  it('defaults the limit to 100 and leaves absent filters out', () => {
    expect(parseRangeQuery({ ...range, status: '', service: undefined })).toEqual({
      from: '2026-03-01T00:00:00.000Z',
      to: '2026-03-31T23:59:59.000Z',
      limit: 100,
      filters: {},
    });
  });

  it('reads a date-only `to` as the end of that day', () => {
    const query = parseRangeQuery({ from: '2026-03-01', to: '2026-03-31' });

    expect([query.from, query.to]).toEqual([
      '2026-03-01T00:00:00.000Z',
      '2026-03-31T23:59:59.999Z',
    ]);
  });

  it.each([
    ['from is missing', { to: range.to }],
    ['to is missing', { from: range.from }],
    ['from is empty', { from: '', to: range.to }],
    ['a word', { from: 'yesterday', to: range.to }],
    ['month 13', { from: '2026-13-01T00:00:00Z', to: range.to }],
    ['February 30', { from: '2026-02-30', to: range.to }],
    ['hour 25', { from: '2026-03-01T25:00:00Z', to: range.to }],
    ['no time zone', { from: '2026-03-01T10:00:00', to: range.to }],
    ['from after to', { from: '2026-04-01T00:00:00Z', to: range.to }],
    ['a span over 366 days', { from: '2025-01-01T00:00:00Z', to: '2026-01-02T00:00:01Z' }],
  ])('refuses a range when %s (400 invalid_range)', (_case, params) => {
    expect(codeOf(() => parseRangeQuery(params))).toEqual('invalid_range');
  });

  it('accepts a span of exactly 366 days', () => {
    const query = parseRangeQuery({ from: '2024-01-01T00:00:00Z', to: '2025-01-01T00:00:00Z' });

    expect(query.to).toEqual('2025-01-01T00:00:00.000Z');
  });

  it.each(['0', '1001', 'abc', '1.5', '-1', ' 5'])('refuses limit %p', (limit) => {
    expect(codeOf(() => parseRangeQuery({ ...range, limit }))).toEqual('invalid_limit');
  });

  it.each([
    ['status', { status: 'done' }],
    ['source', { source: 'manual' }],
    ['reason', { reason: 'r'.repeat(101) }],
  ])('refuses a bad %s filter', (_name, filter) => {
    expect(codeOf(() => parseRangeQuery({ ...range, ...filter }))).toEqual('invalid_filter');
  });

  it('accepts a reason of 100 characters', () => {
    expect(parseRangeQuery({ ...range, reason: 'r'.repeat(100) }).filters).toEqual({
      reason: 'r'.repeat(100),
    });
  });
});

describe('limitSchema', () => {
  it('falls back when absent and reads the bounds', () => {
    expect(parseLimit(undefined)).toEqual(100);
    expect(parseLimit('', 25)).toEqual(25);
    expect(parseLimit('1')).toEqual(1);
    expect(parseLimit('1000')).toEqual(1000);
  });

  it.each(['0', '1001', 'x'])('refuses %p', (value) => {
    expect(codeOf(() => parseLimit(value))).toEqual('invalid_limit');
  });
});

describe('rangeBoundSchema', () => {
  it('reads years below 100 as themselves and leap days correctly', () => {
    expect(new Date(parseInstant('0050-01-01T00:00:00Z')!).getUTCFullYear()).toEqual(50);
    expect(parseInstant('2024-02-29')).toEqual(Date.parse('2024-02-29T00:00:00Z'));
    expect(parseInstant('2100-02-29')).toBeNull();
  });
});

describe('instantSchema (`?at=`)', () => {
  const at = (value: string) => instantSchema.safeParse(value);
  const iso = (value: string) => {
    const parsed = at(value);
    return parsed.success ? new Date(parsed.data).toISOString() : null;
  };

  it('reads a fraction to the millisecond, as written', () => {
    expect([
      iso('2026-03-10T15:00:00.5+01:00'),
      iso('2026-03-10T14:00:00.123456789Z'),
      iso('2026-03-10T14:00:05.000Z'),
    ]).toEqual([
      '2026-03-10T14:00:00.500Z',
      '2026-03-10T14:00:00.123Z',
      '2026-03-10T14:00:05.000Z',
    ]);
  });

  it('reads an instant without a fraction as the end of its second, and without seconds as the end of its minute', () => {
    expect([
      iso('2026-03-10T14:00:05Z'),
      iso('2026-03-10T15:00:05+01:00'),
      iso('2026-03-10T14:00Z'),
    ]).toEqual([
      '2026-03-10T14:00:05.999Z',
      '2026-03-10T14:00:05.999Z',
      '2026-03-10T14:00:59.999Z',
    ]);
  });

  it.each([
    ['a date alone', '2026-03-10'],
    ['no time zone', '2026-03-10T14:00:00'],
    ['February 30', '2026-02-30T00:00:00Z'],
    ['hour 24', '2026-03-10T24:00:00Z'],
    ['an offset without a colon', '2026-03-10T14:00:00+0100'],
    ['a word', 'yesterday'],
    ['nothing', ''],
  ])('refuses %s', (_case, value) => {
    expect(at(value).success).toBe(false);
  });

  it.each([
    [
      'a `+` sent unencoded',
      '2026-03-10T15:00:00 01:00',
      '`at` has a space where a `+` belongs: it looks like a `+` sent unencoded (a query string reads `+` as a space); write it as %2B.',
    ],
    [
      'no time zone',
      '2026-03-10T14:00:00',
      '`at` has no time zone: end it with Z (UTC) or an offset such as +01:00 (written %2B01:00 in a URL).',
    ],
    [
      'a date alone',
      '2026-03-10',
      '`at` is a date without a time: add a time and a zone (e.g. 2026-03-10T23:59:59Z for the end of that day).',
    ],
    [
      'February 30',
      '2026-02-30T00:00:00Z',
      '`at` names a day that does not exist (that month has 28 days).',
    ],
    ['month 13', '2026-13-01T00:00:00Z', '`at` names a month that does not exist (01 to 12).'],
    [
      'hour 24',
      '2026-03-10T24:00:00Z',
      '`at` names a time that does not exist (hours 00 to 23, minutes and seconds 00 to 59).',
    ],
    [
      'an offset out of range',
      '2026-03-10T14:00:00+24:00',
      '`at` has an offset that does not exist (hours 00 to 23, minutes 00 to 59).',
    ],
    [
      'a word',
      'yesterday',
      '`at` must be an ISO-8601 date-time with a zone (e.g. 2026-03-10T14:00:00Z).',
    ],
    [
      'nothing',
      '',
      '`at` is empty: give an ISO-8601 date-time with a zone (e.g. 2026-03-10T14:00:00Z).',
    ],
  ])('says what is wrong with %s', (_case, value, message) => {
    expect(at(value).error?.issues[0]?.message).toBe(message);
  });
});

describe('range errors', () => {
  it.each([
    [
      'missing',
      undefined,
      '`from` is required: an ISO-8601 date or date-time with a zone (e.g. 2026-03-10T14:00:00Z).',
    ],
    [
      'a `+` sent unencoded',
      '2026-03-10T15:00:00 01:00',
      '`from` has a space where a `+` belongs: it looks like a `+` sent unencoded (a query string reads `+` as a space); write it as %2B.',
    ],
    [
      'no time zone',
      '2026-03-10T14:00:00',
      '`from` has no time zone: end it with Z (UTC) or an offset such as +01:00 (written %2B01:00 in a URL).',
    ],
    [
      'February 30',
      '2026-02-30',
      '`from` names a day that does not exist (that month has 28 days).',
    ],
    [
      'a space for the T',
      '2026-03-10 14:00:00Z',
      '`from` has a space where the `T` between the date and the time belongs.',
    ],
  ])('names what is wrong when `from` is %s', (_case, from, message) => {
    expect(messageOf(() => parseRangeQuery({ from, to: range.to }))).toBe(message);
  });

  it('names `to` when `to` is the bad one', () => {
    expect(messageOf(() => parseRangeQuery({ from: range.from, to: '2024-02-30' }))).toBe(
      '`to` names a day that does not exist (that month has 29 days).',
    );
  });
});

describe('user ids in request bodies', () => {
  const handoverUserIdOf = (userId: unknown) => {
    const parsed = handoverRequestSchema.safeParse({ userId, newOwner: 'default' });
    return parsed.success ? parsed.data.userId : parsed.error.issues[0]?.message;
  };
  const reconcileUserIdOf = (userId: unknown) => {
    const parsed = reconcileRequestSchema.safeParse({ userId });
    return parsed.success ? parsed.data.userId : parsed.error.issues[0]?.message;
  };

  it.each([
    ['a number', 20, '20'],
    ['a string', '20', '20'],
    ['a negative whole number', -7, '-7'],
    ['a fraction', 1.5, 'must be a string, or a whole number of at most 2^53 - 1 in size'],
    ['a blank string', '   ', 'must not be blank'],
    ['a leading space', ' 20', 'must not start or end with whitespace'],
    ['a zero-width space', '2\u200b0', 'must not contain control or invisible characters (U+200B)'],
    ['a boolean', true, 'must be a string, or a whole number of at most 2^53 - 1 in size'],
  ])('reads %s the same on /handovers and /reconcile', (_case, raw, expected) => {
    const userId = typeof raw === 'string' ? JSON.parse(`"${raw}"`) : raw;

    expect([handoverUserIdOf(userId), reconcileUserIdOf(userId)]).toEqual([expected, expected]);
  });
});

describe('parseQuery', () => {
  it('answers each parameter with its own code', () => {
    expect([
      codeOf(() => parseRangeQuery({ ...range, cursor: 'c'.repeat(2049) })),
      codeOf(() => parseRangeQuery({ ...range, service: 's'.repeat(201) })),
      codeOf(() => parseQuery(pageQuerySchema(20, 100), { limit: '101' })),
    ]).toEqual(['invalid_cursor', 'invalid_filter', 'invalid_limit']);
  });

  it('never quotes the value in its message', () => {
    const value = '<script>2026-03-10</script>';
    const err = (() => {
      try {
        parseRangeQuery({ from: value, to: range.to });
      } catch (e) {
        return e as Error;
      }
      return null;
    })();

    expect(err?.message).toEqual(
      '`from` must be an ISO-8601 date or date-time with a zone (e.g. 2026-03-10T14:00:00Z).',
    );
  });
});

describe('notificationsQuerySchema (GET /notifications)', () => {
  const parse = (params: Record<string, string | undefined>) =>
    parseQuery(notificationsQuerySchema, params);

  it('takes every filter as optional, the limit 50 by default', () => {
    expect(parse({})).toEqual({ limit: 50 });
    expect(
      parse({ service: 'Agent Service', status: 'failed', limit: '100', cursor: 'abc' }),
    ).toEqual({ service: 'Agent Service', status: 'failed', limit: 100, cursor: 'abc' });
  });

  it.each([
    [{ status: 'done' }, 'invalid_filter', '`status` must be one of: pending, sent, failed.'],
    [
      { limit: '0' },
      'invalid_limit',
      `\`limit\` must be an integer from 1 to ${NOTIFICATIONS_PAGE_MAX}.`,
    ],
    [
      { limit: '101' },
      'invalid_limit',
      `\`limit\` must be an integer from 1 to ${NOTIFICATIONS_PAGE_MAX}.`,
    ],
    [{ service: 's'.repeat(201) }, 'invalid_filter', '`service` is too long.'],
    [{ cursor: 'c'.repeat(2049) }, 'invalid_cursor', '`cursor` is not valid.'],
  ])('refuses %p with its code and a sentence', (params, code, message) => {
    expect([codeOf(() => parse(params)), messageOf(() => parse(params))]).toEqual([code, message]);
  });
});

describe('operator bodies', () => {
  it('takes a release with a reason, and optionally dryRun, cursor and limit', () => {
    expect(releaseRequestSchema.parse({ reason: 'desk closed' })).toEqual({
      reason: 'desk closed',
    });
    expect(
      releaseRequestSchema.parse({ reason: 'desk closed', dryRun: true, cursor: 'c', limit: 500 }),
    ).toEqual({ reason: 'desk closed', dryRun: true, cursor: 'c', limit: 500 });
  });

  it.each([
    ['no reason', {}],
    ['a blank reason', { reason: '   ' }],
    ['a reason longer than a record keeps (100)', { reason: 'r'.repeat(101) }],
    ['a reason with a control character', { reason: 'desk\nclosed' }],
    ['dryRun as a string', { reason: 'x', dryRun: 'yes' }],
    ['a limit of 0', { reason: 'x', limit: 0 }],
    ['a limit above 500', { reason: 'x', limit: 501 }],
    ['a fractional limit', { reason: 'x', limit: 1.5 }],
    ['an unknown field', { reason: 'x', force: true }],
  ])('refuses a release with %s', (_case, body) => {
    expect(releaseRequestSchema.safeParse(body).success).toBe(false);
  });

  it('takes a redeliver with or without a reason, and nothing else', () => {
    expect(redeliverRequestSchema.parse({})).toEqual({});
    expect(redeliverRequestSchema.parse({ reason: 'receiver fixed' })).toEqual({
      reason: 'receiver fixed',
    });
    expect(redeliverRequestSchema.safeParse({ reason: '' }).success).toBe(false);
    expect(redeliverRequestSchema.safeParse({ id: 'n1' }).success).toBe(false);
  });

  it('reads a notification id as printable text of at most 256 characters', () => {
    expect(
      ['n-1', 'x'.repeat(256), 'x'.repeat(257), 'a\u0000b', ''].map(
        (id) => notificationIdSchema.safeParse(id).success,
      ),
    ).toEqual([true, true, false, false, false]);
  });
});
