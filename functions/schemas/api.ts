// Request shapes of the HTTP API (DESIGN.md "HTTP API"), parsed with zod at the handler boundary.
import * as z from 'zod/mini';
import './zod-config';

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const printable = /^[^\u0000-\u001f\u007f]+$/;

/** Parley user ids are numbers sent as strings; accept any short printable id without a slash. */
export const userIdSchema = z.string().check(
  z.minLength(1),
  z.maxLength(128),
  z.regex(printable, 'must be printable'),
  z.refine((v) => !v.includes('/'), 'must not contain "/"'),
);

const serviceRef = z
  .string()
  .check(z.trim(), z.minLength(1), z.maxLength(200), z.regex(printable, 'must be printable'));

export const handoverRequestSchema = z.strictObject({
  userId: z.union([
    userIdSchema,
    z.pipe(z.number().check(z.int(), z.nonnegative()), z.transform(String)),
  ]),
  newOwner: serviceRef,
  metadata: z.optional(z.record(z.string(), z.unknown())),
  expectedOwner: z.optional(serviceRef),
});
export type HandoverRequest = z.infer<typeof handoverRequestSchema>;

export const messageRequestSchema = z.strictObject({
  text: z.string().check(z.minLength(1), z.maxLength(4096)),
});

export const reconcileRequestSchema = z.strictObject({
  userId: z.optional(userIdSchema),
});

export const idempotencyKeySchema = z
  .string()
  .check(z.minLength(1), z.maxLength(200), z.regex(/^[\x21-\x7e]+$/, 'must be visible ASCII'));

export const instantSchema = z.iso.datetime({ offset: true });
