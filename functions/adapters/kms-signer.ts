// The checkpoint signer on an AWS KMS asymmetric key (ECC_NIST_P256, SIGN_VERIFY): Sign with
// MessageType RAW and ECDSA_SHA_256 (KMS hashes the message; at most 4096 bytes, which the signed
// tree head never nears) answers a DER signature; GetPublicKey the SPKI key, served as PEM and kept
// for the container's life (an asymmetric key's public half never changes).
import { createPublicKey } from 'node:crypto';
import { GetPublicKeyCommand, type KMSClient, SignCommand } from '@aws-sdk/client-kms';
import type { Signer } from '../domain/checkpoints/ports';

export const KMS_RAW_LIMIT_BYTES = 4096;

export interface KmsSignerOptions {
  /** The client, or a function that makes it on the first call. */
  client: KMSClient | (() => KMSClient);
  /** The key's id or ARN (or an alias). */
  keyId: string;
}

/** The key is not what the checkpoints are signed with (a wrong id in the environment). */
export class SigningKeyError extends Error {
  override readonly name = 'SigningKeyError';
}

export function createKmsSigner(options: KmsSignerOptions): Signer {
  let client = typeof options.client === 'function' ? undefined : options.client;
  const kms = (): KMSClient => {
    client ??= (options.client as () => KMSClient)();
    return client;
  };
  let pem: Promise<string> | undefined;
  const fetchPem = async (): Promise<string> => {
    const out = await kms().send(new GetPublicKeyCommand({ KeyId: options.keyId }));
    if (out.KeySpec !== 'ECC_NIST_P256' || !out.SigningAlgorithms?.includes('ECDSA_SHA_256')) {
      throw new SigningKeyError('The checkpoint key is not an ECC_NIST_P256 signing key.');
    }
    return createPublicKey({ key: Buffer.from(out.PublicKey!), format: 'der', type: 'spki' })
      .export({ type: 'spki', format: 'pem' })
      .toString();
  };
  return {
    async sign(bytes) {
      if (bytes.length > KMS_RAW_LIMIT_BYTES) {
        throw new RangeError(`KMS signs at most ${KMS_RAW_LIMIT_BYTES} bytes as a RAW message.`);
      }
      const out = await kms().send(
        new SignCommand({
          KeyId: options.keyId,
          Message: bytes,
          MessageType: 'RAW',
          SigningAlgorithm: 'ECDSA_SHA_256',
        }),
      );
      if (!out.Signature) throw new SigningKeyError('KMS answered Sign without a signature.');
      return out.Signature;
    },
    publicKeyPem() {
      // A failed fetch is not kept: the next call asks again.
      pem ??= fetchPem().catch((err) => {
        pem = undefined;
        throw err;
      });
      return pem;
    },
  };
}
