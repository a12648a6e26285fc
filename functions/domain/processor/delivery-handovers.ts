// The handovers one delivery asks for (its rule's, its downstream answer's, a failover): the
// Idempotency-Key of each, the handover an earlier attempt made, and what a handover left.
import type { HandoverInput, HandoverResult } from '../handover/deps';
import type { DeliveryItem } from '../types';
import type { ClaimedDelivery } from './claimed-delivery';
import { type CallbackDeps, DEFAULT_DELIVERY_TTL_SECONDS, type Parsed } from './deps';
import type { OwnerLookup } from './owner-at-rest';
import { askHandover, type HandoverAttempt } from './refusals';

/** Who, within a callback, asks for a handover. */
type CallbackHandoverSource = 'rule' | 'downstream' | 'failover';

/** The Idempotency-Key prefix of each source's handover. */
const KEY_PREFIX: Record<CallbackHandoverSource, string> = {
  rule: 'cb:rule',
  downstream: 'cb:ds',
  failover: 'cb:fo',
};

/** A handover a callback asks for: the use case's request, and which step asks. */
export type CallbackHandoverRequest = Pick<HandoverInput, 'newOwner' | 'metadata' | 'offer'> & {
  source: CallbackHandoverSource;
};

/** What the handovers need of their delivery. */
export interface HandoversHost {
  deps: CallbackDeps;
  /** The receiving Service, whose credentials make the handover. */
  serviceId: string;
  parsed: Parsed;
  delivery: ClaimedDelivery;
  /** The item as an earlier attempt left it; null on the first attempt. */
  previous: DeliveryItem | null;
  /** The delivery's owner lookups: a handover in flight defers the callback through them. */
  lookup(): OwnerLookup;
}

export class DeliveryHandovers {
  constructor(private readonly host: HandoversHost) {}

  /**
   * The Idempotency-Key of this delivery's handover from one source. A rule and a downstream
   * answer may each ask for a handover in the same delivery (a refused rule handover, then the
   * answer's): their requests differ, so they need keys of their own.
   */
  private key(source: CallbackHandoverSource): string {
    const { item } = this.host.delivery;
    const key = `${KEY_PREFIX[source]}:${item.deliveryId}`;
    // A delivery named by its body's hash can be a new event later (the same body next week):
    // its key also names the reception it belongs to, which retries and redrives keep.
    return this.host.parsed.bodyId === null ? `${key}@${item.receivedAt}` : key;
  }

  /**
   * The handover an earlier attempt of this delivery made, if any: recorded on the delivery item,
   * or (a crash before that write) found through its idempotency keys. Only on a retry. The
   * downstream's key is looked at first: a delivery asks for that handover only after its rule's
   * handover (if any) left the user with this Service.
   */
  async earlier(userId: string): Promise<string | null> {
    const { deps, serviceId, delivery, previous } = this.host;
    if (!previous) return null;
    if (delivery.item.handoverId) return delivery.item.handoverId;
    for (const source of ['downstream', 'failover', 'rule'] as const) {
      const idem = await deps.state.getIdempotency(serviceId, this.key(source), deps.clock.now());
      if (idem && idem.userId === userId) {
        delivery.handoverId = idem.handoverId;
        return idem.handoverId;
      }
    }
    return null;
  }

  /** Calls the handover use case; definite refusals are logged and not retried, the rest throws. */
  async ask(userId: string, request: CallbackHandoverRequest): Promise<HandoverAttempt> {
    const { deps, serviceId } = this.host;
    const input: HandoverInput = {
      userId,
      ...request,
      requestedBy: serviceId,
      // A failover acts with the failing owner's credentials; the record names the system.
      ...(request.source === 'failover' ? { actor: 'system:failover' } : {}),
      idempotencyKey: this.key(request.source),
      // The key names this delivery's handover for as long as the delivery can come back.
      idempotencyTtlSeconds: deps.deliveryTtlSeconds ?? DEFAULT_DELIVERY_TTL_SECONDS,
    };
    return askHandover(this.host.lookup(), input);
  }

  /** Records the handover on the delivery item; the new owner, unless it is still this Service. */
  async movedTo(result: HandoverResult): Promise<string | null> {
    const id = result.handover?.handoverId;
    if (id) await this.host.delivery.recordHandover(id);
    const target = result.owner.identification;
    return target === this.host.serviceId ? null : target;
  }
}
