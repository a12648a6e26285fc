// The queue consumer's logic (DESIGN.md "Processor"): one Parley callback, taken from the queue,
// is deduplicated through its delivery item, checked against the user's owner, matched against
// the receiving Service's rules, forwarded (signed) to that Service's downstream, and the
// downstream's answer (a reply, a handover) is carried out at most once.
import { type DownstreamAnswer, downstreamAnswerSchema } from '../schemas/downstream';
import { type ParsedCallback, deliveryIdFor, deliveryTtlSeconds, parseCallback } from './delivery';
import {
  DeliveryDeferredError,
  HandoverInProgressError,
  IdempotencyKeyReusedError,
  NotOwnerError,
  OwnerChangedError,
  ParleyApiError,
  ParleyError,
  parleyErrorCode,
  UnknownServiceError,
  ValidationError,
} from './errors';
import { MAX_MESSAGE_CHARS, isNotOwnerRefusal } from './messages';
import { pendingRemainingMs } from './owner';
import type {
  Clock,
  Downstream,
  DownstreamResponse,
  Log,
  MetricsSink,
  ParleyClients,
  QueuedCallback,
  ServiceCatalog,
  StateStore,
} from './ports';
import type { HandoverInput, HandoverResult } from './handover';
import { matchRule } from './rules';
import { hostOf, signForward } from './signature';
import type { DeliveryDisposition, DeliveryItem, OwnerItem, ServiceInfo } from './types';

export { type ParsedCallback, deliveryIdFor, groupIdFor, parseCallback } from './delivery';
export { matchRule } from './rules';
export { signForward, verifyForwardSignature } from './signature';

// The handover use case's shapes (types only: no runtime dependency on that module).
export type { HandoverInput, HandoverResult, OwnerView } from './handover';

// ---------------------------------------------------------------- errors

export type DownstreamProblem = 'status' | 'timeout' | 'unreachable' | 'bad_body';

/**
 * A downstream answered with a non-2xx status, not in time, not at all, or with a body that is
 * not a valid answer. The queue retries the callback (and parks it in the DLQ after its limit).
 * The message names the host and the status only: never a path, a query or a body.
 */
export class DownstreamError extends Error {
  constructor(
    readonly host: string,
    readonly status: number | null,
    readonly problem: DownstreamProblem,
  ) {
    super(
      problem === 'status'
        ? `Downstream ${host} answered HTTP ${status}.`
        : problem === 'timeout'
          ? `Downstream ${host} did not answer in time.`
          : problem === 'unreachable'
            ? `Downstream ${host} could not be reached.`
            : `Downstream ${host} answered HTTP ${status} with a body that is not a valid answer.`,
    );
    this.name = 'DownstreamError';
  }
}

/** Another attempt holds this delivery's lease: retry later (the queue does). */
export class DeliveryBusyError extends Error {
  constructor(
    readonly deliveryId: string,
    /** Epoch ms when the lease ends. */
    readonly leaseUntil: number,
  ) {
    super(`Delivery ${deliveryId} is being processed by another attempt.`);
    this.name = 'DeliveryBusyError';
  }
}

// ---------------------------------------------------------------- dependencies and outcome

export interface CallbackDeps {
  state: StateStore;
  catalog: ServiceCatalog;
  parley: ParleyClients;
  downstream: Downstream;
  clock: Clock;
  log: Log;
  metrics: MetricsSink;
  /** A Service's downstream signing secret, if it has one. */
  signingSecret: (serviceId: string) => Promise<string | undefined>;
  handover: (input: HandoverInput) => Promise<HandoverResult>;
  refreshOwner: (userId: string, asService: string) => Promise<OwnerItem>;
  /** Finishes a user's stale pending handover (recoverPending). */
  recoverPending: (userId: string) => Promise<'none' | 'busy' | 'recovered'>;
  /** A pending marker older than this is recovered (the handover's staleAfter). */
  staleAfterMs: number;
  downstreamTimeoutMs: number;
  /** How long an attempt owns a delivery. @default 60000 (below the queue's 90 s visibility) */
  leaseMs?: number;
  /** @default 2592000 (30 days) */
  deliveryTtlSeconds?: number;
}

export interface CallbackOutcome {
  deliveryId: string;
  disposition: DeliveryDisposition;
  duplicate: boolean;
  handoverId?: string;
}

const DEFAULT_LEASE_MS = 60_000;
/** How long a message waits for a handover in flight before it looks again. */
export const DEFER_MS = 1_000;
/** Reads of the owner item before a callback gives up looking for one at rest (then it waits). */
const OWNER_READS = 3;
const DEFAULT_DELIVERY_TTL_SECONDS = 30 * 24 * 3600;

