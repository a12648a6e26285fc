// The eraser: every minute (EventBridge) the open erasures, once a day (`{ "task": "retention" }`)
// retention too; and GET /users/{userId}/export (operators), served here because only this
// function holds the erasure key that finds a subject's tombstones. The only role with UpdateItem
// and DeleteItem on the history (DESIGN.md "Erasure and retention").
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { exportUser } from '../domain/erasure/export';
import { type EraserSummary, runEraser } from '../domain/erasure/run';
import type { DepsSource } from '../platform/deps';
import { eraserDeps } from '../platform/erasure-deps';
import {
  authenticate,
  flushMetrics,
  httpHandler,
  requireOperator,
  startInvocation,
  userIdParam,
} from '../platform/handler';
import { json, parseQuery } from '../platform/http';
import { depsFromEnvironment } from '../platform/runtime';
import { exportQuerySchema } from '../schemas/erasure';

interface ScheduledEvent {
  source: 'aws.events';
  /** The daily rule's input. */
  task?: 'retention';
}

const isScheduled = (event: unknown): event is ScheduledEvent =>
  typeof event === 'object' && event !== null && (event as ScheduledEvent).source === 'aws.events';

export const makeHandler = (deps: DepsSource) => {
  const http = httpHandler(deps, async (event, d) => {
    requireOperator(await authenticate(event, d));
    const { cursor } = parseQuery(exportQuerySchema, event.queryStringParameters);
    return json(200, await exportUser(userIdParam(event), eraserDeps(d), { cursor }));
  });
  return async (
    event: APIGatewayProxyEventV2 | ScheduledEvent,
    context?: Context,
  ): Promise<unknown> => {
    if (!isScheduled(event)) return http(event, context);
    const d = await deps();
    startInvocation(d, context);
    try {
      const summary: EraserSummary = await runEraser(eraserDeps(d), {
        retention: event.task === 'retention',
      });
      return summary;
    } finally {
      flushMetrics(d);
    }
  };
};

export const handler = makeHandler(depsFromEnvironment());
