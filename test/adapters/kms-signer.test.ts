// The KMS signer at the SDK boundary (aws-sdk-client-mock: no KMS runs here). The mock plays KMS
// with a P-256 key of the test's: Sign answers a DER ECDSA signature over the RAW message it was
// sent, GetPublicKey the key's DER SPKI. What the adapter sends, and that the signature it returns
// verifies with node:crypto against the PEM it serves.
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { createKmsSigner, SigningKeyError } from '../../functions/adapters/kms-signer';
import {
  buildCheckpoint,
  checkpointFault,
  signedBytes,
} from '../../functions/domain/checkpoints/document';

const KEY_ARN = 'arn:aws:kms:eu-west-1:123456789012:key/0b1c2d3e-checkpoints';
const kms = mockClient(KMSClient);
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const spkiDer = publicKey.export({ type: 'spki', format: 'der' });

const PUBLIC_KEY = {
  KeyId: KEY_ARN,
  KeySpec: 'ECC_NIST_P256' as const,
  KeyUsage: 'SIGN_VERIFY' as const,
  SigningAlgorithms: ['ECDSA_SHA_256' as const],
  PublicKey: new Uint8Array(spkiDer),
};

beforeEach(() => {
  kms.reset();
  kms.on(GetPublicKeyCommand, { KeyId: KEY_ARN }).resolves(PUBLIC_KEY);
  kms.on(SignCommand).callsFake((input: { Message: Uint8Array }) => ({
    KeyId: KEY_ARN,
    SigningAlgorithm: 'ECDSA_SHA_256',
    Signature: new Uint8Array(
      sign('sha256', input.Message, { key: privateKey, dsaEncoding: 'der' }),
    ),
  }));
});

const signer = () =>
  createKmsSigner({ client: new KMSClient({ region: 'eu-west-1' }), keyId: KEY_ARN });

describe('the KMS signer', () => {
  it('signs the RAW message with ECDSA_SHA_256 and returns the DER signature, which node:crypto verifies', async () => {
    const checkpoint = buildCheckpoint({
      previous: null,
      createdAt: '2026-03-10T12:15:00.000Z',
      coveredUntil: '2026-03-10T12:15:00.000Z',
      heads: [{ subjectRef: 'e'.repeat(64), lastSeq: 3, lastHash: 'a'.repeat(64) }],
    });
    const s = signer();
    const signature = await s.sign(signedBytes(checkpoint));
    const pem = await s.publicKeyPem();

    const calls = kms.commandCalls(SignCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toEqual({
      KeyId: KEY_ARN,
      Message: signedBytes(checkpoint),
      MessageType: 'RAW',
      SigningAlgorithm: 'ECDSA_SHA_256',
    });
    expect(pem).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    expect(
      verify('sha256', signedBytes(checkpoint), { key: pem, dsaEncoding: 'der' }, signature),
    ).toBe(true);
    expect(checkpointFault({ checkpoint, signature: Buffer.from(signature) }, pem)).toBeNull();
  });

  it('asks KMS for the public key once per container, and again after a failed fetch', async () => {
    const s = signer();
    await s.publicKeyPem();
    await s.publicKeyPem();
    expect(kms.commandCalls(GetPublicKeyCommand)).toHaveLength(1);

    kms.reset();
    kms
      .on(GetPublicKeyCommand, { KeyId: KEY_ARN })
      .rejectsOnce(Object.assign(new Error('throttled'), { name: 'ThrottlingException' }))
      .resolves(PUBLIC_KEY);
    const again = signer();
    await expect(again.publicKeyPem()).rejects.toThrow('throttled');
    await expect(again.publicKeyPem()).resolves.toMatch(/BEGIN PUBLIC KEY/);
  });

  it('refuses a key that is not a P-256 signing key, naming no key material', async () => {
    kms.on(GetPublicKeyCommand, { KeyId: KEY_ARN }).resolves({
      ...PUBLIC_KEY,
      KeySpec: 'RSA_2048',
      SigningAlgorithms: ['RSASSA_PSS_SHA_256'],
      PublicKey: new Uint8Array(spkiDer),
    });
    const err = await signer()
      .publicKeyPem()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SigningKeyError);
    expect((err as Error).message).toBe('The checkpoint key is not an ECC_NIST_P256 signing key.');
  });

  it('refuses a message above the 4096 bytes KMS signs as RAW, without calling KMS', async () => {
    await expect(signer().sign(new Uint8Array(4097))).rejects.toThrow(RangeError);
    expect(kms.commandCalls(SignCommand)).toHaveLength(0);
  });
});
