#!/usr/bin/env node
// The secrets CLI: fills and rotates the Secrets Manager secrets the data stack creates with
// placeholders. Run as `npx tsx bin/secrets.ts <command> --stage <stage> ...`. It finds a stage's
// secrets by their tags (parley-handover:stage / :kind / :service), or takes `--secret-id` and
// `--callback-secret-id` (ARNs from the data stack's outputs). Each Service has two secrets: the
// main one and its callback-token secret (all the webhook reads). Generated tokens are printed
// once, on stdout; nothing else goes to stdout.
import { parseArgs } from 'node:util';
import {
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { callbackTokensSecretSchema, serviceSecretSchema } from '../functions/schemas/config';
import { ConfigError, type LoadedStage, loadStage } from '../lib/config';
import {
  addAuditor,
  type MergeResult,
  mergeServiceSecret,
  parseSecretJson,
  rotateServiceToken,
  SECRET_TAGS,
  SecretInputError,
  type TokenKind,
  tokensOf,
} from '../lib/secret-values';

/** The few Secrets Manager calls the CLI makes. */
export interface SecretStore {
  /** The ARN of the secret whose tags include all of `tags`. */
  find(tags: Record<string, string>): Promise<string>;
  read(secretId: string): Promise<string | undefined>;
  write(secretId: string, value: string): Promise<void>;
}

export const secretsManagerStore = (client = new SecretsManagerClient({})): SecretStore => ({
  async find(tags) {
    const matches: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await client.send(
        new ListSecretsCommand({
          Filters: [
            { Key: 'tag-key', Values: [SECRET_TAGS.stage] },
            { Key: 'tag-value', Values: [tags[SECRET_TAGS.stage]!] },
          ],
          NextToken: nextToken,
        }),
      );
      for (const s of page.SecretList ?? []) {
        const own = new Map((s.Tags ?? []).map((t) => [t.Key, t.Value]));
        if (Object.entries(tags).every(([k, v]) => own.get(k) === v) && s.ARN) matches.push(s.ARN);
      }
      nextToken = page.NextToken;
    } while (nextToken);
    const wanted = Object.values(tags).join(', ');
    if (matches.length === 0) {
      throw new SecretInputError(
        `No secret tagged ${wanted} was found: deploy the data stack first or pass --secret-id.`,
      );
    }
    if (matches.length > 1) {
      throw new SecretInputError(`Several secrets are tagged ${wanted}: pass --secret-id.`);
    }
    return matches[0]!;
  },
  async read(secretId) {
    const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    return out.SecretString;
  },
  async write(secretId, value) {
    await client.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: value }));
  },
});

const HELP: Record<string, string> = {
  main: `Usage: npx tsx bin/secrets.ts <command> [options]

Commands:
  set-service   set a Service's Parley values and (optionally) generate its tokens; writes its
                secret and its callback-token secret
  add-auditor   add an auditor with a fresh token
  rotate        add a new callback or API token next to the current one, or retire the oldest

Run "<command> --help" for its options.`,
  'set-service': `Usage: npx tsx bin/secrets.ts set-service --stage <stage> --service <identification>
         [--account <accountIdentification>] [--shared-secret-stdin] [--generate-tokens]
         [--prune] [--secret-id <arn>] [--callback-secret-id <arn>]

  --account              Parley account identification (default: the stage configuration's)
  --shared-secret-stdin  read Parley's shared service-account secret from standard input
  --generate-tokens      replace the callback and API tokens with fresh ones, printed once
                         (with the Service's signing secret, for its program)
  --prune                remove the callback tokens an earlier version kept in the Service's
                         secret (they are copied to its callback-token secret on any run;
                         prune once this version is deployed)
  --secret-id            the Service secret's ARN (default: found by its tags)
  --callback-secret-id   the callback-token secret's ARN (default: found by its tags)`,
  'add-auditor': `Usage: npx tsx bin/secrets.ts add-auditor --stage <stage> --name <name> [--secret-id <arn>]

  Adds an auditor with a fresh token, printed once. The name appears in logs, the token never.`,
  rotate: `Usage: npx tsx bin/secrets.ts rotate --stage <stage> --service <identification>
         --kind callback|api [--retire] [--secret-id <arn>] [--callback-secret-id <arn>]

  Without --retire: adds a fresh token (printed once); the old one stays valid.
  With --retire: drops the oldest token, once every caller uses the new one.
  Callback tokens live in the Service's callback-token secret, API tokens in its secret.`,
};

