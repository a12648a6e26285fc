// The metrics routes' query strings (GET /metrics, GET /metrics/stuck; docs/METRICS.md), read
// with platform/http's parseQuery like every query (codes in schemas/api.ts QUERY_ERROR_CODES).
import * as z from 'zod/mini';
import { rangeBoundSchema } from './api';
import './zod-config';

const MAX_SERVICE_CHARS = 200;

/** Days one GET /metrics may span (both ends included). */
export const METRICS_MAX_DAYS = 31;
const DAY_MS = 24 * 3600 * 1000;
const utcDay = (ms: number) => new Date(ms).toISOString().slice(0, 10);

/**
 * GET /metrics: `from` and `to` (dates, or instants read as their UTC day; at most 31 days),
 * `service` as given (the handler resolves it), `granularity` only `day` (the default). Output:
 * the first and last UTC day.
 */
export const metricsQuerySchema = z.pipe(
  z
    .object({
      from: rangeBoundSchema('from'),
      to: rangeBoundSchema('to'),
      service: z.optional(
        z.string().check(z.maxLength(MAX_SERVICE_CHARS, { error: '`service` is too long.' })),
      ),
      granularity: z.optional(
        z.enum(['day'], { error: '`granularity` must be one of: day (the only one there is).' }),
      ),
    })
    .check(
      z.refine((q) => !(q.from > q.to), {
        error: '`from` must not be after `to`.',
        path: ['from'],
      }),
      z.refine(
        (q) =>
          !(
            Date.parse(utcDay(q.to)) - Date.parse(utcDay(q.from)) >
            (METRICS_MAX_DAYS - 1) * DAY_MS
          ),
        { error: `A metrics range may span at most ${METRICS_MAX_DAYS} days.`, path: ['from'] },
      ),
    ),
  z.transform(({ from, to, service }) => ({
    from: utcDay(from),
    to: utcDay(to),
    ...(service ? { service } : {}),
  })),
);
export type MetricsQueryInput = z.output<typeof metricsQuerySchema>;

/** GET /metrics/stuck: `service` optional (identification or name: the handler resolves it). */
export const stuckQuerySchema = z.object({
  service: z.optional(
    z.string().check(z.maxLength(MAX_SERVICE_CHARS, { error: '`service` is too long.' })),
  ),
});
