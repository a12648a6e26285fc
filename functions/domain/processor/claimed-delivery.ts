// One attempt's hold on its claimed delivery item: every write is fenced by the attempt's lease (a
// lost lease stops the attempt), and the item ends done with its disposition and the handover the
// delivery caused.
import { DeliveryBusyError } from '../errors';
import type { StateStore } from '../ports';
import type { DeliveryDisposition, DeliveryItem } from '../types';
import { type CallbackDeps, type CallbackOutcome, doneExpiry, type Parsed } from './deps';
import type { ReplyDelivery } from './reply';

type DeliveryPatch = Parameters<StateStore['updateDelivery']>[1];

export class ClaimedDelivery {
  /** The handover this delivery caused: on the item, found by an earlier attempt's key, or new. */
  handoverId: string | null;

  constructor(
    private readonly deps: Pick<CallbackDeps, 'state' | 'clock' | 'log' | 'metrics'>,
    private readonly parsed: Parsed,
    readonly item: DeliveryItem,
    private readonly serviceId: string,
  ) {
    this.handoverId = item.handoverId;
  }

  /** The fields every log line of this delivery carries. */
  get ctx() {
    return {
      deliveryId: this.item.deliveryId,
      serviceId: this.serviceId,
      userId: this.parsed.userId,
    };
  }

  /** Writes to the delivery item while this attempt still holds its lease; else stops it. */
  async update(patch: DeliveryPatch): Promise<void> {
    const { deliveryId, leaseUntil } = this.item;
    if (!(await this.deps.state.updateDelivery(deliveryId, patch, leaseUntil))) {
      this.deps.log.warn('delivery lease taken over by another attempt; stopping', this.ctx);
      throw new DeliveryBusyError(deliveryId, leaseUntil);
    }
  }

  /** Names a handover this attempt made on the item, so a retry asks for none again. */
  async recordHandover(handoverId: string): Promise<void> {
    if (handoverId === this.handoverId) return;
    this.handoverId = handoverId;
    await this.update({ handoverId });
  }

  /** What sending the reply at most once needs of this delivery (./reply.ts). */
  get reply(): ReplyDelivery {
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

  /** Marks the delivery done with its disposition; a done item answers its duplicates. */
  async finish(disposition: DeliveryDisposition): Promise<CallbackOutcome> {
    const { item, handoverId } = this;
    const expiresAt = doneExpiry(this.parsed, item, this.deps.clock.now());
    await this.update({
      state: 'done',
      disposition,
      ...(handoverId ? { handoverId } : {}),
      ...(expiresAt !== item.expiresAt ? { expiresAt } : {}),
    });
    this.deps.metrics.count('CallbackProcessed', 1, { disposition });
    this.deps.log.info('callback processed', { ...this.ctx, disposition, handoverId });
    return {
      deliveryId: item.deliveryId,
      disposition,
      duplicate: false,
      ...(handoverId ? { handoverId } : {}),
    };
  }
}
