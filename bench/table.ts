// The bench's report table: one row per check, rendered as a padded markdown table.

export interface TableRow {
  section: string;
  check: string;
  subject: string;
  floor: string;
  result: string;
  budget: string;
  verdict: 'within' | 'over' | 'reported';
}

export const verdict = (ok: boolean): TableRow['verdict'] => (ok ? 'within' : 'over');

/** A markdown table with padded columns (the layout the repository's formatter keeps). */
export const renderTable = (rows: TableRow[]): string => {
  const head = ['section', 'check', 'subject', 'floor', 'ratio / delta', 'budget', 'verdict'];
  const cells = rows.map((r) => [
    r.section,
    r.check,
    r.subject,
    r.floor,
    r.result,
    r.budget,
    r.verdict,
  ]);
  const widths = head.map((h, i) => Math.max(3, h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => `| ${c.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
  return [
    line(head),
    `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`,
    ...cells.map(line),
  ].join('\n');
};
