// The simulator's seed: the account and the two Services of Parley's handover example, with fixed
// shared secrets meant for tests and local runs only, plus the schema a seed file must follow.
import { z } from 'zod';
import type { SimSeed } from './types';

export const BOT_SERVICE_ID = 'as272d6g2ds766fcdfgh';
export const AGENT_SERVICE_ID = 'Jlk9e7cSf9g3FFsaqe39';
export const SIM_ACCOUNT_ID = 'simAccount0000000001';

/** The seed's services with fixed test secrets; `overrides` replace whole top-level fields. */
export function seedFixture(overrides: Partial<SimSeed> = {}): SimSeed {
  const base: SimSeed = {
    accountIdentification: SIM_ACCOUNT_ID,
    services: [
      {
        identification: BOT_SERVICE_ID,
        name: 'Bot Service',
        sharedSecret: 'sim-test-secret-bot-service-0001',
        default: true,
      },
      {
        identification: AGENT_SERVICE_ID,
        name: 'Agent Service',
        sharedSecret: 'sim-test-secret-agent-service-0002',
        default: false,
      },
    ],
    owners: {},
  };
  return cloneSeed({ ...base, ...overrides });
}

const serviceSchema = z.object({
  identification: z
    .string()
    .min(1)
    .regex(/^[^|]+$/, 'must not contain "|"'),
  name: z.string().min(1),
  sharedSecret: z.string().min(1),
  default: z.boolean().optional(),
  callbackUrl: z.url().optional(),
  callbackHeaders: z.record(z.string(), z.string()).optional(),
});

export const seedSchema = z
  .object({
    accountIdentification: z
      .string()
      .min(1)
      .regex(/^[^|]+$/, 'must not contain "|"'),
    services: z.array(serviceSchema).min(1),
    owners: z.record(z.string(), z.string()).optional(),
  })
  .superRefine((seed, ctx) => {
    const ids = seed.services.map((s) => s.identification);
    if (new Set(ids).size !== ids.length) {
      ctx.addIssue({ code: 'custom', message: 'service identifications must be unique' });
    }
    if (seed.services.filter((s) => s.default === true).length > 1) {
      ctx.addIssue({ code: 'custom', message: 'at most one service may be the default' });
    }
    for (const owner of Object.values(seed.owners ?? {})) {
      if (!ids.includes(owner)) {
        ctx.addIssue({ code: 'custom', message: 'owners must name a seeded service' });
        break;
      }
    }
  });

/** Validates a seed; the error names the offending field, never a value. */
export function parseSeed(input: unknown): SimSeed {
  const result = seedSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue && issue.path.length > 0 ? ` at ${issue.path.join('.')}` : '';
    throw new Error(`Invalid simulator seed${where}: ${issue?.message ?? 'unknown problem'}.`);
  }
  return cloneSeed(result.data);
}

export function cloneSeed(seed: SimSeed): SimSeed {
  return {
    accountIdentification: seed.accountIdentification,
    services: seed.services.map((s) => ({
      ...s,
      ...(s.callbackHeaders ? { callbackHeaders: { ...s.callbackHeaders } } : {}),
    })),
    owners: { ...(seed.owners ?? {}) },
  };
}
