// What the commands that act as one Service share (lease extend, the offer's create, accept,
// decline and cancel): the --as option, and the API with the token of the side that must act.
import { type Command, Option } from 'commander';
import type { Context } from './context';
import { actingToken, currentOwner, type Target } from './target';

/** `--as`: locally, the Service of the services file the command acts as. */
export const asOption = (): Option =>
  new Option('--as <SERVICE>', 'locally: act as this Service (a name or id of the services file)');

/**
 * The API and the token to act with: undefined keeps --token (or PARLEY_HANDOVER_TOKEN); locally
 * --as names the Service, else `side` (asked with the target's own token) finds the one that must.
 */
export const actingTarget = async (
  ctx: Context,
  command: Command,
  side: (target: Target) => Promise<string>,
): Promise<{ target: Target; token: string | undefined }> => {
  const target = ctx.target(command);
  const { as } = command.opts<{ as?: string }>();
  return { target, token: await actingToken(target, as, () => side(target)) };
};

/** The side that acts on a user: its owner now. */
export const theOwner =
  (userId: string) =>
  (target: Target): Promise<string> =>
    currentOwner(target, userId);
