// `parley-handover audit user <userId>` (a user's history, newest first) and `audit range --from
// --to` (every handover in a time range, oldest first), as a table, JSON or the API's own CSV.
import type { HandoverRecord } from '../../../functions/domain/types';
import { UsageError } from '../../usage';
import { type ApiClient, toApiError } from '../api-client';
import { action, type CliIo, countOption, type Register, rangeBound, required } from '../context';
import { printJson, progressLine, RECORD_COLUMNS, table } from '../format';

const pageAll = async (
  api: ApiClient,
  path: string,
  params: URLSearchParams,
  progress?: (pages: number, records: number) => void,
): Promise<HandoverRecord[]> => {
  const records: HandoverRecord[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const query = new URLSearchParams(params);
    if (cursor) query.set('cursor', cursor);
    const page = await api.call<{ handovers: HandoverRecord[]; cursor?: string }>(
      'GET',
      `${path}?${query}`,
    );
    records.push(...page.handovers);
    pages += 1;
    progress?.(pages, records.length);
    cursor = page.cursor;
  } while (cursor);
  return records;
};

/** Every CSV page of an audit route (the API's own CSV), with the header row once. */
const csvPages = async (
  api: ApiClient,
  path: string,
  params: URLSearchParams,
  io: CliIo,
  options: { label?: string; onePage?: boolean } = {},
) => {
  const progress = options.label ? progressLine(io) : null;
  let cursor: string | null = null;
  let pages = 0;
  let rows = 0;
  do {
    const query = new URLSearchParams(params);
    if (cursor) query.set('cursor', cursor);
    const res = await api.request('GET', `${path}?${query}`, { headers: { accept: 'text/csv' } });
    if (res.status !== 200) throw toApiError(res);
    const text = res.text.endsWith('\n') || res.text === '' ? res.text : `${res.text}\n`;
    // Every page starts with the header row: keep the first one only.
    const body = pages === 0 ? text : text.slice(text.indexOf('\n') + 1);
    io.stdout(body);
    pages += 1;
    rows += Math.max(0, text.split('\n').length - 2);
    progress?.show(`${options.label}: ${rows} record(s), ${pages} page(s)`);
    cursor = options.onePage ? null : res.headers.get('x-next-cursor');
  } while (cursor);
  progress?.end();
};

interface RangeOptions {
  from?: string;
  to?: string;
  service?: string;
  reason?: string;
  status?: string;
  source?: string;
  pageSize: string;
}

const rangeParams = (options: RangeOptions): URLSearchParams => {
  const from = rangeBound(options.from, '--from');
  const to = rangeBound(options.to, '--to');
  if (!from || !to) throw new UsageError('audit range needs --from and --to.');
  if (
    options.status !== undefined &&
    options.status !== 'completed' &&
    options.status !== 'failed'
  ) {
    throw new UsageError('--status must be completed or failed.');
  }
  const limit = countOption(options.pageSize, '--page-size', 1000);
  const params = new URLSearchParams({ from, to, limit });
  for (const name of ['service', 'reason', 'status', 'source'] as const) {
    const v = options[name];
    if (v !== undefined) params.set(name, v);
  }
  return params;
};

const AUDIT_HELP = [
  '',
  '"audit user" prints a user\'s history, newest first (every page unless --limit).',
  '"audit range" pages through every handover in [from, to] (oldest first, --page-size records a',
  'request, default 1000); a progress line goes to stderr. --service is the destination service.',
  '--from and --to take a date (--to then means the end of that day) or a date-time with a zone.',
  'Formats: table, json, csv.',
].join('\n');

export const registerAudit: Register = (program, ctx, sink) => {
  const audit = program
    .command('audit')
    .description('handover history: of a user, or in a time range')
    .argument('[what]', 'user or range')
    .addHelpText('after', AUDIT_HELP)
    // Reached only without a known subcommand.
    .action(
      action(sink, async (_command, what) => {
        throw new UsageError(
          what === undefined || what === ''
            ? 'audit needs "user <userId>" or "range --from ISO --to ISO".'
            : `Unknown audit command "${what}": use "audit user <userId>" or "audit range --from ISO --to ISO".`,
        );
      }),
    );

  audit
    .command('user')
    .description("a user's handover history, newest first")
    .argument('<userId>', 'the Parley user id')
    .option('--limit <N>', 'only the newest N records (one page)')
    .addHelpText('after', AUDIT_HELP)
    .action(
      action(sink, async (command, userIdArg) => {
        const userId = required(userIdArg, 'userId');
        const format = ctx.format(command, ['table', 'json', 'csv']);
        const { limit: limitArg } = command.opts<{ limit?: string }>();
        const limit = limitArg === undefined ? undefined : countOption(limitArg, '--limit');
        const { api } = ctx.target(command);
        const path = `/users/${encodeURIComponent(userId)}/handovers`;
        if (format === 'csv') {
          await csvPages(api, path, new URLSearchParams({ limit: limit ?? '1000' }), ctx.io, {
            onePage: limit !== undefined,
          });
          return 0;
        }
        const records = limit
          ? (await api.call<{ handovers: HandoverRecord[] }>('GET', `${path}?limit=${limit}`))
              .handovers
          : await pageAll(api, path, new URLSearchParams({ limit: '1000' }));
        if (format === 'json') printJson(ctx.io, { handovers: records });
        else
          ctx.io.stdout(
            records.length
              ? `${table(records as never, RECORD_COLUMNS)}\n`
              : `user ${userId}: no handovers\n`,
          );
        return 0;
      }),
    );

  audit
    .command('range')
    .description('every handover in a time range, oldest first')
    .usage('--from ISO --to ISO [options]')
    .option('--from <ISO>', 'start: a date, or a date-time with a zone')
    .option('--to <ISO>', 'end: a date (its end), or a date-time with a zone')
    .option('--service <S>', 'destination service (identification or name)')
    .option('--reason <R>', 'only this reason')
    .option('--status <STATUS>', 'completed or failed')
    .option(
      '--source <SRC>',
      'api, rule, downstream, observed, failover, operator, timeout or offer',
    )
    .option('--page-size <N>', 'records a request, 1 to 1000', '1000')
    .addHelpText('after', AUDIT_HELP)
    .action(
      action(sink, async (command) => {
        const params = rangeParams(command.opts<RangeOptions>());
        const format = ctx.format(command, ['table', 'json', 'csv']);
        const { api } = ctx.target(command);
        if (format === 'csv') {
          await csvPages(api, '/handovers', params, ctx.io, { label: 'audit range' });
          return 0;
        }
        const progress = progressLine(ctx.io);
        const records = await pageAll(api, '/handovers', params, (pages, count) =>
          progress.show(`audit range: ${count} record(s), ${pages} page(s)`),
        );
        progress.end();
        if (format === 'json') printJson(ctx.io, { handovers: records });
        else
          ctx.io.stdout(
            records.length
              ? `${table(records as never, RECORD_COLUMNS)}\n`
              : 'no handovers in this range\n',
          );
        return 0;
      }),
    );
};
