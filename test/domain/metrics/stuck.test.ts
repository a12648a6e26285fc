// Stuck owners on the fakes: a non-default owner, the user wrote last, and waited more than
// stuckAfterMinutes; the list longest waiting first, the gauge from the scheduled run.
import {
  listStuckOwners,
  reportStuckOwners,
  STUCK_SCAN_LIMIT,
} from '../../../functions/domain/metrics/stuck';
import type { LeasedOwner } from '../../../functions/domain/metrics/types';
import { metricsWorld } from './fakes';
import { goldenServices } from './golden-history';

const NOW = Date.parse('2026-03-10T14:00:00.000Z');
const ago = (minutes: number, seconds = 0) =>
  new Date(NOW - minutes * 60_000 - seconds * 1000).toISOString();

const leased = (userId: string, owner: string, user: string, ownerAt: string): LeasedOwner => ({
  userId,
  owner,
  lastUserAt: user,
  lastOwnerAt: ownerAt,
});

const world = (items: LeasedOwner[]) => {
  const w = metricsWorld(goldenServices({ bot: 'bot', desk: 'desk' }), NOW);
  w.store.leased = items;
  return w;
};

describe('listStuckOwners', () => {
  it('lists users who wrote last and waited more than 15 minutes on a non-default owner, longest first', async () => {
    const w = world([
      leased('waiting-20m', 'desk', ago(20), ago(30)),
      leased('waiting-2h', 'desk', ago(120), ago(180)),
      leased('answered', 'desk', ago(40), ago(10)),
      leased('exactly-15m', 'desk', ago(15), ago(60)),
      leased('15m-and-a-second', 'desk', ago(15, 1), ago(60)),
      leased('recent', 'desk', ago(5), ago(60)),
      // The default Service never holds a lease; an item naming it is not a stuck owner.
      leased('with-default', 'bot', ago(60), ago(120)),
      leased('same-instant', 'desk', ago(60), ago(60)),
    ]);

    const answer = await listStuckOwners(w.deps);

    expect(answer).toEqual({
      asOf: '2026-03-10T14:00:00.000Z',
      stuckAfterMinutes: 15,
      count: 3,
      users: [
        { ...leased('waiting-2h', 'desk', ago(120), ago(180)), waitingSeconds: 7200 },
        { ...leased('waiting-20m', 'desk', ago(20), ago(30)), waitingSeconds: 1200 },
        { ...leased('15m-and-a-second', 'desk', ago(15, 1), ago(60)), waitingSeconds: 901 },
      ],
      truncated: false,
    });
  });

  it("narrows to one Service's users", async () => {
    const w = world([
      leased('on-desk', 'desk', ago(20), ago(30)),
      leased('on-desk2', 'desk2', ago(20), ago(30)),
    ]);

    const answer = await listStuckOwners(w.deps, { service: 'desk2' });

    expect(answer.users.map((u) => u.userId)).toEqual(['on-desk2']);
  });

  it('reads pages until the listing ends, and says when it stopped at its bound', async () => {
    const many = Array.from({ length: STUCK_SCAN_LIMIT + 10 }, (_, i) =>
      leased(`u${String(i).padStart(5, '0')}`, 'desk', ago(20), ago(30)),
    );
    const w = world(many);

    const answer = await listStuckOwners(w.deps);

    expect(answer.truncated).toBe(true);
    expect(answer.count).toBe(STUCK_SCAN_LIMIT);
    const all = await listStuckOwners({
      ...w.deps,
      store: Object.assign(w.store, { leased: many.slice(0, 1200) }),
    });
    expect([all.count, all.truncated]).toEqual([1200, false]);
  });
});

describe('reportStuckOwners', () => {
  it('sets the StuckOwners gauge to the count and logs one line', async () => {
    const w = world([
      leased('a', 'desk', ago(20), ago(30)),
      leased('b', 'desk', ago(30), ago(40)),
      leased('c', 'desk', ago(1), ago(40)),
    ]);

    await reportStuckOwners(w.deps);

    expect(w.metrics.points).toEqual([{ kind: 'gauge', name: 'StuckOwners', value: 2 }]);
    expect(w.log.lines).toEqual([
      { level: 'info', message: 'stuck owners', attributes: { count: 2, truncated: false } },
    ]);
  });
});
