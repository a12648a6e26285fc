// Ownership metrics (docs/METRICS.md). Auditors and operators: GET /metrics (days of figures, JSON
// or `Accept: text/csv`) and GET /metrics/stuck (the users waiting on their owner). Schedules:
// `{ "task": "rollup" }` nightly (the mature days' rollups), `{ "task": "stuck" }` every few
// minutes (the StuckOwners gauge); a plain scheduled event does both.
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { metricsToCsv } from '../domain/metrics/csv';
import { buildRollups, readMetrics } from '../domain/metrics/rollup';
import { listStuckOwners, reportStuckOwners } from '../domain/metrics/stuck';
import type { DepsSource } from '../platform/deps';
import {
  authenticate,
  flushMetrics,
  httpHandler,
  requireAuditor,
  startInvocation,
} from '../platform/handler';
import { csv, header, json, parseQuery } from '../platform/http';
import { metricsDeps } from '../platform/metrics-deps';
import { depsFromEnvironment } from '../platform/runtime';
import { metricsQuerySchema, stuckQuerySchema } from '../schemas/metrics-query';

export type MetricsTask = 'rollup' | 'stuck';
type ScheduledEvent = { source: 'aws.events' } | { task: MetricsTask };

const isScheduled = (event: unknown): event is ScheduledEvent =>
  typeof event === 'object' &&
  event !== null &&
  ((event as { source?: unknown }).source === 'aws.events' || 'task' in event);

export const makeHandler = (deps: DepsSource) => {
  const http = httpHandler(deps, async (event, d) => {
    requireAuditor(await authenticate(event, d));
    const md = metricsDeps(d);
    const resolve = async (service?: string) =>
      service ? (await d.catalog.resolve(service)).identification : undefined;
    if (event.routeKey?.endsWith(' /metrics/stuck')) {
      const { service } = parseQuery(stuckQuerySchema, event.queryStringParameters);
      return json(200, await listStuckOwners(md, { service: await resolve(service) }));
    }
    const { service, ...days } = parseQuery(metricsQuerySchema, event.queryStringParameters);
    const answer = await readMetrics({ ...days, service: await resolve(service) }, md);
    return (header(event, 'accept') ?? '').includes('text/csv')
      ? csv(200, metricsToCsv(answer.days))
      : json(200, answer);
  });
  return async (event: APIGatewayProxyEventV2 | ScheduledEvent, context?: Context) => {
    if (!isScheduled(event)) return http(event, context);
    const d = await deps();
    startInvocation(d, context);
    const task = 'task' in event ? event.task : undefined;
    try {
      return {
        ...(task !== 'stuck' ? { rollup: await buildRollups(metricsDeps(d)) } : {}),
        ...(task !== 'rollup' ? { stuck: (await reportStuckOwners(metricsDeps(d))).count } : {}),
      };
    } finally {
      flushMetrics(d);
    }
  };
};

export const handler = makeHandler(depsFromEnvironment());
