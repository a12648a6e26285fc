// Output of `parley-handover`: aligned tables, pretty JSON, verify verdicts as sentences, and the
// progress line on stderr (stdout carries only the result, so it can be piped into a file).
import type { VerifyReport } from '../../functions/domain/verify';
import type { CliIo } from './context';

/** Columns aligned by their widest cell; a missing value shows as "-". */
export const table = (rows: Record<string, unknown>[], columns: readonly string[]): string => {
  const cell = (v: unknown) => (v === null || v === undefined ? '-' : String(v));
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => cell(r[c]).length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => v.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  return [line([...columns]), ...rows.map((r) => line(columns.map((c) => cell(r[c]))))].join('\n');
};

/** The columns of a handover record in a table. */
export const RECORD_COLUMNS = [
  'seq',
  'createdAt',
  'userId',
  'fromOwner',
  'toOwner',
  'reason',
  'source',
  'status',
] as const;

export const printJson = (io: CliIo, value: unknown): void =>
  io.stdout(`${JSON.stringify(value, null, 2)}\n`);

/** A progress line on stderr: rewritten in place on a terminal, one line per update otherwise. */
export const progressLine = (io: CliIo) => {
  let shown = false;
  return {
    show(text: string) {
      if (io.stderrIsTty) io.stderr(`\r\x1b[K${text}`);
      else io.stderr(`${text}\n`);
      shown = true;
    },
    end() {
      if (shown && io.stderrIsTty) io.stderr('\n');
    },
  };
};

/** One user's verify verdict, as a sentence. */
export const verifyLine = (r: VerifyReport): string => {
  const inFlight = r.pending
    ? `; a handover is in flight (seq ${r.pending.seq}, ${r.pending.recorded ? 'recorded' : 'not recorded yet'})`
    : '';
  if (!r.ok && r.firstBroken) {
    return `user ${r.userId}: hash chain BROKEN at seq ${r.firstBroken.seq} (${r.firstBroken.problem}); ${r.count} record(s) before it are sound`;
  }
  if (r.count === 0)
    return `user ${r.userId}: no handover records yet (nothing to verify)${inFlight}`;
  return `user ${r.userId}: ${r.count} record(s), hash chain intact up to the owner item's seq ${r.lastSeq} (hash ${r.lastHash})${inFlight}`;
};
