// Request shapes of the HTTP API (DESIGN.md "HTTP API"), parsed with zod at the handler boundary.
import * as z from 'zod/mini';
import { MAX_LEASE_SECONDS } from '../domain/lifecycle/lease';
import { REASON_MAX_CHARS } from '../domain/metadata';
import type {
  HandoverSource,
  HandoverStatus,
  HistoryFilters,
  NotificationStatus,
} from '../domain/types';
import { userIdFromJson, userIdProblem } from '../domain/user-id';
import './zod-config';

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
export const printable = /^[^\u0000-\u001f\u007f]+$/;

/** A user id by the one rule of domain/user-id; the issue names what breaks it. */
export const userIdSchema = z.string().check(
  z.superRefine((id, ctx) => {
    const problem = userIdProblem(id);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, input: id });
  }),
);

const USER_ID_TYPE = 'must be a string, or a whole number of at most 2^53 - 1 in size';

/**
 * A user id in a JSON body, read as userIdFromJson reads it on every route and in Parley's
 * callbacks: a string by the rule, or a safe integer as its digits (`20` is `"20"`).
 */
export const userIdValueSchema = z.pipe(
  z.union([z.string(), z.number()], { error: USER_ID_TYPE }),
  z.transform((value, ctx): string => {
    const id = userIdFromJson(value);
    if (id !== null) return id;
    const message =
      typeof value === 'string' ? (userIdProblem(value) ?? USER_ID_TYPE) : USER_ID_TYPE;
    ctx.issues.push({ code: 'custom', message, input: value });
    return z.NEVER;
  }),
);

/** A Service as a body names it: its identification, its name or `default`. */
export const serviceRef = z
  .string()
  .check(z.trim(), z.minLength(1), z.maxLength(200), z.regex(printable, 'must be printable'));

export const messageRequestSchema = z.strictObject({
  text: z.string().check(z.minLength(1), z.maxLength(4096)),
});

/**
 * POST /users/{userId}/lease: how far past its current expiry the lease should run. A whole number
 * of seconds from 1 to a year; past the lease's hard cap the answer is 422 lease_limit_exceeded.
 */
export const leaseExtendRequestSchema = z.strictObject({
  extendSeconds: z.number().check(z.int(), z.minimum(1), z.maximum(MAX_LEASE_SECONDS)),
});

export const reconcileRequestSchema = z.strictObject({
  userId: z.optional(userIdValueSchema),
});

/**
 * An operator's reason: what a release writes into each record's `reason` (so at most as long as
 * a record's reason may be), and what redeliver logs. Printable, not blank.
 */
export const operatorReasonSchema = z.string().check(
  z.minLength(1),
  z.maxLength(REASON_MAX_CHARS),
  z.regex(printable, 'must be printable'),
  z.refine((value) => value.trim() !== '', { error: 'must not be blank' }),
);

export const redeliverRequestSchema = z.strictObject({
  reason: z.optional(operatorReasonSchema),
});

/** Users one release call handles at most (each one handover), and its default. */
export const RELEASE_LIMIT_DEFAULT = 100;
export const RELEASE_LIMIT_MAX = 500;

/**
 * POST /services/{serviceId}/release: `reason` required; `dryRun` counts instead of moving;
 * `cursor` (from the previous answer) resumes; `limit` users per call.
 */
export const releaseRequestSchema = z.strictObject({
  reason: operatorReasonSchema,
  dryRun: z.optional(z.boolean()),
  cursor: z.optional(z.string().check(z.minLength(1), z.maxLength(8192))),
  limit: z.optional(z.number().check(z.int(), z.minimum(1), z.maximum(RELEASE_LIMIT_MAX))),
});
export type ReleaseRequest = z.infer<typeof releaseRequestSchema>;

/** A notification id in a path: what the listing gives (printable, at most 256 characters). */
export const notificationIdSchema = z
  .string()
  .check(z.minLength(1), z.maxLength(256), z.regex(printable, 'must be printable'));

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
  granularity: 'invalid_filter',
};

/** A page of the outbox (GET /notifications). */
export const NOTIFICATIONS_PAGE_DEFAULT = 50;
export const NOTIFICATIONS_PAGE_MAX = 100;

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
  'failover',
  'operator',
  'timeout',
  'offer',
] as const satisfies readonly HandoverSource[];
const NOTIFICATION_STATUSES = [
  'pending',
  'sent',
  'failed',
] as const satisfies readonly NotificationStatus[];

// ---------------------------------------------------------------- instants
// One reader for `at`, `from` and `to`: RFC 3339 `2026-03-10T14:00:05.123Z` (seconds and their
// fraction optional, a zone required: `Z` or `+01:00`), or a date alone where a range allows it.
// A refusal says what is wrong with the value without quoting it.

const INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-]\d{2}:\d{2})?)?$/;
const EXAMPLE = '(e.g. 2026-03-10T14:00:00Z)';

/** How much of an instant was written: the unit of its last field. */
type Precision = 'day' | 'minute' | 'second' | 'millisecond';

type Reading = { ms: number; precision: Precision } | { problem: string };

