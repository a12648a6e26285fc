// Helpers of the audit routes: the query of `GET /handovers` (a time range with filters) and the
// CSV form of handover records (`Accept: text/csv`).
import { ValidationError } from './errors';
import type { HandoverRecord, HandoverSource, HandoverStatus, HistoryFilters } from './types';

export interface RangeQuery {
  /** Normalized ISO-8601 UTC with milliseconds (as records' `createdAt`), inclusive. */
  from: string;
  /** Normalized like `from`, inclusive; a date-only `to` means the end of that day (UTC). */
  to: string;
  limit: number;
  cursor?: string;
  /** `status`, `source`, `reason`; `toOwner` is left to the handler (see `service`). */
  filters: HistoryFilters;
  /** The `service` parameter as given (identification, name or "default"): the handler resolves
   * it with the catalog into `filters.toOwner`. */
  service?: string;
}

export const MAX_LIMIT = 1000;
export const DEFAULT_LIMIT = 100;
const MAX_SPAN_MS = 366 * 24 * 3600 * 1000;
const MAX_REASON_CHARS = 100;
const MAX_SERVICE_CHARS = 200;
const MAX_CURSOR_CHARS = 2048;
const STATUSES: readonly HandoverStatus[] = ['completed', 'failed'];
const SOURCES: readonly HandoverSource[] = ['api', 'rule', 'downstream', 'observed'];

const ISO =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:?\d{2}))?$/;

/**
 * Epoch ms of an ISO-8601 date (`2026-03-10`) or date-time with a zone (`...T14:00Z`,
 * `...T14:00:00.123+01:00`); null when malformed or not a real date (Feb 30). A date-only value is
 * the start of its day, or its last millisecond with `endOfDay`.
 */
export function parseInstant(value: string, endOfDay = false): number | null {
  const m = ISO.exec(value);
  if (!m) return null;
  const [, y, mo, d, hh, mi, ss, frac, zone] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const daysInMonth = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  if (daysInMonth === undefined || day < 1 || day > daysInMonth) return null;
  // Not Date.UTC: it reads years 0..99 as 1900..1999.
  const base = new Date(0);
  base.setUTCFullYear(year, month - 1, day);
  const start = base.getTime();
  if (hh === undefined) return endOfDay ? start + 24 * 3600 * 1000 - 1 : start;
  const hours = Number(hh);
  const minutes = Number(mi);
  const seconds = ss === undefined ? 0 : Number(ss);
  if (hours > 23 || minutes > 59 || seconds > 59) return null;
  const millis = frac === undefined ? 0 : Number(frac.slice(0, 3).padEnd(3, '0'));
  let offsetMinutes = 0;
  if (zone !== 'Z') {
    const sign = zone!.startsWith('-') ? -1 : 1;
    const digits = zone!.slice(1).replace(':', '');
    const oh = Number(digits.slice(0, 2));
    const om = Number(digits.slice(2, 4));
    if (oh > 23 || om > 59) return null;
    offsetMinutes = sign * (oh * 60 + om);
  }
  return start + ((hours * 60 + minutes - offsetMinutes) * 60 + seconds) * 1000 + millis;
}

/** A `limit` parameter: absent or empty -> `fallback`; else an integer 1..max (400 otherwise). */
export function parseLimit(
  value: string | undefined,
  fallback = DEFAULT_LIMIT,
  max = MAX_LIMIT,
): number {
  if (value === undefined || value === '') return fallback;
  const limit = /^\d{1,7}$/.test(value) ? Number(value) : Number.NaN;
  if (!(limit >= 1 && limit <= max)) {
    throw new ValidationError(`\`limit\` must be an integer from 1 to ${max}.`, 'invalid_limit');
  }
  return limit;
}

/** A `cursor` parameter: absent or empty -> undefined; else opaque, at most 2048 characters. */
export function parseCursor(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (value.length > MAX_CURSOR_CHARS) {
    throw new ValidationError('`cursor` is not valid.', 'invalid_cursor');
  }
  return value;
}

const oneOf = <T extends string>(
  name: string,
  value: string | undefined,
  allowed: readonly T[],
): T | undefined => {
  if (value === undefined || value === '') return undefined;
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new ValidationError(`\`${name}\` must be one of: ${allowed.join(', ')}.`, 'invalid_filter');
};

const instant = (name: 'from' | 'to', value: string | undefined): number => {
  const ms = value ? parseInstant(value, name === 'to') : null;
  if (ms === null) {
    throw new ValidationError(
      `\`${name}\` is required as an ISO-8601 date or date-time with a zone (e.g. 2026-03-10T14:00:00Z).`,
      'invalid_range',
    );
  }
  return ms;
};

/**
 * The query of `GET /handovers`: `from` and `to` required (ISO-8601, from <= to, at most 366 days
 * apart: 400 `invalid_range`), `limit` 1..1000 (default 100), `status` and `source` from their
 * enums, `reason` up to 100 characters, `cursor` opaque, `service` kept raw for the handler.
 */
export function parseRangeQuery(params: Record<string, string | undefined>): RangeQuery {
  const fromMs = instant('from', params.from);
  const toMs = instant('to', params.to);
  if (fromMs > toMs) {
    throw new ValidationError('`from` must not be after `to`.', 'invalid_range');
  }
  if (toMs - fromMs > MAX_SPAN_MS) {
    throw new ValidationError('A range may span at most 366 days.', 'invalid_range');
  }
  const limit = parseLimit(params.limit);

  const filters: HistoryFilters = {};
  const status = oneOf('status', params.status, STATUSES);
  if (status) filters.status = status;
  const source = oneOf('source', params.source, SOURCES);
  if (source) filters.source = source;
  const reason = params.reason;
  if (reason !== undefined && reason !== '') {
    if ([...reason].length > MAX_REASON_CHARS) {
      throw new ValidationError(
        `\`reason\` may hold at most ${MAX_REASON_CHARS} characters.`,
        'invalid_filter',
      );
    }
    filters.reason = reason;
  }

  const query: RangeQuery = {
    from: new Date(fromMs).toISOString(),
    to: new Date(toMs).toISOString(),
    limit,
    filters,
  };
  const service = params.service;
  if (service !== undefined && service !== '') {
    if (service.length > MAX_SERVICE_CHARS) {
      throw new ValidationError('`service` is too long.', 'invalid_filter');
    }
    query.service = service;
  }
  const cursor = parseCursor(params.cursor);
  if (cursor !== undefined) query.cursor = cursor;
  return query;
}

// ---------------------------------------------------------------- CSV

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
