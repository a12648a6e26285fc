// Stage configuration for the CDK app: which file to read, its validation (the functions' own
// stageConfigSchema plus the infrastructure-only fields), the placeholders only stage dev may keep,
// the timeout chain of DESIGN.md, and the Lambda environment size. Every failure is a ConfigError
// whose message is one sentence.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { functionSpecs } from '../functions/contracts/routes';
import { type StageConfig, stageConfigSchema } from '../functions/schemas/config';

/** Repository root, from this file's location (never from the working directory). */
export const REPO_ROOT = path.resolve(__dirname, '..');

/** Folder of the stage configuration files: `config/{stage}.json`. */
export const CONFIG_DIR = path.join(REPO_ROOT, 'config');

/** The stage `cdk synth` uses when neither `-c stage=` nor `-c config=` is given. */
export const DEFAULT_STAGE = 'dev';

/** The SQS visibility timeout of the callback queue: the last link of the timeout chain. */
export const QUEUE_VISIBILITY_TIMEOUT_SECONDS = 90;

/** Lambda refuses a function whose environment (keys and values) exceeds 4 KB. */
export const LAMBDA_ENV_LIMIT_BYTES = 4096;

/**
 * Bytes kept free in every function's environment for the variables other than HANDOVER_CONFIG:
 * names and ARNs of tables, secrets and the queue (resolved only at deploy time, so estimated at
 * 200 bytes per reference) and the fixed runtime settings.
 */
export const envReserveBytes = (serviceCount: number): number =>
  600 + 200 * (serviceCount + 4) + 40 * serviceCount;

/** CloudWatch Logs retention values that CloudFormation accepts. */
const RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288,
  3653,
] as const;

/** API Gateway limits: steady requests per second and burst. */
const throttleSchema = z
  .object({
    rate: z.number().positive().max(10_000),
    burst: z.number().int().positive().max(5_000),
  })
  .strict();

/** Infrastructure-only settings: never passed to the functions. */
export const infraConfigSchema = z
  .object({
    /** Retention of every function log group and of the API access log. */
    logRetentionDays: z
      .number()
      .refine((d) => (RETENTION_DAYS as readonly number[]).includes(d), {
        message: `must be one of ${RETENTION_DAYS.join(', ')}`,
      })
      .default(30),
    /** Alarms notify this address through an SNS topic; no topic without it. */
    alarmEmail: z.email().optional(),
    /** API Gateway throttling of every route without limits of its own (per second and burst). */
    apiThrottle: throttleSchema.default({ rate: 50, burst: 100 }),
    /**
     * Parley's webhook route: limits of its own, at least apiThrottle's, so that a flood on
     * another route cannot make API Gateway refuse callbacks (Parley gives up after 3 tries).
     */
    webhookThrottle: throttleSchema.default({ rate: 200, burst: 400 }),
    /** `GET /health`, public and unauthenticated: a low limit. */
    healthThrottle: throttleSchema.default({ rate: 5, burst: 10 }),
    /** Active X-Ray tracing on every function. */
    tracing: z.boolean().default(false),
  })
  .strict();

export type InfraConfig = z.output<typeof infraConfigSchema>;

/** A loaded, validated stage: what the stacks are built from. */
export interface LoadedStage {
  /** The functions' configuration (defaults applied), as they parse it from HANDOVER_CONFIG. */
  config: StageConfig;
  /** The HANDOVER_CONFIG value: `config` as compact JSON. */
  configJson: string;
  infra: InfraConfig;
  /** The file it came from (for messages). */
  source: string;
}

/** A configuration problem, told in one sentence; bin/app.ts prints it without a stack trace. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * The one stage that may keep the shipped placeholders and example hosts: a first `cdk synth` on a
 * fresh clone needs no real values. Every other stage is refused until they are filled in.
 */
export const PLACEHOLDER_STAGE = DEFAULT_STAGE;

// Values written to be replaced: REPLACE-WITH-..., your-..., <...>, or an ellipsis.
const PLACEHOLDER_TEXT = /^replace[-_ ]?with([-_ ]|$)|^your[-_ ]|^<.*>$|…/i;

