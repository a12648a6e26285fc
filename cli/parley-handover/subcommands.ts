// A command made only of subcommands (`lease extend|show`, `offer create|accept|...`): its own
// action runs when no known subcommand was named, and says what the command needs.
import type { Command } from 'commander';
import { UsageError } from '../usage';
import { action, type ExitSink } from './context';

export interface SubcommandGroup {
  name: string;
  description: string;
  /** The help of the `[what]` operand: the subcommands. */
  what: string;
  help: string;
  /** The sentence when no subcommand was named. */
  needs: string;
  /** The sentence for a subcommand that does not exist. */
  unknown: (what: string) => string;
}

export const subcommandGroup = (program: Command, sink: ExitSink, group: SubcommandGroup) =>
  program
    .command(group.name)
    .description(group.description)
    .argument('[what]', group.what)
    .addHelpText('after', group.help)
    .action(
      action(sink, async (_command, what) => {
        throw new UsageError(what === undefined || what === '' ? group.needs : group.unknown(what));
      }),
    );
