// Steps 3-7 of a claimed, parsed callback of a configured Service (DESIGN.md "Processor"): the
// owner at rest, the Service's rules, the signed forward, the answer's reply and handover, and the
// message sent on to whoever owns the user afterwards. This module decides where the message goes;
// the delivery item's writes, the handovers and the receiver's forward have modules of their own.
import { offerAsked } from '../offers/create';
import { openOfferOf, sendStandbyCopy } from '../offers/standby';
import type { DownstreamResponse } from '../ports';
import { matchRule } from '../rules';
import type { DeliveryItem, ServiceInfo } from '../types';
import { ClaimedDelivery } from './claimed-delivery';
import { DeliveryHandovers } from './delivery-handovers';
import type { CallbackDeps, CallbackOutcome, Parsed } from './deps';
import { type ForwardedCallback, parseAnswer } from './forward';
import { DeliveryForwards } from './forwards';
import { type OwnerLookup, ownerAfterUserMessage, ownerAtRest, ownerNow } from './owner-at-rest';
import { type ReceiverRun, toReceiver } from './receiver-forward';
import { replyOnce } from './reply';

/** Steps 3-7 for one claimed, parsed callback of a configured Service. */
export class CallbackRun {
  private readonly serviceId: string;
  private readonly userId: string | null;
  /** The claimed item: its lease-fenced writes, the handover it caused, its end. */
  private readonly delivery: ClaimedDelivery;
  private readonly handovers: DeliveryHandovers;
  private readonly forwards: DeliveryForwards;
  /** What the forwards say of the callback; its open offer is set by the owner lookup. */
  private readonly callback: ForwardedCallback;

  constructor(
    private readonly parsed: Parsed,
    private readonly service: ServiceInfo,
    item: DeliveryItem,
    previous: DeliveryItem | null,
    private readonly deps: CallbackDeps,
  ) {
    const serviceId = service.identification;
    this.serviceId = serviceId;
    this.userId = parsed.userId;
    const delivery = new ClaimedDelivery(deps, parsed, item, serviceId);
    this.delivery = delivery;
    this.callback = { deliveryId: item.deliveryId, userId: parsed.userId, parsed, ctx: this.ctx };
    this.forwards = new DeliveryForwards({
      deps,
      item,
      callback: this.callback,
      update: (patch) => delivery.update(patch),
    });
    this.handovers = new DeliveryHandovers({
      deps,
      serviceId,
      parsed,
      delivery,
      previous,
      lookup: () => this.lookup,
    });
  }

  private get ctx() {
    return this.delivery.ctx;
  }

