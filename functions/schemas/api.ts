// Request shapes of the HTTP API (DESIGN.md "HTTP API"), parsed with zod at the handler boundary.
import { z } from 'zod';

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const printable = /^[^\u0000-\u001f\u007f]+$/;

/** Parley user ids are numbers sent as strings; accept any short printable id without a slash. */
export const userIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(printable, 'must be printable')
  .refine((v) => !v.includes('/'), 'must not contain "/"');

const serviceRef = z.string().trim().min(1).max(200).regex(printable, 'must be printable');

export const handoverRequestSchema = z.strictObject({
  userId: z.union([userIdSchema, z.number().int().nonnegative().transform(String)]),
  newOwner: serviceRef,
  metadata: z.record(z.string(), z.unknown()).optional(),
  expectedOwner: serviceRef.optional(),
});
export type HandoverRequest = z.infer<typeof handoverRequestSchema>;

export const messageRequestSchema = z.strictObject({
  text: z.string().min(1).max(4096),
});

export const reconcileRequestSchema = z.strictObject({
  userId: userIdSchema.optional(),
});

export const idempotencyKeySchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[\x21-\x7e]+$/, 'must be visible ASCII');

export const instantSchema = z.iso.datetime({ offset: true });
