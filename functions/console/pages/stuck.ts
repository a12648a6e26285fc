// Stuck (`/console/stuck`): users waiting on a non-default owner (they wrote last, longer ago than
// the metrics' stuckAfterMinutes) as GET /metrics/stuck lists them, and handovers pending past
// staleAfter, each with the operators' actions.
import { isoAt } from '../../domain/handover/records';
import type { ConsoleDeps, Viewer } from '../deps';
import { type Html, html, seg } from '../html';
import { empty, page, time } from '../layout';
import { actionForms } from './user';

const minutes = (ms: number) => `${Math.floor(ms / 60_000)} min`;

export const stuckPage = async (deps: ConsoleDeps, viewer: Viewer): Promise<Html> => {
  const now = deps.clock.now();
  const services = await deps.catalog.list();
  const name = (id: string) => services.find((s) => s.identification === id)?.name ?? id;
  const answer = await deps.stuckOwners();
  const stuck = answer.users;
  const stale = await deps.state.listStalePending(isoAt(now - deps.staleAfterMs), { limit: 50 });
  const body = html`<h1>Stuck</h1>
<h2 id="owners">Users waiting on their owner</h2>
<p class="note">As GET /metrics/stuck lists them: a non-default owner, the user wrote after the owner last did, more than ${answer.stuckAfterMinutes} min ago (from the owner's lease), as of ${time(answer.asOf)}${answer.truncated ? '; the listing stopped at its bound: there may be more' : ''}.</p>
${
  stuck.length === 0
    ? empty(
        'No stuck owner.',
        `Nothing to do. A user shows up here when their owner has not answered them for ${answer.stuckAfterMinutes} minutes.`,
      )
    : html`<table aria-labelledby="owners"><thead><tr><th scope="col">User</th><th scope="col">Owner</th><th scope="col">User wrote</th><th scope="col">Owner last wrote</th><th scope="col">Waiting</th><th scope="col">Actions</th></tr></thead><tbody>${stuck.map(
        (s) =>
          html`<tr><td><a href="/console/users/${seg(s.userId)}">${s.userId}</a></td><td>${name(s.owner)}</td><td>${time(s.lastUserAt)}</td><td>${time(s.lastOwnerAt)}</td><td>${minutes(s.waitingSeconds * 1000)}</td><td>${actionForms(s.userId, viewer, 'stuck')}</td></tr>`,
      )}</tbody></table>`
}
<h2 id="pending">Handovers pending past ${Math.round(deps.staleAfterMs / 1000)} s</h2>
${
  stale.items.length === 0
    ? empty(
        'No stale pending handover.',
        'Nothing to do: the schedule reconciles them every 5 minutes; Reconcile does it for one user now.',
      )
    : html`<table aria-labelledby="pending"><thead><tr><th scope="col">User</th><th scope="col">Marked</th><th scope="col">Actions</th></tr></thead><tbody>${stale.items.map(
        (p) =>
          html`<tr><td><a href="/console/users/${seg(p.userId)}">${p.userId}</a></td><td>${time(p.markedAt)}</td><td>${actionForms(p.userId, viewer, 'pending')}</td></tr>`,
      )}</tbody></table>`
}`;
  return page({ title: 'Stuck', viewer, current: '/console/stuck', body });
};
