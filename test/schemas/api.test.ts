// The audit queries' parameters (schemas/api.ts, read with platform/http's parseQuery): the
// range of GET /handovers, page limits, and the ISO-8601 instants.
import { ValidationError } from '../../functions/domain/errors';
import { parseQuery } from '../../functions/platform/http';
import {
  AUDIT_PAGE_DEFAULT,
  AUDIT_PAGE_MAX,
  instantSchema,
  pageQuerySchema,
  rangeBoundSchema,
  rangeQuerySchema,
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

  it('reads a date-time with a zone, seconds and their fraction optional', () => {
    expect([
      at('2026-03-10T14:00Z').data,
      at('2026-03-10T15:00:00.5+01:00').data,
      at('2026-03-10T14:00:00.123456789Z').data,
    ]).toEqual([
      Date.parse('2026-03-10T14:00:00.000Z'),
      Date.parse('2026-03-10T14:00:00.500Z'),
      Date.parse('2026-03-10T14:00:00.123Z'),
    ]);
  });

  it.each([
    ['a date alone', '2026-03-10'],
    ['no time zone', '2026-03-10T14:00:00'],
    ['February 30', '2026-02-30T00:00:00Z'],
    ['hour 24', '2026-03-10T24:00:00Z'],
    ['a word', 'yesterday'],
  ])('refuses %s', (_case, value) => {
    expect(at(value).success).toBe(false);
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
      '`from` is required as an ISO-8601 date or date-time with a zone (e.g. 2026-03-10T14:00:00Z).',
    );
  });
});
