// What a Service's program (bot engine, agent desk) may answer to a forwarded callback
// (DESIGN.md "Processor"): both parts optional; anything else in the answer is ignored.
import * as z from 'zod/mini';
import './zod-config';

/**
 * A JSON object, passed on as parsed: a record schema would copy it key by key and drop a
 * `__proto__` key on the way, so the handover would store other metadata than was sent. The
 * handover use case checks its content (and refuses what it cannot store).
 */
const jsonObject = z.custom<Record<string, unknown>>(
  (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
  'must be a JSON object',
);

export const downstreamAnswerSchema = z.object({
  reply: z.nullish(z.string()),
  handover: z.nullish(
    z.object({
      newOwner: z.string().check(z.minLength(1)),
      metadata: z.nullish(jsonObject),
      // `offer`: offer the user to newOwner instead (issue 15); the offer's use case checks these.
      mode: z.optional(z.enum(['handover', 'offer'])),
      offerTimeoutSeconds: z.optional(z.number()),
      onTimeout: z.optional(z.string()),
    }),
  ),
});

export type DownstreamAnswer = z.infer<typeof downstreamAnswerSchema>;
