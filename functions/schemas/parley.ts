// Zod schemas for what Parley's Service API answers: the response envelope, the services list and
// the owner. Tolerant by design: unknown fields pass through and malformed optional pieces are
// dropped rather than failing the call; only what a caller relies on is required.
import { z } from 'zod';

/** One entry of `notifications`; `message` is Parley's machine-readable code. */
export const parleyNotificationSchema = z.looseObject({
  type: z.string().optional().catch(undefined),
  message: z.string().optional().catch(undefined),
});

/** `{ data?, notifications?, status?, metadata? }`; success is decided from `status` and HTTP. */
export const parleyEnvelopeSchema = z.looseObject({
  data: z.unknown().optional(),
  notifications: z
    .array(parleyNotificationSchema.nullable().catch(null))
    .optional()
    .catch(undefined),
  status: z.string().optional().catch(undefined),
  metadata: z
    .looseObject({
      values: z.record(z.string(), z.unknown()).optional().catch(undefined),
      method: z.string().optional().catch(undefined),
      duration: z.number().optional().catch(undefined),
    })
    .optional()
    .catch(undefined),
});

export type ParleyEnvelope = z.infer<typeof parleyEnvelopeSchema>;

/** `true`, `false`, or their strings in any case ("true" is what the seed's example sends). */
const booleanish = z.union([
  z.boolean(),
  z
    .string()
    .trim()
    .toLowerCase()
    .pipe(z.enum(['true', 'false']))
    .transform((v) => v === 'true'),
]);

const identification = z.string().trim().min(1);

export const parleyServiceSchema = z
  .looseObject({
    identification,
    name: z.string().optional(),
    default: booleanish.nullish(),
  })
  .transform((s) => ({
    identification: s.identification,
    name: s.name ?? s.identification,
    default: s.default ?? false,
  }));

/** `data` of `GET services`. */
export const parleyServicesDataSchema = z
  .looseObject({ services: z.array(parleyServiceSchema) })
  .transform((d) => d.services);

/**
 * `data` of `GET owner` (shape assumed, PARLEY.md): `owner` as an identification or as an object
 * with `identification`; a bare `identification` on `data` is accepted too.
 */
export const parleyOwnerDataSchema = z
  .looseObject({
    owner: z
      .union([identification, z.looseObject({ identification })])
      .optional()
      .catch(undefined),
    identification: identification.optional().catch(undefined),
  })
  .transform((d, ctx) => {
    const owner =
      typeof d.owner === 'string' ? d.owner : (d.owner?.identification ?? d.identification);
    if (owner === undefined) {
      ctx.addIssue({ code: 'custom', message: 'no owner identification in data' });
      return z.NEVER;
    }
    return { owner };
  });

/** `data` of calls that answer `{}` or anything else: kept as an object when it is one. */
export const parleyObjectDataSchema = z
  .unknown()
  .transform(
    (d): Record<string, unknown> =>
      d !== null && typeof d === 'object' && !Array.isArray(d)
        ? (d as Record<string, unknown>)
        : {},
  );
