// `parley-handover`: the command line over this service's HTTP API, for a deployed stage (--url and
// --token, or PARLEY_HANDOVER_URL / PARLEY_HANDOVER_TOKEN) or, by default, the local stack with the
// auditor token of the local services file. Global options go before or after the command.
// Exit codes: 0 ok, 1 failure (an API error, the service unreachable, a broken hash chain),
// 2 a wrong command line.
import { Command, CommanderError } from 'commander';
import { configureCommand, EXIT, isHelp, UsageError, usageLine, usageSentence } from '../usage';
import { ApiError } from './api-client';
import { registerAudit } from './commands/audit';
import { registerErasure } from './commands/erasure';
import { registerExport } from './commands/export';
import { registerHandover } from './commands/handover';
import { registerLease } from './commands/lease';
import { registerNotifications } from './commands/notifications';
import { registerOffers } from './commands/offers';
import { registerOwner } from './commands/owner';
import { registerReconcile } from './commands/reconcile';
import { registerReindex } from './commands/reindex';
import { registerRelease } from './commands/release';
import { registerServices } from './commands/services';
import { registerVerify } from './commands/verify';
import { type CliIo, createContext, type ExitSink } from './context';
import { pointedElsewhere } from './target';

export type { CliIo } from './context';

const FOOTER = `
Every command has --help, e.g. "parley-handover audit range --help". The options above work
before or after the command.

Exit codes: 0 ok, 1 failure, 2 wrong usage.`;

/** The program with every command; a fresh one per run (commander keeps parsed values on it). */
const program = (io: CliIo, sink: ExitSink): Command => {
  const ctx = createContext(io);
  const root = configureCommand(new Command('parley-handover'), {
    out: io.stdout,
    err: io.stderr,
  })
    .description("The command line of parley-handover's HTTP API.")
    .option('--url <URL>', 'the API (default PARLEY_HANDOVER_URL, else the local stack)')
    .option(
      '--token <TOKEN>',
      "a bearer token (default PARLEY_HANDOVER_TOKEN, else the local auditor's; the operator's for release and redeliver; the acting Service's for handover, lease extend and offers)",
    )
    .option('--format <FORMAT>', 'table (default), json, or csv for audit')
    .option('--json', 'the same as --format json')
    .addHelpText('after', FOOTER);
  for (const register of [
    registerServices,
    registerOwner,
    registerHandover,
    registerLease,
    registerOffers,
    registerAudit,
    registerVerify,
    registerReconcile,
    registerNotifications,
    registerRelease,
    registerErasure,
    registerExport,
    registerReindex,
  ]) {
    register(root, ctx, sink);
  }
  return root;
};

const NO_TOKEN =
  " No token was sent: pass --token TOKEN or set PARLEY_HANDOVER_TOKEN (an auditor's token; for" +
  " handover, the owning Service's apiToken).";

/** Runs one command line; resolves with the exit code. */
export const runCli = async (argv: string[], io: CliIo): Promise<number> => {
  const sink: ExitSink = { code: EXIT.ok };
  try {
    await program(io, sink).parseAsync(argv, { from: 'user' });
    return sink.code;
  } catch (err) {
    // Help asked for: 0; help shown because the command was missing: a usage error.
    if (isHelp(err)) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof CommanderError || err instanceof UsageError) {
      const sentence = err instanceof CommanderError ? usageSentence(err) : err.message;
      io.stderr(`${usageLine(sentence)}\n`);
      return EXIT.usage;
    }
    if (err instanceof ApiError) {
      if (err.status === 0) {
        const hint = pointedElsewhere(argv, io.env)
          ? ''
          : ' Is the local stack running (npm start)? For a deployed stage pass --url.';
        io.stderr(`${err.message}${hint}\n`);
      } else {
        const noToken = err.status === 401 && err.tokenSent === false ? NO_TOKEN : '';
        io.stderr(`The service answered ${err.status} ${err.code}: ${err.message}${noToken}\n`);
      }
      return EXIT.failure;
    }
    io.stderr(`${err instanceof Error ? err.message : String(err)}\n`);
    return EXIT.failure;
  }
};

export const main = async (argv: string[]): Promise<number> =>
  runCli(argv, {
    env: process.env,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    stderrIsTty: process.stderr.isTTY === true,
  });

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
