// `parley-handover owner <userId> [--at ISO]`: who owns a user now (Parley), or at an instant
// (the history).
import { action, instantOption, type Register, required } from '../context';
import { printJson } from '../format';

export const registerOwner: Register = (program, ctx, sink) => {
  program
    .command('owner')
    .description('who owns a user now, or at an instant')
    .argument('<userId>', 'the Parley user id')
    .option('--at <ISO>', 'an instant with a zone, e.g. 2026-03-01T14:00:00Z')
    .addHelpText(
      'after',
      [
        '',
        'Who owns the user now (asked of Parley), or at an instant (--at, from the history).',
        'A date alone is refused (the API names an instant, not a day): for the end of a day',
        'give its last second, e.g. --at 2026-03-01T23:59:59Z.',
        'Formats: table, json.',
      ].join('\n'),
    )
    .action(
      action(sink, async (command, userIdArg) => {
        const userId = required(userIdArg, 'userId');
        const format = ctx.format(command, ['table', 'json']);
        const at = instantOption(command.opts<{ at?: string }>().at, '--at');
        const { api } = ctx.target(command);
        const query = at ? `?at=${encodeURIComponent(at)}` : '';
        const out = await api.call<{
          owner: { identification: string; name: string } | null;
          since?: string | null;
          known?: boolean;
        }>('GET', `/users/${encodeURIComponent(userId)}/owner${query}`);
        const when = at ? ` at ${at}` : '';
        if (format === 'json') printJson(ctx.io, out);
        else if (!out.owner) ctx.io.stdout(`user ${userId}: no owner known${when}\n`);
        else
          ctx.io.stdout(
            `user ${userId}: ${out.owner.name} (${out.owner.identification})${when}${out.since ? `, since ${out.since}` : ''}\n`,
          );
        return 0;
      }),
    );
};
