// `parley-handover reconcile [--user ID]`: finishes stale pending handovers, as the schedule does.
import { action, type Register } from '../context';
import { printJson } from '../format';

export const registerReconcile: Register = (program, ctx, sink) => {
  program
    .command('reconcile')
    .description('finish stale pending handovers')
    .option('--user <ID>', "only this user's")
    .addHelpText(
      'after',
      "\nFinishes stale pending handovers (all, or one user's), as the 5-minute schedule does.\nFormats: table, json. Exit code 1 when one of them failed.",
    )
    .action(
      action(sink, async (command) => {
        const format = ctx.format(command, ['table', 'json']);
        const { user } = command.opts<{ user?: string }>();
        const { api } = ctx.target(command);
        const out = await api.call<{
          examined: number;
          recovered: number;
          failed: { userId: string; code: string }[];
        }>('POST', '/reconcile', user ? { body: { userId: user } } : {});
        if (format === 'json') printJson(ctx.io, out);
        else {
          ctx.io.stdout(
            `examined ${out.examined}, recovered ${out.recovered}, failed ${out.failed.length}\n`,
          );
          for (const f of out.failed) ctx.io.stdout(`  user ${f.userId}: ${f.code}\n`);
        }
        return out.failed.length > 0 ? 1 : 0;
      }),
    );
};
