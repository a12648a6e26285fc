import {
  CSV_COLUMNS,
  parseInstant,
  parseLimit,
  parseRangeQuery,
  recordsToCsv,
} from '../../functions/domain/audit';
import { ValidationError } from '../../functions/domain/errors';
import type { HandoverRecord } from '../../functions/domain/types';
import { AGENT, BOT } from '../support/fakes';

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

describe('parseRangeQuery', () => {
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

describe('parseLimit', () => {
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

describe('parseInstant', () => {
  it('reads years below 100 as themselves and leap days correctly', () => {
    expect(new Date(parseInstant('0050-01-01T00:00:00Z')!).getUTCFullYear()).toEqual(50);
    expect(parseInstant('2024-02-29')).toEqual(Date.parse('2024-02-29T00:00:00Z'));
    expect(parseInstant('2100-02-29')).toBeNull();
  });
});

const record = (over: Partial<HandoverRecord> = {}): HandoverRecord => ({
  handoverId: 'h0001',
  userId: '20',
  seq: 1,
  fromOwner: BOT,
  toOwner: AGENT,
  reason: 'question_too_complex',
  metadata: { reason: 'question_too_complex' },
  metadataDigest: 'd'.repeat(64),
  requestedBy: BOT,
  source: 'downstream',
  status: 'completed',
  parley: { status: 200, code: null, durationMs: 42 },
  createdAt: '2026-03-10T14:00:00.000Z',
  prevHash: '0'.repeat(64),
  hash: 'a'.repeat(64),
  ...over,
});

describe('recordsToCsv', () => {
  it('writes the header and one CRLF-terminated line per record', () => {
    const csv = recordsToCsv([record()]);

    expect(csv).toEqual(
      `${CSV_COLUMNS.join(',')}\r\n` +
        `h0001,20,1,2026-03-10T14:00:00.000Z,${BOT},${AGENT},question_too_complex,downstream,` +
        `completed,${BOT},200,,42,${'d'.repeat(64)},${'0'.repeat(64)},${'a'.repeat(64)}\r\n`,
    );
  });

  it('names the columns in the documented order', () => {
    expect(recordsToCsv([]).trimEnd().split(',')).toEqual([
      'handoverId',
      'userId',
      'seq',
      'createdAt',
      'fromOwner',
      'toOwner',
      'reason',
      'source',
      'status',
      'requestedBy',
      'parleyStatus',
      'parleyCode',
      'parleyDurationMs',
      'metadataDigest',
      'prevHash',
      'hash',
    ]);
  });

  it('leaves the header out on request and writes nulls as empty cells', () => {
    const csv = recordsToCsv([record({ fromOwner: null, reason: null, parley: null })], {
      header: false,
    });

    expect(csv.split(',').slice(0, 7)).toEqual([
      'h0001',
      '20',
      '1',
      '2026-03-10T14:00:00.000Z',
      '',
      AGENT,
      '',
    ]);
    expect(csv.split(',').slice(10, 13)).toEqual(['', '', '']);
  });

  it('quotes commas, double quotes and line breaks (RFC 4180)', () => {
    const csv = recordsToCsv([record({ reason: 'a,b "c"\r\nd' })], { header: false });

    expect(csv).toContain(',"a,b ""c""\r\nd",');
  });

  it.each([
    ['=', '=HYPERLINK("http://x")', `,"'=HYPERLINK(""http://x"")",`],
    ['+', '+1+1', `,'+1+1,`],
    ['-', '-2+3', `,'-2+3,`],
    ['@', '@SUM(A1)', `,'@SUM(A1)`],
    ['tab', '\tcmd', `,'\tcmd,`],
  ])('escapes a cell starting with %s as a formula', (_lead, reason, expected) => {
    const csv = recordsToCsv([record({ reason })], { header: false });

    expect(csv).toContain(expected);
  });

  it('escapes formulas in any column, e.g. the user id', () => {
    const csv = recordsToCsv([record({ userId: '=1+1' })], { header: false });

    expect(csv.split(',')[1]).toEqual("'=1+1");
  });
});
