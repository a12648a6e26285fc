// `parley-handover offer create|accept|decline|cancel|show` and `offers <userId>`: offers with a
// deadline (POST /handovers with mode "offer", POST /offers/{offerId}/accept|decline|cancel,
// GET /offers/{offerId}, GET /users/{userId}/offers). Each side acts with its own apiToken; locally
// the CLI finds the side's token in the services file. The service applies the rules.
import { UsageError } from '../../usage';
import { actingTarget, asOption, theOwner } from '../acting';
import type { ApiClient } from '../api-client';
import { action, type Register, required } from '../context';
import { printJson, table } from '../format';
import { subcommandGroup } from '../subcommands';

/** A Service as the API names it: its identification, or `{ identification, name }`. */
type ServiceRef = string | { identification: string; name?: string };

interface Offer {
  offerId: string;
  userId?: string;
  from: ServiceRef;
  to: ServiceRef;
  status: string;
  createdAt?: string;
  expiresAt: string;
  onTimeout?: string;
}

const idOf = (s: ServiceRef): string => (typeof s === 'string' ? s : s.identification);
const labelOf = (s: ServiceRef): string =>
  typeof s === 'string' ? s : (s.name ?? s.identification);

/** Offer timeouts the API takes (DESIGN.md "Offers"). */
const MIN_TIMEOUT = 5;
const MAX_TIMEOUT = 3600;

const HELP = [
  '',
  'Forms:',
  '  parley-handover offer create <userId> --to SERVICE [--timeout S]',
  '                               [--on-timeout keep|default|SERVICE] [--metadata JSON]',
  '                               [--idempotency-key K] [--as SERVICE]',
  '  parley-handover offer accept <offerId> [--as SERVICE]',
  '  parley-handover offer decline <offerId> [--reason R] [--as SERVICE]',
  '  parley-handover offer cancel <offerId> [--as SERVICE]',
  '  parley-handover offer show <offerId>',
  '  parley-handover offers <userId>',
  '',
  'The owner offers a user to another Service, which may accept (the user moves to it) or decline',
  `within --timeout seconds (${MIN_TIMEOUT} to ${MAX_TIMEOUT}, default 120); unanswered, the user stays ("keep",`,
  'the default) or goes to the default Service or another one (--on-timeout). A new offer',
  'supersedes the live one. The owner creates and cancels, the offered Service accepts and',
  "declines, each with its own apiToken: --token, or locally --as SERVICE, else the side's token",
  'from the services file. "show" and "offers" read (either side, auditors, operators).',
  'Formats: table, json.',
].join('\n');

/** The offer, as GET /offers/{offerId} answers it (with the target's own token). */
const readOffer = async (api: ApiClient, offerId: string): Promise<Offer> =>
  (await api.call<{ offer: Offer }>('GET', `/offers/${encodeURIComponent(offerId)}`)).offer;

const offerLine = (o: Offer): string =>
  `offer ${o.offerId}${o.userId ? ` of user ${o.userId}` : ''}: ${labelOf(o.from)} -> ${labelOf(o.to)}, ${o.status}` +
  (o.status === 'pending' ? ` until ${o.expiresAt}` : '');

const metadataOption = (value: string | undefined): Record<string, unknown> | undefined => {
  if (value === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw new UsageError('--metadata must be a JSON object, e.g. \'{"reason":"billing"}\'.');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UsageError('--metadata must be a JSON object, e.g. \'{"reason":"billing"}\'.');
  }
  return parsed as Record<string, unknown>;
};

const timeoutOption = (value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  const seconds = /^\d{1,5}$/.test(value) ? Number(value) : Number.NaN;
  if (!(seconds >= MIN_TIMEOUT && seconds <= MAX_TIMEOUT)) {
    throw new UsageError(`--timeout must be a whole number from ${MIN_TIMEOUT} to ${MAX_TIMEOUT}.`);
  }
  return seconds;
};

const nonEmpty = (value: string | undefined, flag: string): string | undefined => {
  if (value !== undefined && value.trim() === '') throw new UsageError(`${flag} needs a value.`);
  return value;
};

