// What `add-auditor` and `add-operator` share: a named holder of a fresh token in the auditors'
// secret (`auditors` or `operators`), printed once. The name appears in logs, the token never.
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

export type NamedRole = 'auditor' | 'operator';

const LIST_KEY: Record<NamedRole, 'auditors' | 'operators'> = {
  auditor: 'auditors',
  operator: 'operators',
};

type Named = { name: string; token: string };

const namedList = (value: unknown): Named[] =>
  Array.isArray(value)
    ? value.filter(
        (a): a is Named =>
          typeof a === 'object' && a !== null && typeof (a as { name?: unknown }).name === 'string',
      )
    : [];

/**
 * The secret with one more holder of `role`: names unique within the role, and a fresh token that
 * neither role holds (the functions refuse a token listed as both).
 */
export const addNamed = (
  current: SecretJson,
  role: NamedRole,
  name: string,
  token: () => string = () => newToken(),
): { next: SecretJson; token: string } => {
  const trimmed = name.trim();
  if (!trimmed || trimmed.length > 100) {
    throw new SecretInputError(`An ${role} name must be 1 to 100 characters.`);
  }
  const key = LIST_KEY[role];
  const holders = namedList(current[key]);
  if (holders.some((o) => o.name === trimmed)) {
    throw new SecretInputError(`An ${role} named "${trimmed}" exists already.`);
  }
  const taken = new Set(
    [...namedList(current.auditors), ...namedList(current.operators)].map((a) => a.token),
  );
  let fresh = token();
  while (taken.has(fresh)) fresh = token();
  return {
    next: { ...current, [key]: [...holders, { name: trimmed, token: fresh }] },
    token: fresh,
  };
};

export interface AddNamedCommand {
  role: NamedRole;
  /** The --name option's help: where the name appears. */
  nameHelp: string;
  /** The paragraph after the options in --help. */
  help: string;
}

interface AddNamedOptions {
  name: string;
  secretId?: string;
}

/** `add-{role}`: reads the auditors' secret, adds the holder, writes it back, prints the token. */
export const addNamedCommand =
  ({ role, nameHelp, help }: AddNamedCommand): Register =>
  (program, ctx, sink) => {
    const label = `${role[0]!.toUpperCase()}${role.slice(1)}`;
    program
      .command(`add-${role}`)
      .description(`add an ${role} with a fresh token`)
      .usage('--stage <stage> --name <name> [options]')
      .option('--name <name>', nameHelp)
      .option('--secret-id <arn>', "the auditors secret's ARN (default: found by its tags)")
      .addHelpText('after', `\n${help}`)
      .action(async (...args: unknown[]) => {
        const command = args.at(-1) as Command;
        const options = checkedOptions<AddNamedOptions>(command, ['name']);
        const stage = loadStage({ stage: options.stage! });
        const secrets = ctx.store();
        const id =
          options.secretId ??
          (await secrets.find({
            [SECRET_TAGS.stage]: stage.config.stage,
            [SECRET_TAGS.kind]: 'auditors',
          }));
        const current = parseSecretJson(await secrets.read(id));
        const { next, token } = addNamed(current, role, options.name);
        await secrets.write(id, JSON.stringify(next));
        console.log(`${label} token of ${options.name}: ${token}`);
        console.error(
          'Written. The token is shown once; functions pick it up within the cache TTL.',
        );
        sink.code = 0;
      });
  };
