// Request shapes of the HTTP API (DESIGN.md "HTTP API"), parsed with zod at the handler boundary.
import * as z from 'zod/mini';
import type { HandoverSource, HandoverStatus, HistoryFilters } from '../domain/types';
import { isValidUserId, MAX_USER_ID_LENGTH } from '../domain/user-id';
import './zod-config';

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const printable = /^[^\u0000-\u001f\u007f]+$/;

/** A user id by the one rule of domain/user-id (short, printable, one path segment). */
export const userIdSchema = z
  .string()
  .check(
    z.minLength(1),
    z.maxLength(MAX_USER_ID_LENGTH),
    z.refine(isValidUserId, 'must be printable, without "/", and not "." or ".."'),
  );

const serviceRef = z
  .string()
  .check(z.trim(), z.minLength(1), z.maxLength(200), z.regex(printable, 'must be printable'));

export const handoverRequestSchema = z.strictObject({
  userId: z.union([
    userIdSchema,
    z.pipe(z.number().check(z.int(), z.nonnegative()), z.transform(String)),
  ]),
  newOwner: serviceRef,
  metadata: z.optional(z.record(z.string(), z.unknown())),
  expectedOwner: z.optional(serviceRef),
});
export type HandoverRequest = z.infer<typeof handoverRequestSchema>;

export const messageRequestSchema = z.strictObject({
  text: z.string().check(z.minLength(1), z.maxLength(4096)),
});

export const reconcileRequestSchema = z.strictObject({
  userId: z.optional(userIdSchema),
});

export const idempotencyKeySchema = z
  .string()
  .check(z.minLength(1), z.maxLength(200), z.regex(/^[\x21-\x7e]+$/, 'must be visible ASCII'));

// ---------------------------------------------------------------- query strings
// Parsed with platform/http's parseQuery: an empty parameter counts as absent, and the first
// problem answers 400 with the parameter's code (QUERY_ERROR_CODES) and the schema's sentence.

/** What a bad query parameter answers (400), by the parameter's name. */
export const QUERY_ERROR_CODES: Readonly<Record<string, string>> = {
  from: 'invalid_range',
  to: 'invalid_range',
  at: 'invalid_instant',
  limit: 'invalid_limit',
  cursor: 'invalid_cursor',
  status: 'invalid_filter',
  source: 'invalid_filter',
  reason: 'invalid_filter',
  service: 'invalid_filter',
};

/** A page of a user's history or of a time range (GET /handovers, /users/{userId}/handovers). */
export const AUDIT_PAGE_DEFAULT = 100;
export const AUDIT_PAGE_MAX = 1000;
const MAX_SPAN_MS = 366 * 24 * 3600 * 1000;
const MAX_REASON_CHARS = 100;
const MAX_SERVICE_CHARS = 200;
const MAX_CURSOR_CHARS = 2048;
const STATUSES = ['completed', 'failed'] as const satisfies readonly HandoverStatus[];
const SOURCES = [
  'api',
  'rule',
  'downstream',
  'observed',
] as const satisfies readonly HandoverSource[];

/** An RFC 3339 date-time with a zone (`Z` or `+01:00`); seconds and their fraction optional. */
const dateTime = (error: string) =>
  z.union(
    [
      z.iso.datetime({ offset: true, error }),
      z.iso.datetime({ offset: true, precision: -1, error }),
    ],
    { error },
  );

/** An instant (`?at=`), as epoch ms. The one ISO-8601 reader of the API. */
export const instantSchema = z.pipe(
  dateTime('at must be an ISO-8601 instant with a time zone.'),
  z.transform((value) => Date.parse(value)),
);

/**
 * An end of a range, as epoch ms: a date-time with a zone, or a date (`2026-03-10`), which is the
 * start of that day (UTC), or with `endOfDay` its last millisecond.
 */
