// `parley-handover lease extend <userId> --seconds N` (the owner keeps an idle user longer:
// POST /users/{userId}/lease) and `lease show <userId>` (the lease on the owner item, from
// GET /users/{userId}/owner). The service applies the rules; the CLI reports its answers.
import { UsageError } from '../../usage';
import { actingTarget, asOption, theOwner } from '../acting';
import { action, countOption, type Register, required } from '../context';
import { printJson } from '../format';
import { subcommandGroup } from '../subcommands';

interface Lease {
  expiresAt: string;
  hardExpiresAt: string;
  lastUserAt?: string;
  lastOwnerAt?: string;
  warnedAt?: string;
}

const HELP = [
  '',
  'Forms:',
  '  parley-handover lease extend <userId> --seconds N [--as SERVICE] [--format table|json]',
  '  parley-handover lease show <userId> [--format table|json]',
  '',
  'A user the owner leaves alone for its lease.idleSeconds goes to its lease.onExpiry Service',
  '(the default one unless configured). "extend" makes the lease run N seconds past its current',
  'expiry (past now, if it already ran out), never past its hard cap (422',
  "lease_limit_exceeded). It needs the owner's apiToken: --token, or locally --as SERVICE, else",
  'the current owner\'s from the services file. "show" prints the lease on the owner item.',
].join('\n');

export const registerLease: Register = (program, ctx, sink) => {
  const group = subcommandGroup(program, sink, {
    name: 'lease',
    description: "the owner's lease on an idle user: extend, show",
    what: 'extend or show',
    help: HELP,
    needs: 'lease needs "extend <userId> --seconds N" or "show <userId>".',
    unknown: (what) => `Unknown lease command "${what}": use "lease extend" or "lease show".`,
  });

  group
    .command('extend')
    .description('keep the user N seconds past the current expiry (the owner)')
    .argument('<userId>', 'the Parley user id')
    .option('--seconds <N>', 'how far past its current expiry the lease should run')
    .addOption(asOption())
    .addHelpText('after', HELP)
    .action(
      action(sink, async (command, userIdArg) => {
        const userId = required(userIdArg, 'userId');
        const format = ctx.format(command, ['table', 'json']);
        const options = command.opts<{ seconds?: string }>();
        if (options.seconds === undefined) {
          throw new UsageError(
            'lease extend needs --seconds N: how far past its expiry the lease should run.',
          );
        }
        const seconds = Number(countOption(options.seconds, '--seconds'));
        const { target, token } = await actingTarget(ctx, command, theOwner(userId));
        const out = await target.api.call<Lease>(
          'POST',
          `/users/${encodeURIComponent(userId)}/lease`,
          { token, body: { extendSeconds: seconds } },
        );
        if (format === 'json') printJson(ctx.io, out);
        else {
          ctx.io.stdout(
            `lease of user ${userId}: expires at ${out.expiresAt} (hard cap ${out.hardExpiresAt})\n`,
          );
        }
        return 0;
      }),
    );

  group
    .command('show')
    .description('the lease on the owner item')
    .argument('<userId>', 'the Parley user id')
    .addHelpText('after', HELP)
    .action(
      action(sink, async (command, userIdArg) => {
        const userId = required(userIdArg, 'userId');
        const format = ctx.format(command, ['table', 'json']);
        const out = await ctx
          .target(command)
          .api.call<{ owner: { identification: string; name: string }; lease?: Lease | null }>(
            'GET',
            `/users/${encodeURIComponent(userId)}/owner`,
          );
        const lease = out.lease ?? null;
        if (format === 'json') printJson(ctx.io, { userId, owner: out.owner, lease });
        else if (!lease) {
          ctx.io.stdout(`user ${userId}: ${out.owner.name} holds no lease\n`);
        } else {
          ctx.io.stdout(
            [
              `user ${userId}: ${out.owner.name} holds a lease`,
              `  expires at      ${lease.expiresAt}`,
              `  hard cap        ${lease.hardExpiresAt}`,
              `  last user msg   ${lease.lastUserAt ?? '-'}`,
              `  last owner msg  ${lease.lastOwnerAt ?? '-'}`,
              `  warned at       ${lease.warnedAt ?? '-'}`,
              '',
            ].join('\n'),
          );
        }
        return 0;
      }),
    );
};
