// POST /reconcile (auditors) and the 5-minute schedule: recover stale pending handovers.
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { reconcile } from '../domain/handover/reconcile';
import { reconcileRequestSchema } from '../schemas/api';
import type { DepsSource } from '../platform/deps';
import {
  authenticate,
  flushMetrics,
  httpHandler,
  requireAuditor,
  startInvocation,
} from '../platform/handler';
import { json, parseJsonBody } from '../platform/http';
import { depsFromEnvironment } from '../platform/runtime';
import { handoverDeps } from '../platform/views';

interface ScheduledEvent {
  source: 'aws.events';
  'detail-type': string;
}

const isScheduled = (event: unknown): event is ScheduledEvent =>
  typeof event === 'object' && event !== null && (event as ScheduledEvent).source === 'aws.events';

export const makeHandler = (deps: DepsSource) => {
  const http = httpHandler(deps, async (event, d) => {
    requireAuditor(await authenticate(event, d));
    const { userId } = event.body
      ? parseJsonBody(reconcileRequestSchema, event)
      : { userId: undefined };
    return json(200, await reconcile(handoverDeps(d), { userId }));
  });
  return async (event: APIGatewayProxyEventV2 | ScheduledEvent, context?: Context) => {
    if (!isScheduled(event)) return http(event, context);
    const d = await deps();
    startInvocation(d, context);
    const result = await reconcile(handoverDeps(d));
    d.log.info('scheduled reconcile', { ...result, failed: result.failed.length });
    flushMetrics(d);
    return result;
  };
};

export const handler = makeHandler(depsFromEnvironment());
