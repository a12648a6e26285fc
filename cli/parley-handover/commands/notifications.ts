// `parley-handover notifications list` (the outbox: who was told what, what was done at Parley
// after a hand-back, and how it went) and
// `notifications redeliver <id>` (an operator sends one again). GET /notifications and
// POST /notifications/{id}/redeliver; the CLI only reports their answers.
import { UsageError } from '../../usage';
import { action, countOption, type Register, required } from '../context';
import { printJson, table } from '../format';

interface NotificationRow {
  id: string;
  /** `notification` (told to a Service) or `action` (done at Parley, e.g. parley.agent_unset). */
  kind: string;
  type: string;
  recipient: string;
  userId: string;
  seq: number;
  status: string;
  attempts: number;
  lastStatus: number | null;
  lastError: string | null;
  updatedAt: string;
}

const COLUMNS = [
  'id',
  'kind',
  'type',
  'recipient',
  'userId',
  'seq',
  'status',
  'attempts',
  'lastStatus',
  'updatedAt',
] as const;
const STATUSES = ['pending', 'sent', 'failed'];

/** An option that must not be given empty. */
const nonEmpty = (value: string, flag: string): string => {
  if (value === '') throw new UsageError(`${flag} needs a value.`);
  return value;
};

const HELP = [
  '',
  'Forms:',
  '  parley-handover notifications list [--service S] [--status pending|sent|failed]',
  '                                     [--limit N] [--cursor C] [--format table|json]',
  '  parley-handover notifications redeliver <id> [--reason R]',
  '',
  '"list" shows one page of the outbox, newest first (auditors and operators); the cursor of the',
  'next page, when there may be one, goes to stderr. Bodies are never shown. Its kind is',
  '"notification" (a Service told) or "action" (work done at Parley, e.g. parley.agent_unset).',
  '"redeliver" puts a notification, sent or failed, back to pending and queues it again',
  "(operators; locally the services file's operator token is used). Its id is the list's.",
].join('\n');

export const registerNotifications: Register = (program, ctx, sink) => {
  const group = program
    .command('notifications')
    .description('what Services were told about their users: list, redeliver')
    .argument('[what]', 'list or redeliver')
    .addHelpText('after', HELP)
    // Reached only without a known subcommand.
    .action(
      action(sink, async (_command, what) => {
        throw new UsageError(
          what === undefined || what === ''
            ? 'notifications needs "list" or "redeliver <id>".'
            : `Unknown notifications command "${what}": use "notifications list" or "notifications redeliver <id>".`,
        );
      }),
    );

  group
    .command('list')
    .description('one page of the outbox, newest first')
    .option('--service <S>', 'only those to this Service (identification or name)')
    .option('--status <STATUS>', 'pending, sent or failed')
    .option('--limit <N>', 'notifications in the page, 1 to 100 (default 50)')
    .option('--cursor <C>', 'the page after the one that printed this cursor')
    .addHelpText('after', HELP)
    .action(
      action(sink, async (command) => {
        const format = ctx.format(command, ['table', 'json']);
        const options = command.opts<{
          service?: string;
          status?: string;
          limit?: string;
          cursor?: string;
        }>();
        if (options.status !== undefined && !STATUSES.includes(options.status)) {
          throw new UsageError('--status must be pending, sent or failed.');
        }
        const query = new URLSearchParams();
        if (options.service !== undefined)
          query.set('service', nonEmpty(options.service, '--service'));
        if (options.status !== undefined) query.set('status', options.status);
        if (options.limit !== undefined)
          query.set('limit', countOption(options.limit, '--limit', 100));
        if (options.cursor !== undefined) query.set('cursor', nonEmpty(options.cursor, '--cursor'));
        const page = await ctx
          .target(command)
          .api.call<{ items: NotificationRow[]; cursor?: string }>(
            'GET',
            `/notifications${query.size ? `?${query}` : ''}`,
          );
        if (format === 'json') printJson(ctx.io, page);
        else {
          ctx.io.stdout(
            page.items.length ? `${table(page.items as never, COLUMNS)}\n` : 'no notifications\n',
          );
          const failed = page.items.filter((n) => n.status === 'failed' && n.lastError);
          for (const n of failed) ctx.io.stdout(`  ${n.id}: ${n.lastError}\n`);
          if (page.cursor) ctx.io.stderr(`more: --cursor ${page.cursor}\n`);
        }
        return 0;
      }),
    );

  group
    .command('redeliver')
    .description('send a notification again (operators)')
    .argument('<id>', 'the notification id, as "notifications list" shows it')
    .option('--reason <R>', 'why (logged with your name)')
    .addHelpText('after', HELP)
    .action(
      action(sink, async (command, idArg) => {
        const id = required(idArg, 'id');
        const format = ctx.format(command, ['table', 'json']);
        const { reason } = command.opts<{ reason?: string }>();
        const out = await ctx
          .target(command, 'operator')
          .api.call<{ id: string; status: string }>(
            'POST',
            `/notifications/${encodeURIComponent(id)}/redeliver`,
            reason !== undefined ? { body: { reason } } : {},
          );
        if (format === 'json') printJson(ctx.io, out);
        else ctx.io.stdout(`notification ${out.id}: ${out.status}, queued again\n`);
        return 0;
      }),
    );
};
