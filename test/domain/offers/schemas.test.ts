// POST /handovers bodies with `mode: "offer"` (schemas/api.ts): the parser and the two shapes the
// OpenAPI document shows take exactly the same bodies, and a body that mixes them is refused
// naming the field. A downstream answer and a rule may ask for an offer too.
import fc from 'fast-check';
import {
  handoverRequestSchema,
  handoverRequestShapesSchema,
} from '../../../functions/schemas/handover-request';
import { downstreamAnswerSchema } from '../../../functions/schemas/downstream';
import { ruleSchema } from '../../../functions/schemas/config';
import { describeIssue } from '../../../functions/platform/http';

const FIELDS: Record<string, unknown[]> = {
  userId: ['20', 20, ''],
  newOwner: ['Agent Service', ''],
  metadata: [{ reason: 'x' }, 'nope'],
  expectedOwner: ['Bot Service'],
  mode: ['handover', 'offer', 'other'],
  offerTimeoutSeconds: [5, 3600, 4, 3601, 30.5],
  onTimeout: ['keep', 'default', 'Bot Service', ''],
  deliverDuringOffer: ['owner', 'both', 'all'],
};

const body = fc
  .record(
    Object.fromEntries(
      Object.entries(FIELDS).map(([k, values]) => [k, fc.constantFrom(...values)]),
    ),
    { requiredKeys: [] },
  )
  .map((b) => b as Record<string, unknown>);

const firstProblem = (value: unknown): string => {
  const parsed = handoverRequestSchema.safeParse(value);
  return parsed.success ? 'ok' : describeIssue(parsed.error.issues[0]!);
};

describe('POST /handovers bodies', () => {
  it('are taken by the parser exactly when one of the documented shapes takes them', () => {
    fc.assert(
      fc.property(body, (b) => {
        expect(handoverRequestSchema.safeParse(b).success).toBe(
          handoverRequestShapesSchema.safeParse(b).success,
        );
      }),
      { seed: 15, numRuns: 2000 },
    );
  });

  it('name the field that belongs to the other shape', () => {
    const base = { userId: '20', newOwner: 'Agent Service' };

    expect(firstProblem({ ...base, onTimeout: 'keep' })).toBe(
      'Field "onTimeout" is invalid: applies only with "mode": "offer".',
    );
    expect(firstProblem({ ...base, mode: 'handover', offerTimeoutSeconds: 30 })).toBe(
      'Field "offerTimeoutSeconds" is invalid: applies only with "mode": "offer".',
    );
    expect(firstProblem({ ...base, mode: 'offer', expectedOwner: 'Bot Service' })).toBe(
      'Field "expectedOwner" is invalid: applies to a handover, not to an offer (only the owner may offer).',
    );
    expect(firstProblem({ ...base, mode: 'offer', offerTimeoutSeconds: 3601 })).toMatch(
      /^Field "offerTimeoutSeconds" is invalid/,
    );
    expect(
      firstProblem({ ...base, mode: 'offer', offerTimeoutSeconds: 5, onTimeout: 'keep' }),
    ).toBe('ok');
  });

  it('may come from a downstream answer or a rule asking for an offer', () => {
    expect(
      downstreamAnswerSchema.parse({
        handover: {
          newOwner: 'Agent Service',
          mode: 'offer',
          offerTimeoutSeconds: 60,
          onTimeout: 'default',
        },
      }).handover,
    ).toMatchObject({ mode: 'offer', offerTimeoutSeconds: 60, onTimeout: 'default' });
    expect(
      ruleSchema.safeParse({
        match: 'x',
        newOwner: 'A',
        reason: 'r',
        mode: 'offer',
        offerTimeoutSeconds: 4,
      }).success,
    ).toBe(false);
  });
});
