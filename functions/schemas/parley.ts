// Zod schemas for what Parley's Service API answers: the response envelope, the services list and
// the owner. Tolerant by design: unknown fields pass through and malformed optional pieces are
// dropped rather than failing the call; only what a caller relies on is required.
import * as z from 'zod/mini';
import './zod-config';

/** An optional field whose malformed value is dropped (read as absent) instead of failing. */
const lenient = <T extends z.core.SomeType>(schema: T) => z.catch(z.optional(schema), undefined);

/** One entry of `notifications`; `message` is Parley's machine-readable code. */
export const parleyNotificationSchema = z.looseObject({
  type: lenient(z.string()),
  message: lenient(z.string()),
});

/** `{ data?, notifications?, status?, metadata? }`; success is decided from `status` and HTTP. */
export const parleyEnvelopeSchema = z.looseObject({
  data: z.optional(z.unknown()),
  notifications: lenient(z.array(z.catch(z.nullable(parleyNotificationSchema), null))),
  status: lenient(z.string()),
  metadata: lenient(
    z.looseObject({
      values: lenient(z.record(z.string(), z.unknown())),
      method: lenient(z.string()),
      duration: lenient(z.number()),
    }),
  ),
});

export type ParleyEnvelope = z.infer<typeof parleyEnvelopeSchema>;

/** `true`, `false`, or their strings in any case ("true" is what the seed's example sends). */
const booleanish = z.union([
  z.boolean(),
  z.pipe(
    z.pipe(z.string().check(z.trim(), z.toLowerCase()), z.enum(['true', 'false'])),
    z.transform((v) => v === 'true'),
  ),
]);

const identification = z.string().check(z.trim(), z.minLength(1));

export const parleyServiceSchema = z.pipe(
  z.looseObject({
    identification,
    name: z.optional(z.string()),
    default: z.nullish(booleanish),
  }),
  z.transform((s) => ({
    identification: s.identification,
    name: s.name ?? s.identification,
    default: s.default ?? false,
  })),
);

/** `data` of `GET services`. */
export const parleyServicesDataSchema = z.pipe(
  z.looseObject({ services: z.array(parleyServiceSchema) }),
  z.transform((d) => d.services),
);

/**
 * `data` of `GET owner` (shape assumed, PARLEY.md): `owner` as an identification or as an object
 * with `identification`; a bare `identification` on `data` is accepted too.
 */
export const parleyOwnerDataSchema = z.pipe(
  z.looseObject({
    owner: lenient(z.union([identification, z.looseObject({ identification })])),
    identification: lenient(identification),
  }),
  z.transform((d, ctx) => {
    const owner =
      typeof d.owner === 'string' ? d.owner : (d.owner?.identification ?? d.identification);
    if (owner === undefined) {
      ctx.issues.push({ code: 'custom', message: 'no owner identification in data', input: d });
      return z.NEVER;
    }
    return { owner };
  }),
);

/** `data` of calls that answer `{}` or anything else: kept as an object when it is one. */
export const parleyObjectDataSchema = z.pipe(
  z.unknown(),
  z.transform(
    (d): Record<string, unknown> =>
      d !== null && typeof d === 'object' && !Array.isArray(d)
        ? (d as Record<string, unknown>)
        : {},
  ),
);
