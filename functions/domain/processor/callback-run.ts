// Steps 3-7 of a claimed, parsed callback of a configured Service (DESIGN.md "Processor"): the
// owner at rest, the Service's rules, the signed forward, the answer's reply and handover, and the
// message sent on to whoever owns the user afterwards.
import { DeliveryBusyError, DeliveryDeferredError, HandoverInProgressError } from '../errors';
import type { HandoverInput, HandoverResult } from '../handover/deps';
import { pendingRemainingMs } from '../handover/pending';
import type { DownstreamResponse, StateStore } from '../ports';
import { matchRule } from '../rules';
import type { DeliveryDisposition, DeliveryItem, ServiceInfo } from '../types';
import {
  type CallbackDeps,
  type CallbackOutcome,
  DEFAULT_DELIVERY_TTL_SECONDS,
  doneExpiry,
  type Parsed,
} from './deps';
import { forwardSigned, parseAnswer } from './forward';
import { type HandoverAttempt, refusalDetails, refusalOf } from './refusals';
import { type ReplyDelivery, replyOnce } from './reply';

/** How long a message waits for a handover in flight before it looks again. */
export const DEFER_MS = 1_000;
/** Reads of the owner item before a callback gives up looking for one at rest (then it waits). */
const OWNER_READS = 3;

/** Who, within a callback, asks for a handover. */
type CallbackHandoverSource = 'rule' | 'downstream';

