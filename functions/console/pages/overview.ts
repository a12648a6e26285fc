// Overview (`/console`): users per owner now by Service, the oldest agent-owned user, pending,
// offered and leases due in 15 minutes, stuck owners, failovers in 24 h, the outbox, the
// dead-letter queues' depths, and handovers per day by reason for 30 days. The stuck owners and the handovers per day are the
// metrics' use cases' answers; the rest is counted from the stores (gather.ts). A figure that
// stopped at its bound reads "N+"; one not available yet is a marked slot.
import type { NotificationStatus, OwnerItem } from '../../domain/types';
import { barChart } from '../chart';
import type { ConsoleDeps, Viewer } from '../deps';
import {
  BOUNDS,
  type Counted,
  countOwned,
  dailyCounts,
  failoversSince,
  ownerItemsOf,
  timersOf,
  utcDay,
} from '../gather';
import { type Html, html, seg } from '../html';
import { empty, page, slot, time } from '../layout';

const DAY_MS = 86_400_000;

const figure = (c: Counted): string => `${c.count}${c.complete ? '' : '+'}`;

const outboxCount = async (deps: ConsoleDeps, status: NotificationStatus): Promise<Counted> => {
  let count = 0;
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await deps.notifications.list({
      status,
      limit: 100,
      ...(cursor ? { cursor } : {}),
    });
    count += page.items.length;
    cursor = page.cursor;
    pages += 1;
  } while (cursor && pages < 5);
  return { count, complete: cursor === undefined };
};

/** What each dead-letter queue holds and where its runbook is. */
const DEAD_LETTERS: Record<string, { label: string; hint: string }> = {
  callbacks: {
    label: 'callbacks in the dead-letter queue',
    hint: 'fix the cause, then redrive: README, Runbooks, "DLQ not empty" (locally npm run dlq -- redrive)',
  },
  notify: {
    label: 'notifications in the dead-letter queue',
    hint: 'out of retries: their outbox items are failed; redeliver with the CLI (README, Notifications)',
  },
};

const deadLetterCards = async (deps: ConsoleDeps): Promise<Html> => {
  if (!deps.queueDepths) {
    return slot(
      'Dead-letter queue depths',
      'This console was built without the queues; the dead-letter alarms watch them.',
    );
  }
  const heading = html`<h2 id="dead-letters">Dead-letter queues</h2>`;
  try {
    const depths = await deps.queueDepths.depths();
    return html`${heading}<div class="cards">${depths.map((d) => {
      const known = DEAD_LETTERS[d.name];
      const inFlight = d.inFlight > 0 ? `${d.inFlight} more being read or moved; ` : '';
      return card(
        known?.label ?? `in the ${d.name} dead-letter queue`,
        String(d.visible),
        `${inFlight}${known?.hint ?? 'see the README, Runbooks'}`,
      );
    })}</div>`;
  } catch (err) {
    // The reason goes to the log by name only; the page says where to look.
    deps.log.warn('dead-letter depths not read', {
      error: err instanceof Error ? err.name : typeof err,
    });
    return html`${heading}<p class="note" role="status">The depths could not be read just now (the console's log says why); the dead-letter alarms still watch the queues.</p>`;
  }
};

const card = (label: string, value: string, note?: Html | string): Html =>
  html`<div class="card"><span class="n">${value}</span>${label}${note ? html`<br><span class="note">${note}</span>` : ''}</div>`;

export const overviewPage = async (deps: ConsoleDeps, viewer: Viewer): Promise<Html> => {
  const now = deps.clock.now();
  const services = await deps.catalog.list();
  const counts = await Promise.all(services.map((s) => countOwned(deps, s.identification)));
  const others = services.filter((s) => !s.default);
  const sample = await ownerItemsOf(deps, others);
  const agentIds = new Set(services.filter((s) => s.role === 'agent').map((s) => s.identification));
  const oldest = sample.items
    .filter((i): i is OwnerItem & { since: string } => agentIds.has(i.owner) && i.since !== null)
    .sort((a, b) => (a.since < b.since ? -1 : 1))[0];
  const timers = timersOf(sample.items, now);
  const [failovers, pending, failed, metrics, stuck, deadLetters] = await Promise.all([
    failoversSince(deps, now),
    outboxCount(deps, 'pending'),
    outboxCount(deps, 'failed'),
    deps.metrics({ from: utcDay(now - 29 * DAY_MS), to: utcDay(now) }),
    deps.stuckOwners(),
    deadLetterCards(deps),
  ]);
  const daily = dailyCounts(metrics.days);
  const sampled = `among ${sample.items.length}${sample.complete ? '' : '+'} owner items of non-default Services read (at most ${BOUNDS.ownerItems})`;
  const nameOf = (id: string) => services.find((s) => s.identification === id)?.name ?? id;
  const users = counts.reduce((sum, c) => sum + c.count, 0);

  const body = html`<h1>Overview</h1>
<h2 id="owners">Users per owner now</h2>
${
  users === 0
    ? empty(
        'No user has an owner item yet.',
        'Users appear here after their first message or handover: locally run "npm run demo", or hand a user over with POST /handovers.',
      )
    : ''
}
<table aria-labelledby="owners"><thead><tr><th scope="col">Service</th><th scope="col">Role</th><th scope="col">Users</th></tr></thead>
<tbody>${services.map(
    (s, i) =>
      html`<tr><td><a href="/console/search?service=${encodeURIComponent(s.identification)}">${s.name}</a>${s.default ? html` <span class="muted">(default)</span>` : ''}</td><td>${s.role}</td><td>${figure(counts[i]!)}</td></tr>`,
  )}</tbody></table>
<p class="note">From the owner items (the byOwner index, eventually consistent); at most ${BOUNDS.usersPerService} counted per Service.</p>
<h2>Now</h2>
<div class="cards">
${card(
  'oldest agent-owned user',
  oldest ? oldest.userId : '—',
  oldest
    ? html`<a href="/console/users/${seg(oldest.userId)}">with ${nameOf(oldest.owner)} since</a> ${time(oldest.since)}`
    : `no agent owns a user ${sampled}`,
)}
${card('pending handovers', String(timers.pending), sampled)}
${card('open offers', String(timers.offered), sampled)}
${card('leases due within 15 min', String(timers.leasesDueSoon), sampled)}
${card(
  'stuck owners',
  figure({ count: stuck.count, complete: !stuck.truncated }),
  html`<a href="/console/stuck">the list</a>, as GET /metrics/stuck counts them (waiting over ${stuck.stuckAfterMinutes} min)`,
)}
${card('failovers in the last 24 h', figure(failovers), 'completed failover records')}
${card('notifications pending', figure(pending), 'in the outbox')}
${card('notifications failed', figure(failed), html`refused for good or out of retries; redeliver with the CLI`)}
</div>
${deadLetters}
<h2 id="daily">Handovers per day by reason, last 30 days</h2>
${
  daily.handovers === 0
    ? empty(
        'No completed handover in the last 30 days.',
        'Handovers appear here once a Service, a rule or an operator moves a user.',
      )
    : barChart(daily, 'Completed handovers per UTC day, stacked by reason')
}
<p class="note">From GET /metrics: the nightly rollup of each mature day, the days since computed now (provisional).</p>`;
  return page({ title: 'Overview', viewer, current: '/console', body });
};