type Parsed = Extract<ParsedCallback, { ok: true }>;

/** A Downstream's timeout: an abort, or an error saying `timedOut` (the fetch adapter's). */
const isTimeout = (err: unknown): boolean =>
  err instanceof Error &&
  (err.name === 'TimeoutError' ||
    err.name === 'AbortError' ||
    (err as { timedOut?: unknown }).timedOut === true);

// ---------------------------------------------------------------- the use case

/**
 * processCallback
 * Input: one queued callback (receiving Service, raw body).
 * Output: the delivery id, its disposition, whether it was a duplicate, the handover it caused.
 * Steps: parse (garbage -> `quarantined`, never thrown); take the delivery item (done -> duplicate,
 * nothing repeated; live lease -> DeliveryBusyError; else claim, keeping a previous attempt's
 * replyState and handoverId); the owner at rest (a handover in flight: DeliveryDeferredError, the
 * message waits; its target hears it); not the owner -> the owner hears it (`handed_over`: Parley
 * routed it here while this Service owned the user, and the owner changed since; a retry whose own
 * handover moved the user likewise); the Service's rules on a message's text (match ->
 * handover, then the message goes to the new owner); else the signed forward (no downstream ->
 * `stored`); the answer's reply (at most once) and handover (then the message goes to the new
 * owner); mark done. One delivery asks for at most one handover that moves the user, ever.
 * Throws DeliveryDeferredError, DownstreamError, DeliveryBusyError, HandoverInProgressError,
 * unknown Parley outcomes and store failures: the queue retries, and the retry resumes from the
 * delivery item.
 */
export async function processCallback(
  message: QueuedCallback,
  deps: CallbackDeps,
): Promise<CallbackOutcome> {
  const { serviceId } = message;
  const parsed = parseCallback(message.body);
  const deliveryId = deliveryIdFor(serviceId, message.body, parsed);
  const ctx = { deliveryId, serviceId };
  if (message.deliveryId && message.deliveryId !== deliveryId) {
    deps.log.warn('queued delivery id differs from the computed one', {
      ...ctx,
      queuedDeliveryId: message.deliveryId,
    });
  }

  const now = deps.clock.now();
  const item: DeliveryItem = {
    deliveryId,
    serviceId,
    userId: parsed.ok ? parsed.userId : null,
    type: parsed.ok ? parsed.type : 'unparsable',
    receivedAt: message.receivedAt,
    state: 'in_progress',
    disposition: null,
    replyState: 'none',
    handoverId: null,
    leaseUntil: now + (deps.leaseMs ?? DEFAULT_LEASE_MS),
    // Kept as long as the delivery can come back (a DLQ redrive) while it is in progress; a done
    // delivery without a body id is shortened to the window of Parley's own retries (finish).
    expiresAt: Math.floor(now / 1000) + (deps.deliveryTtlSeconds ?? DEFAULT_DELIVERY_TTL_SECONDS),
  };

  const taken = await takeDelivery(item, now, deps);
  if (taken.kind !== 'claimed') {
    if (taken.kind === 'duplicate' || !parsed.ok) {
      // A garbage body held by another attempt is being quarantined there: nothing to retry.
      deps.metrics.count('DuplicateDelivery');
      deps.log.info('duplicate delivery skipped', {
        ...ctx,
        disposition: taken.existing.disposition,
      });
      return {
        deliveryId,
        disposition: taken.existing.disposition ?? 'quarantined',
        duplicate: true,
        ...(taken.existing.handoverId ? { handoverId: taken.existing.handoverId } : {}),
      };
    }
    deps.log.info('delivery busy: another attempt holds the lease', ctx);
    throw new DeliveryBusyError(deliveryId, taken.existing.leaseUntil);
  }

  const service = deps.catalog.get(serviceId);
  if (!parsed.ok || !service) {
    const reason = parsed.ok ? 'unknown_service' : parsed.reason;
    if (
      !(await deps.state.updateDelivery(
        deliveryId,
        { state: 'done', disposition: 'quarantined', expiresAt: doneExpiry(parsed, item, now) },
        item.leaseUntil,
      ))
    ) {
      throw new DeliveryBusyError(deliveryId, item.leaseUntil);
    }
    deps.metrics.count('CallbackQuarantined');
    deps.metrics.count('CallbackProcessed', 1, { disposition: 'quarantined' });
    deps.log.warn('callback quarantined', { ...ctx, reason, bodyLength: message.body.length });
    return { deliveryId, disposition: 'quarantined', duplicate: false };
  }

  try {
    return await new CallbackRun(parsed, service, item, taken.previous, deps).run();
  } catch (err) {
    // This attempt is over: let the queue's next delivery claim it at once instead of waiting out
    // the lease. What the attempt did (replyState, handoverId) stays on the item. Fenced: a lease
    // another attempt has claimed since is not ours to release.
    await deps.state.updateDelivery(deliveryId, { leaseUntil: 0 }, item.leaseUntil).catch(() => {
      deps.log.warn('could not release the delivery lease', ctx);
    });
    throw err;
  }
}