  async run(): Promise<CallbackOutcome> {
    const { userId, delivery, handovers } = this;
    if (userId === null) return this.forwardUnrouted();

    // Step 3: the owner, at rest (a message waits while a handover of its user is in flight).
    const owner = await ownerAtRest(this.lookup, userId);
    // A retry of a delivery whose own handover moved the user: the message goes to the owner
    // now, and nothing this delivery asked for is asked again.
    if (owner !== this.serviceId && (await handovers.earlier(userId)) !== null) {
      this.deps.log.info('resuming a delivery after its handover', { ...this.ctx, owner });
      return this.handOver(owner);
    }
    const heard = delivery.item.forwardedTo;
    // Heard by another Service, even after this delivery's own handover took the user there and
    // the user came back since (a hand-back, a lease run out): to it again, never to a second one.
    const back = delivery.handoverId === null || owner === this.serviceId;
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
    let mayHandOver = delivery.handoverId === null;

    // Step 4: the receiving Service's rules, on a message's text.
    const text = this.parsed.type === 'message' ? this.parsed.text : null;
    const rule =
      text === null || !mayHandOver ? undefined : matchRule(this.service.rules ?? [], text);
    if (rule) {
      this.deps.log.info('handover rule matched', { ...this.ctx, reason: rule.reason });
      const attempt = await handovers.ask(userId, {
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
      const target = attempt.kind === 'done' ? await handovers.movedTo(attempt.result) : null;
      const now = target === null ? this.serviceId : await ownerNow(this.lookup, userId, target);
      if (now !== this.serviceId) return this.handOver(now);
      // Back with this Service (moved on and handed back since): it has not heard the message.
      if (target !== null) mayHandOver = false;
      // A rule naming an unknown service, a refused PUT, or a target that already owns the
      // user: the message still goes to the receiving Service.
    }

    // Step 5: forward to the receiving Service; a desk that is down loses the user (failover).
    const url = this.service.downstreamUrl;
    if (!url) return delivery.finish('stored');
    const sent = await toReceiver(
      this.receiverRun,
      userId,
      url,
      mayHandOver && this.forwards.failoverOn(this.service),
    );
    if ('moved' in sent) {
      const { to, refused } = sent.moved;
      return refused ? this.toOwner(to, 'failover refused') : this.handOver(to);
    }
    // An open offer with `deliverDuringOffer: "both"`: the offeree reads along (best effort).
    await sendStandbyCopy(this.deps, this.callback);
    const { answer } = sent;

    // Step 6: the answer, reply first.
    if (answer.reply) await replyOnce(this.deps, delivery.reply, userId, answer.reply);
    let target: string | null = null;
    if (answer.handover && !mayHandOver) {
      this.deps.log.warn('downstream handover not asked again: this delivery made one', this.ctx);
    } else if (answer.handover) {
      const attempt = await handovers.ask(userId, {
        newOwner: answer.handover.newOwner,
        ...(answer.handover.metadata ? { metadata: answer.handover.metadata } : {}),
        source: 'downstream',
        ...offerAsked(answer.handover),
      });
      if (attempt.kind === 'done') target = await handovers.movedTo(attempt.result);
    }
    const now = target === null ? this.serviceId : await ownerNow(this.lookup, userId, target);
    // Back with this Service already: it heard the message above.
    return now !== this.serviceId ? this.handOver(now) : delivery.finish('forwarded');
  }

  /** A callback without a user (an unknown kind): forwarded as is; an answer has no one to act on. */
  private async forwardUnrouted(): Promise<CallbackOutcome> {
    const url = this.service.downstreamUrl;
    if (!url) return this.delivery.finish('stored');
    const answer = await this.forwards.send(this.service, url, (r) => parseAnswer(url, r));
    if (answer.reply || answer.handover) {
      this.deps.log.warn('downstream answer ignored: the callback names no user', this.ctx);
    }
    return this.delivery.finish('forwarded');
  }

  /** What the owner lookups need of this delivery (./owner-at-rest.ts). */
  private get lookup(): OwnerLookup {
    const { deps, serviceId, ctx } = this;
    const { deliveryId, receivedAt } = this.delivery.item;
    const onItem: OwnerLookup['onItem'] = (item) => {
      this.callback.offer = openOfferOf(item);
    };
    return { deps, serviceId, deliveryId, receivedAt, ctx, onItem };
  }

  /** What the receiver's forward needs of this run (./receiver-forward.ts). */
  private get receiverRun(): ReceiverRun {
    const { deps, service, delivery, forwards, handovers } = this;
    return { deps, service, delivery, forwards, handovers, lookup: () => this.lookup };
  }

  /** A callback for a Service that does not own the user: the owner hears it. */
  private toOwner(owner: string, why: string): Promise<CallbackOutcome> {
    this.deps.metrics.count('CallbackToOwner');
    this.deps.log.info('callback goes to the owner', { ...this.ctx, owner, why });
    return this.handOver(owner);
  }

  /** The triggering message goes to the new owner's downstream (if any); disposition handed_over. */
  private async handOver(target: string): Promise<CallbackOutcome> {
    const next = this.deps.catalog.get(target);
    if (next?.downstreamUrl) {
      // Only the status matters: the new owner talks to the user through the messages route.
      await this.forward(next, next.downstreamUrl, {
        handover: { handoverId: this.delivery.handoverId, fromOwner: this.serviceId },
      });
    } else {
      this.deps.log.info('new owner has no downstream; message not forwarded', {
        ...this.ctx,
        newOwner: target,
      });
    }
    return this.delivery.finish('handed_over');
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
    return this.delivery.finish(heard === this.serviceId ? 'forwarded' : 'handed_over');
  }

  /** A forward whose answer only needs a 2xx status (the new owner's, a repeat). */
  private forward(
    target: ServiceInfo,
    url: string,
    extra: Record<string, unknown> = {},
  ): Promise<DownstreamResponse> {
    return this.forwards.send(target, url, (r) => r, { extra });
  }
}
