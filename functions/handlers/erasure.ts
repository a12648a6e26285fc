// Erasure (operators act, auditors read): POST /users/{userId}/erasure registers an erasure for the
// eraser (202; a dry run or nothing left to erase: 200), GET /erasures lists the register, GET
// /erasures/{erasureId} shows one with its erased chain verified, POST /erasures/reapply opens the
// register again after a restore, POST /erasures/retention asks the eraser for a retention run.
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ValidationError } from '../domain/errors';
import { describeErasure } from '../domain/erasure/export';
import { reapplyErasures } from '../domain/erasure/reapply';
import { openErasure, RETENTION_ENTRY, requestErasure } from '../domain/erasure/request';
import type { DepsSource } from '../platform/deps';
import { erasedCheckerOf, erasureDeps } from '../platform/erasure-deps';
import {
  authenticate,
  httpHandler,
  requireAuditor,
  requireOperator,
  userIdParam,
} from '../platform/handler';
import { header, json, parseJsonBody, parseQuery } from '../platform/http';
import { depsFromEnvironment } from '../platform/runtime';
import { idempotencyKeySchema } from '../schemas/api';
import {
  erasureIdSchema,
  erasureRequestSchema,
  erasuresQuerySchema,
  reapplyRequestSchema,
} from '../schemas/erasure';

const erasureIdParam = (event: APIGatewayProxyEventV2): string => {
  const parsed = erasureIdSchema.safeParse(event.pathParameters?.erasureId ?? '');
  if (!parsed.success) {
    throw new ValidationError('The erasure id in the path is not one.', 'invalid_erasure_id');
  }
  return parsed.data;
};

const idempotencyKey = (event: APIGatewayProxyEventV2): string | undefined => {
  const key = header(event, 'idempotency-key');
  if (key !== undefined && !idempotencyKeySchema.safeParse(key).success) {
    throw new ValidationError(
      'Idempotency-Key must be 1-200 visible ASCII characters.',
      'invalid_idempotency_key',
    );
  }
  return key;
};

export const makeHandler = (deps: DepsSource) =>
  httpHandler(deps, async (event, d) => {
    const caller = await authenticate(event, d);
    const ed = erasureDeps(d);
    switch (event.routeKey?.replace(/^HEAD /, 'GET ')) {
      case 'POST /users/{userId}/erasure': {
        const operator = requireOperator(caller);
        const userId = userIdParam(event);
        const body = parseJsonBody(erasureRequestSchema, event);
        const key = idempotencyKey(event);
        const answer = await requestErasure(
          { ...body, userId, operator, ...(key !== undefined ? { idempotencyKey: key } : {}) },
          ed,
        );
        return json(answer.httpStatus, answer.body);
      }
      case 'GET /erasures/{erasureId}':
        requireAuditor(caller);
        return json(200, await describeErasure(erasureIdParam(event), ed, erasedCheckerOf(d)));
      case 'POST /erasures/reapply': {
        requireOperator(caller);
        const { erasures } = event.body ? parseJsonBody(reapplyRequestSchema, event) : {};
        return json(200, await reapplyErasures(erasures, ed));
      }
      case 'POST /erasures/retention':
        requireOperator(caller);
        await openErasure(
          { erasureId: RETENTION_ENTRY, userId: null, level: 'metadata' },
          ed.store,
        );
        return json(202, { retention: 'requested' });
      default: {
        requireAuditor(caller);
        const page = await ed.store.listErasures(
          parseQuery(erasuresQuerySchema, event.queryStringParameters),
        );
        const items = page.items.map(({ bodyHash: _b, ...item }) => item);
        return json(200, { items, ...(page.cursor ? { cursor: page.cursor } : {}) });
      }
    }
  });

export const handler = makeHandler(depsFromEnvironment());
