// Stage configuration (non-secret) and secret shapes, parsed with zod at the boundaries.
import { z } from 'zod';

const isRegex = (source: string): boolean => {
  try {
    new RegExp(source, 'iu');
    return true;
  } catch {
    return false;
  }
};

export const ruleSchema = z.object({
  match: z.string().min(1).max(500).refine(isRegex, 'must be a valid regular expression'),
  newOwner: z.string().min(1).max(200),
  reason: z.string().min(1).max(100),
});

export const serviceConfigSchema = z.object({
  identification: z.string().min(1).max(100),
  name: z.string().min(1).max(200),
  role: z.enum(['bot', 'agent']),
  downstreamUrl: z.url({ protocol: /^https?$/ }).optional(),
  rules: z.array(ruleSchema).max(50).default([]),
});

export const stageConfigSchema = z
  .object({
    stage: z.string().regex(/^[a-z][a-z0-9-]{0,30}$/, 'lowercase letters, digits and dashes'),
    /** The one Parley account this stage serves; every Service secret must name it. */
    accountIdentification: z.string().min(1).max(200),
    parley: z.object({
      baseUrl: z.url({ protocol: /^https?$/ }),
      /** One attempt's timeout. */
      timeoutMs: z.number().int().positive().max(30_000).default(3_000),
      /** All attempts of one logical call, retries included. */
      budgetMs: z.number().int().positive().max(30_000).default(8_000),
    }),
    services: z.array(serviceConfigSchema).min(1).max(20),
    staleAfterSeconds: z.number().int().min(10).max(3_600).default(60),
    downstreamTimeoutMs: z.number().int().positive().max(20_000).default(10_000),
    secretsTtlSeconds: z.number().int().min(0).max(3_600).default(300),
    servicesCacheSeconds: z.number().int().min(0).max(3_600).default(60),
  })
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    for (const s of config.services) {
      for (const key of [s.identification, s.name.toLowerCase()]) {
        if (seen.has(key) || key === 'default') {
          ctx.addIssue({ code: 'custom', message: `service "${key}" is named twice or reserved` });
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
  });

export type StageConfig = z.infer<typeof stageConfigSchema>;
export type ServiceConfig = z.infer<typeof serviceConfigSchema>;

const tokenSchema = z.string().min(16, 'tokens must be at least 16 characters').max(512);

/** One Secrets Manager secret per Service: secret values only. */
export const serviceSecretSchema = z
  .object({
    accountIdentification: z.string().min(1),
    sharedServiceAccountSecret: z.string().min(1),
    callbackTokens: z.array(tokenSchema).optional(),
    callbackToken: tokenSchema.optional(),
    apiTokens: z.array(tokenSchema).optional(),
    apiToken: tokenSchema.optional(),
    signingSecret: z.string().min(16).optional(),
  })
  .transform((s) => ({
    accountIdentification: s.accountIdentification,
    sharedServiceAccountSecret: s.sharedServiceAccountSecret,
    callbackTokens: [...(s.callbackTokens ?? []), ...(s.callbackToken ? [s.callbackToken] : [])],
    apiTokens: [...(s.apiTokens ?? []), ...(s.apiToken ? [s.apiToken] : [])],
    signingSecret: s.signingSecret,
  }));

export type ServiceSecret = z.output<typeof serviceSecretSchema>;

export const auditorsSecretSchema = z.object({
  auditors: z.array(z.object({ name: z.string().min(1).max(100), token: tokenSchema })).default([]),
});

export type AuditorsSecret = z.output<typeof auditorsSecretSchema>;

/** Environment variables the functions read (parsed once, in functions/platform/env.ts). */
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
