// Step 5 of a callback (DESIGN.md "Failover"): the forward to the receiving Service and its
// answer, or the user failed over to the Service's failover target, who then hears the message.
import type { DownstreamAnswer } from '../../schemas/downstream';
import { CircuitOpenError } from '../failover/errors';
import type { FailoverRequest, ServiceInfo } from '../types';
import type { ClaimedDelivery } from './claimed-delivery';
import type { DeliveryHandovers } from './delivery-handovers';
import type { CallbackDeps } from './deps';
import { parseAnswer } from './forward';
import type { DeliveryForwards } from './forwards';
import { type OwnerLookup, ownerNow } from './owner-at-rest';

/** The record's reason of a failover (its metadata carries `failures` and `lastStatus`). */
export const FAILOVER_REASON = 'downstream_unavailable';

/** What the receiver's forward needs of its run. */
export interface ReceiverRun {
  deps: CallbackDeps;
  /** The receiving Service. */
  service: ServiceInfo;
  delivery: ClaimedDelivery;
  forwards: DeliveryForwards;
  handovers: DeliveryHandovers;
  lookup(): OwnerLookup;
}

/**
 * The user is no longer the receiving Service's: `to` hears the message. `refused`: a refusal of
 * the failover's handover showed that someone else owns the user.
 */
export interface LeftReceiver {
  to: string;
  refused: boolean;
}

/**
 * The forward to the receiving Service and its answer, or the user failed over: at once while its
 * circuit is open (the message not sent), or at the delivery's afterFailures-th failure; a
 * failover asked by an earlier attempt is asked again. The loop guard refusing, the error stands:
 * the queue retries, then the DLQ.
 */
export async function toReceiver(
  run: ReceiverRun,
  userId: string,
  url: string,
  mayFailOver: boolean,
): Promise<{ answer: DownstreamAnswer } | { moved: LeftReceiver }> {
  const { forwards, service, delivery } = run;
  if (mayFailOver && delivery.item.failover) {
    const moved = await failOver(run, userId, delivery.item.failover);
    if (moved) return { moved };
  }
  const gate = await forwards.admit(service);
  if (mayFailOver && gate?.admission.kind === 'hold') {
    const moved = forwards.tried ? null : await failOver(run, userId, forwards.circuitRequest());
    if (moved) return { moved };
    // The default Service never fails over: its messages are sent whatever its circuit says.
    if (!forwards.disabled) throw new CircuitOpenError(service.identification);
  }
  try {
    return { answer: await forwards.send(service, url, (r) => parseAnswer(url, r), { gate }) };
  } catch (err) {
    const request = await forwards.failed(service, err, mayFailOver);
    const moved = request ? await failOver(run, userId, request) : null;
    if (moved) return { moved };
    throw err;
  }
}

/**
 * Hands the user to the failover target (the loop guard permitting) through the handover use
 * case, as the failing owner with `requestedBy: system:failover`. Null: the user stays (a refusal
 * of the guard or of the handover, or the user is back with the receiving Service already).
 */
async function failOver(
  run: ReceiverRun,
  userId: string,
  request: FailoverRequest,
): Promise<LeftReceiver | null> {
  const { deps, delivery } = run;
  const serviceId = run.service.identification;
  const to = await run.forwards.target(userId, serviceId, request);
  if (to === null) return null;
  const attempt = await run.handovers.ask(userId, {
    newOwner: to,
    metadata: { reason: FAILOVER_REASON, ...request },
    source: 'failover',
  });
  if (attempt.kind === 'refused') {
    if (attempt.reason !== 'not_owner' && attempt.reason !== 'owner_changed') return null;
    const now = await ownerNow(run.lookup(), userId, null);
    return now !== serviceId ? { to: now, refused: true } : null;
  }
  const target = await run.handovers.movedTo(attempt.result);
  if (target === null) return null;
  deps.metrics.count('FailoverTriggered');
  deps.log.warn('failover: the user went to the target', {
    ...delivery.ctx,
    to: target,
    handoverId: delivery.handoverId,
    failures: request.failures,
    lastStatus: request.lastStatus,
    circuit: request.circuit ?? 'closed',
  });
  const now = await ownerNow(run.lookup(), userId, target);
  // Back with this Service already: it has not heard the message; the error stands.
  return now !== serviceId ? { to: now, refused: false } : null;
}
