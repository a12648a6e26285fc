// Steps 3-7 of a claimed, parsed callback of a configured Service (DESIGN.md "Processor"): the
// owner at rest, the Service's rules, the signed forward, the answer's reply and handover, and the
// message sent on to whoever owns the user afterwards.
import type { DownstreamAnswer } from '../../schemas/downstream';
import { DeliveryBusyError } from '../errors';
import { CircuitOpenError } from '../failover/errors';
import type { HandoverInput, HandoverResult } from '../handover/deps';
import type { DownstreamResponse, StateStore } from '../ports';
import { offerAsked } from '../offers/create';
import { openOfferOf, sendStandbyCopy } from '../offers/standby';
import { matchRule } from '../rules';
import type { DeliveryDisposition, DeliveryItem, FailoverRequest, ServiceInfo } from '../types';
import {
  type CallbackDeps,
  type CallbackOutcome,
  DEFAULT_DELIVERY_TTL_SECONDS,
  doneExpiry,
  type Parsed,
} from './deps';
import { type ForwardedCallback, parseAnswer } from './forward';
import { DeliveryForwards } from './forwards';
import { type OwnerLookup, ownerAfterUserMessage, ownerAtRest, ownerNow } from './owner-at-rest';
import { askHandover, type HandoverAttempt } from './refusals';
import { type ReplyDelivery, replyOnce } from './reply';

export { DEFER_MS } from './owner-at-rest';

/** Who, within a callback, asks for a handover. */
type CallbackHandoverSource = 'rule' | 'downstream' | 'failover';

/** The Idempotency-Key prefix of each source's handover. */
const KEY_PREFIX: Record<CallbackHandoverSource, string> = {
  rule: 'cb:rule',
  downstream: 'cb:ds',
  failover: 'cb:fo',
};

/** The record's reason of a failover (its metadata carries `failures` and `lastStatus`). */
export const FAILOVER_REASON = 'downstream_unavailable';

/** Steps 3-7 for one claimed, parsed callback of a configured Service. */
export class CallbackRun {
  private readonly deliveryId: string;
  private readonly serviceId: string;
  private readonly userId: string | null;
  private handoverId: string | null;
  private readonly forwards: DeliveryForwards;
  /** What the forwards say of the callback; its open offer is set by the owner lookup. */
  private readonly callback: ForwardedCallback;

  constructor(
    private readonly parsed: Parsed,
    private readonly service: ServiceInfo,
    private readonly item: DeliveryItem,
    private readonly previous: DeliveryItem | null,
    private readonly deps: CallbackDeps,
  ) {
    this.deliveryId = item.deliveryId;
    this.serviceId = service.identification;
    this.userId = parsed.userId;
    this.handoverId = item.handoverId;
    const { deliveryId, userId, ctx } = this;
    this.callback = { deliveryId, userId, parsed, ctx };
    this.forwards = new DeliveryForwards({
      deps,
      item,
      callback: this.callback,
      update: (patch) => this.update(patch),
    });
  }

  private get ctx() {
    return { deliveryId: this.deliveryId, serviceId: this.serviceId, userId: this.userId };
  }

  /**
   * The Idempotency-Key of this delivery's handover from one source. A rule and a downstream
   * answer may each ask for a handover in the same delivery (a refused rule handover, then the
   * answer's): their requests differ, so they need keys of their own.
   */
  private idempotencyKey(source: CallbackHandoverSource): string {
    const key = `${KEY_PREFIX[source]}:${this.deliveryId}`;
    // A delivery named by its body's hash can be a new event later (the same body next week):
    // its key also names the reception it belongs to, which retries and redrives keep.
    return this.parsed.bodyId === null ? `${key}@${this.item.receivedAt}` : key;
  }

