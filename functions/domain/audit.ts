// The CSV form of handover records (`Accept: text/csv` on the audit routes). The audit queries'
// parameters are zod schemas (schemas/api.ts).
import type { HandoverRecord } from './types';

export const CSV_COLUMNS = [
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
  // Last, so the columns before keep their places: `handover` or `offer` (an offer's own event).
  'kind',
  'offerId',
  'offerEvent',
] as const;

const CRLF = '\r\n';

/**
 * One CSV cell. A value a spreadsheet would run as a formula (starting with = + - @, a tab or a
 * carriage return) gets a leading single quote; then RFC 4180 quoting when it holds a comma, a
 * double quote or a line break.
 */
export function csvCell(value: string | number | null | undefined): string {
  let text = value === null || value === undefined ? '' : String(value);
  if (/^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

const rowOf = (r: HandoverRecord): (string | number | null)[] => [
  r.handoverId,
  r.userId,
  r.seq,
  r.createdAt,
  r.fromOwner,
  r.toOwner,
  r.reason,
  r.source,
  r.status,
  r.requestedBy,
  r.parley?.status ?? null,
  r.parley?.code ?? null,
  r.parley?.durationMs ?? null,
  r.metadataDigest,
  r.prevHash,
  r.hash,
  r.kind ?? 'handover',
  r.offer?.offerId ?? null,
  r.offer?.event ?? null,
];

/**
 * Records as CSV (RFC 4180, CRLF after every line, so pages can be appended), with the header line
 * unless `header: false`. Metadata is not a column: its digest is.
 */
export function recordsToCsv(
  records: readonly HandoverRecord[],
  options: { header?: boolean } = {},
): string {
  const lines = records.map((r) => rowOf(r).map(csvCell).join(','));
  if (options.header !== false) lines.unshift(CSV_COLUMNS.join(','));
  return lines.map((line) => line + CRLF).join('');
}