export const registerOffers: Register = (program, ctx, sink) => {
  const group = subcommandGroup(program, sink, {
    name: 'offer',
    description: 'offers with a deadline: create, accept, decline, cancel, show',
    what: 'create, accept, decline, cancel or show',
    help: HELP,
    needs: 'offer needs "create", "accept", "decline", "cancel" or "show".',
    unknown: (what) =>
      `Unknown offer command "${what}": use create, accept, decline, cancel or show.`,
  });

  group
    .command('create')
    .description('offer a user to another Service (the owner)')
    .argument('<userId>', 'the Parley user id')
    .option('--to <SERVICE>', 'the Service offered the user: identification or name')
    .option('--timeout <S>', `seconds to answer, ${MIN_TIMEOUT} to ${MAX_TIMEOUT} (default 120)`)
    .option('--on-timeout <WHERE>', 'keep (default), default, or a Service')
    .option('--metadata <JSON>', 'a JSON object, kept in the records (the new owner receives it)')
    .option('--idempotency-key <K>', 'a repeat with the same key makes no second offer')
    .addOption(asOption())
    .addHelpText('after', HELP)
    .action(
      action(sink, async (command, userIdArg) => {
        const userId = required(userIdArg, 'userId');
        const format = ctx.format(command, ['table', 'json']);
        const options = command.opts<{
          to?: string;
          timeout?: string;
          onTimeout?: string;
          metadata?: string;
          idempotencyKey?: string;
        }>();
        const to = nonEmpty(options.to, '--to');
        if (to === undefined) throw new UsageError('offer create needs --to SERVICE.');
        const timeout = timeoutOption(options.timeout);
        const onTimeout = nonEmpty(options.onTimeout, '--on-timeout');
        const metadata = metadataOption(options.metadata);
        const key = nonEmpty(options.idempotencyKey, '--idempotency-key');
        const { target, token } = await actingTarget(ctx, command, theOwner(userId));
        const out = await target.api.call<{ offer: Offer }>('POST', '/handovers', {
          token,
          body: {
            userId,
            newOwner: to,
            mode: 'offer',
            ...(timeout !== undefined ? { offerTimeoutSeconds: timeout } : {}),
            ...(onTimeout !== undefined ? { onTimeout } : {}),
            ...(metadata !== undefined ? { metadata } : {}),
          },
          ...(key !== undefined ? { headers: { 'Idempotency-Key': key } } : {}),
        });
        if (format === 'json') printJson(ctx.io, out);
        else ctx.io.stdout(`${offerLine({ userId, ...out.offer })}\n`);
        return 0;
      }),
    );

  // accept and decline are the offered Service's; cancel is the offering one's. Only a decline
  // records a reason: the others refuse one rather than drop it.
  const answers = [
    ['accept', 'take the user (the offered Service)', 'to', 'accepted'],
    ['decline', 'refuse the user (the offered Service)', 'to', 'declined'],
    ['cancel', 'withdraw the offer (the owner that made it)', 'from', 'cancelled'],
  ] as const;
  for (const [verb, description, side, done] of answers) {
    const command = group
      .command(verb)
      .description(description)
      .argument('<offerId>', 'the offer, as "offer create" or "offers" print it');
    command
      .option(
        '--reason <R>',
        verb === 'decline' ? 'why, kept in the record' : 'not taken: only a decline records one',
      )
      .addOption(asOption())
      .addHelpText('after', HELP)
      .action(
        action(sink, async (command, offerIdArg) => {
          const offerId = required(offerIdArg, 'offerId');
          const format = ctx.format(command, ['table', 'json']);
          const options = command.opts<{ reason?: string }>();
          const reason = nonEmpty(options.reason, '--reason');
          if (reason !== undefined && verb !== 'decline') {
            throw new UsageError(`An offer's ${verb} records no reason: only a decline does.`);
          }
          const { target, token } = await actingTarget(ctx, command, async (t) =>
            idOf((await readOffer(t.api, offerId))[side]),
          );
          const out = await target.api.call<{
            offer?: Offer;
            owner?: { identification: string; name: string };
            handover?: { handoverId: string; seq: number };
          }>('POST', `/offers/${encodeURIComponent(offerId)}/${verb}`, {
            token,
            ...(reason !== undefined ? { body: { reason } } : {}),
          });
          if (format === 'json') printJson(ctx.io, out);
          else if (out.owner) {
            const handover = out.handover
              ? ` (handover ${out.handover.handoverId}, seq ${out.handover.seq})`
              : '';
            ctx.io.stdout(
              `offer ${offerId} ${done}: the user now belongs to ${out.owner.name}${handover}\n`,
            );
          } else ctx.io.stdout(`offer ${offerId} ${done}\n`);
          return 0;
        }),
      );
  }

  group
    .command('show')
    .description('one offer and how it ended')
    .argument('<offerId>', 'the offer')
    .addHelpText('after', HELP)
    .action(
      action(sink, async (command, offerIdArg) => {
        const offerId = required(offerIdArg, 'offerId');
        const format = ctx.format(command, ['table', 'json']);
        const out = await ctx
          .target(command)
          .api.call<{ offer: Offer }>('GET', `/offers/${encodeURIComponent(offerId)}`);
        if (format === 'json') printJson(ctx.io, out);
        else ctx.io.stdout(`${offerLine(out.offer)}\n`);
        return 0;
      }),
    );

  program
    .command('offers')
    .description("a user's offers, newest first")
    .argument('<userId>', 'the Parley user id')
    .addHelpText('after', HELP)
    .action(
      action(sink, async (command, userIdArg) => {
        const userId = required(userIdArg, 'userId');
        const format = ctx.format(command, ['table', 'json']);
        const out = await ctx
          .target(command)
          .api.call<{ offers: Offer[]; complete?: boolean }>(
            'GET',
            `/users/${encodeURIComponent(userId)}/offers`,
          );
        if (format === 'json') printJson(ctx.io, out);
        else if (out.offers.length === 0) ctx.io.stdout(`user ${userId}: no offers\n`);
        else {
          const rows = out.offers.map((o) => ({
            ...o,
            from: labelOf(o.from),
            to: labelOf(o.to),
          }));
          ctx.io.stdout(
            `${table(rows, ['offerId', 'status', 'from', 'to', 'createdAt', 'expiresAt'])}\n`,
          );
          if (out.complete === false) {
            ctx.io.stderr('older offers are not listed (the newest records were read)\n');
          }
        }
        return 0;
      }),
    );
};
