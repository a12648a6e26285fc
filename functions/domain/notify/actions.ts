// The outbox's actions: work the sender does at Parley after a record, off the request's path.
// Input: a pending item of kind `action`. Output: what the attempt came to, for sendNotification.
// Steps (parley.agent_unset): read the user's owner item -> the user has moved on from the bot
// since the record (a later record names another owner): refused as superseded, no call, so a
// late unset never clears the label of the agent who has the user now -> PUT agent/unset as the
// bot (the item's recipient), within one attempt's time -> classify Parley's outcome:
// - success: ok;
// - a definite refusal (an error envelope, e.g. 4xx): refused, it would never succeed;
// - unknown (timeout, cut connection, 5xx, 429 after the client's budget) or a request that never
//   left: retry, on the notifications' backoff. agent/unset is idempotent, so a call that may have
//   applied can be made again.
// The owner item is read before the final write of the handover may have landed: an item still
// behind the record (lastSeq < seq) means the record is the newest and the bot has the user.
import { ParleyApiError, ParleyError, ParleyTimeoutError } from '../errors';
import type { ParleyClients, StateStore } from '../ports';
import type { NotificationItem } from '../types';
import { AGENT_UNSET } from './build';
import type { AttemptResult } from './send';

export interface ActionDeps {
  parley: ParleyClients;
  state: Pick<StateStore, 'getOwner'>;
  /** One attempt's time (the notifier's downstreamTimeoutMs), so a batch fits its timeout. */
  timeoutMs: number;
}

const SUPERSEDED = 'superseded: the user has another owner now';

/** A Parley failure as the outbox records it: no URL, no secret, only status and code. */
function classifyParley(err: ParleyError): AttemptResult {
  if (err instanceof ParleyApiError) {
    const error = `parley ${err.status}${err.parleyCode ? ` ${err.parleyCode}` : ''}`;
    return err.outcome === 'rejected'
      ? { result: 'refused', status: err.status, error }
      : { result: 'retry', status: err.status, error };
  }
  // A timeout may have applied; a connection never made applied nothing but may work next time.
  return {
    result: 'retry',
    status: null,
    error: err instanceof ParleyTimeoutError ? 'timeout' : 'unreachable',
  };
}

export async function runOutboxAction(
  item: NotificationItem,
  deps: ActionDeps,
): Promise<AttemptResult> {
  if (item.type !== AGENT_UNSET)
    return { result: 'refused', status: null, error: 'unknown action' };
  try {
    const owner = await deps.state.getOwner(item.userId);
    if (owner && owner.lastSeq >= item.seq && owner.owner !== item.recipient) {
      return { result: 'refused', status: null, error: SUPERSEDED, moot: true };
    }
    const done = await deps.parley(item.recipient).unsetAgent(item.userId, {
      budgetMs: deps.timeoutMs,
    });
    return { result: 'ok', status: done.status };
  } catch (err) {
    if (err instanceof ParleyError) return classifyParley(err);
    // A store or secrets failure: worth another attempt; only the error's class is recorded.
    return { result: 'retry', status: null, error: err instanceof Error ? err.name : 'error' };
  }
}
