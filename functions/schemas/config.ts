// Stage configuration (non-secret) and secret shapes, parsed with zod at the boundaries.
import * as z from 'zod/mini';
import './zod-config';

const isRegex = (source: string): boolean => {
  try {
    new RegExp(source, 'iu');
    return true;
  } catch {
    return false;
  }
};

const text = (min: number, max: number) => z.string().check(z.minLength(min), z.maxLength(max));
const httpUrl = () => z.url({ protocol: /^https?$/ });
const integer = (...checks: z.core.$ZodCheck<number>[]) => z.number().check(z.int(), ...checks);

export const ruleSchema = z.object({
  match: text(1, 500).check(z.refine(isRegex, 'must be a valid regular expression')),
  newOwner: text(1, 200),
  reason: text(1, 100),
});

export const serviceConfigSchema = z.object({
  identification: text(1, 100),
  name: text(1, 200),
  role: z.enum(['bot', 'agent']),
  downstreamUrl: z.optional(httpUrl()),
  rules: z._default(z.array(ruleSchema).check(z.maxLength(50)), []),
});

export const stageConfigSchema = z
  .object({
    stage: z
      .string()
      .check(z.regex(/^[a-z][a-z0-9-]{0,30}$/, 'lowercase letters, digits and dashes')),
    /** The one Parley account this stage serves; every Service secret must name it. */
    accountIdentification: text(1, 200),
    parley: z.object({
      baseUrl: httpUrl(),
      /** One attempt's timeout. */
      timeoutMs: z._default(integer(z.positive(), z.maximum(30_000)), 3_000),
      /** All attempts of one logical call, retries included. */
      budgetMs: z._default(integer(z.positive(), z.maximum(30_000)), 8_000),
    }),
    services: z.array(serviceConfigSchema).check(z.minLength(1), z.maxLength(20)),
    staleAfterSeconds: z._default(integer(z.minimum(10), z.maximum(3_600)), 60),
    downstreamTimeoutMs: z._default(integer(z.positive(), z.maximum(20_000)), 10_000),
    secretsTtlSeconds: z._default(integer(z.minimum(0), z.maximum(3_600)), 300),
    servicesCacheSeconds: z._default(integer(z.minimum(0), z.maximum(3_600)), 60),
  })
  .check(
    z.superRefine((config, ctx) => {
      const seen = new Set<string>();
      for (const s of config.services) {
        for (const key of [s.identification, s.name.toLowerCase()]) {
          if (seen.has(key) || key === 'default') {
            ctx.addIssue({
              code: 'custom',
              message: `service "${key}" is named twice or reserved`,
            });
          }
          seen.add(key);
        }
      }
      const budget = config.parley.budgetMs;
      if (budget >= config.staleAfterSeconds * 1000) {
        ctx.addIssue({
          code: 'custom',
          message: 'parley.budgetMs must stay below staleAfterSeconds',
        });
      }
    }),
  );

export type StageConfig = z.infer<typeof stageConfigSchema>;
export type ServiceConfig = z.infer<typeof serviceConfigSchema>;

const tokenSchema = z
  .string()
  .check(z.minLength(16, 'tokens must be at least 16 characters'), z.maxLength(512));

/** One Secrets Manager secret per Service: secret values only. */
export const serviceSecretSchema = z.pipe(
  z.object({
    accountIdentification: z.string().check(z.minLength(1)),
    sharedServiceAccountSecret: z.string().check(z.minLength(1)),
    callbackTokens: z.optional(z.array(tokenSchema)),
    callbackToken: z.optional(tokenSchema),
    apiTokens: z.optional(z.array(tokenSchema)),
    apiToken: z.optional(tokenSchema),
    signingSecret: z.optional(z.string().check(z.minLength(16))),
  }),
  z.transform((s) => ({
    accountIdentification: s.accountIdentification,
    sharedServiceAccountSecret: s.sharedServiceAccountSecret,
    callbackTokens: [...(s.callbackTokens ?? []), ...(s.callbackToken ? [s.callbackToken] : [])],
    apiTokens: [...(s.apiTokens ?? []), ...(s.apiToken ? [s.apiToken] : [])],
    signingSecret: s.signingSecret,
  })),
);

export type ServiceSecret = z.output<typeof serviceSecretSchema>;

export const auditorsSecretSchema = z.object({
  auditors: z._default(z.array(z.object({ name: text(1, 100), token: tokenSchema })), []),
});

export type AuditorsSecret = z.output<typeof auditorsSecretSchema>;

/** The SERVICE_SECRET_ARNS environment variable: Service identification -> secret ARN. */
export const serviceSecretArnsSchema = z.record(z.string(), z.string());

/** Environment variables the functions read (parsed once, in functions/platform/runtime.ts). */
export const ENV = {
  config: 'HANDOVER_CONFIG',
  serviceSecretArns: 'SERVICE_SECRET_ARNS',
  auditorsSecretArn: 'AUDITORS_SECRET_ARN',
  historyTable: 'HISTORY_TABLE_NAME',
  stateTable: 'STATE_TABLE_NAME',
  queueUrl: 'CALLBACK_QUEUE_URL',
  /** Local runs: one file with configuration and secrets instead of Secrets Manager. */
  servicesFile: 'PARLEY_SERVICES_FILE',
} as const;
