// Signed checkpoints: the EventBridge schedule (every `checkpoints.intervalMinutes`) and
// POST /checkpoints (operators: 201 with the newest checkpoint written, 200 with `checkpoint: null`
// when no history changed) run the same job; GET /checkpoints/public-key (public) serves the PEM
// that verifies them, cacheable.
import type { APIGatewayProxyEventV2, Context } from 'aws-lambda';
import { summaryOf } from '../domain/checkpoints/document';
import { type CheckpointRun, makeCheckpoints } from '../domain/checkpoints/job';
import {
  checkpointJobDeps,
  checkpointPortsOf,
  withCheckpoints,
} from '../platform/checkpoint-ports';
import type { DepsSource } from '../platform/deps';
import {
  authenticate,
  flushMetrics,
  httpHandler,
  requireOperator,
  startInvocation,
} from '../platform/handler';
import { json, parseJsonBody } from '../platform/http';
import { depsFromEnvironment } from '../platform/runtime';
import { checkpointRequestSchema } from '../schemas/checkpoints';

export const PUBLIC_KEY_CACHE_CONTROL = 'public, max-age=3600';

interface ScheduledEvent {
  source: 'aws.events';
}

const isScheduled = (event: unknown): event is ScheduledEvent =>
  typeof event === 'object' && event !== null && (event as ScheduledEvent).source === 'aws.events';

const answer = (run: CheckpointRun) => {
  const created = run.created.map(summaryOf);
  return { checkpoint: created.at(-1) ?? null, checkpoints: created, complete: run.complete };
};

export const makeHandler = (deps: DepsSource) => {
  const http = httpHandler(deps, async (event, d) => {
    if (event.routeKey?.endsWith(' /checkpoints/public-key')) {
      const pem = await checkpointPortsOf(d).signer.publicKeyPem();
      return {
        statusCode: 200,
        headers: {
          'Content-Type': 'application/x-pem-file',
          'Cache-Control': PUBLIC_KEY_CACHE_CONTROL,
        },
        body: pem,
      };
    }
    const operator = requireOperator(await authenticate(event, d));
    const { reason } = event.body ? parseJsonBody(checkpointRequestSchema, event) : {};
    const run = await makeCheckpoints(checkpointJobDeps(d), { by: `operator:${operator}`, reason });
    return json(run.created.length > 0 ? 201 : 200, answer(run));
  });
  return async (event: APIGatewayProxyEventV2 | ScheduledEvent, context?: Context) => {
    if (!isScheduled(event)) return http(event, context);
    const d = await deps();
    startInvocation(d, context);
    try {
      return answer(await makeCheckpoints(checkpointJobDeps(d), { by: 'schedule' }));
    } finally {
      flushMetrics(d);
    }
  };
};

export const handler = makeHandler(withCheckpoints(depsFromEnvironment()));