  async run(): Promise<CallbackOutcome> {
    const { userId } = this;
    if (userId === null) return this.forwardUnrouted();

    // Step 3: the owner, at rest (a message waits while a handover of its user is in flight).
    const owner = await ownerAtRest(this.lookup, userId);
    // A retry of a delivery whose own handover moved the user: the message goes to the owner
    // now, and nothing this delivery asked for is asked again.
    if (owner !== this.serviceId && (await this.earlierHandover(userId)) !== null) {
      this.deps.log.info('resuming a delivery after its handover', { ...this.ctx, owner });
      return this.handOver(owner);
    }
    const heard = this.item.forwardedTo;
    // Heard by another Service, even after this delivery's own handover took the user there and
    // the user came back since (a hand-back, a lease run out): to it again, never to a second one.
    const back = this.handoverId === null || owner === this.serviceId;
    if (heard !== undefined && heard !== owner && back) return this.again(heard);
    if (owner !== this.serviceId) {
      // Parley sends a user's callbacks to the owner: this one was routed here while this Service
      // owned the user, and a change of owner came after (a handover, or a change at Parley). It
      // is the owner's now to hear: never lost, and never the old owner's.
      return this.toOwner(owner, 'owner changed after Parley routed the callback');
    }
    if (this.parsed.type === 'message') {
      const after = await ownerAfterUserMessage(this.lookup, userId);
      if (after !== this.serviceId) return this.toOwner(after, 'the owner changed as it came in');
    }
    // A delivery that already moved the user once (and got them back since) asks for no second
    // handover: its rules and its answer's handover are not acted on again.
    let mayHandOver = this.handoverId === null;

    // Step 4: the receiving Service's rules, on a message's text.
    const text = this.parsed.type === 'message' ? this.parsed.text : null;
    const rule =
      text === null || !mayHandOver ? undefined : matchRule(this.service.rules ?? [], text);
    if (rule) {
      this.deps.log.info('handover rule matched', { ...this.ctx, reason: rule.reason });
      const attempt = await this.handover(userId, {
        newOwner: rule.newOwner,
        metadata: { reason: rule.reason },
        source: 'rule',
        ...offerAsked(rule),
      });
      if (
        attempt.kind === 'refused' &&
        (attempt.reason === 'not_owner' || attempt.reason === 'owner_changed')
      ) {
        // The user is no longer this Service's (the refusal refreshed the cache): the owner hears
        // the message, and this Service does not talk to them.
        const now = await ownerNow(this.lookup, userId, null);
        if (now !== this.serviceId) return this.toOwner(now, 'rule handover refused');
      }
      const target = attempt.kind === 'done' ? await this.movedTo(attempt.result) : null;
      const now = target === null ? this.serviceId : await ownerNow(this.lookup, userId, target);
      if (now !== this.serviceId) return this.handOver(now);
      // Back with this Service (moved on and handed back since): it has not heard the message.
      if (target !== null) mayHandOver = false;
      // A rule naming an unknown service, a refused PUT, or a target that already owns the
      // user: the message still goes to the receiving Service.
    }

    // Step 5: forward to the receiving Service; a desk that is down loses the user (failover).
    const url = this.service.downstreamUrl;
    if (!url) return this.finish('stored');
    const sent = await this.toReceiver(
      userId,
      url,
      mayHandOver && this.forwards.failoverOn(this.service),
    );
    if ('moved' in sent) return sent.moved;
    // An open offer with `deliverDuringOffer: "both"`: the offeree reads along (best effort).
    await sendStandbyCopy(this.deps, this.callback);
    const { answer } = sent;

    // Step 6: the answer, reply first.
    if (answer.reply) await replyOnce(this.deps, this.replyDelivery, userId, answer.reply);
    let target: string | null = null;
    if (answer.handover && !mayHandOver) {
      this.deps.log.warn('downstream handover not asked again: this delivery made one', this.ctx);
    } else if (answer.handover) {
      const attempt = await this.handover(userId, {
        newOwner: answer.handover.newOwner,
        ...(answer.handover.metadata ? { metadata: answer.handover.metadata } : {}),
        source: 'downstream',
        ...offerAsked(answer.handover),
      });
      if (attempt.kind === 'done') target = await this.movedTo(attempt.result);
    }
    const now = target === null ? this.serviceId : await ownerNow(this.lookup, userId, target);
    // Back with this Service already: it heard the message above.
    return now !== this.serviceId ? this.handOver(now) : this.finish('forwarded');
  }

  /** A callback without a user (an unknown kind): forwarded as is; an answer has no one to act on. */
  private async forwardUnrouted(): Promise<CallbackOutcome> {
    const url = this.service.downstreamUrl;
    if (!url) return this.finish('stored');
    const answer = await this.forwards.send(this.service, url, (r) => parseAnswer(url, r));
    if (answer.reply || answer.handover) {
      this.deps.log.warn('downstream answer ignored: the callback names no user', this.ctx);
    }
    return this.finish('forwarded');
  }

