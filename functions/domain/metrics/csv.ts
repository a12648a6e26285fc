// The metrics as CSV (`Accept: text/csv` on GET /metrics): one row per figure, so that nested
// figures (per Service, per handover kind) need no column of their own. Cells go through the audit
// CSV's escaping (formulas, RFC 4180).
import { csvCell } from '../audit';
import type { DayMetrics } from './types';

export const METRICS_CSV_COLUMNS = [
  'day',
  'provisional',
  'metric',
  'service',
  'reason',
  'source',
  'from',
  'to',
  'value',
] as const;

type Row = Partial<Record<(typeof METRICS_CSV_COLUMNS)[number], string | number | boolean | null>>;

/** Every figure of a day as `metric` rows, in a fixed order (nested objects by dotted name). */
export function dayRows(m: DayMetrics): Row[] {
  const rows: Row[] = [];
  const add = (metric: string, value: number, extra: Row = {}) =>
    rows.push({ metric, value, ...extra });
  const flat = (prefix: string, values: Record<string, unknown>) => {
    for (const [key, value] of Object.entries(values)) {
      if (typeof value === 'number') add(`${prefix}.${key}`, value);
      else if (value && typeof value === 'object') {
        flat(`${prefix}.${key}`, value as Record<string, unknown>);
      }
    }
  };
  flat('records', { ...m.records });
  add('activeUsers', m.activeUsers);
  for (const [service, time] of Object.entries(m.timeInOwner)) {
    for (const [key, value] of Object.entries(time)) add(`timeInOwner.${key}`, value, { service });
  }
  for (const h of m.handovers) {
    add('handovers', h.count, { reason: h.reason, source: h.source, from: h.from, to: h.to });
  }
  flat('escalations', { ...m.escalations });
  flat('containment', { ...m.containment });
  flat('pingPong', { ...m.pingPong });
  flat('returnToBotWithin1h', { ...m.returnToBotWithin1h });
  flat('firstAgentReply', { ...m.firstAgentReply });
  return rows.map((row) => ({ day: m.day, provisional: m.provisional, ...row }));
}

/** The days as CSV (RFC 4180, CRLF after every line), with the header line. */
export function metricsToCsv(days: readonly DayMetrics[]): string {
  const lines = [METRICS_CSV_COLUMNS.join(',')];
  for (const day of days) {
    for (const row of dayRows(day)) {
      lines.push(
        METRICS_CSV_COLUMNS.map((c) => {
          const value = row[c];
          return csvCell(typeof value === 'boolean' ? String(value) : value);
        }).join(','),
      );
    }
  }
  return lines.map((line) => `${line}\r\n`).join('');
}