/** When a done delivery stops counting as a duplicate (deliveryTtlSeconds: by body id or not). */
const doneExpiry = (parsed: ParsedCallback, item: DeliveryItem, nowMs: number): number =>
  Math.min(item.expiresAt, Math.floor(nowMs / 1000) + deliveryTtlSeconds(parsed));

type Taken =
  | { kind: 'claimed'; previous: DeliveryItem | null }
  | { kind: 'duplicate'; existing: DeliveryItem }
  | { kind: 'busy'; existing: DeliveryItem };

/** Step 2: the delivery item. `item` is updated in place with what a previous attempt left. */
async function takeDelivery(item: DeliveryItem, now: number, deps: CallbackDeps): Promise<Taken> {
  const previous = await deps.state.getDelivery(item.deliveryId, now);
  if (previous?.state === 'done') return { kind: 'duplicate', existing: previous };
  if (previous && previous.leaseUntil >= now) return { kind: 'busy', existing: previous };
  if (previous) {
    // A retry: whatever the earlier attempt did to the user stays done exactly once.
    item.replyState = previous.replyState;
    item.handoverId = previous.handoverId;
    item.receivedAt = previous.receivedAt;
  }
  const claim = await deps.state.claimDelivery(item, now, previous);
  if (!claim.claimed) {
    return claim.existing.state === 'done'
      ? { kind: 'duplicate', existing: claim.existing }
      : { kind: 'busy', existing: claim.existing };
  }
  return { kind: 'claimed', previous };
}

/** Who, within a callback, asks for a handover. */
type CallbackHandoverSource = 'rule' | 'downstream';

type HandoverAttempt =
  | { kind: 'done'; result: HandoverResult }
  | { kind: 'refused'; reason: 'not_owner' | 'owner_changed' | 'invalid' | 'parley_rejected' };