  /** What the owner lookups need of this delivery (./owner-at-rest.ts). */
  private get lookup(): OwnerLookup {
    const { deps, serviceId, deliveryId, ctx } = this;
    const onItem: OwnerLookup['onItem'] = (item) => {
      this.callback.offer = openOfferOf(item);
    };
    return { deps, serviceId, deliveryId, receivedAt: this.item.receivedAt, ctx, onItem };
  }

  /** A callback for a Service that does not own the user: the owner hears it. */
  private toOwner(owner: string, why: string): Promise<CallbackOutcome> {
    this.deps.metrics.count('CallbackToOwner');
    this.deps.log.info('callback goes to the owner', { ...this.ctx, owner, why });
    return this.handOver(owner);
  }

  /**
   * The handover an earlier attempt of this delivery made, if any: recorded on the delivery item,
   * or (a crash before that write) found through its idempotency keys. Only on a retry. The
   * downstream's key is looked at first: a delivery asks for that handover only after its rule's
   * handover (if any) left the user with this Service.
   */
  private async earlierHandover(userId: string): Promise<string | null> {
    if (!this.previous) return null;
    if (this.item.handoverId) return this.item.handoverId;
    for (const source of ['downstream', 'failover', 'rule'] as const) {
      const idem = await this.deps.state.getIdempotency(
        this.serviceId,
        this.idempotencyKey(source),
        this.deps.clock.now(),
      );
      if (idem && idem.userId === userId) {
        this.handoverId = idem.handoverId;
        return idem.handoverId;
      }
    }
    return null;
  }

  /** Records the handover on the delivery item; the new owner, unless it is still this Service. */
  private async movedTo(result: HandoverResult): Promise<string | null> {
    const id = result.handover?.handoverId;
    if (id && id !== this.handoverId) {
      this.handoverId = id;
      await this.update({ handoverId: id });
    }
    const target = result.owner.identification;
    return target === this.serviceId ? null : target;
  }

  /** Calls the handover use case; definite refusals are logged and not retried, the rest throws. */
  private async handover(
    userId: string,
    request: Pick<HandoverInput, 'newOwner' | 'metadata' | 'offer'> & {
      source: CallbackHandoverSource;
    },
  ): Promise<HandoverAttempt> {
    const input: HandoverInput = {
      userId,
      ...request,
      requestedBy: this.serviceId,
      // A failover acts with the failing owner's credentials; the record names the system.
      ...(request.source === 'failover' ? { actor: 'system:failover' } : {}),
      idempotencyKey: this.idempotencyKey(request.source),
      // The key names this delivery's handover for as long as the delivery can come back.
      idempotencyTtlSeconds: this.deps.deliveryTtlSeconds ?? DEFAULT_DELIVERY_TTL_SECONDS,
    };
    return askHandover(this.lookup, input);
  }

  /** What sending the reply at most once needs of this delivery. */
  private get replyDelivery(): ReplyDelivery {
    return {
      item: this.item,
      serviceId: this.serviceId,
      ctx: this.ctx,
      setReplyState: (replyState) => this.setReplyState(replyState),
    };
  }

  private async setReplyState(replyState: DeliveryItem['replyState']): Promise<void> {
    await this.update({ replyState });
    this.item.replyState = replyState;
  }

  /** Writes to the delivery item while this attempt still holds its lease; else stops it. */
  private async update(patch: Parameters<StateStore['updateDelivery']>[1]): Promise<void> {
    if (!(await this.deps.state.updateDelivery(this.deliveryId, patch, this.item.leaseUntil))) {
      this.deps.log.warn('delivery lease taken over by another attempt; stopping', this.ctx);
      throw new DeliveryBusyError(this.deliveryId, this.item.leaseUntil);
    }
  }

  /** The triggering message goes to the new owner's downstream (if any); disposition handed_over. */
  private async handOver(target: string): Promise<CallbackOutcome> {
    const next = this.deps.catalog.get(target);
    if (next?.downstreamUrl) {
      // Only the status matters: the new owner talks to the user through the messages route.
      await this.forward(next, next.downstreamUrl, {
        handover: { handoverId: this.handoverId, fromOwner: this.serviceId },
      });
    } else {
      this.deps.log.info('new owner has no downstream; message not forwarded', {
        ...this.ctx,
        newOwner: target,
      });
    }
    return this.finish('handed_over');
  }

