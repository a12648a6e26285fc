// Search (`/console/search?from&to&service&reason&status&source`): the audit range query of GET
// /handovers behind a form, paged by its cursor, and the same query as a CSV download
// (`format=csv`, up to BOUNDS.records records). Bad input answers 400 with the reader's sentence.
import { safeParse } from 'zod/mini';
import { recordsToCsv } from '../../domain/audit';
import { AppError } from '../../domain/errors';
import type { HandoverRecord, HandoverSource, HandoverStatus } from '../../domain/types';
import { rangeQuerySchema } from '../../schemas/api';
import type { ConsoleDeps, ConsoleRequest, ConsoleResponse, Viewer } from '../deps';
import { BOUNDS, utcDay } from '../gather';
import { type Html, html, seg } from '../html';
import { empty, page, SECURITY_HEADERS, time } from '../layout';

const PAGE = 50;
const FIELDS = ['from', 'to', 'service', 'reason', 'status', 'source'] as const;
// Records keyed by the union: a new source or status fails to compile until it is listed here.
const SOURCES: Record<HandoverSource, true> = {
  api: true,
  rule: true,
  downstream: true,
  observed: true,
  failover: true,
  operator: true,
  timeout: true,
  offer: true,
};
const STATUSES: Record<HandoverStatus, true> = { completed: true, failed: true };

type Query = Partial<Record<(typeof FIELDS)[number], string>>;

const queryString = (q: Query, extra: Record<string, string> = {}): string => {
  const params = new URLSearchParams();
  for (const f of FIELDS) if (q[f]) params.set(f, q[f]!);
  for (const [k, v] of Object.entries(extra)) params.set(k, v);
  return params.toString();
};

const select = (name: string, label: string, options: string[], value: string | undefined) =>
  html`<div><label for="${name}">${label}</label><select id="${name}" name="${name}"><option value="">any</option>${options.map(
    (o) => html`<option value="${o}"${o === value ? html` selected` : ''}>${o}</option>`,
  )}</select></div>`;

const form = (
  q: Query,
) => html`<form method="get" action="/console/search" class="filters" aria-label="Search the history">
<div><label for="from">From (date or RFC 3339)</label><input id="from" name="from" value="${q.from ?? ''}" required></div>
<div><label for="to">To (inclusive)</label><input id="to" name="to" value="${q.to ?? ''}" required></div>
<div><label for="service">To Service (name or id)</label><input id="service" name="service" value="${q.service ?? ''}"></div>
<div><label for="reason">Reason</label><input id="reason" name="reason" value="${q.reason ?? ''}" maxlength="100"></div>
${select('status', 'Status', Object.keys(STATUSES), q.status)}
${select('source', 'Source', Object.keys(SOURCES), q.source)}
<div><button type="submit">Search</button></div>
</form>`;

/** The query of the request, with the last 7 UTC days when it names no range. */
const queryOf = (req: ConsoleRequest, now: number): Query => {
  const q: Query = {};
  for (const f of FIELDS) if (req.query[f]) q[f] = req.query[f];
  if (!q.from && !q.to) {
    q.from = utcDay(now - 6 * 86_400_000);
    q.to = utcDay(now);
  }
  return q;
};

const parse = async (deps: ConsoleDeps, q: Query, cursor: string | undefined, limit: number) => {
  const parsed = safeParse(rangeQuerySchema, {
    ...q,
    limit: String(limit),
    ...(cursor ? { cursor } : {}),
  });
  if (!parsed.success)
    return { error: parsed.error.issues[0]?.message ?? 'The search is not valid.' };
  const { service, ...range } = parsed.data;
  try {
    const toOwner = service ? (await deps.catalog.resolve(service)).identification : undefined;
    return { range: { ...range, filters: { ...range.filters, ...(toOwner ? { toOwner } : {}) } } };
  } catch (err) {
    if (err instanceof AppError && err.httpStatus === 400) return { error: err.message };
    throw err;
  }
};

export const searchCsv = async (
  deps: ConsoleDeps,
  req: ConsoleRequest,
): Promise<ConsoleResponse | string> => {
  const q = queryOf(req, deps.clock.now());
  const parsed = await parse(deps, q, req.query.cursor, 1000);
  if ('error' in parsed) return parsed.error!;
  const records: HandoverRecord[] = [];
  let cursor = parsed.range!.cursor;
  do {
    const page = await deps.history.listRange({ ...parsed.range!, ...(cursor ? { cursor } : {}) });
    records.push(...page.items);
    cursor = page.cursor;
  } while (cursor && records.length < BOUNDS.records);
  const day = (iso: string) => iso.slice(0, 10);
  return {
    status: 200,
    headers: {
      'Content-Type': 'text/csv; charset=utf-8',
      'Content-Disposition': `attachment; filename="handovers-${day(parsed.range!.from)}-${day(parsed.range!.to)}.csv"`,
      'Cache-Control': 'no-store',
      ...SECURITY_HEADERS,
      ...(cursor ? { 'X-Next-Cursor': cursor } : {}),
    },
    body: recordsToCsv(records, { header: true }),
  };
};

export const searchPage = async (
  deps: ConsoleDeps,
  viewer: Viewer,
  req: ConsoleRequest,
): Promise<{ status: number; body: Html }> => {
  const q = queryOf(req, deps.clock.now());
  const parsed = await parse(deps, q, req.query.cursor, PAGE);
  const names = new Map((await deps.catalog.list()).map((s) => [s.identification, s.name]));
  const name = (id: string | null) => (id === null ? '(none)' : (names.get(id) ?? id));
  if ('error' in parsed) {
    const body = html`<h1>Search</h1>${form(q)}<p class="error" role="alert">${parsed.error}</p>`;
    return {
      status: 400,
      body: page({ title: 'Search', viewer, current: '/console/search', body }),
    };
  }
  const result = await deps.history.listRange(parsed.range!);
  const rows = result.items.map(
    (r) =>
      html`<tr><td>${time(r.createdAt)}</td><td><a href="/console/users/${seg(r.userId)}#seq-${r.seq}">${r.userId}</a></td><td>${r.seq}</td><td>${name(r.fromOwner)} → ${name(r.toOwner)}</td><td>${r.reason ?? ''}</td><td>${r.source}</td><td>${r.status}</td><td class="mono">${r.requestedBy}</td></tr>`,
  );
  const next = result.cursor
    ? `/console/search?${queryString(q, { cursor: result.cursor })}`
    : null;
  const body = html`<h1>Search</h1>
${form(q)}
<p><a href="/console/search?${queryString(q, { format: 'csv', ...(req.query.cursor ? { cursor: req.query.cursor } : {}) })}" download>Download as CSV</a> <span class="note">(this page and the ones after it, up to ${BOUNDS.records} records)</span></p>
<div id="results-page">
${
  rows.length === 0
    ? empty(
        'No handover matches.',
        'Widen the dates (at most 366 days), or clear a filter. Reasons match exactly.',
      )
    : html`<table><caption class="muted">Oldest first; times in UTC</caption><thead><tr><th scope="col">When</th><th scope="col">User</th><th scope="col">Seq</th><th scope="col">Change</th><th scope="col">Reason</th><th scope="col">Source</th><th scope="col">Status</th><th scope="col">Requested by</th></tr></thead><tbody>${rows}</tbody></table>`
}
${next ? html`<p><a href="${next}" hx-get="${next}" hx-select="#results-page" hx-target="#results-page" hx-swap="outerHTML" hx-push-url="true">Next page</a></p>` : ''}
</div>`;
  return { status: 200, body: page({ title: 'Search', viewer, current: '/console/search', body }) };
};
