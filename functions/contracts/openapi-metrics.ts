// The OpenAPI shapes of the metrics routes (docs/METRICS.md): GET /metrics and GET
// /metrics/stuck. The domain types them in TypeScript (domain/metrics/); the handler test holds
// the two equal at compile time.
import * as z from 'zod/mini';
import { handoverRecordSchema } from './openapi-schemas';
import '../schemas/zod-config';

const serviceTimeSchema = z.object({
  segments: z.number(),
  sumSeconds: z.number(),
  p50Seconds: z.number(),
  p90Seconds: z.number(),
});

/** One UTC day's figures; every key always present. */
export const dayMetricsSchema = z.object({
  day: z.string(),
  provisional: z.boolean(),
  basis: z.enum(['rollup', 'computed']),
  computedAt: z.string(),
  windowEnd: z.string(),
  records: z.object({
    total: z.number(),
    handovers: z.number(),
    firstOwner: z.number(),
    sameOwner: z.number(),
    failed: z.number(),
    other: z.number(),
  }),
  activeUsers: z.number(),
  timeInOwner: z.record(z.string(), serviceTimeSchema),
  handovers: z.array(
    z.object({
      reason: z.nullable(z.string()),
      source: handoverRecordSchema.shape.source,
      from: z.string(),
      to: z.string(),
      count: z.number(),
    }),
  ),
  escalations: z.object({ completed: z.number(), failed: z.number() }),
  containment: z.object({
    maturityHours: z.number(),
    cohort: z.number(),
    contained: z.number(),
    escalated: z.number(),
    escalationFailed: z.number(),
    shares: z.object({
      contained: z.number(),
      escalated: z.number(),
      escalationFailed: z.number(),
    }),
  }),
  pingPong: z.object({ usersEscalated: z.number(), usersPingPong: z.number(), rate: z.number() }),
  returnToBotWithin1h: z.object({
    escalations: z.number(),
    returned: z.number(),
    rate: z.number(),
  }),
  firstAgentReply: z.object({
    escalations: z.number(),
    replied: z.number(),
    coverage: z.number(),
    p50Seconds: z.number(),
    p90Seconds: z.number(),
  }),
});

export const metricsAnswerSchema = z.object({
  from: z.string(),
  to: z.string(),
  granularity: z.literal('day'),
  service: z.nullable(z.string()),
  days: z.array(dayMetricsSchema),
});

export const stuckAnswerSchema = z.object({
  asOf: z.string(),
  stuckAfterMinutes: z.number(),
  count: z.number(),
  users: z.array(
    z.object({
      userId: z.string(),
      owner: z.string(),
      lastUserAt: z.string(),
      lastOwnerAt: z.string(),
      waitingSeconds: z.number(),
    }),
  ),
  truncated: z.boolean(),
});