/** Why a host cannot be a deployed stage's, or undefined for a host that may be real. */
const hostProblem = (hostname: string): string | undefined => {
  const host = hostname.toLowerCase();
  const bare = host.replace(/\.$/, '');
  if (PLACEHOLDER_TEXT.test(bare)) return `a placeholder host (${host})`;
  // RFC 2606 / RFC 6761: names reserved for documentation and testing, never a real service.
  if (/(^|\.)example\.(com|net|org)$/.test(bare) || /(^|\.)(example|test|invalid)$/.test(bare)) {
    return `an example host (${host})`;
  }
  if (/(^|\.)localhost$/.test(bare) || /^127\.\d+\.\d+\.\d+$/.test(bare) || bare === '[::1]') {
    return `a local host (${host}), which Lambda cannot reach`;
  }
  return undefined;
};

/**
 * The values of a stage configuration that are placeholders or example hosts, each as
 * `key what, what to do`. Empty for a configuration ready to deploy.
 */
export const placeholdersOf = ({
  config,
  infra,
}: Pick<LoadedStage, 'config' | 'infra'>): string[] => {
  const problems: string[] = [];
  const text = (key: string, value: string, todo: string) => {
    if (PLACEHOLDER_TEXT.test(value)) problems.push(`${key} is a placeholder (${value}), ${todo}`);
  };
  const url = (key: string, value: string, todo: string) => {
    const problem = hostProblem(new URL(value).hostname);
    if (problem) problems.push(`${key} points at ${problem}, ${todo}`);
  };

  text(
    'accountIdentification',
    config.accountIdentification,
    'set your Parley account identification',
  );
  url('parley.baseUrl', config.parley.baseUrl, "set the URL of Parley's Service API");
  config.services.forEach((service, i) => {
    text(
      `services[${i}].identification`,
      service.identification,
      `set the identification Parley gave "${service.name}"`,
    );
    if (service.downstreamUrl !== undefined) {
      const program = service.role === 'bot' ? 'bot' : 'agent desk';
      url(
        `services[${i}].downstreamUrl`,
        service.downstreamUrl,
        `set your ${program}'s real URL or remove the key`,
      );
    }
  });
  const email = infra.alarmEmail;
  const domain = email?.slice(email.lastIndexOf('@') + 1) ?? '';
  if (email && (PLACEHOLDER_TEXT.test(email) || hostProblem(domain))) {
    problems.push(
      `infra.alarmEmail is at an example domain (${email}), set the address that should receive ` +
        'alarms or remove the key',
    );
  }
  return problems;
};

const fileSchema = z.looseObject({ infra: z.unknown().optional() });

