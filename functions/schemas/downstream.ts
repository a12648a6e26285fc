// What a Service's program (bot engine, agent desk) may answer to a forwarded callback
// (DESIGN.md "Processor"): both parts optional; anything else in the answer is ignored.
import * as z from 'zod/mini';
import './zod-config';

export const downstreamAnswerSchema = z.object({
  reply: z.nullish(z.string()),
  handover: z.nullish(
    z.object({
      newOwner: z.string().check(z.minLength(1)),
      metadata: z.nullish(z.record(z.string(), z.unknown())),
    }),
  ),
});

export type DownstreamAnswer = z.infer<typeof downstreamAnswerSchema>;