/** Steps 3-7 for one claimed, parsed callback of a configured Service. */
class CallbackRun {
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
    if (owner !== this.serviceId) {
      // A retry of a delivery whose own handover moved the user: the message goes to the owner
      // now, and nothing this delivery asked for is asked again.
      if ((await this.earlierHandover(userId)) !== null) {
        this.deps.log.info('resuming a delivery after its handover', { ...this.ctx, owner });
        return this.handOver(owner);
      }
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
    if (answer.reply) await this.reply(userId, answer.reply);
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
      if (pending.draft.toOwner === this.serviceId) return this.serviceId;
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

  /** The reply of a downstream, sent at most once as the receiving Service. */
  private async reply(userId: string, reply: string): Promise<void> {
    if (this.item.replyState !== 'none') {
      this.deps.log.info('reply not sent again', { ...this.ctx, replyState: this.item.replyState });
      return;
    }
    const text = reply.trim();
    const length = [...text].length;
    if (length === 0) return;
    if (length > MAX_MESSAGE_CHARS) {
      await this.setReplyState('failed');
      this.deps.log.warn('reply not sent: too long', { ...this.ctx, length });
      return;
    }
    if (this.deps.clock.now() > this.item.leaseUntil) {
      // Another attempt may own the delivery by now; it decides about the reply.
      throw new DeliveryBusyError(this.deliveryId, this.item.leaseUntil);
    }
    await this.setReplyState('sending');
    try {
      await this.deps.parley(this.serviceId).sendMessage(userId, text);
    } catch (err) {
      if (err instanceof ParleyError && err.outcome === 'rejected') {
        await this.setReplyState('failed');
        this.deps.log.warn('reply refused by Parley', { ...this.ctx, ...refusalDetails(err) });
        if (isNotOwnerRefusal(err)) await this.refreshQuietly(userId);
      } else {
        // It may have reached the user: stays `sending`, never sent again.
        this.deps.log.warn('reply outcome unknown; it will not be sent again', {
          ...this.ctx,
          error: err instanceof Error ? err.name : typeof err,
        });
      }
      return;
    }
    await this.setReplyState('sent');
    this.deps.metrics.count('CallbackReplySent');
    this.deps.log.info('reply sent', { ...this.ctx, length });
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

  /** The owner cache was wrong about this Service: fix it for the next callback, best effort. */
  private async refreshQuietly(userId: string): Promise<void> {
    try {
      await this.deps.refreshOwner(userId, this.serviceId);
    } catch (err) {
      this.deps.log.warn('owner refresh after a refused reply failed', {
        ...this.ctx,
        error: err instanceof Error ? err.name : typeof err,
      });
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

  /** Posts the signed forward; a non-2xx, a timeout or a failure throws DownstreamError. */
  private async forward(
    target: ServiceInfo,
    url: string,
    extra: Record<string, unknown> = {},
  ): Promise<DownstreamResponse> {
    const body = JSON.stringify({
      deliveryId: this.deliveryId,
      serviceId: target.identification,
      userId: this.userId,
      type: this.parsed.type,
      text: this.parsed.text,
      ...extra,
      callback: this.parsed.value,
    });
    const timestamp = Math.floor(this.deps.clock.now() / 1000);
    const headers: Record<string, string> = {
      'Content-Type': 'application/json',
      'X-Handover-Timestamp': String(timestamp),
      'X-Handover-Delivery': this.deliveryId,
    };
    const secret = await this.deps.signingSecret(target.identification);
    if (secret) headers['X-Handover-Signature'] = signForward(secret, timestamp, body);

    const host = hostOf(url);
    const started = this.deps.clock.now();
    let response: DownstreamResponse;
    try {
      response = await this.deps.downstream.post(url, body, headers, this.deps.downstreamTimeoutMs);
    } catch (err) {
      const problem = isTimeout(err) ? 'timeout' : 'unreachable';
      this.deps.metrics.count('DownstreamFailed', 1, { problem });
      this.deps.log.warn('downstream failed', {
        ...this.ctx,
        host,
        problem,
        to: target.identification,
      });
      throw new DownstreamError(host, null, problem);
    }
    this.deps.metrics.milliseconds('DownstreamLatency', this.deps.clock.now() - started);
    if (response.status < 200 || response.status > 299) {
      this.deps.metrics.count('DownstreamFailed', 1, { problem: 'status' });
      this.deps.log.warn('downstream failed', {
        ...this.ctx,
        host,
        status: response.status,
        to: target.identification,
      });
      throw new DownstreamError(host, response.status, 'status');
    }
    this.deps.log.info('forwarded', {
      ...this.ctx,
      host,
      status: response.status,
      to: target.identification,
      signed: secret !== undefined && secret !== '',
    });
    return response;
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

/** A 2xx answer: empty, or a JSON object of the answer's shape; anything else is a DownstreamError. */
function parseAnswer(url: string, response: DownstreamResponse): DownstreamAnswer {
  if (response.body.trim() === '') return {};
  const bad = () => new DownstreamError(hostOf(url), response.status, 'bad_body');
  let json: unknown;
  try {
    json = JSON.parse(response.body);
  } catch {
    throw bad();
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw bad();
  const answer = downstreamAnswerSchema.safeParse(json);
  if (!answer.success) throw bad();
  return answer.data;
}

/**
 * What a log line says about a refusal: for Parley's answer its HTTP status and its own code
 * (`parleyCode`, e.g. `user_not_owned`), else our error code (e.g. `not_owner`).
 */
function refusalDetails(err: unknown): Record<string, string | number | null> {
  if (err instanceof ParleyApiError) return { status: err.status, parleyCode: err.parleyCode };
  // A rejected call that got no answer (never sent): `network_error`, not a code of Parley's.
  if (err instanceof ParleyError) return { error: parleyErrorCode(err) };
  const code = (err as { code?: unknown } | null)?.code;
  return { code: typeof code === 'string' ? code : null };
}

/** Which definite refusals of the handover use case are final for a callback (null: retry). */
function refusalOf(err: unknown): Extract<HandoverAttempt, { kind: 'refused' }>['reason'] | null {
  if (err instanceof HandoverInProgressError) return null;
  if (err instanceof NotOwnerError || isNotOwnerRefusal(err)) return 'not_owner';
  if (err instanceof OwnerChangedError) return 'owner_changed';
  if (
    err instanceof ValidationError ||
    err instanceof UnknownServiceError ||
    err instanceof IdempotencyKeyReusedError
  ) {
    return 'invalid';
  }
  if (err instanceof ParleyError && err.outcome === 'rejected') return 'parley_rejected';
  return null;
}
