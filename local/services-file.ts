// The local services file: configuration and secrets of every Service in one JSON document, the
// local stand-in for the stage configuration plus Secrets Manager (where each Service's callback
// tokens have a secret of their own; here one entry holds both). Parsed with zod into the same
// StageConfig, ServiceSecret and callback-token shapes the functions use in AWS. Built in one place
// (generateServicesFile): `npm start` writes one with fresh random tokens on a first run (for the
// simulator's services), and the benchmarks and the tests build theirs the same way.
//
//   { "services": [ { "serviceIdentification", "accountIdentification",
//       "sharedServiceAccountSecret", "name", "role"?, "callbackToken" | "callbackTokens",
//       "apiToken" | "apiTokens", "downstreamUrl"?, "signingSecret"?, "rules"?, "failover"?,
//       "notify"?: { "url"?, "events"? },
//       "lease"?: { "idleSeconds"?, "maxSeconds"?, "warnBeforeSeconds"?, "onExpiry"? } } ],
//     "auditors": [ { "name", "token" } ], "operators": [ { "name", "token" } ] }
//
// `role` defaults to "bot". When the simulator plays Parley, the first service is the account's
// default Service. Operators may do all an auditor may, and act (release users, redeliver
// notifications); a token listed as both is refused.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import {
  type AuditorsSecret,
  auditorsSecretSchema,
  type CombinedServiceSecret,
  callbackTokensSecretSchema,
  failoverConfigSchema,
  leaseConfigSchema,
  notifySchema,
  ruleSchema,
  serviceSecretSchema,
  type StageConfig,
  stageConfigSchema,
} from '../functions/schemas/config';
import { LocalSetupError } from './dynamo';
import type { SimSeed } from './parley-sim/types';

const token = z.string().min(16, 'tokens must be at least 16 characters').max(512);

export const servicesFileSchema = z
  .object({
    services: z
      .array(
        z
          .object({
            serviceIdentification: z.string().min(1).max(100),
            accountIdentification: z.string().min(1).max(200),
            sharedServiceAccountSecret: z.string().min(1),
            name: z.string().min(1).max(200),
            role: z.enum(['bot', 'agent']).optional(),
            callbackToken: token.optional(),
            callbackTokens: z.array(token).min(1).optional(),
            apiToken: token.optional(),
            apiTokens: z.array(token).min(1).optional(),
            downstreamUrl: z.url({ protocol: /^https?$/ }).optional(),
            signingSecret: z.string().min(16).optional(),
            rules: z.array(ruleSchema).optional(),
            failover: z.optional(failoverConfigSchema),
            notify: z.optional(notifySchema),
            lease: z.optional(leaseConfigSchema),
          })
          .strict()
          .refine((s) => s.callbackToken || s.callbackTokens, {
            message: 'needs "callbackToken" or "callbackTokens"',
          })
          .refine((s) => s.apiToken || s.apiTokens, {
            message: 'needs "apiToken" or "apiTokens"',
          }),
      )
      .min(1, 'lists no service'),
    auditors: z.array(z.object({ name: z.string().min(1).max(100), token }).strict()).default([]),
    operators: z.array(z.object({ name: z.string().min(1).max(100), token }).strict()).default([]),
  })
  .strict();

export type ServicesFile = z.input<typeof servicesFileSchema>;
export type ServiceEntry = z.output<typeof servicesFileSchema>['services'][number];

export interface LocalSettings {
  file: z.output<typeof servicesFileSchema>;
  /** The account every service names. */
  accountIdentification: string;
  /** The per-Service secret values: both of a Service's Secrets Manager secrets in one object. */
  secrets: Record<string, CombinedServiceSecret>;
  auditors: AuditorsSecret['auditors'];
  operators: AuditorsSecret['operators'];
}

const describe = (issue: z.core.$ZodIssue): string => {
  const path = issue.path
    .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
    .join('')
    .replace(/^\./, '');
  if (issue.code === 'unrecognized_keys') {
    return `${path ? `${path}: ` : ''}unknown field "${issue.keys[0]}"`;
  }
  return `${path || '(top level)'}: ${issue.message}`;
};

