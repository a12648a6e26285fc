// `parley-handover release <service> --reason R [--dry-run] [--all]`: an operator hands every user
// of a Service to the default Service (POST /services/{serviceId}/release). One call moves what
// fits its time; --all follows the cursor until none is left, a progress line per call. The run
// sends one Idempotency-Key, so a call the service answered but the CLI did not hear replays.
import { randomUUID } from 'node:crypto';
import { UsageError } from '../../usage';
import type { ApiClient } from '../api-client';
import { action, type CliIo, countOption, type Format, type Register, required } from '../context';
import { printJson, progressLine } from '../format';

interface DryRun {
  serviceId: string;
  dryRun: true;
  count: number;
  complete: boolean;
  firstUsers: string[];
}

interface Run {
  serviceId: string;
  dryRun: false;
  moved: number;
  skipped: number;
  failed: { userId: string; code: string }[];
  cursor?: string;
}

const HELP = [
  '',
  'Forms:',
  '  parley-handover release <service> --reason R --dry-run',
  '  parley-handover release <service> --reason R [--all] [--limit N] [--cursor C]',
  '',
  'Hands every user the Service owns (as this service last saw it) to the default Service: one',
  'handover each, recorded with source "operator", your name and the reason (at most 100',
  'characters). --dry-run only counts them and names the first 20. One call moves what fits its',
  'time (at most --limit users, default 100) and prints a cursor when users may be left: run again',
  'with --cursor, or use --all to follow it to the end (a progress line per call on stderr).',
  "Operators only; locally the services file's operator token is used.",
  'Exit code 1 when a user could not be moved (each is named with its error code).',
].join('\n');

const summary = (total: Omit<Run, 'serviceId' | 'dryRun' | 'cursor'>) =>
  `moved ${total.moved}, skipped ${total.skipped}, failed ${total.failed.length}`;

/** Every call of a release: the first, then one per cursor while --all asks for it. */
const run = async (
  api: ApiClient,
  io: CliIo,
  path: string,
  body: { reason: string; limit?: number; cursor?: string },
  all: boolean,
): Promise<Run & { calls: number }> => {
  const key = randomUUID();
  const total: Run & { calls: number } = {
    serviceId: '',
    dryRun: false,
    moved: 0,
    skipped: 0,
    failed: [],
    calls: 0,
  };
  const progress = progressLine(io);
  let cursor = body.cursor;
  try {
    do {
      const out = await api.call<Run>('POST', path, {
        body: { ...body, ...(cursor ? { cursor } : {}) },
        headers: { 'Idempotency-Key': key },
      });
      total.serviceId = out.serviceId;
      total.moved += out.moved;
      total.skipped += out.skipped;
      total.failed.push(...out.failed);
      total.calls += 1;
      cursor = out.cursor;
      if (all) progress.show(`release: ${summary(total)} after ${total.calls} call(s)`);
    } while (all && cursor);
  } catch (err) {
    progress.end();
    if (total.calls > 0) {
      io.stderr(
        `release stopped after ${total.calls} call(s) (${summary(total)})${cursor ? `; resume with --cursor ${cursor}` : ''}.\n`,
      );
    }
    throw err;
  }
  progress.end();
  return { ...total, ...(cursor ? { cursor } : {}) };
};

export const registerRelease: Register = (program, ctx, sink) => {
  program
    .command('release')
    .description('hand every user of a Service to the default Service (operators)')
    .usage('<service> --reason R [--dry-run | --all] [options]')
    .argument('[service]', 'the released Service: identification or name')
    .option('--reason <R>', 'why (each record keeps it)')
    .option('--dry-run', 'count the users, move no one')
    .option('--all', 'follow the cursor until no user is left')
    .option('--limit <N>', 'users a call, 1 to 500 (default 100)')
    .option('--cursor <C>', 'resume where an earlier call stopped')
    .addHelpText('after', HELP)
    .action(
      action(sink, async (command, serviceArg) => {
        const service = required(serviceArg, 'service');
        const format: Format = ctx.format(command, ['table', 'json']);
        const options = command.opts<{
          reason?: string;
          dryRun?: boolean;
          all?: boolean;
          limit?: string;
          cursor?: string;
        }>();
        if (options.reason === undefined || options.reason.trim() === '') {
          throw new UsageError('release needs --reason: each record keeps why the user moved.');
        }
        if (options.dryRun && (options.all || options.limit || options.cursor)) {
          throw new UsageError('--dry-run only counts: it takes no --all, --limit or --cursor.');
        }
        if (options.cursor === '') throw new UsageError('--cursor needs a value.');
        const limit =
          options.limit === undefined ? undefined : countOption(options.limit, '--limit', 500);
        const { api } = ctx.target(command, 'operator');
        const path = `/services/${encodeURIComponent(service)}/release`;
        if (options.dryRun) {
          const out = await api.call<DryRun>('POST', path, {
            body: { reason: options.reason, dryRun: true },
          });
          if (format === 'json') printJson(ctx.io, out);
          else {
            const count = out.complete ? `${out.count}` : `at least ${out.count}`;
            ctx.io.stdout(`${count} user(s) of ${out.serviceId} would go to the default Service\n`);
            if (out.firstUsers.length) ctx.io.stdout(`  first: ${out.firstUsers.join(', ')}\n`);
          }
          return 0;
        }
        const out = await run(
          api,
          ctx.io,
          path,
          {
            reason: options.reason,
            ...(limit ? { limit: Number(limit) } : {}),
            ...(options.cursor ? { cursor: options.cursor } : {}),
          },
          options.all === true,
        );
        const { calls: _calls, ...answer } = out;
        if (format === 'json') printJson(ctx.io, answer);
        else {
          ctx.io.stdout(`${out.serviceId}: ${summary(out)}\n`);
          for (const f of out.failed) ctx.io.stdout(`  user ${f.userId}: ${f.code}\n`);
          if (out.cursor) {
            ctx.io.stdout(`users may be left: run again with --cursor ${out.cursor} (or --all)\n`);
          }
        }
        return out.failed.length > 0 ? 1 : 0;
      }),
    );
};
