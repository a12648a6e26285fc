// The outbox for people: GET /notifications (auditors and operators: newest first, every filter
// optional, never a body) and POST /notifications/{id}/redeliver (operators: send one again, 202).
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { listNotifications, redeliverNotification } from '../domain/notify/routes';
import { ValidationError } from '../domain/errors';
import type { DepsSource } from '../platform/deps';
import { authenticate, httpHandler, requireAuditor, requireOperator } from '../platform/handler';
import { json, parseJsonBody, parseQuery } from '../platform/http';
import { depsFromEnvironment } from '../platform/runtime';
import {
  notificationIdSchema,
  notificationsQuerySchema,
  redeliverRequestSchema,
} from '../schemas/api';

const notificationIdParam = (event: APIGatewayProxyEventV2): string => {
  const parsed = notificationIdSchema.safeParse(event.pathParameters?.id ?? '');
  if (!parsed.success) {
    throw new ValidationError(
      'The notification id in the path must be printable and at most 256 characters.',
      'invalid_notification_id',
    );
  }
  return parsed.data;
};

export const makeHandler = (deps: DepsSource) =>
  httpHandler(deps, async (event, d) => {
    const caller = await authenticate(event, d);
    if (event.pathParameters?.id === undefined) {
      requireAuditor(caller);
      const query = parseQuery(notificationsQuerySchema, event.queryStringParameters);
      return json(200, await listNotifications(query, d));
    }
    const operator = requireOperator(caller);
    const id = notificationIdParam(event);
    const { reason } = event.body ? parseJsonBody(redeliverRequestSchema, event) : {};
    return json(202, await redeliverNotification(id, { operator, reason }, d));
  });

export const handler = makeHandler(depsFromEnvironment());
