// User (`/console/users/{id}`): the owner now (Parley), the owner item (pending, lease, offer), the
// verify badge, an as-of picker, the timeline of records (offer records among them), and the
// operators' actions. Everything the user or a Service wrote (ids, reasons, metadata) goes through
// the escaping template.
import { randomBytes } from 'node:crypto';
import { AppError, NotFoundError } from '../../domain/errors';
import type { HandoverRecord, OwnerItem, ServiceInfo } from '../../domain/types';
import type { VerifyReport } from '../../domain/verify';
import { instantSchema } from '../../schemas/api';
import type { ConsoleDeps, ConsoleRequest, Viewer } from '../deps';
import { isOwnershipRecord } from '../gather';
import { type Html, html, seg } from '../html';
import { empty, page, time } from '../layout';

const PAGE = 50;

/** Outcomes an action redirects with (a closed set: nothing from the request is echoed). */
export const DONE: Readonly<Record<string, string>> = {
  released: 'Released to the default Service: the record is at the top of the timeline.',
  unchanged: 'The default Service already owns this user: nothing was recorded.',
  recovered: 'Reconciled: the stale pending handover was finished from its draft.',
  nothing: 'Reconciled: there was no stale pending handover to finish.',
};

const nameIn = (services: readonly ServiceInfo[]) => (id: string | null) =>
  id === null ? '(none)' : (services.find((s) => s.identification === id)?.name ?? id);

const records = (n: number) => `${n} ${n === 1 ? 'record' : 'records'}`;

/** The checkpoint state verify reported, beside the badge. */
export const checkpointState = (c: VerifyReport['checkpoint']): Html => {
  if (!c) return html`checkpoints are not kept here`;
  if (c.status === 'none') return html`not yet checkpointed: ${records(c.notYetCheckpointed)}`;
  const later =
    c.notYetCheckpointed > 0
      ? html`; ${c.notYetCheckpointed} later ${c.notYetCheckpointed === 1 ? 'record' : 'records'} not yet checkpointed`
      : '';
  if (c.status === 'verified') {
    return html`checkpointed in checkpoint <code>${c.checkpointId ?? '?'}</code>${c.createdAt ? html` of ${time(c.createdAt)}` : ''}, up to seq ${c.seq ?? '?'}${later}`;
  }
  return html`checkpoint mismatch: checkpoint <code>${c.checkpointId ?? '?'}</code> holds seq ${c.seq ?? '?'}${c.fault ? html` (<code>${c.fault}</code>)` : ''}`;
};

export const verifyBadge = (report: VerifyReport | null): Html => {
  if (!report) return html`<span class="badge pending" role="status">no records</span>`;
  const head = html`<span class="note">head: seq ${report.lastSeq}, hash <code>${report.lastHash.slice(0, 12)}…</code>; ${checkpointState(report.checkpoint)}</span>`;
  const pending = report.pending
    ? html` <span class="note">a handover is in flight (seq ${report.pending.seq}, ${report.pending.recorded ? 'recorded' : 'not recorded yet'})</span>`
    : '';
  return report.ok
    ? html`<span class="badge ok" role="status">intact</span> ${report.count} records checked. ${head}${pending}`
    : html`<span class="badge bad" role="status">broken</span> first problem at seq ${report.firstBroken?.seq ?? '?'}: <code>${report.firstBroken?.problem ?? 'unknown'}</code>; ${report.count} records sound before it. ${head}`;
};

const recordRow = (r: HandoverRecord, name: (id: string | null) => string): Html => {
  const kind = (r as { kind?: unknown }).kind;
  const what = isOwnershipRecord(r)
    ? html`${name(r.fromOwner)} → ${name(r.toOwner)}`
    : html`<strong>${String(kind)}</strong> ${name(r.fromOwner)} → ${name(r.toOwner)}`;
  return html`<tr id="seq-${r.seq}"><td>${r.seq}</td><td>${time(r.createdAt)}</td><td>${what}</td><td>${r.reason ?? ''}</td><td>${r.source}</td><td>${r.status}${r.parley?.code ? html` <span class="muted">(${r.parley.code})</span>` : ''}</td><td class="mono">${r.requestedBy}</td><td>${r.metadata ? html`<pre>${JSON.stringify(r.metadata, null, 1)}</pre>` : html`<span class="muted">none</span>`}</td></tr>`;
};

const ownerItemPart = (item: OwnerItem | null, name: (id: string | null) => string): Html => {
  if (!item)
    return html`<p class="muted">No owner item: this service has not seen the user's owner yet.</p>`;
  const rows: [string, Html | string][] = [
    ['Owner as last known', name(item.owner)],
    ['Since', time(item.since)],
    ['Version', String(item.version)],
  ];
  if (item.pending) {
    rows.push([
      'Pending handover',
      html`to ${name(item.pending.draft.toOwner)}, seq ${item.pending.draft.seq}, marked ${time(item.pending.markedAt)}`,
    ]);
  }
  if (item.lease) {
    rows.push([
      'Lease',
      html`expires ${time(item.lease.expiresAt)} (hard cap ${time(item.lease.hardExpiresAt)}); last user message ${time(item.lease.lastUserAt)}, last owner message ${time(item.lease.lastOwnerAt)}${item.lease.warnedAt ? html`; warned ${time(item.lease.warnedAt)}` : ''}`,
    ]);
  }
  if (item.offer) {
    rows.push([
      'Open offer',
      html`from ${name(item.offer.from)} to ${name(item.offer.to)}, until ${time(item.offer.expiresAt)} (then: ${item.offer.onTimeout})`,
    ]);
  }
  return html`<table><tbody>${rows.map(([k, v]) => html`<tr><th scope="row">${k}</th><td>${v}</td></tr>`)}</tbody></table>`;
};

