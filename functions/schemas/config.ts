// Stage configuration (non-secret) and secret shapes, parsed with zod at the boundaries.
import * as z from 'zod/mini';
import { LeaseConfigError, resolveLeaseConfig } from '../domain/lifecycle/lease';
import { CHECKPOINT_GENESIS } from '../domain/checkpoints/settings';
import { NOTIFICATION_TYPES } from '../domain/notify/events';
import { checkRulePattern } from '../domain/rules';
import { DEFAULT_INDEX_SHARDS, MAX_INDEX_SHARDS } from '../domain/shards';
import './zod-config';

const text = (min: number, max: number) => z.string().check(z.minLength(min), z.maxLength(max));
const httpUrl = () => z.url({ protocol: /^https?$/ });
const integer = (...checks: z.core.$ZodCheck<number>[]) => z.number().check(z.int(), ...checks);

const shardsError = { error: `must be a whole number from 1 to ${MAX_INDEX_SHARDS}` };
const indexShardsSchema = z
  .number(shardsError)
  .check(z.int(shardsError), z.minimum(1, shardsError), z.maximum(MAX_INDEX_SHARDS, shardsError));

/** A handover rule; its pattern is checked with the service (see serviceConfigSchema). */
export const ruleSchema = z.object({
  match: text(1, 500),
  newOwner: text(1, 200),
  reason: text(1, 100),
  /** `offer`: the rule offers the user to newOwner (a deadline, a fallback) instead of moving it. */
  mode: z.optional(z.enum(['handover', 'offer'])),
  offerTimeoutSeconds: z.optional(z.number().check(z.int(), z.minimum(5), z.maximum(3600))),
  onTimeout: z.optional(text(1, 200)),
});

/** A Service's notifications (DESIGN.md "Notifications"): url defaults to downstreamUrl. */
export const notifySchema = z.strictObject({
  url: z.optional(httpUrl()),
  /** Which types it gets; absent: all of them, `[]`: none. */
  events: z.optional(z.array(z.enum(NOTIFICATION_TYPES)).check(z.maxLength(20))),
});

/**
 * A Service's failover (DESIGN.md "Failover"): every field optional, the defaults applied where
 * it is read (functions/domain/failover/settings.ts), so the configuration stays short.
 * `afterFailures` stays below the queue's maxReceiveCount: the failover comes before the DLQ.
 */
export const MAX_AFTER_FAILURES = 9;

export const failoverConfigSchema = z.strictObject({
  enabled: z.optional(z.boolean()),
  afterFailures: z.optional(integer(z.minimum(1), z.maximum(MAX_AFTER_FAILURES))),
  target: z.optional(text(1, 200)),
  maxPerUserPerDay: z.optional(integer(z.minimum(1), z.maximum(100))),
  circuit: z.optional(
    z.strictObject({
      windowSeconds: z.optional(integer(z.minimum(1), z.maximum(3_600))),
      minRequests: z.optional(integer(z.minimum(1), z.maximum(10_000))),
      failureRate: z.optional(z.number().check(z.gte(0), z.lt(1))),
      openSeconds: z.optional(integer(z.minimum(1), z.maximum(86_400))),
    }),
  ),
});

/**
 * A Service's lease (DESIGN.md "Timers"): every field optional. Its rules (whole seconds, 10 <=
 * idleSeconds <= maxSeconds, warnBeforeSeconds below idleSeconds) are resolveLeaseConfig's, checked
 * with the service below, so the load and the catalog apply one rule.
 */
export const leaseConfigSchema = z.strictObject({
  idleSeconds: z.optional(z.number()),
  maxSeconds: z.optional(z.number()),
  warnBeforeSeconds: z.optional(z.number()),
  onExpiry: z.optional(z.string()),
});

