// `parley-handover handover <userId> <newOwner>`: moves a user, as its current owner.
import type { HandoverRecord } from '../../../functions/domain/types';
import { action, type Register, required } from '../context';
import { printJson } from '../format';
import { actingToken, currentOwner } from '../target';

interface HandoverOptions {
  reason?: string;
  expectedOwner?: string;
  idempotencyKey?: string;
  as?: string;
}

export const registerHandover: Register = (program, ctx, sink) => {
  program
    .command('handover')
    .description('move a user (newOwner: id, name or "default")')
    .argument('<userId>', 'the Parley user id')
    .argument('<newOwner>', 'an identification, a service name, or "default"')
    .option('--reason <R>', 'the reason, kept in the record')
    .option('--expected-owner <S>', 'refuse (409) unless S owns the user')
    .option('--idempotency-key <K>', 'a repeat with the same key makes no second handover')
    .option('--as <SERVICE>', 'locally: act as this Service (a name or id of the services file)')
    .addHelpText(
      'after',
      [
        '',
        'Hands the user to newOwner (an identification, a service name, or "default"). Needs the',
        "current owner's apiToken: --token, or locally --as SERVICE (a name or id from the services",
        'file); without either, locally, the token of the current owner is used.',
        'Formats: table, json.',
      ].join('\n'),
    )
    .action(
      action(sink, async (command, userIdArg, newOwnerArg) => {
        const userId = required(userIdArg, 'userId');
        const newOwner = required(newOwnerArg, 'newOwner');
        const format = ctx.format(command, ['table', 'json']);
        const options = command.opts<HandoverOptions>();
        const target = ctx.target(command);
        // Locally without --as: the current owner's apiToken from the services file.
        const token = await actingToken(target, options.as, () => currentOwner(target, userId));
        const out = await target.api.call<{
          changed: boolean;
          owner: { identification: string; name: string };
          handover?: HandoverRecord;
        }>('POST', '/handovers', {
          token,
          body: {
            userId,
            newOwner,
            ...(options.reason ? { metadata: { reason: options.reason } } : {}),
            ...(options.expectedOwner ? { expectedOwner: options.expectedOwner } : {}),
          },
          ...(options.idempotencyKey
            ? { headers: { 'idempotency-key': options.idempotencyKey } }
            : {}),
        });
        if (format === 'json') printJson(ctx.io, out);
        else if (!out.changed)
          ctx.io.stdout(`user ${userId} already belongs to ${out.owner.name}: nothing changed\n`);
        else
          ctx.io.stdout(
            `user ${userId} now belongs to ${out.owner.name} (handover ${out.handover?.handoverId}, seq ${out.handover?.seq})\n`,
          );
        return 0;
      }),
    );
};