/** Validates a services document; every problem is one sentence naming the field, never a value. */
export const parseServicesFile = (input: unknown, source = 'The services file'): LocalSettings => {
  const parsed = servicesFileSchema.safeParse(input);
  if (!parsed.success) {
    throw new LocalSetupError(`${source} is invalid at ${describe(parsed.error.issues[0]!)}.`);
  }
  const file = parsed.data;
  const accounts = [...new Set(file.services.map((s) => s.accountIdentification))];
  if (accounts.length > 1) {
    throw new LocalSetupError(
      `${source} names ${accounts.length} Parley accounts (${accounts.join(', ')}); one stack serves exactly one account.`,
    );
  }
  const ids = file.services.map((s) => s.serviceIdentification);
  if (new Set(ids).size !== ids.length) {
    throw new LocalSetupError(`${source} lists a service identification twice.`);
  }
  const secrets: Record<string, CombinedServiceSecret> = {};
  for (const s of file.services) {
    secrets[s.serviceIdentification] = {
      ...serviceSecretSchema.parse({
        accountIdentification: s.accountIdentification,
        sharedServiceAccountSecret: s.sharedServiceAccountSecret,
        apiTokens: s.apiTokens,
        apiToken: s.apiToken,
        signingSecret: s.signingSecret,
      }),
      callbackTokens: callbackTokensSecretSchema.parse({
        callbackTokens: s.callbackTokens,
        callbackToken: s.callbackToken,
      }),
    };
  }
  const people = auditorsSecretSchema.safeParse({
    auditors: file.auditors,
    operators: file.operators,
  });
  if (!people.success) {
    throw new LocalSetupError(`${source} is invalid: ${people.error.issues[0]!.message}.`);
  }
  const { auditors, operators } = people.data;
  return { file, accountIdentification: accounts[0]!, secrets, auditors, operators };
};

/** Reads and validates a services file. */
export const readServicesFile = (path: string): LocalSettings => {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new LocalSetupError(
      code === 'ENOENT'
        ? `The services file ${path} does not exist.`
        : `The services file ${path} cannot be read (${code ?? 'error'}).`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new LocalSetupError(`The services file ${path} is not valid JSON.`);
  }
  return parseServicesFile(json, `The services file ${path}`);
};

export interface StageOptions {
  parleyBaseUrl: string;
  /** Overrides by service identification or name (case-insensitive), e.g. the demo bot. */
  downstreamUrls?: Record<string, string>;
  stage?: string;
  /** Extra StageConfig fields (timeouts) for tests. */
  overrides?: Partial<Omit<StageConfig, 'services' | 'accountIdentification' | 'parley'>> & {
    parley?: Partial<StageConfig['parley']>;
  };
}

/** The stage configuration of a services file (what `cdk.json` context holds in AWS). */
export const toStageConfig = (settings: LocalSettings, options: StageOptions): StageConfig => {
  const downstream = (s: ServiceEntry) => {
    for (const [key, url] of Object.entries(options.downstreamUrls ?? {})) {
      if (key === s.serviceIdentification || key.toLowerCase() === s.name.toLowerCase()) return url;
    }
    return s.downstreamUrl;
  };
  const { parley, ...rest } = options.overrides ?? {};
  const result = stageConfigSchema.safeParse({
    stage: options.stage ?? 'local',
    accountIdentification: settings.accountIdentification,
    parley: { baseUrl: options.parleyBaseUrl, ...parley },
    services: settings.file.services.map((s) => ({
      identification: s.serviceIdentification,
      name: s.name,
      role: s.role ?? 'bot',
      ...(downstream(s) ? { downstreamUrl: downstream(s) } : {}),
      rules: s.rules ?? [],
      ...(s.failover ? { failover: s.failover } : {}),
      ...(s.notify ? { notify: s.notify } : {}),
      ...(s.lease ? { lease: s.lease } : {}),
    })),
    ...rest,
  });
  if (!result.success) {
    throw new LocalSetupError(
      `The services file gives an invalid configuration at ${describe(result.error.issues[0]!)}.`,
    );
  }
  return result.data;
};

const randomToken = () => randomBytes(24).toString('base64url');

/**
 * The example handover rule, defined here once: the generated services files, config/*.json and
 * the docs show this one (test/local/example-rule.test.ts holds them to it). A user who asks for a
 * human, an agent or (in Dutch) a medewerker goes to the Agent Service. RE2 syntax.
 */
export const EXAMPLE_RULE: Readonly<{ match: string; newOwner: string; reason: string }> = {
  match: '\\b(human|agent|medewerker)\\b',
  newOwner: 'Agent Service',
  reason: 'user_requested_human',
};

/** One Service of a services document; what is left out gets a fresh random value. */
export interface ServiceSpec {
  identification: string;
  name: string;
  /** @default 'bot' */
  role?: 'bot' | 'agent';
  /** The Service's shared secret at Parley (a real Parley's, or the simulator's seed). */
  sharedSecret?: string;
  callbackTokens?: string[];
  apiTokens?: string[];
  /** null: the Service signs no forwards. */
  signingSecret?: string | null;
  downstreamUrl?: string;
  rules?: { match: string; newOwner: string; reason: string }[];
  /** The Service's failover settings (DESIGN.md "Failover"), as the stage configuration takes. */
  failover?: ServiceEntry['failover'];
  /** The Service's lease (DESIGN.md "Timers"), as the stage configuration takes. */
  lease?: ServiceEntry['lease'];
}

export interface ServicesFileOptions {
  /** Each without a token gets a fresh one. @default one named "local-auditor" */
  auditors?: { name: string; token?: string }[];
  /** Each without a token gets a fresh one. @default one named "local-operator" */
  operators?: { name: string; token?: string }[];
}

/**
 * The one builder of services documents (`npm start`'s first run, the benchmarks, the tests): the
 * given Services of one account, with fresh random secrets and tokens for what is not given.
 */