  /**
   * An earlier attempt forwarded the message to `heard`, then died before it was done, and the
   * owner changed since: that Service may have the message and may have answered. It gets it
   * again (the same delivery id lets it drop a repeat); no second Service hears it, and no answer
   * is acted on for a user that Service no longer owns.
   */
  private async again(heard: string): Promise<CallbackOutcome> {
    this.deps.log.info('forwarding again to the service an earlier attempt forwarded to', {
      ...this.ctx,
      to: heard,
    });
    const target = this.deps.catalog.get(heard);
    if (target?.downstreamUrl) await this.forward(target, target.downstreamUrl);
    return this.finish(heard === this.serviceId ? 'forwarded' : 'handed_over');
  }

  /** A forward whose answer only needs a 2xx status (the new owner's, a repeat). */
  private forward(
    target: ServiceInfo,
    url: string,
    extra: Record<string, unknown> = {},
  ): Promise<DownstreamResponse> {
    return this.forwards.send(target, url, (r) => r, { extra });
  }

  /**
   * Step 5 (DESIGN.md "Failover"): the forward to the receiving Service and its answer, or the
   * user failed over: at once while its circuit is open (the message not sent), or at the
   * delivery's afterFailures-th failure; a failover asked by an earlier attempt is asked again.
   * The loop guard refusing, the error stands: the queue retries, then the DLQ.
   */
  private async toReceiver(
    userId: string,
    url: string,
    mayFailOver: boolean,
  ): Promise<{ answer: DownstreamAnswer } | { moved: CallbackOutcome }> {
    const { forwards } = this;
    if (mayFailOver && this.item.failover) {
      const moved = await this.failOver(userId, this.item.failover);
      if (moved) return { moved };
    }
    const gate = await forwards.admit(this.service);
    if (mayFailOver && gate?.admission.kind === 'hold') {
      const moved = forwards.tried ? null : await this.failOver(userId, forwards.circuitRequest());
      if (moved) return { moved };
      // The default Service never fails over: its messages are sent whatever its circuit says.
      if (!forwards.disabled) throw new CircuitOpenError(this.serviceId);
    }
    try {
      return {
        answer: await forwards.send(this.service, url, (r) => parseAnswer(url, r), { gate }),
      };
    } catch (err) {
      const request = await forwards.failed(this.service, err, mayFailOver);
      const moved = request ? await this.failOver(userId, request) : null;
      if (moved) return { moved };
      throw err;
    }
  }

  /**
   * Hands the user to the failover target (the loop guard permitting) through the handover use
   * case, as the failing owner with `requestedBy: system:failover`; the new owner then hears the
   * message. Null: the user stays (a refusal of the guard or of the handover).
   */
  private async failOver(
    userId: string,
    request: FailoverRequest,
  ): Promise<CallbackOutcome | null> {
    const to = await this.forwards.target(userId, this.serviceId, request);
    if (to === null) return null;
    const attempt = await this.handover(userId, {
      newOwner: to,
      metadata: { reason: FAILOVER_REASON, ...request },
      source: 'failover',
    });
    if (attempt.kind === 'refused') {
      if (attempt.reason !== 'not_owner' && attempt.reason !== 'owner_changed') return null;
      const now = await ownerNow(this.lookup, userId, null);
      return now !== this.serviceId ? this.toOwner(now, 'failover refused') : null;
    }
    const target = await this.movedTo(attempt.result);
    if (target === null) return null;
    this.deps.metrics.count('FailoverTriggered');
    this.deps.log.warn('failover: the user went to the target', {
      ...this.ctx,
      to: target,
      handoverId: this.handoverId,
      failures: request.failures,
      lastStatus: request.lastStatus,
      circuit: request.circuit ?? 'closed',
    });
    const now = await ownerNow(this.lookup, userId, target);
    // Back with this Service already: it has not heard the message; the error stands.
    return now !== this.serviceId ? this.handOver(now) : null;
  }

  private async finish(disposition: DeliveryDisposition): Promise<CallbackOutcome> {
    const expiresAt = doneExpiry(this.parsed, this.item, this.deps.clock.now());
    await this.update({
      state: 'done',
      disposition,
      ...(this.handoverId ? { handoverId: this.handoverId } : {}),
      ...(expiresAt !== this.item.expiresAt ? { expiresAt } : {}),
    });
    this.deps.metrics.count('CallbackProcessed', 1, { disposition });
    this.deps.log.info('callback processed', {
      ...this.ctx,
      disposition,
      handoverId: this.handoverId,
    });
    return {
      deliveryId: this.deliveryId,
      disposition,
      duplicate: false,
      ...(this.handoverId ? { handoverId: this.handoverId } : {}),
    };
  }
}