const OPTIONS = {
  stage: { type: 'string' },
  service: { type: 'string' },
  account: { type: 'string' },
  'shared-secret-stdin': { type: 'boolean', default: false },
  'generate-tokens': { type: 'boolean', default: false },
  name: { type: 'string' },
  kind: { type: 'string' },
  retire: { type: 'boolean', default: false },
  prune: { type: 'boolean', default: false },
  'secret-id': { type: 'string' },
  'callback-secret-id': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const readStdin = async (): Promise<string> => {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
};

const required = (value: string | undefined, flag: string): string => {
  if (!value) throw new SecretInputError(`--${flag} is required (see --help).`);
  return value;
};

const serviceOf = (stage: LoadedStage, identification: string) => {
  const service = stage.config.services.find((s) => s.identification === identification);
  if (!service) {
    throw new SecretInputError(
      `Service "${identification}" is not in ${stage.source}: one of ${stage.config.services
        .map((s) => s.identification)
        .join(', ')}.`,
    );
  }
  return service;
};

const printIssued = (
  label: string,
  issued: MergeResult['issued'],
  signingSecret?: string,
): void => {
  if (issued.callback) {
    console.log(`${label} callback header for Parley: Authorization: Bearer ${issued.callback}`);
  }
  if (issued.api) console.log(`${label} API token: ${issued.api}`);
  if (signingSecret) {
    console.log(`${label} signing secret (verifies X-Handover-Signature): ${signingSecret}`);
  }
};

/** Runs one command; returns the process exit code. */
export const run = async (
  argv: string[],
  store: () => SecretStore = () => secretsManagerStore(),
  stdin: () => Promise<string> = readStdin,
): Promise<number> => {
  const [command, ...rest] = argv;
  if (!command || command === '--help' || command === '-h' || !(command in HELP)) {
    const usage = command && command !== '--help' && command !== '-h';
    (usage ? console.error : console.log)(
      usage ? `Unknown command "${command}".\n\n${HELP.main}` : HELP.main,
    );
    return usage ? 2 : 0;
  }
  let values: ReturnType<typeof parseArgs<{ options: typeof OPTIONS; strict: true }>>['values'];
  try {
    ({ values } = parseArgs({ args: rest, options: OPTIONS, strict: true }));
  } catch (err) {
    console.error(`${(err as Error).message} See "${command} --help".`);
    return 2;
  }
  if (values.help) {
    console.log(HELP[command]);
    return 0;
  }
  // Every usage mistake is reported before any AWS call.
  const needed: ('stage' | 'name' | 'service')[] = [
    'stage',
    command === 'add-auditor' ? 'name' : 'service',
  ];
  const missing = needed.filter((flag) => !values[flag]).map((flag) => `--${flag}`);
  if (missing.length) {
    console.error(
      `${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} required. See "${command} --help".`,
    );
    return 2;
  }
  if (command === 'rotate' && values.kind !== 'callback' && values.kind !== 'api') {
    console.error(`--kind must be "callback" or "api". See "rotate --help".`);
    return 2;
  }
  const stage = loadStage({ stage: required(values.stage, 'stage') });
  const stageName = stage.config.stage;
  const secrets = store();

  if (command === 'add-auditor') {
    const id =
      values['secret-id'] ??
      (await secrets.find({ [SECRET_TAGS.stage]: stageName, [SECRET_TAGS.kind]: 'auditors' }));
    const current = parseSecretJson(await secrets.read(id));
    const { next, token } = addAuditor(current, required(values.name, 'name'));
    await secrets.write(id, JSON.stringify(next));
    console.log(`Auditor token of ${values.name}: ${token}`);
    console.error('Written. The token is shown once; functions pick it up within the cache TTL.');
    return 0;
  }

  const service = serviceOf(stage, required(values.service, 'service'));
  const tagsOf = (kind: 'service' | 'callback-tokens') => ({
    [SECRET_TAGS.stage]: stageName,
    [SECRET_TAGS.kind]: kind,
    [SECRET_TAGS.service]: service.identification,
  });
  const mainId = values['secret-id'] ?? (await secrets.find(tagsOf('service')));
  const callbackId =
    values['callback-secret-id'] ?? (await secrets.find(tagsOf('callback-tokens')));
  const current = {
    main: parseSecretJson(await secrets.read(mainId)),
    callback: parseSecretJson(await secrets.read(callbackId)),
  };
  let result: MergeResult;
  if (command === 'set-service') {
    const account = values.account ?? stage.config.accountIdentification;
    if (account !== stage.config.accountIdentification) {
      throw new SecretInputError(
        `--account ${account} differs from the stage's account ${stage.config.accountIdentification}: one stage serves one Parley account.`,
      );
    }
    result = mergeServiceSecret(current, {
      accountIdentification: account,
      sharedServiceAccountSecret: values['shared-secret-stdin'] ? await stdin() : undefined,
      generateTokens: values['generate-tokens'],
      prune: values.prune,
    });
  } else {
    const kind = values.kind;
    if (kind !== 'callback' && kind !== 'api') {
      throw new SecretInputError('--kind must be "callback" or "api".');
    }
    result = rotateServiceToken(current, { kind: kind as TokenKind, retire: values.retire });
  }
  // The callback-token secret first: a Service secret is never left without them after a copy.
  const writesCallback = command === 'set-service' || values.kind === 'callback';
  const writesMain = command === 'set-service' || values.kind === 'api';
  if (writesCallback) await secrets.write(callbackId, JSON.stringify(result.next.callback));
  if (writesMain) await secrets.write(mainId, JSON.stringify(result.next.main));

  // The program behind the Service needs its signing secret with its tokens: shown with them.
  const signing =
    command === 'set-service' &&
    values['generate-tokens'] &&
    typeof result.next.main.signingSecret === 'string'
      ? result.next.main.signingSecret
      : undefined;
  printIssued(service.name, result.issued, signing);
  const tokens = (n: number) => `${n} callback token${n === 1 ? '' : 's'}`;
  if (result.copied > 0) {
    console.error(
      `Copied ${tokens(result.copied)} of ${service.name} into its callback-token secret (the ` +
        `webhook reads only that one). The Service secret still lists ${result.copied === 1 ? 'it' : 'them'} ` +
        'for a webhook deployed before the split: once this version is deployed, run set-service ' +
        `--stage ${stageName} --service ${service.identification} --prune.`,
    );
  }
  if (result.pruned > 0) {
    console.error(
      `Removed ${tokens(result.pruned)} from the secret of ${service.name}: ` +
        `${result.pruned === 1 ? 'it lives' : 'they live'} in its callback-token secret now.`,
    );
  }
  const incomplete = [
    ...(writesMain
      ? (serviceSecretSchema.safeParse(result.next.main).error?.issues ?? []).map((i) =>
          i.path.join('.'),
        )
      : []),
    ...(writesCallback &&
    (!callbackTokensSecretSchema.safeParse(result.next.callback).success ||
      tokensOf(result.next.callback, 'callback').length === 0)
      ? ['callbackTokens']
      : []),
  ];
  const where =
    writesMain && writesCallback
      ? `the secret of ${service.name} and to its callback-token secret`
      : writesMain
        ? `the secret of ${service.name}`
        : `the callback-token secret of ${service.name}`;
  console.error(
    incomplete.length === 0
      ? `Written to ${where}.`
      : `Written to ${where}; still missing: ${incomplete.join(', ')} (run with --shared-secret-stdin and --generate-tokens).`,
  );
  return 0;
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
      process.exitCode = 1;
    },
  );
}
