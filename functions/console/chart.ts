// Handovers per day by reason as an inline SVG stacked bar chart (no chart library, no script):
// the figures are counts of records the caller read; reason labels come from records and go
// through the escaping template like any other text. A table of the same counts follows it for
// screen readers and for exact numbers.
import { type Html, html } from './html';

export interface DailyCounts {
  /** `yyyy-mm-dd`, oldest first. */
  days: string[];
  /** Count per day (same order as `days`), by reason (`(none)` for a record without one). */
  byReason: Map<string, number[]>;
}

/** Colour-blind-safe fills, each at least 3:1 against white. */
const COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#8C6D00', '#3A78A8', '#7F3C8D'];
const OTHER_COLOUR = '#3B3B3B';
const SHOWN_REASONS = COLOURS.length;

const W = 720;
const H = 240;
const LEFT = 40;
const RIGHT = 10;
const TOP = 10;
const BOTTOM = 30;

/** The reasons drawn (the most frequent first) and the rest folded into `other`. */
export const seriesOf = (
  counts: DailyCounts,
): { label: string; colour: string; per: number[] }[] => {
  const total = (per: number[]) => per.reduce((a, b) => a + b, 0);
  const sorted = [...counts.byReason].sort(
    (a, b) => total(b[1]) - total(a[1]) || (a[0] < b[0] ? -1 : 1),
  );
  const shown = sorted.slice(0, SHOWN_REASONS).map(([label, per], i) => ({
    label,
    colour: COLOURS[i]!,
    per,
  }));
  const rest = sorted.slice(SHOWN_REASONS);
  if (rest.length > 0) {
    const per = counts.days.map((_, d) => rest.reduce((sum, [, p]) => sum + (p[d] ?? 0), 0));
    shown.push({ label: `other (${rest.length} reasons)`, colour: OTHER_COLOUR, per });
  }
  return shown;
};

export const barChart = (counts: DailyCounts, title: string): Html => {
  const series = seriesOf(counts);
  const totals = counts.days.map((_, d) => series.reduce((sum, s) => sum + (s.per[d] ?? 0), 0));
  const all = totals.reduce((a, b) => a + b, 0);
  const max = Math.max(1, ...totals);
  const plotH = H - TOP - BOTTOM;
  const slotW = (W - LEFT - RIGHT) / Math.max(1, counts.days.length);
  const barW = Math.max(2, slotW * 0.7);
  const y = (value: number) => TOP + plotH - (value / max) * plotH;
  const bars = counts.days.map((day, d) => {
    let base = 0;
    return series.map((s) => {
      const n = s.per[d] ?? 0;
      if (n === 0) return '';
      const top = y(base + n);
      const height = y(base) - top;
      base += n;
      const x = LEFT + d * slotW + (slotW - barW) / 2;
      return html`<rect x="${x.toFixed(1)}" y="${top.toFixed(1)}" width="${barW.toFixed(1)}" height="${height.toFixed(1)}" fill="${s.colour}"><title>${day}: ${n} × ${s.label}</title></rect>`;
    });
  });
  const ticks = [...new Set([0, Math.round(max / 2), max])].map(
    (v) =>
      html`<line x1="${LEFT}" x2="${W - RIGHT}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#d0d0d0"/><text x="${LEFT - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11" fill="#1b1b1b">${v}</text>`,
  );
  const labels = counts.days.map((day, d) =>
    d % 5 === 0 || d === counts.days.length - 1
      ? html`<text x="${(LEFT + d * slotW + slotW / 2).toFixed(1)}" y="${H - 10}" text-anchor="middle" font-size="11" fill="#1b1b1b">${day.slice(5)}</text>`
      : '',
  );
  const first = counts.days[0] ?? '';
  const last = counts.days[counts.days.length - 1] ?? '';
  return html`<figure class="chart">
<svg viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-labelledby="chart-title chart-desc">
<title id="chart-title">${title}</title>
<desc id="chart-desc">${all} completed handovers from ${first} to ${last} (UTC days), stacked by reason; the table below lists them.</desc>
${ticks}${bars}${labels}
</svg>
<ul class="legend">${series.map(
    (s) =>
      html`<li><svg class="swatch" width="14" height="14" aria-hidden="true"><rect width="14" height="14" fill="${s.colour}"/></svg>${s.label}: ${s.per.reduce((a, b) => a + b, 0)}</li>`,
  )}</ul>
</figure>
${dailyTable(counts, series)}`;
};

const dailyTable = (counts: DailyCounts, series: ReturnType<typeof seriesOf>): Html => {
  const rows = counts.days
    .map((day, d) => ({ day, cells: series.map((s) => s.per[d] ?? 0) }))
    .filter((row) => row.cells.some((n) => n > 0));
  return html`<details><summary>The same counts as a table (days with handovers)</summary>
<table><caption class="muted">Completed handovers per UTC day and reason</caption>
<thead><tr><th scope="col">Day</th>${series.map((s) => html`<th scope="col">${s.label}</th>`)}</tr></thead>
<tbody>${rows.map(
    (row) =>
      html`<tr><th scope="row">${row.day}</th>${row.cells.map((n) => html`<td>${n}</td>`)}</tr>`,
  )}</tbody></table></details>`;
};
