// `add-auditor`: a named auditor with a fresh token, printed once; the name appears in logs, the
// token never.
import type { Command } from 'commander';
import { loadStage } from '../../../lib/config';
import { addAuditor, parseSecretJson, SECRET_TAGS } from '../../../lib/secret-values';
import { checkedOptions, type Register } from '../context';

interface AddAuditorOptions {
  name: string;
  secretId?: string;
}

export const registerAddAuditor: Register = (program, ctx, sink) => {
  program
    .command('add-auditor')
    .description('add an auditor with a fresh token')
    .usage('--stage <stage> --name <name> [options]')
    .option('--name <name>', 'who the token is for (appears in logs; the token never does)')
    .option('--secret-id <arn>', "the auditors secret's ARN (default: found by its tags)")
    .addHelpText(
      'after',
      '\nAdds an auditor with a fresh token, printed once. The name appears in logs, the token never.',
    )
    .action(async (...args: unknown[]) => {
      const command = args.at(-1) as Command;
      const options = checkedOptions<AddAuditorOptions>(command, ['name']);
      const stage = loadStage({ stage: options.stage! });
      const secrets = ctx.store();
      const id =
        options.secretId ??
        (await secrets.find({
          [SECRET_TAGS.stage]: stage.config.stage,
          [SECRET_TAGS.kind]: 'auditors',
        }));
      const current = parseSecretJson(await secrets.read(id));
      const { next, token } = addAuditor(current, options.name);
      await secrets.write(id, JSON.stringify(next));
      console.log(`Auditor token of ${options.name}: ${token}`);
      console.error('Written. The token is shown once; functions pick it up within the cache TTL.');
      sink.code = 0;
    });
};
