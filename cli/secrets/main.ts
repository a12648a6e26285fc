// The secrets CLI (`npm run -s secrets -- <command>`): fills and rotates the Secrets Manager
// secrets the data stack creates with placeholders. It finds a stage's secrets by their tags
// (parley-handover:stage / :kind / :service), or takes `--secret-id` and `--callback-secret-id`
// (ARNs from the data stack's outputs). Each Service has two secrets: the main one and its
// callback-token secret (all the webhook reads). Generated tokens are printed once, on stdout;
// nothing else goes to stdout. Exit codes: 0 ok, 1 failure, 2 a wrong command line.
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../../lib/config';
import { SecretInputError } from '../../lib/secret-values';
import { configureCommand, EXIT, isHelp, UsageError, usageLine, usageSentence } from '../usage';
import { registerAddAuditor } from './commands/add-auditor';
import { registerAddOperator } from './commands/add-operator';
import { registerRotate } from './commands/rotate';
import { registerSetService } from './commands/set-service';
import type { SecretsContext } from './context';
import { type SecretStore, secretsManagerStore } from './store';

export { type SecretStore, secretsManagerStore } from './store';

const readStdin = async (): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
};

// console.log / console.error add the newline commander's text already ends with.
const line = (write: (text: string) => void) => (text: string) => write(text.replace(/\n$/, ''));

const program = (ctx: SecretsContext, sink: { code: number }): Command => {
  const root = configureCommand(new Command('npm run -s secrets --'), {
    out: line((t) => console.log(t)),
    err: line((t) => console.error(t)),
  })
    .description("Sets and rotates a stage's secrets in Secrets Manager.")
    .option('--stage <stage>', 'the stage (config/<stage>.json), before or after the command')
    .addHelpText('after', '\nRun "<command> --help" for its options.');
  for (const register of [
    registerSetService,
    registerAddAuditor,
    registerAddOperator,
    registerRotate,
  ]) {
    register(root, ctx, sink);
  }
  return root;
};

/**
 * Runs one command; resolves with the exit code. A usage mistake (exit 2) is reported before any
 * AWS call; other failures reject, for the caller to report.
 */
export const run = async (
  argv: string[],
  store: () => SecretStore = () => secretsManagerStore(),
  stdin: () => Promise<string> = readStdin,
): Promise<number> => {
  const sink = { code: EXIT.ok as number };
  try {
    await program({ store, stdin }, sink).parseAsync(argv, { from: 'user' });
    return sink.code;
  } catch (err) {
    if (isHelp(err)) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof CommanderError || err instanceof UsageError) {
      console.error(usageLine(err instanceof CommanderError ? usageSentence(err) : err.message));
      return EXIT.usage;
    }
    throw err;
  }
};

if (require.main === module) {
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  run(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const known = err instanceof SecretInputError || err instanceof ConfigError;
      const message = err instanceof Error ? err.message : String(err);
      const hint = /region is missing|credential/i.test(message)
        ? ' Set AWS_REGION (and AWS_PROFILE or credentials) for the account the stage is deployed in.'
        : '';
      console.error(known ? message : `secrets: ${message.split('\n')[0]}${hint}`);
      process.exitCode = EXIT.failure;
    },
  );
}