/** `where` keeps the ids unique when one page shows the forms of a user twice. */
export const actionForms = (userId: string, viewer: Viewer, where = 'user'): Html =>
  viewer.role !== 'operator'
    ? html`<p class="note">Operators may reconcile or release this user; auditors read.</p>`
    : html`<div class="actions">
<form method="post" action="/console/users/${seg(userId)}/reconcile" class="inline">
<input type="hidden" name="csrf" value="${viewer.csrf}">
<div><label for="${where}-reconcile-${seg(userId)}">Reason for reconciling</label><input id="${where}-reconcile-${seg(userId)}" name="reason" required maxlength="100"></div>
<button type="submit">Reconcile</button></form>
<form method="post" action="/console/users/${seg(userId)}/release" class="inline">
<input type="hidden" name="csrf" value="${viewer.csrf}">
<input type="hidden" name="key" value="${randomBytes(16).toString('base64url')}">
<div><label for="${where}-release-${seg(userId)}">Reason for releasing to the default Service</label><input id="${where}-release-${seg(userId)}" name="reason" required maxlength="100"></div>
<button type="submit">Release to default</button></form></div>`;

const asOfPart = async (deps: ConsoleDeps, userId: string, at: string | undefined) => {
  if (at === undefined || at === '') return html`<div id="as-of-result"></div>`;
  const parsed = instantSchema.safeParse(at);
  if (!parsed.success) {
    return html`<div id="as-of-result"><p class="error" role="alert">${parsed.error.issues[0]?.message ?? 'The instant is not valid.'}</p></div>`;
  }
  const result = await deps.ownerAt(userId, new Date(parsed.data).toISOString());
  return html`<div id="as-of-result" role="status"><p>At ${time(new Date(parsed.data).toISOString())}: ${
    result.known && result.owner
      ? html`<strong>${result.owner.name}</strong>${result.since ? html` (since ${time(result.since)})` : ''}`
      : 'no owner known (before the first record)'
  }</p></div>`;
};

export const userPage = async (
  deps: ConsoleDeps,
  viewer: Viewer,
  req: ConsoleRequest,
  userId: string,
): Promise<{ status: number; body: Html }> => {
  const services = await deps.catalog.list();
  const name = nameIn(services);
  const [item, records, report] = await Promise.all([
    deps.state.getOwner(userId, { consistent: false }),
    deps.history.listUser(userId, {
      limit: PAGE,
      ...(req.query.before ? { cursor: req.query.before } : {}),
    }),
    deps.verify(userId).catch((err) => {
      if (err instanceof NotFoundError) return null;
      throw err;
    }),
  ]);
  if (!item && records.items.length === 0 && !req.query.before) {
    const body = html`<h1>User <span class="mono">${userId}</span></h1>${empty('No owner item and no record for this user.', html`Check the id, or <a href="/console/search">search the history</a>.`)}`;
    return { status: 404, body: page({ title: 'Unknown user', viewer, body }) };
  }
  let ownerNow: Html;
  try {
    ownerNow = html`<strong>${(await deps.ownerNow(userId)).name}</strong> <span class="note">(asked Parley now)</span>`;
  } catch (err) {
    ownerNow = html`<span class="error">Parley could not be asked: ${err instanceof AppError ? err.message : 'an internal error.'}</span>`;
  }
  const done = req.query.done !== undefined ? DONE[req.query.done] : undefined;
  const body = html`<h1>User <span class="mono">${userId}</span></h1>
${done ? html`<p class="flash" role="status">${done}</p>` : ''}
<p>Owner now: ${ownerNow}</p>
<p>History: ${verifyBadge(report)}</p>
<h2>Owner item</h2>
${ownerItemPart(item, name)}
${actionForms(userId, viewer)}
<h2 id="as-of">Owner at an instant</h2>
<form method="get" action="/console/users/${seg(userId)}" class="inline" hx-get="/console/users/${seg(userId)}" hx-select="#as-of-result" hx-target="#as-of-result" hx-swap="outerHTML">
<div><label for="at">Instant (RFC 3339 with a zone, e.g. 2026-03-10T14:00:00Z)</label><input id="at" name="at" value="${req.query.at ?? ''}" placeholder="2026-03-10T14:00:00Z"></div>
<button type="submit">Look up</button></form>
${await asOfPart(deps, userId, req.query.at)}
<h2 id="timeline">Timeline (newest first)</h2>
${
  records.items.length === 0
    ? empty('No record on this page.', 'Records appear after the first handover of this user.')
    : html`<table aria-labelledby="timeline"><thead><tr><th scope="col">Seq</th><th scope="col">When</th><th scope="col">Change</th><th scope="col">Reason</th><th scope="col">Source</th><th scope="col">Status</th><th scope="col">Requested by</th><th scope="col">Metadata</th></tr></thead>
<tbody>${records.items.map((r) => recordRow(r, name))}</tbody></table>`
}
${records.cursor ? html`<p><a href="/console/users/${seg(userId)}?before=${encodeURIComponent(records.cursor)}">Older records</a></p>` : ''}`;
  return { status: 200, body: page({ title: `User ${userId}`, viewer, body }) };
};
