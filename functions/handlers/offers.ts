// Offers (issue 15): GET /offers/{offerId} (either side, auditors, operators), POST
// /offers/{offerId}/accept and /decline (the offeree), /cancel (the offerer), and GET
// /users/{userId}/offers (a Service sees the offers it is a side of; auditors all).
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { ValidationError } from '../domain/errors';
import {
  acceptOfferAnswer,
  cancelOfferAnswer,
  declineOfferAnswer,
  getOffer,
} from '../domain/offers/answer';
import { listOffers } from '../domain/offers/find';
import type { DepsSource } from '../platform/deps';
import { authenticate, httpHandler, requireService, userIdParam } from '../platform/handler';
import { json, parseJsonBody, parseQuery } from '../platform/http';
import { depsFromEnvironment } from '../platform/runtime';
import { handoverDeps } from '../platform/views';
import {
  declineRequestSchema,
  offerIdSchema,
  offersQuerySchema,
} from '../schemas/handover-request';

const offerIdParam = (event: APIGatewayProxyEventV2): string => {
  const parsed = offerIdSchema.safeParse(event.pathParameters?.offerId ?? '');
  if (!parsed.success) {
    throw new ValidationError(
      'The offer id in the path must be printable and at most 600 characters.',
      'invalid_offer_id',
    );
  }
  return parsed.data;
};

export const makeHandler = (deps: DepsSource) =>
  httpHandler(deps, async (event, d) => {
    const caller = await authenticate(event, d);
    const od = handoverDeps(d);
    if (event.pathParameters?.userId !== undefined) {
      const userId = userIdParam(event);
      const { limit } = parseQuery(offersQuerySchema, event.queryStringParameters);
      const visibleTo = caller.kind === 'service' ? caller.serviceId : undefined;
      const item = await d.state.getOwner(userId);
      const page = await listOffers(userId, item, d.history, {
        limit,
        nowMs: d.clock.now(),
        ...(visibleTo ? { visibleTo } : {}),
      });
      return json(200, { userId, ...page });
    }
    const offerId = offerIdParam(event);
    const [method, path = ''] = (event.routeKey ?? '').split(' ');
    if (method !== 'POST') return json(200, await getOffer(offerId, caller, od));
    const answer = path.split('/').at(-1);
    const serviceId = requireService(caller);
    if (answer === 'accept') return json(200, await acceptOfferAnswer(offerId, serviceId, od));
    if (answer === 'cancel') return json(200, await cancelOfferAnswer(offerId, serviceId, od));
    const { reason } = event.body ? parseJsonBody(declineRequestSchema, event) : {};
    return json(200, await declineOfferAnswer(offerId, serviceId, reason, od));
  });

export const handler = makeHandler(depsFromEnvironment());