const describeIssue = (issue: z.core.$ZodIssue): string => {
  const where = issue.path.length
    ? issue.path
        .map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${String(p)}`))
        .join('')
    : 'the file';
  return `${where}: ${issue.message}`;
};

const sentence = (source: string, problems: string[]): string =>
  `Stage configuration ${source} is invalid: ${problems.join('; ')}.`.replace(/\.\.$/, '.');

/**
 * Validates a stage configuration object (the content of a config file).
 * @param raw the parsed JSON
 * @param source how to name it in messages, e.g. `config/dev.json`
 * @param expectedStage when given (from `-c stage=`), the file's `stage` must match it
 */
export const parseStageConfig = (
  raw: unknown,
  source: string,
  expectedStage?: string,
): LoadedStage => {
  const file = fileSchema.safeParse(raw);
  if (!file.success) throw new ConfigError(sentence(source, ['it must be a JSON object']));
  const { infra: rawInfra, ...rest } = file.data;

  const stage = stageConfigSchema.safeParse(rest);
  const infra = infraConfigSchema.safeParse(rawInfra ?? {});
  const problems = [
    ...(stage.success ? [] : stage.error.issues.map(describeIssue)),
    ...(infra.success ? [] : infra.error.issues.map((i) => `infra.${describeIssue(i)}`)),
  ];
  if (!stage.success || !infra.success) throw new ConfigError(sentence(source, problems));
  const config = stage.data;
  const { apiThrottle: api, webhookThrottle: webhook } = infra.data;
  if (webhook.rate < api.rate || webhook.burst < api.burst) {
    throw new ConfigError(
      sentence(source, [
        `infra.webhookThrottle (rate ${webhook.rate}, burst ${webhook.burst}) must be at least ` +
          `infra.apiThrottle (rate ${api.rate}, burst ${api.burst})`,
      ]),
    );
  }

  if (expectedStage !== undefined && config.stage !== expectedStage) {
    throw new ConfigError(
      sentence(source, [`stage is "${config.stage}" but "${expectedStage}" was asked for`]),
    );
  }

  if (config.stage !== PLACEHOLDER_STAGE) {
    const placeholders = placeholdersOf({ config, infra: infra.data });
    if (placeholders.length) {
      throw new ConfigError(
        `Stage configuration ${source} holds placeholders, which only stage "${PLACEHOLDER_STAGE}" ` +
          `may keep: ${placeholders.join('; ')}.`,
      );
    }
  }

  // DESIGN.md's chain: Parley budget < handover timeout < staleAfter < queue visibility timeout.
  const handoverMs = functionSpecs.handover.timeoutSeconds * 1000;
  const processorMs = functionSpecs.processor.timeoutSeconds * 1000;
  const staleMs = config.staleAfterSeconds * 1000;
  const visibilityMs = QUEUE_VISIBILITY_TIMEOUT_SECONDS * 1000;
  const chain: string[] = [];
  if (config.parley.budgetMs >= handoverMs) {
    chain.push(`parley.budgetMs (${config.parley.budgetMs}) must stay below ${handoverMs}`);
  }
  if (staleMs <= handoverMs || staleMs >= visibilityMs) {
    chain.push(
      `staleAfterSeconds (${config.staleAfterSeconds}) must lie between the handover timeout ` +
        `(${handoverMs / 1000}) and the queue visibility timeout (${visibilityMs / 1000})`,
    );
  }
  if (processorMs >= visibilityMs) {
    chain.push('the processor timeout must stay below the queue visibility timeout');
  }
  if (chain.length) throw new ConfigError(sentence(source, chain));

  const configJson = JSON.stringify(config);
  const budget = LAMBDA_ENV_LIMIT_BYTES - envReserveBytes(config.services.length);
  const size = Buffer.byteLength(configJson, 'utf8');
  if (size > budget) {
    throw new ConfigError(
      sentence(source, [
        `as HANDOVER_CONFIG it takes ${size} bytes but Lambda's 4 KB environment leaves ${budget} ` +
          'for it (shorten rules or move Services to another stage)',
      ]),
    );
  }
  return { config, configJson, infra: infra.data, source };
};

export interface StageSelection {
  /** `-c stage=NAME`: loads `config/NAME.json`. @default DEFAULT_STAGE */
  stage?: string;
  /** `-c config=PATH`: loads this file instead (relative to the working directory). */
  configPath?: string;
}

/** Reads and validates the stage configuration chosen by the CDK context. */
export const loadStage = (selection: StageSelection = {}): LoadedStage => {
  const { configPath } = selection;
  const stage = selection.stage ?? (configPath ? undefined : DEFAULT_STAGE);
  if (stage !== undefined && !/^[a-z][a-z0-9-]{0,30}$/.test(stage)) {
    throw new ConfigError(
      `Stage "${stage}" is not a valid stage name (lowercase, digits, dashes).`,
    );
  }
  const file = configPath ? path.resolve(configPath) : path.join(CONFIG_DIR, `${stage}.json`);
  const relative = path.relative(process.cwd(), file);
  const source = relative && !relative.startsWith('..') ? relative : file;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    throw new ConfigError(`Stage configuration ${source} was not found (see config/dev.json).`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const detail = err instanceof Error ? err.message.split('\n')[0] : 'unparsable';
    throw new ConfigError(`Stage configuration ${source} is not valid JSON (${detail}).`);
  }
  return parseStageConfig(raw, source, stage);
};
