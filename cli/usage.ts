// What both operator CLIs share on top of commander: one usage-error class, commander's parse
// errors turned into one plain sentence, and the exit codes (0 ok, 1 failure, 2 usage).
import { type Command, CommanderError } from 'commander';

export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** A wrong command line: printed as one sentence plus "Try --help.", exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** The line printed for a usage error. */
export const usageLine = (sentence: string): string => `${sentence} Try --help.`;

const quoted = (message: string): string => /'([^']*)'/.exec(message)?.[1] ?? '';

/** The first word of an option's flags ("--at <ISO>" -> "--at"). */
const flagOf = (flags: string): string =>
  flags
    .split(/[ ,|]+/)
    .filter((f) => f.startsWith('-'))
    .at(-1) ?? flags;

/**
 * One sentence for a commander parse error (its own messages read "error: unknown option '--x'"
 * and carry a suggestion on a second line).
 */
export const usageSentence = (err: CommanderError): string => {
  const suggestion = /\(Did you mean (.+)\?\)/.exec(err.message)?.[1];
  const hint = suggestion ? ` Did you mean ${suggestion}?` : '';
  switch (err.code) {
    case 'commander.unknownOption':
      return `Unknown option ${quoted(err.message)}.${hint}`;
    case 'commander.unknownCommand':
      return `Unknown command "${quoted(err.message)}".${hint}`;
    case 'commander.missingArgument':
      return `Missing <${quoted(err.message)}>.`;
    case 'commander.optionMissingArgument':
      return `${flagOf(quoted(err.message))} needs a value.`;
    default: {
      const text = err.message
        .replace(/^error: /, '')
        .split('\n')[0]!
        .trim();
      const sentence = text.charAt(0).toUpperCase() + text.slice(1);
      return /[.?!]$/.test(sentence) ? sentence : `${sentence}.`;
    }
  }
};

/** Help and version output: commander ends these with exit code 0 (or 1 for help on a bare group). */
export const isHelp = (err: unknown): err is CommanderError =>
  err instanceof CommanderError &&
  (err.code === 'commander.helpDisplayed' ||
    err.code === 'commander.help' ||
    err.code === 'commander.version');

/**
 * Settings every command of a CLI shares: parse errors thrown (never process.exit), written by
 * the caller, extra operands left to the command (which names the first one in its sentence),
 * global options shown in each command's help.
 */
export const configureCommand = (
  command: Command,
  write: { out: (text: string) => void; err: (text: string) => void },
): Command =>
  command
    .exitOverride()
    .allowExcessArguments(true)
    .showSuggestionAfterError(true)
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .configureOutput({
      writeOut: write.out,
      writeErr: write.err,
      // Parse errors are rewritten into one sentence by the caller.
      outputError: () => undefined,
    });

/** Refuses operands beyond the command's declared arguments. */
export const noExtraOperands = (command: Command): void => {
  const extra = command.args[command.registeredArguments.length];
  if (extra !== undefined) throw new UsageError(`Unexpected argument "${extra}".`);
};