export const serviceConfigSchema = z
  .object({
    identification: text(1, 100),
    name: text(1, 200),
    role: z.enum(['bot', 'agent']),
    downstreamUrl: z.optional(httpUrl()),
    rules: z._default(z.array(ruleSchema).check(z.maxLength(50)), []),
    failover: z.optional(failoverConfigSchema),
    notify: z.optional(notifySchema),
    lease: z.optional(leaseConfigSchema),
  })
  .check(
    // Rules run on RE2 (functions/domain/rules.ts): a pattern it cannot compile is refused here,
    // naming the service, rather than skipped on every message.
    z.superRefine((service, ctx) => {
      service.rules.forEach((rule, index) => {
        const problem = checkRulePattern(rule.match);
        if (problem === null) return;
        ctx.addIssue({
          code: 'custom',
          path: ['rules', index, 'match'],
          message:
            `service "${service.name}" rule ${index} has a pattern the linear-time engine (RE2) ` +
            `cannot run: ${problem} (RE2 has no backreferences or lookaround)`,
        });
      });
      const target = service.failover?.target;
      if (
        target !== undefined &&
        (target === service.identification || target.toLowerCase() === service.name.toLowerCase())
      ) {
        ctx.addIssue({
          code: 'custom',
          path: ['failover', 'target'],
          message: `service "${service.name}" names itself as its failover target`,
        });
      }
      if (service.lease !== undefined) {
        try {
          resolveLeaseConfig(service.role, false, service.lease, service.name);
        } catch (err) {
          if (!(err instanceof LeaseConfigError)) throw err;
          ctx.addIssue({ code: 'custom', path: err.field.split('.'), message: err.message });
        }
        const onExpiry = service.lease.onExpiry?.trim();
        if (
          onExpiry !== undefined &&
          (onExpiry === service.identification ||
            onExpiry.toLowerCase() === service.name.toLowerCase())
        ) {
          // An expiry would hand the user to its owner: a lease that never ends.
          ctx.addIssue({
            code: 'custom',
            path: ['lease', 'onExpiry'],
            message: `service "${service.name}" names itself as its lease's onExpiry`,
          });
        }
      }
    }),
  );

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
    /**
     * Partitions of each write-sharded index (functions/domain/shards.ts). Raising it needs no
     * migration; lowering it does (DESIGN.md "Changing N": with indexShardsFrom, then reindex).
     */
    indexShards: z._default(indexShardsSchema, DEFAULT_INDEX_SHARDS),
    /**
     * While indexShards is being lowered: the count it is lowered from. Writers use indexShards,
     * readers fan out over this many (readShardsOf), so nothing keyed under the old count drops
     * out of a listing before `parley-handover reindex` has moved it (DESIGN.md "Changing N").
     */
    indexShardsFrom: z.optional(indexShardsSchema),
    /** Waits before the notifier's retries, in seconds; past the list each doubles the last. */
    notifyRetrySeconds: z._default(
      z.array(integer(z.minimum(0), z.maximum(43_200))).check(z.minLength(1), z.maxLength(10)),
      [2, 10, 30],
    ),
    /** The relay re-queues a notification its sender has not touched for this long past due. */
    notifyRelayAfterSeconds: z._default(integer(z.minimum(1), z.maximum(3_600)), 60),
    /**
     * Signed checkpoints (DESIGN.md "Signed checkpoints"): the schedule, the bucket's Object Lock
     * retention (compliance mode: nothing deletes a checkpoint before it ends), heads per checkpoint.
     */
    checkpoints: z.prefault(
      z.strictObject({
        intervalMinutes: z._default(integer(z.minimum(1), z.maximum(1_440)), 15),
        retentionDays: z._default(integer(z.minimum(1), z.maximum(36_500)), 400),
        maxHeads: z._default(integer(z.minimum(1), z.maximum(10_000)), 1_000),
        /** Records before it are never checkpointed: no record of this service predates it. */
        since: z._default(
          z.iso.datetime({
            error: 'must be an ISO-8601 instant in UTC, e.g. 2026-01-01T00:00:00Z',
          }),
          CHECKPOINT_GENESIS,
        ),
      }),
      {},
    ),
    /**
     * Retention (DESIGN.md "Erasure and retention"): the metadata of records older than
     * `metadataDays` is erased once a day (level metadata, reason "retention"); the first run
     * walks the days from `since` (no record of this service predates it).
     */
    retention: z.prefault(
      z.strictObject({
        metadataDays: z._default(integer(z.minimum(1), z.maximum(36_500)), 90),
        since: z._default(
          z.iso.datetime({
            error: 'must be an ISO-8601 instant in UTC, e.g. 2026-01-01T00:00:00Z',
          }),
          CHECKPOINT_GENESIS,
        ),
      }),
      {},
    ),
    /**
     * Ownership metrics (docs/METRICS.md): a day is classified `maturityHours` after its end (at
     * least 24: ping-pong looks 24 h on), a user waiting longer than `stuckAfterMinutes` is stuck.
     */
    metrics: z._default(
      z.strictObject({
        maturityHours: z._default(integer(z.minimum(24), z.maximum(168)), 24),
        stuckAfterMinutes: z._default(integer(z.minimum(1), z.maximum(1_440)), 15),
      }),
      { maturityHours: 24, stuckAfterMinutes: 15 },
    ),
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
      const from = config.indexShardsFrom;
      // A count out of range has its own issue; this one is about the order of two good counts.
      const whole = (n: unknown) => Number.isInteger(n) && (n as number) >= 1;
      if (whole(from) && whole(config.indexShards) && from! <= config.indexShards) {
        ctx.addIssue({
          code: 'custom',
          path: ['indexShardsFrom'],
          message:
            `must be above indexShards (${from} is not above ${config.indexShards}): it names the ` +
            'count being lowered from, while the index keys are rewritten (parley-handover ' +
            'reindex); remove it once that is done',
        });
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

const tokenList = {
  list: z.optional(z.array(tokenSchema)),
  single: z.optional(tokenSchema),
};
const tokens = (list?: string[], single?: string): string[] => [
  ...(list ?? []),
  ...(single ? [single] : []),
];

/**
 * A Service's main secret: its Parley credentials, API tokens and signing secret. Callback tokens
 * live in a secret of their own (callbackTokensSecretSchema) that only the webhook reads; ones still
 * found here (a secret written before the split) are ignored.
 */
export const serviceSecretSchema = z.pipe(
  z.object({
    accountIdentification: z.string().check(z.minLength(1)),
    sharedServiceAccountSecret: z.string().check(z.minLength(1)),
    apiTokens: tokenList.list,
    apiToken: tokenList.single,
    signingSecret: z.optional(z.string().check(z.minLength(16))),
  }),
  z.transform((s) => ({
    accountIdentification: s.accountIdentification,
    sharedServiceAccountSecret: s.sharedServiceAccountSecret,
    apiTokens: tokens(s.apiTokens, s.apiToken),
    signingSecret: s.signingSecret,
  })),
);

export type ServiceSecret = z.output<typeof serviceSecretSchema>;

/** A Service's callback-token secret: the tokens Parley presents on its webhook (rotation list). */
export const callbackTokensSecretSchema = z.pipe(
  z.object({ callbackTokens: tokenList.list, callbackToken: tokenList.single }),
  z.transform((s) => tokens(s.callbackTokens, s.callbackToken)),
);

/** Both secrets of a Service in one object: what the local services file holds. */
export type CombinedServiceSecret = ServiceSecret & { callbackTokens: string[] };

const namedTokens = () =>
  z._default(z.array(z.object({ name: text(1, 100), token: tokenSchema })), []);

/**
 * `{ auditors, operators }`: auditors read; operators may do all an auditor may, and act. A token
 * listed in both is refused at load: who holds it would be ambiguous in the logs and records, and
 * taking the stronger role would quietly let a read-only token move users.
 */
export const auditorsSecretSchema = z
  .object({ auditors: namedTokens(), operators: namedTokens() })
  .check(
    z.refine(
      (s) => {
        const auditorTokens = new Set(s.auditors.map((a) => a.token));
        return !s.operators.some((o) => auditorTokens.has(o.token));
      },
      { error: 'a token is listed both as an auditor and as an operator; give each its own' },
    ),
  );

export type AuditorsSecret = z.output<typeof auditorsSecretSchema>;

/**
 * The SERVICE_SECRET_ARNS and CALLBACK_TOKEN_SECRET_ARNS environment variables: Service
 * identification -> secret ARN.
 */
export const serviceSecretArnsSchema = z.record(z.string(), z.string());

/** Environment variables the functions read (parsed once, in functions/platform/runtime.ts). */
export const ENV = {
  config: 'HANDOVER_CONFIG',
  serviceSecretArns: 'SERVICE_SECRET_ARNS',
  /** The webhook only: each Service's callback-token secret. */
  callbackTokenSecretArns: 'CALLBACK_TOKEN_SECRET_ARNS',
  auditorsSecretArn: 'AUDITORS_SECRET_ARN',
  historyTable: 'HISTORY_TABLE_NAME',
  stateTable: 'STATE_TABLE_NAME',
  queueUrl: 'CALLBACK_QUEUE_URL',
  /** The FIFO notify queue (the outbox's sender consumes it). */
  notifyQueueUrl: 'NOTIFY_QUEUE_URL',
  /** The console only: the dead-letter queues whose depths the overview shows. */
  deadLetterQueueUrl: 'CALLBACK_DLQ_URL',
  notifyDeadLetterQueueUrl: 'NOTIFY_DLQ_URL',
  /** Local runs: one file with configuration and secrets instead of Secrets Manager. */
  servicesFile: 'PARLEY_SERVICES_FILE',
  /** The checkpoints' S3 bucket (the checkpoint and verify functions). */
  checkpointBucket: 'CHECKPOINT_BUCKET_NAME',
  /** The checkpoints' KMS key (the checkpoint function signs, verify reads its public key). */
  checkpointKeyId: 'CHECKPOINT_KEY_ID',
  /** The erasure key's secret (the eraser only). */
  erasureKeySecretArn: 'ERASURE_KEY_SECRET_ARN',
  /** Local runs: a file holding the erasure key (made on first use). */
  erasureKeyFile: 'PARLEY_ERASURE_KEY_FILE',
} as const;
