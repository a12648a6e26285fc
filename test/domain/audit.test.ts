import { CSV_COLUMNS, recordsToCsv } from '../../functions/domain/audit';
import type { HandoverRecord } from '../../functions/domain/types';
import { AGENT, BOT } from '../support/fakes';

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
        `completed,${BOT},200,,42,${'d'.repeat(64)},${'0'.repeat(64)},${'a'.repeat(64)},` +
        'handover,,\r\n',
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
      'kind',
      'offerId',
      'offerEvent',
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
