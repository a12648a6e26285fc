// The checkpoint signer of the local runtime: an ECDSA P-256 key in a PEM file (PKCS #8), made on
// first use with mode 0600 and kept, so checkpoints stay verifiable across restarts. It signs as
// KMS does (SHA-256, DER), so the same verification holds for both.
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  sign,
} from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Signer } from '../domain/checkpoints/ports';
import { SigningKeyError } from './kms-signer';

const loadOrCreate = async (keyFile: string): Promise<KeyObject> => {
  await mkdir(dirname(keyFile), { recursive: true });
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
  try {
    // `wx`: never replaces a key; two first uses at once keep the one written first.
    await writeFile(keyFile, pem, { flag: 'wx', mode: 0o600 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const key = createPrivateKey(await readFile(keyFile));
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new SigningKeyError('The checkpoint key file does not hold an ECDSA P-256 key.');
  }
  return key;
};

export function createFileSigner(options: { keyFile: string }): Signer {
  let key: Promise<KeyObject> | undefined;
  const privateKey = () => {
    key ??= loadOrCreate(options.keyFile).catch((err) => {
      key = undefined;
      throw err;
    });
    return key;
  };
  return {
    async sign(bytes) {
      return sign('sha256', bytes, { key: await privateKey(), dsaEncoding: 'der' });
    },
    async publicKeyPem() {
      return createPublicKey(await privateKey())
        .export({ type: 'spki', format: 'pem' })
        .toString();
    },
  };
}
