// The data stack's custom resource handler that copies the checkpoint key's public half into the
// stack outputs, with KMS played by aws-sdk-client-mock at the SDK boundary (no KMS runs here) and
// a fixed P-256 key. The Provider framework answers CloudFormation with what the handler returns,
// or FAILED with the message and stack of what it throws: so a failure must carry one line that
// names no secret and no frame of our code.
import { createPublicKey } from 'node:crypto';
import { GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import type { CdkCustomResourceEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import {
  makeHandler,
  PublicKeyResourceError,
} from '../../functions/handlers/checkpoint-public-key';

const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/5f0c1d2e-3a4b-4c5d-8e9f-checkpoints';
/** A fixed P-256 public key (SPKI, DER, base64) and its coordinates. */
const FIXED_DER =
  'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE1gi5mNZIwvOEphhWMWG/HC0mloK2JjLEhoNCRpUO0tHQOeyinOtLTyuQ3fHsSYi9ur+tRafsBAcbQLDmU9IfnA==';
const FIXED_JWK = {
  kty: 'EC',
  crv: 'P-256',
  x: '1gi5mNZIwvOEphhWMWG_HC0mloK2JjLEhoNCRpUO0tE',
  y: '0DnsopzrS08rkN3x7EmIvbq_rUWn7AQHG0Cw5lPSH5w',
};
/** Stands for anything secret an error could carry from below (a request signature, a token). */
const SECRET = 'AKIA-SECRET-8f3e2d1c0b9a';

const kms = mockClient(KMSClient);
const handler = makeHandler(() => new KMSClient({ region: 'eu-west-1' }));

const event = (
  type: 'Create' | 'Update' | 'Delete',
  properties: Record<string, unknown> = { KeyId: KEY_ARN },
): CdkCustomResourceEvent =>
  ({
    RequestType: type,
    ServiceToken: 'arn:aws:lambda:eu-west-1:123456789012:function:framework-onEvent',
    ResponseURL: `https://cloudformation-custom-resource-response.example/?X-Amz-Signature=${SECRET}`,
    StackId: 'arn:aws:cloudformation:eu-west-1:123456789012:stack/ParleyHandover-dev-Data/1',
    RequestId: 'b1c2d3e4-request',
    LogicalResourceId: 'CheckpointPublicKeyResource',
    ResourceType: 'AWS::CloudFormation::CustomResource',
    ResourceProperties: { ServiceToken: 'token', ...properties },
    ...(type === 'Create' ? {} : { PhysicalResourceId: KEY_ARN }),
    ...(type === 'Update' ? { OldResourceProperties: { KeyId: KEY_ARN } } : {}),
  }) as CdkCustomResourceEvent;

/** What a failure hands the framework: its message and stack (the FAILED reason's text). */
const failure = async (e: CdkCustomResourceEvent) => {
  const err = await handler(e).then(
    () => undefined,
    (thrown: unknown) => thrown as Error,
  );
  expect(err).toBeInstanceOf(PublicKeyResourceError);
  return { message: err!.message, stack: String(err!.stack) };
};

const expectClean = ({ message, stack }: { message: string; stack: string }) => {
  expect(message).not.toMatch(/\n/);
  expect(`${message}\n${stack}`).not.toContain(SECRET);
  // No frame of ours: the stack is the error's one line.
  expect(stack.split('\n')).toEqual([`PublicKeyResourceError: ${message}`]);
};

beforeEach(() => {
  kms.reset();
  kms.on(GetPublicKeyCommand, { KeyId: KEY_ARN }).resolves({
    KeyId: KEY_ARN,
    KeySpec: 'ECC_NIST_P256',
    KeyUsage: 'SIGN_VERIFY',
    SigningAlgorithms: ['ECDSA_SHA_256'],
    PublicKey: new Uint8Array(Buffer.from(FIXED_DER, 'base64')),
  });
});

describe('the checkpoint public key resource', () => {
  it.each(['Create', 'Update'] as const)(
    'answers %s with the key as one-line base64 DER and as a PEM that node:crypto reads as the same key',
    async (type) => {
      const result = await handler(event(type));

      expect(kms.commandCalls(GetPublicKeyCommand).map((c) => c.args[0].input)).toEqual([
        { KeyId: KEY_ARN },
      ]);
      expect(result?.PhysicalResourceId).toBe(KEY_ARN);
      const { PublicKeyDer, PublicKeyPem } = result!.Data!;
      expect(PublicKeyDer).toBe(FIXED_DER);
      const fromPem = createPublicKey(PublicKeyPem);
      expect(fromPem.export({ format: 'jwk' })).toEqual(FIXED_JWK);
      // The PEM is the DER wrapped at 64 characters, as an auditor rebuilds it from the output.
      const lines = PublicKeyPem.trimEnd().split('\n');
      expect(lines[0]).toBe('-----BEGIN PUBLIC KEY-----');
      expect(lines.at(-1)).toBe('-----END PUBLIC KEY-----');
      expect(lines.slice(1, -1).join('')).toBe(PublicKeyDer);
      expect(lines.slice(1, -2).every((l) => l.length === 64)).toBe(true);
    },
  );

  it('answers Delete without calling KMS: the key is retained', async () => {
    const result = await handler(event('Delete'));

    expect(kms.calls()).toHaveLength(0);
    expect(result?.Data).toBeUndefined();
  });

  it('fails with the KMS error name only: no message from below, no secret, no stack frames', async () => {
    const denied = Object.assign(
      new Error(`User is not authorized to perform kms:GetPublicKey; signature ${SECRET}`),
      { name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } },
    );
    kms.on(GetPublicKeyCommand).rejects(denied);

    const result = await failure(event('Create'));

    expect(result.message).toBe(
      'KMS GetPublicKey failed for the checkpoint key (AccessDeniedException).',
    );
    expectClean(result);
  });

  it("fails naming a network error's code when KMS cannot be reached", async () => {
    kms.on(GetPublicKeyCommand).rejects(
      Object.assign(new Error(`connect ECONNREFUSED 127.0.0.1:9 ${SECRET}`), {
        code: 'ECONNREFUSED',
      }),
    );

    const result = await failure(event('Create'));

    expect(result.message).toBe('KMS GetPublicKey failed for the checkpoint key (ECONNREFUSED).');
    expectClean(result);
  });

  it('fails on a key that is not a P-256 signing key, naming what it got', async () => {
    kms.on(GetPublicKeyCommand).resolves({
      KeyId: KEY_ARN,
      KeySpec: 'RSA_2048',
      KeyUsage: 'SIGN_VERIFY',
      PublicKey: new Uint8Array([1, 2, 3]),
    });

    const result = await failure(event('Update'));

    expect(result.message).toBe(
      'The checkpoint key is RSA_2048 for SIGN_VERIFY, not ECC_NIST_P256 for SIGN_VERIFY.',
    );
    expectClean(result);
  });

  it('fails on a public key that does not parse as SPKI', async () => {
    kms.on(GetPublicKeyCommand).resolves({
      KeyId: KEY_ARN,
      KeySpec: 'ECC_NIST_P256',
      KeyUsage: 'SIGN_VERIFY',
      PublicKey: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]),
    });

    const result = await failure(event('Create'));

    expect(result.message).toBe('KMS answered a public key that is not a valid SPKI key.');
    expectClean(result);
  });

  it.each([
    ['no KeyId', {}],
    ['an empty KeyId', { KeyId: '' }],
    ['a KeyId that is no string', { KeyId: 42 }],
  ])('refuses a resource with %s before calling KMS', async (_, properties) => {
    const result = await failure(event('Create', properties));

    expect(result.message).toBe('The resource needs KeyId: the checkpoint key ARN.');
    expectClean(result);
    expect(kms.calls()).toHaveLength(0);
  });
});
