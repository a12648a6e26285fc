// The checkpoint key's public half for the data stack's outputs (DESIGN.md "Signed checkpoints"):
// the onEvent handler of a custom resource under CDK's Provider framework, which answers
// CloudFormation with what this returns. Create and Update read the key with KMS GetPublicKey and
// answer its SPKI as one-line base64 DER and as PEM; Delete reads nothing (the key is retained).
// The framework puts a thrown error's message and stack into the FAILED reason that the stack's
// events show: every failure is a PublicKeyResourceError of one line, naming no text from below.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { GetPublicKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import type { CdkCustomResourceEvent, CdkCustomResourceResponse } from 'aws-lambda';

export interface PublicKeyData {
  PublicKeyPem: string;
  PublicKeyDer: string;
}

/** A failure as CloudFormation shows it: the message alone, without frames. */
export class PublicKeyResourceError extends Error {
  override readonly name = 'PublicKeyResourceError';
  constructor(message: string) {
    super(message);
    this.stack = `${this.name}: ${message}`;
  }
}

const WANTED = { spec: 'ECC_NIST_P256', usage: 'SIGN_VERIFY' };

/**
 * An SDK error's name (`AccessDeniedException`), else a network error's code (`ECONNREFUSED`);
 * never a message, which may quote a request.
 */
const errorName = (err: unknown): string => {
  const { name, code } = (err ?? {}) as { name?: unknown; code?: unknown };
  if (typeof name === 'string' && name !== 'Error' && /^[A-Za-z]{1,64}$/.test(name)) return name;
  return typeof code === 'string' && /^[A-Z][A-Z_]{1,63}$/.test(code) ? code : 'Error';
};

const readKey = async (kms: KMSClient, keyId: string): Promise<KeyObject> => {
  const out = await kms.send(new GetPublicKeyCommand({ KeyId: keyId })).catch((err: unknown) => {
    throw new PublicKeyResourceError(
      `KMS GetPublicKey failed for the checkpoint key (${errorName(err)}).`,
    );
  });
  if (out.KeySpec !== WANTED.spec || out.KeyUsage !== WANTED.usage || !out.PublicKey) {
    throw new PublicKeyResourceError(
      `The checkpoint key is ${out.KeySpec} for ${out.KeyUsage}, not ${WANTED.spec} for ${WANTED.usage}.`,
    );
  }
  try {
    return createPublicKey({ key: Buffer.from(out.PublicKey), format: 'der', type: 'spki' });
  } catch {
    throw new PublicKeyResourceError('KMS answered a public key that is not a valid SPKI key.');
  }
};

export const makeHandler =
  (kms: () => KMSClient) =>
  async (event: CdkCustomResourceEvent): Promise<CdkCustomResourceResponse<PublicKeyData>> => {
    if (event.RequestType === 'Delete') return {};
    const keyId: unknown = event.ResourceProperties.KeyId;
    if (typeof keyId !== 'string' || keyId.length === 0) {
      throw new PublicKeyResourceError('The resource needs KeyId: the checkpoint key ARN.');
    }
    try {
      const key = await readKey(kms(), keyId);
      return {
        PhysicalResourceId: keyId,
        Data: {
          PublicKeyDer: key.export({ type: 'spki', format: 'der' }).toString('base64'),
          PublicKeyPem: key.export({ type: 'spki', format: 'pem' }).toString(),
        },
      };
    } catch (err) {
      if (err instanceof PublicKeyResourceError) throw err;
      throw new PublicKeyResourceError(`Reading the checkpoint key failed (${errorName(err)}).`);
    }
  };

let client: KMSClient | undefined;
export const handler = makeHandler(() => {
  client ??= new KMSClient({});
  return client;
});
