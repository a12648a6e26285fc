// The webhooks of the OpenAPI document (contracts/openapi.ts): what this service sends out. The
// signed forward of a user's callback to the owning Service's downstreamUrl (DESIGN.md
// "Downstream signature"); its payload and answer are the named schemas ForwardPayload and
// DownstreamAnswer.
type Json = Record<string, unknown>;

const ref = (id: string): Json => ({ $ref: `#/components/schemas/${id}` });

export const WEBHOOKS: Json = {
  forward: {
    post: {
      operationId: 'forward',
      // Authenticated by its signature headers (below): no security scheme of this API.
      security: [],
      summary: "A user's callback, forwarded to the owning Service's downstreamUrl, signed",
      description:
        'At least once, with a stable delivery id: dedupe on X-Handover-Delivery; reject timestamps more than 5 minutes old. A non-2xx answer, a timeout or a body that is not an answer is retried.',
      parameters: [
        {
          name: 'X-Handover-Timestamp',
          in: 'header',
          required: true,
          description: 'Unix seconds when the forward was signed.',
          schema: { type: 'string', pattern: '^[0-9]+$' },
        },
        {
          name: 'X-Handover-Delivery',
          in: 'header',
          required: true,
          description: 'The delivery id, the same on every retry.',
          schema: { type: 'string' },
        },
        {
          name: 'X-Handover-Signature',
          in: 'header',
          required: false,
          description:
            'v1=hex(HMAC-SHA256(signingSecret, "{timestamp}.{raw body}")); present when the Service has a signingSecret.',
          schema: { type: 'string', pattern: '^v1=[0-9a-f]{64}$' },
        },
      ],
      requestBody: {
        required: true,
        content: { 'application/json': { schema: ref('ForwardPayload') } },
      },
      responses: {
        '200': {
          description: 'Any 2xx: optionally a reply to send and a handover to perform',
          content: { 'application/json': { schema: ref('DownstreamAnswer') } },
        },
      },
    },
  },
};
