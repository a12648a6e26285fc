// `add-operator`: a named operator with a fresh token, in the auditors' secret beside the auditors
// (`operators`), printed once. An operator may do all an auditor may, and act (release users,
// redeliver notifications); the name appears in logs and in its records, the token never.
import type { Command } from 'commander';
import { loadStage } from '../../../lib/config';
import {
  newToken,
  parseSecretJson,
  SECRET_TAGS,
  type SecretJson,
  SecretInputError,
} from '../../../lib/secret-values';
import { checkedOptions, type Register } from '../context';

interface AddOperatorOptions {
  name: string;
  secretId?: string;
}

type Named = { name: string; token: string };

const namedList = (value: unknown): Named[] =>
  Array.isArray(value)
    ? value.filter(
        (a): a is Named =>
          typeof a === 'object' && a !== null && typeof (a as { name?: unknown }).name === 'string',
      )
    : [];

/** The secret with one more operator (a fresh token, never one an auditor holds); names unique. */
export const addOperator = (
  current: SecretJson,
  name: string,
  token: () => string = () => newToken(),
): { next: SecretJson; token: string } => {
  const trimmed = name.trim();
  if (!trimmed || trimmed.length > 100) {
    throw new SecretInputError('An operator name must be 1 to 100 characters.');
  }
  const operators = namedList(current.operators);
  if (operators.some((o) => o.name === trimmed)) {
    throw new SecretInputError(`An operator named "${trimmed}" exists already.`);
  }
  const taken = new Set([...namedList(current.auditors), ...operators].map((a) => a.token));
  let fresh = token();
  while (taken.has(fresh)) fresh = token();
  return {
    next: { ...current, operators: [...operators, { name: trimmed, token: fresh }] },
    token: fresh,
  };
};

export const registerAddOperator: Register = (program, ctx, sink) => {
  program
    .command('add-operator')
    .description('add an operator with a fresh token')
    .usage('--stage <stage> --name <name> [options]')
    .option('--name <name>', 'who the token is for (appears in logs and records; the token never)')
    .option('--secret-id <arn>', "the auditors secret's ARN (default: found by its tags)")
    .addHelpText(
      'after',
      '\nAdds an operator to the auditors secret with a fresh token, printed once. Operators may do\nall an auditor may, and act: release users, redeliver notifications. The name appears in logs\nand in the records of their actions (operator:<name>), the token never.',
    )
    .action(async (...args: unknown[]) => {
      const command = args.at(-1) as Command;
      const options = checkedOptions<AddOperatorOptions>(command, ['name']);
      const stage = loadStage({ stage: options.stage! });
      const secrets = ctx.store();
      const id =
        options.secretId ??
        (await secrets.find({
          [SECRET_TAGS.stage]: stage.config.stage,
          [SECRET_TAGS.kind]: 'auditors',
        }));
      const current = parseSecretJson(await secrets.read(id));
      const { next, token } = addOperator(current, options.name);
      await secrets.write(id, JSON.stringify(next));
      console.log(`Operator token of ${options.name}: ${token}`);
      console.error('Written. The token is shown once; functions pick it up within the cache TTL.');
      sink.code = 0;
    });
};
