// Request shapes of the erasure routes (DESIGN.md "Erasure and retention").
import * as z from 'zod/mini';
import { cursorSchema, pageQuerySchema, printable } from './api';
import './zod-config';

const MAX_TEXT = 200;

const text = (name: string) =>
  z
    .string()
    .check(
      z.minLength(1, `${name} must not be empty`),
      z.maxLength(MAX_TEXT, `${name} must be at most ${MAX_TEXT} characters`),
      z.regex(printable, `${name} must be printable`),
    );

/** POST /users/{userId}/erasure. */
export const erasureRequestSchema = z.strictObject({
  level: z.enum(['metadata', 'full']),
  reason: text('reason'),
  legalBasis: text('legalBasis'),
  dryRun: z.optional(z.boolean()),
});
export type ErasureRequestBody = z.infer<typeof erasureRequestSchema>;

/** An erasure id in a path: what a request answered (`era_` and base64url characters). */
export const erasureIdSchema = z
  .string()
  .check(z.regex(/^era_[A-Za-z0-9_-]{1,60}$/, 'is not an erasure id'));

/** GET /erasures: a page of the register. */
export const ERASURES_PAGE_DEFAULT = 50;
export const ERASURES_PAGE_MAX = 100;
export const erasuresQuerySchema = pageQuerySchema(ERASURES_PAGE_DEFAULT, ERASURES_PAGE_MAX);

/** GET /users/{userId}/export: `cursor` goes on with the state table's scan. */
export const exportQuerySchema = z.object({ cursor: z.optional(cursorSchema) });

const counts = z.object({
  records: z.number(),
  withMetadata: z.number(),
  ownerItem: z.number(),
  notifications: z.number(),
  stateItems: z.nullable(z.number()),
});

/** A register item as `erasure list --all` saved it from another table (the restore path). */
export const registerItemSchema = z.object({
  erasureId: erasureIdSchema,
  level: z.enum(['metadata', 'full']),
  status: z.enum(['requested', 'erasing', 'cleaning', 'done', 'reapply']),
  subjectUserId: z.optional(z.string()),
  subjectRef: z.optional(z.string().check(z.regex(/^[0-9a-f]{64}$/))),
  reason: z.string(),
  legalBasis: z.string(),
  requestedBy: z.string(),
  requestedAt: z.string(),
  startedAt: z.optional(z.string()),
  doneAt: z.optional(z.string()),
  counts,
  scope: z.optional(z.object({ fromDay: z.string(), throughDay: z.string(), before: z.string() })),
  idempotencyKey: z.optional(z.string()),
  version: z.number(),
});

/** POST /erasures/reapply: the old table's register (none: this table's own). */
export const reapplyRequestSchema = z.strictObject({
  erasures: z.optional(z.array(registerItemSchema).check(z.maxLength(500))),
});