const daysIn = (year: number, month: number): number =>
  month === 2
    ? (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
      ? 29
      : 28
    : [4, 6, 9, 11].includes(month)
      ? 30
      : 31;

/** A value that matched INSTANT, checked field by field. */
const readFields = (m: RegExpExecArray): Reading => {
  const [, y, mo, d, hh, mi, ss, fraction, zone] = m;
  const [year, month, day] = [Number(y), Number(mo), Number(d)];
  if (month < 1 || month > 12) return { problem: 'names a month that does not exist (01 to 12)' };
  if (day < 1 || day > daysIn(year, month)) {
    return {
      problem: `names a day that does not exist (that month has ${daysIn(year, month)} days)`,
    };
  }
  if (hh === undefined) return { ms: Date.parse(`${y}-${mo}-${d}T00:00:00Z`), precision: 'day' };
  if (zone === undefined) {
    return {
      problem:
        'has no time zone: end it with Z (UTC) or an offset such as +01:00 (written %2B01:00 in a URL)',
    };
  }
  if (Number(hh) > 23 || Number(mi) > 59 || Number(ss ?? 0) > 59) {
    return {
      problem: 'names a time that does not exist (hours 00 to 23, minutes and seconds 00 to 59)',
    };
  }
  if (zone !== 'Z' && (Number(zone.slice(1, 3)) > 23 || Number(zone.slice(4)) > 59)) {
    return { problem: 'has an offset that does not exist (hours 00 to 23, minutes 00 to 59)' };
  }
  const millis = (fraction ?? '').slice(0, 3).padEnd(3, '0');
  // Date.parse reads this exact form, years below 100 included.
  const ms = Date.parse(`${y}-${mo}-${d}T${hh}:${mi}:${ss ?? '00'}.${millis}${zone}`);
  const precision = fraction !== undefined ? 'millisecond' : ss !== undefined ? 'second' : 'minute';
  return { ms, precision };
};

/** Reads an instant, or names what is wrong with it (as a phrase to follow the parameter). */
export function readInstant(value: string): Reading {
  if (value === '') return { problem: 'is empty' };
  const m = INSTANT.exec(value);
  if (m) return readFields(m);
  // A query string reads `+` as a space: `...T15:00:00+01:00` sent unencoded arrives with a space.
  if (value.includes(' ')) {
    const plus = INSTANT.exec(value.replaceAll(' ', '+'));
    if (plus && !('problem' in readFields(plus))) {
      return {
        problem:
          'has a space where a `+` belongs: it looks like a `+` sent unencoded (a query string reads `+` as a space); write it as %2B',
      };
    }
    const t = INSTANT.exec(value.replace(' ', 'T'));
    if (t && !('problem' in readFields(t))) {
      return { problem: 'has a space where the `T` between the date and the time belongs' };
    }
  }
  return { problem: 'is not an ISO-8601 instant' };
}

/** The last millisecond an instant written to `precision` names: `14:00:05Z` is `14:00:05.999Z`. */
const endOf = (ms: number, precision: Precision): number =>
  precision === 'day'
    ? ms + 24 * 3600 * 1000 - 1
    : precision === 'minute'
      ? ms + 59_999
      : precision === 'second'
        ? ms + 999
        : ms;

/**
 * An instant parameter as epoch ms: `read` turns a reading into the value (or a problem); a
 * missing or refused value gets a sentence that names the parameter and what is wrong.
 */
const instantParameter = (
  name: string,
  forms: string,
  read: (reading: { ms: number; precision: Precision }) => number | { problem: string },
) =>
  z.pipe(
    z.string({
      error: (issue) =>
        issue.input === undefined
          ? `\`${name}\` is required: ${forms} ${EXAMPLE}.`
          : `\`${name}\` must be ${forms} ${EXAMPLE}.`,
    }),
    z.transform((value, ctx): number => {
      const reading = readInstant(value);
      const out = 'problem' in reading ? reading : read(reading);
      if (typeof out === 'number') return out;
      const message =
        out.problem === 'is not an ISO-8601 instant'
          ? `\`${name}\` must be ${forms} ${EXAMPLE}.`
          : out.problem === 'is empty'
            ? `\`${name}\` is empty: give ${forms} ${EXAMPLE}.`
            : `\`${name}\` ${out.problem}.`;
      ctx.issues.push({ code: 'custom', message, input: value });
      return z.NEVER;
    }),
  );

/**
 * An instant (`?at=`), as epoch ms: the one ISO-8601 reader of the API (the CLI checks `--at`
 * with it too). Inclusive at the precision it is written with: without a fraction it is the last
 * millisecond of its second, without seconds the last of its minute, so an instant copied from a
 * clock that shows whole seconds includes what happened during that second. A date alone is
 * refused: which moment of the day would it be?
 */
export const instantSchema = instantParameter(
  'at',
  'an ISO-8601 date-time with a zone',
  ({ ms, precision }) =>
    precision === 'day'
      ? {
          problem:
            'is a date without a time: add a time and a zone (e.g. 2026-03-10T23:59:59Z for the end of that day)',
        }
      : endOf(ms, precision),
);

/**
 * An end of a range, as epoch ms: a date-time with a zone, exactly as written, or a date
 * (`2026-03-10`), which is the start of that day (UTC), or with `endOfDay` its last millisecond.
 */
export const rangeBoundSchema = (name: 'from' | 'to', endOfDay = name === 'to') =>
  instantParameter(name, 'an ISO-8601 date or date-time with a zone', ({ ms, precision }) =>
    precision === 'day' && endOfDay ? endOf(ms, 'day') : ms,
  );

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

/**
 * GET /notifications: every filter optional; `service` as given (identification or name: the
 * handler resolves it), `status` one of pending, sent, failed.
 */
export const notificationsQuerySchema = z.object({
  service: z.optional(
    z.string().check(z.maxLength(MAX_SERVICE_CHARS, { error: '`service` is too long.' })),
  ),
  status: z.optional(oneOf('status', NOTIFICATION_STATUSES)),
  limit: limitSchema(NOTIFICATIONS_PAGE_DEFAULT, NOTIFICATIONS_PAGE_MAX),
  cursor: z.optional(cursorSchema),
});
export type NotificationsQuery = z.output<typeof notificationsQuerySchema>;
