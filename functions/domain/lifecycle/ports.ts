// What the timers ask of the rest of the domain (issue 15, LIFECYCLE.md): a handover run through
// the handover sequence, notifications for the outbox, and the port the sweep works through. Apart
// from ./types.ts, which imports nothing, so that ../types.ts can read the timers' shapes.
import type { HandoverSource, NotificationType, Page } from '../types';
import type { ActOutcome, DueAction, DueEntry } from './types';

/** A handover a timer or an offer asks for, run through the handover sequence. */
export interface HandoverPlan {
  /** Identification, name or 'default' (resolved by the catalog). */
  newOwner: string;
  /** Whose Parley credentials make the `PUT owner`: the owner when it was asked. */
  actingService: string;
  source: Extract<HandoverSource, 'timeout' | 'offer'>;
  reason: string;
  requestedBy: string;
  metadata: Record<string, unknown> | null;
}

/** A notification a transition causes, to Services known here (the new owner's is the record's). */
export interface LifecycleEvent {
  type: NotificationType;
  recipients: string[];
}

/** What the sweep works through (the state store and the handover sequence behind it). */
export interface SweepPort {
  /** Items of one shard whose dueSk is at or before `nowIso`, oldest first. */
  listDue(
    shard: number,
    nowIso: string,
    options: { limit: number; cursor?: string },
  ): Promise<Page<DueEntry>>;
  /** Claims the item on `expectedVersion` and does `action`, re-checking it is due. */
  act(userId: string, expectedVersion: number, action: DueAction): Promise<ActOutcome>;
}