export const generateServicesFile = (
  accountIdentification: string,
  services: ServiceSpec[],
  options: ServicesFileOptions = {},
): ServicesFile => ({
  services: services.map((s) => ({
    serviceIdentification: s.identification,
    accountIdentification,
    sharedServiceAccountSecret: s.sharedSecret ?? randomToken(),
    name: s.name,
    role: s.role ?? 'bot',
    callbackTokens: s.callbackTokens ?? [randomToken()],
    apiTokens: s.apiTokens ?? [randomToken()],
    ...(s.signingSecret === null ? {} : { signingSecret: s.signingSecret ?? randomToken() }),
    ...(s.downstreamUrl ? { downstreamUrl: s.downstreamUrl } : {}),
    ...(s.rules ? { rules: s.rules } : {}),
    ...(s.failover ? { failover: s.failover } : {}),
    ...(s.lease ? { lease: s.lease } : {}),
  })),
  auditors: (options.auditors ?? [{ name: 'local-auditor' }]).map((a) => ({
    name: a.name,
    token: a.token ?? randomToken(),
  })),
  operators: (options.operators ?? [{ name: 'local-operator' }]).map((o) => ({
    name: o.name,
    token: o.token ?? randomToken(),
  })),
});

/**
 * The Services of a simulator seed for a services file: the account's default Service (else the
 * first) is the bot, with the example rule when its `newOwner` is one of them; the others are
 * agents. `sharedSecrets`: take the seed's (a simulator already running with them), else fresh.
 */
export const servicesForSeed = (
  seed: SimSeed,
  options: { sharedSecrets?: boolean } = {},
): ServiceSpec[] => {
  const bot = seed.services.find((s) => s.default) ?? seed.services[0];
  const ruled = seed.services.some((s) => s !== bot && s.name === EXAMPLE_RULE.newOwner);
  return seed.services.map((s) => ({
    identification: s.identification,
    name: s.name,
    role: s === bot ? 'bot' : 'agent',
    ...(options.sharedSecrets ? { sharedSecret: s.sharedSecret } : {}),
    ...(s === bot && ruled ? { rules: [{ ...EXAMPLE_RULE }] } : {}),
  }));
};

/**
 * The Parley simulator's seed for a services file: its account and Services with their shared
 * secrets, the first one the account's default; `owners` (userId -> identification) if given.
 */
export const simulatorSeed = (
  settings: LocalSettings,
  owners?: Record<string, string>,
): SimSeed => {
  // Here the default Service is known at load: failover or a lease asked of it is refused, not
  // ignored.
  const first = settings.file.services[0]!;
  if (first.failover?.enabled === true) {
    throw new LocalSetupError(
      `The services file asks failover of "${first.name}", the simulator's default Service; ` +
        'the default Service never fails over (remove failover.enabled).',
    );
  }
  if (first.lease !== undefined) {
    throw new LocalSetupError(
      `The services file gives "${first.name}", the simulator's default Service, a lease; ` +
        'the default Service never holds one (remove lease).',
    );
  }
  return seedOf(settings, owners);
};

const seedOf = (settings: LocalSettings, owners?: Record<string, string>): SimSeed => ({
  accountIdentification: settings.accountIdentification,
  services: settings.file.services.map((s, i) => ({
    identification: s.serviceIdentification,
    name: s.name,
    sharedSecret: s.sharedServiceAccountSecret,
    default: i === 0,
  })),
  ...(owners ? { owners } : {}),
});

/**
 * Reads the file at `path`, or, when it does not exist and `generate` is given, writes a new one
 * (owner-only permissions) and reads that.
 */
export const loadOrCreateServicesFile = (
  path: string,
  generate?: () => ServicesFile,
): { settings: LocalSettings; created: boolean } => {
  if (!existsSync(path) && generate) {
    try {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, `${JSON.stringify(generate(), null, 2)}\n`, { mode: 0o600, flag: 'wx' });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') {
        throw new LocalSetupError(
          `The services file ${path} cannot be written (${code ?? 'error'}).`,
        );
      }
    }
    return { settings: readServicesFile(path), created: true };
  }
  return { settings: readServicesFile(path), created: false };
};

/** The first token of each kind per service, for the banner, the demo and the CLI. */
export interface LocalTokens {
  services: Record<
    string,
    { name: string; callbackToken: string; apiToken: string; signingSecret?: string }
  >;
  auditor: { name: string; token: string } | null;
  operator: { name: string; token: string } | null;
}

export const tokensOf = (settings: LocalSettings): LocalTokens => ({
  services: Object.fromEntries(
    settings.file.services.map((s) => {
      const secret = settings.secrets[s.serviceIdentification]!;
      return [
        s.serviceIdentification,
        {
          name: s.name,
          callbackToken: secret.callbackTokens[0]!,
          apiToken: secret.apiTokens[0]!,
          ...(secret.signingSecret ? { signingSecret: secret.signingSecret } : {}),
        },
      ];
    }),
  ),
  auditor: settings.auditors[0] ?? null,
  operator: settings.operators[0] ?? null,
});
