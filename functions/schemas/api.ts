// Request shapes of the HTTP API (DESIGN.md "HTTP API"), parsed with zod at the handler boundary.
import * as z from 'zod/mini';
import { isValidUserId, MAX_USER_ID_LENGTH } from '../domain/user-id';
import './zod-config';

// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const printable = /^[^\u0000-\u001f\u007f]+$/;

/** A user id by the one rule of domain/user-id (short, printable, one path segment). */
export const userIdSchema = z
  .string()
  .check(
    z.minLength(1),
    z.maxLength(MAX_USER_ID_LENGTH),
    z.refine(isValidUserId, 'must be printable, without "/", and not "." or ".."'),
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