export const rangeBoundSchema = (name: 'from' | 'to', endOfDay = name === 'to') => {
  const error = `\`${name}\` is required as an ISO-8601 date or date-time with a zone (e.g. 2026-03-10T14:00:00Z).`;
  return z.pipe(
    z.union([dateTime(error), z.iso.date({ error })], { error }),
    z.transform((value) => {
      const ms = Date.parse(value);
      // Date.parse reads a date alone as midnight UTC.
      return endOfDay && value.length === 10 ? ms + 24 * 3600 * 1000 - 1 : ms;
    }),
  );
};

/** `limit`: absent -> `fallback`; else an integer 1..max. */
export const limitSchema = (fallback: number, max: number) =>
  z._default(
    z.pipe(
      z.string().check(
        z.refine((value) => /^\d{1,7}$/.test(value) && Number(value) >= 1 && Number(value) <= max, {
          error: `\`limit\` must be an integer from 1 to ${max}.`,
        }),
      ),
      z.transform(Number),
    ),
    fallback,
  );

/** `cursor`: opaque, at most 2048 characters (the store checks the rest). */
export const cursorSchema = z
  .string()
  .check(z.maxLength(MAX_CURSOR_CHARS, { error: '`cursor` is not valid.' }));

/** A page of a listing: `limit` (from 1 to `max`, else `fallback`) and `cursor`. */
export const pageQuerySchema = (fallback: number, max: number) =>
  z.object({ limit: limitSchema(fallback, max), cursor: z.optional(cursorSchema) });

/** A user's history: `limit`; the cursor goes to the store as given (it checks its own). */
export const historyQuerySchema = z.object({
  limit: limitSchema(AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX),
  cursor: z.optional(z.string()),
});

const oneOf = <const T extends readonly [string, ...string[]]>(name: string, values: T) =>
  z.enum(values, { error: `\`${name}\` must be one of: ${values.join(', ')}.` });

/**
 * GET /handovers: `from` and `to` required (from <= to, at most 366 days apart), `limit`,
 * `status` and `source` from their enums, `reason` up to 100 characters, `cursor`, and `service`
 * as given (identification, name or "default": the handler resolves it). Output: the range
 * normalized as records' `createdAt` (ISO-8601 UTC with milliseconds), both ends inclusive.
 */
export const rangeQuerySchema = z.pipe(
  z
    .object({
      from: rangeBoundSchema('from'),
      to: rangeBoundSchema('to'),
      limit: limitSchema(AUDIT_PAGE_DEFAULT, AUDIT_PAGE_MAX),
      cursor: z.optional(cursorSchema),
      status: z.optional(oneOf('status', STATUSES)),
      source: z.optional(oneOf('source', SOURCES)),
      reason: z.optional(
        z.string().check(
          z.refine((value) => [...value].length <= MAX_REASON_CHARS, {
            error: `\`reason\` may hold at most ${MAX_REASON_CHARS} characters.`,
          }),
        ),
      ),
      service: z.optional(
        z.string().check(z.maxLength(MAX_SERVICE_CHARS, { error: '`service` is too long.' })),
      ),
    })
    .check(
      z.refine((q) => !(q.from > q.to), {
        error: '`from` must not be after `to`.',
        path: ['from'],
      }),
      z.refine((q) => !(q.to - q.from > MAX_SPAN_MS), {
        error: 'A range may span at most 366 days.',
        path: ['from'],
      }),
    ),
  z.transform(({ from, to, limit, cursor, status, source, reason, service }) => {
    const filters: HistoryFilters = {};
    if (status) filters.status = status;
    if (source) filters.source = source;
    if (reason) filters.reason = reason;
    return {
      from: new Date(from).toISOString(),
      to: new Date(to).toISOString(),
      limit,
      filters,
      ...(service ? { service } : {}),
      ...(cursor ? { cursor } : {}),
    };
  }),
);
export type RangeQuery = z.output<typeof rangeQuerySchema>;