/** Steps 3-7 for one claimed, parsed callback of a configured Service. */
export class CallbackRun {
  private readonly deliveryId: string;
  private readonly serviceId: string;
  private readonly userId: string | null;
  private handoverId: string | null;

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
    const key = `cb:${source === 'rule' ? 'rule' : 'ds'}:${this.deliveryId}`;
    // A delivery named by its body's hash can be a new event later (the same body next week):
    // its key also names the reception it belongs to, which retries and redrives keep.
    return this.parsed.bodyId === null ? `${key}@${this.item.receivedAt}` : key;
  }

  async run(): Promise<CallbackOutcome> {
    const { userId } = this;
    if (userId === null) return this.forwardUnrouted();

    // Step 3: the owner, at rest (a message waits while a handover of its user is in flight).
    const owner = await this.ownerAtRest(userId);
    // A retry of a delivery whose own handover moved the user: the message goes to the owner
    // now, and nothing this delivery asked for is asked again.
    if (owner !== this.serviceId && (await this.earlierHandover(userId)) !== null) {
      this.deps.log.info('resuming a delivery after its handover', { ...this.ctx, owner });
      return this.handOver(owner);
    }
    const heard = this.item.forwardedTo;
    if (heard !== undefined && this.handoverId === null && heard !== owner)
      return this.again(heard);
    if (owner !== this.serviceId) {
      // Parley sends a user's callbacks to the owner: this one was routed here while this Service
      // owned the user, and a change of owner came after (a handover, or a change at Parley). It
      // is the owner's now to hear: never lost, and never the old owner's.
      return this.toOwner(owner, 'owner changed after Parley routed the callback');
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
      });
      if (
        attempt.kind === 'refused' &&
        (attempt.reason === 'not_owner' || attempt.reason === 'owner_changed')
      ) {
        // The user is no longer this Service's (the refusal refreshed the cache): the owner hears
        // the message, and this Service does not talk to them.
        const now = await this.ownerNow(userId, null);
        if (now !== this.serviceId) return this.toOwner(now, 'rule handover refused');
      }
      const target = attempt.kind === 'done' ? await this.movedTo(attempt.result) : null;
      const now = target === null ? this.serviceId : await this.ownerNow(userId, target);
      if (now !== this.serviceId) return this.handOver(now);
      // Back with this Service (moved on and handed back since): it has not heard the message.
      if (target !== null) mayHandOver = false;
      // A rule naming an unknown service, a refused PUT, or a target that already owns the
      // user: the message still goes to the receiving Service.
    }

    // Step 5: forward to the receiving Service.
    const url = this.service.downstreamUrl;
    if (!url) return this.finish('stored');
    const answer = parseAnswer(url, await this.forward(this.service, url));

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
      });
      if (attempt.kind === 'done') target = await this.movedTo(attempt.result);
    }
    const now = target === null ? this.serviceId : await this.ownerNow(userId, target);
    // Back with this Service already: it heard the message above.
    return now !== this.serviceId ? this.handOver(now) : this.finish('forwarded');
  }

  /** A callback without a user (an unknown kind): forwarded as is; an answer has no one to act on. */
  private async forwardUnrouted(): Promise<CallbackOutcome> {
    const url = this.service.downstreamUrl;
    if (!url) return this.finish('stored');
    const answer = parseAnswer(url, await this.forward(this.service, url));
    if (answer.reply || answer.handover) {
      this.deps.log.warn('downstream answer ignored: the callback names no user', this.ctx);
    }
    return this.finish('forwarded');
  }

  /**
   * The user's owner with no handover in flight. Parley sends a user's callbacks to the owner, so
   * a cache naming another owner may be stale (a change made at Parley outside this service): ask
   * Parley before holding the real owner back. A pending handover's target hears its callbacks
   * (Parley routed them there: the PUT has applied); any other callback waits for the handover
   * to settle (DeliveryDeferredError: the queue brings it back shortly), and a stale marker is
   * recovered first.
   */
  private async ownerAtRest(userId: string): Promise<string> {
    let item = await this.deps.state.getOwner(userId);
    for (let read = 0; read < OWNER_READS; read++) {
      if (!item || (!item.pending && item.owner !== this.serviceId)) {
        item = await this.deps.refreshOwner(userId, this.serviceId);
      }
      const { pending } = item;
      if (!pending) return item.owner;
      // Routed to the handover's target after its marker: Parley had applied the PUT already.
      const routedToTarget =
        pending.draft.toOwner === this.serviceId &&
        Date.parse(this.item.receivedAt) > Date.parse(pending.markedAt);
      if (routedToTarget) return this.serviceId;
      const remainingMs = pendingRemainingMs(item, this.deps.clock.now(), this.deps.staleAfterMs);
      if (remainingMs > 0) throw this.deferred(pending.draft.handoverId, remainingMs);
      if ((await this.deps.recoverPending(userId)) === 'busy') {
        throw this.deferred(pending.draft.handoverId, DEFER_MS);
      }
      item = await this.deps.state.getOwner(userId);
    }
    throw this.deferred(item?.pending?.draft.handoverId ?? null, DEFER_MS);
  }

  private deferred(handoverId: string | null, remainingMs: number): DeliveryDeferredError {
    // The queue side counts CallbackDeferred, with the delay it chose.
    this.deps.log.info('callback waits for a handover in flight', { ...this.ctx, handoverId });
    return new DeliveryDeferredError(this.deliveryId, Math.min(DEFER_MS, remainingMs));
  }

  /**
   * The owner after a handover this delivery asked for (or after its refusal), from the cache
   * alone: the handover just wrote it. An Idempotency-Key replay answers the owner the earlier
   * handover made, and the user may have moved on since: the cache names the owner now. While
   * another handover is in flight the message waits for it.
   */
  private async ownerNow(userId: string, target: string | null): Promise<string> {
    const item = await this.deps.state.getOwner(userId);
    if (item?.pending) return this.ownerAtRest(userId);
    const owner = item?.owner ?? target ?? this.serviceId;
    if (target !== null && owner !== target) {
      this.deps.log.info("the user moved on after this delivery's handover", {
        ...this.ctx,
        handoverOwner: target,
        owner,
      });
    }
    return owner;
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
    for (const source of ['downstream', 'rule'] as const) {
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
    request: Pick<HandoverInput, 'newOwner' | 'metadata'> & { source: CallbackHandoverSource },
  ): Promise<HandoverAttempt> {
    const input: HandoverInput = {
      userId,
      ...request,
      requestedBy: this.serviceId,
      idempotencyKey: this.idempotencyKey(request.source),
      // The key names this delivery's handover for as long as the delivery can come back.
      idempotencyTtlSeconds: this.deps.deliveryTtlSeconds ?? DEFAULT_DELIVERY_TTL_SECONDS,
    };
    try {
      const result = await this.deps.handover(input);
      this.deps.log.info('handover requested by callback', {
        ...this.ctx,
        source: request.source,
        changed: result.changed,
        handoverId: result.handover?.handoverId,
        owner: result.owner.identification,
      });
      return { kind: 'done', result };
    } catch (err) {
      // Another handover of the user is in flight: wait for it as at the owner check, a second
      // or so, not a whole visibility timeout (the user's later callbacks wait behind this one).
      if (err instanceof HandoverInProgressError) {
        throw this.deferred(null, err.retryAfterSeconds * 1000);
      }
      const reason = refusalOf(err);
      if (reason === null) throw err;
      this.deps.metrics.count('CallbackHandoverRefused', 1, { reason });
      this.deps.log.warn('handover requested by callback was refused', {
        ...this.ctx,
        source: request.source,
        reason,
        ...refusalDetails(err),
      });
      return { kind: 'refused', reason };
    }
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

  /**
   * Posts the signed forward (forwardSigned); its failures throw DownstreamError. The first
   * forward of a delivery names its Service on the delivery item before it leaves (again()).
   */
  private async forward(
    target: ServiceInfo,
    url: string,
    extra: Record<string, unknown> = {},
  ): Promise<DownstreamResponse> {
    if (this.item.forwardedTo === undefined) {
      await this.update({ forwardedTo: target.identification });
      this.item.forwardedTo = target.identification;
    }
    const { deliveryId, userId, parsed, ctx } = this;
    return forwardSigned(this.deps, { deliveryId, userId, parsed, ctx }, target, url, extra);
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
