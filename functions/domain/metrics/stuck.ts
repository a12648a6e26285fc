// Stuck owners (docs/METRICS.md): a user who wrote last and has waited for a non-default owner for
// more than stuckAfterMinutes. Read from the owner items' lease fields (only leased items carry
// them: agents by default, bots that configure a lease; the default Service never holds one).
import type { MetricsDeps } from './rollup';
import type { LeasedOwner, StuckOwner } from './types';

/** Owner items one listing reads at most; past it the answer says `truncated`. */
export const STUCK_SCAN_LIMIT = 10_000;
const PAGE = 500;

/** The stuck ones among `items` at `nowMs`, longest waiting first. */
export function stuckOwners(
  items: readonly LeasedOwner[],
  nowMs: number,
  stuckAfterMinutes: number,
  defaults: ReadonlySet<string>,
): StuckOwner[] {
  const out: StuckOwner[] = [];
  for (const item of items) {
    const user = Date.parse(item.lastUserAt);
    const owner = Date.parse(item.lastOwnerAt);
    if (defaults.has(item.owner) || !(user > owner)) continue;
    const waitedMs = nowMs - user;
    if (waitedMs > stuckAfterMinutes * 60_000) {
      out.push({ ...item, waitingSeconds: Math.floor(waitedMs / 1000) });
    }
  }
  return out.sort((a, b) => b.waitingSeconds - a.waitingSeconds || (a.userId < b.userId ? -1 : 1));
}

export interface StuckAnswer {
  asOf: string;
  stuckAfterMinutes: number;
  count: number;
  users: StuckOwner[];
  /** The listing stopped at STUCK_SCAN_LIMIT owner items: there may be more. */
  truncated: boolean;
}

/**
 * listStuckOwners
 * Input: an optional Service (identification). Output: the stuck users now, longest waiting first.
 * Steps: page through the leased owner items (bounded), keep the stuck ones.
 */
export async function listStuckOwners(
  deps: Pick<MetricsDeps, 'store' | 'services' | 'clock' | 'settings'>,
  options: { service?: string } = {},
): Promise<StuckAnswer> {
  const nowMs = deps.clock.now();
  const defaults = new Set(
    (await deps.services()).filter((s) => s.default).map((s) => s.identification),
  );
  const items: LeasedOwner[] = [];
  let cursor: string | undefined;
  let read = 0;
  do {
    const page = await deps.store.listLeased({ limit: PAGE, ...(cursor ? { cursor } : {}) });
    read += page.items.length;
    items.push(...page.items.filter((i) => !options.service || i.owner === options.service));
    cursor = page.cursor;
  } while (cursor && read < STUCK_SCAN_LIMIT);
  const users = stuckOwners(items, nowMs, deps.settings.stuckAfterMinutes, defaults);
  return {
    asOf: new Date(nowMs).toISOString(),
    stuckAfterMinutes: deps.settings.stuckAfterMinutes,
    count: users.length,
    users,
    truncated: cursor !== undefined,
  };
}

/** The scheduled gauge: how many users are stuck now (StuckOwners, alarmed), one log line. */
export async function reportStuckOwners(deps: MetricsDeps): Promise<StuckAnswer> {
  const answer = await listStuckOwners(deps);
  deps.metrics.gauge('StuckOwners', answer.count, 'Count');
  deps.log.info('stuck owners', { count: answer.count, truncated: answer.truncated });
  return answer;
}
