// The subject key (domain/erasure/subject.ts: subjectRef = HMAC-SHA256(key, userId)): the secret
// that names users in the signed checkpoints and erased subjects in tombstones. In AWS the secret
// named by ERASURE_KEY_SECRET_ARN, granted to exactly the functions that name users so (the
// checkpoint job, verify, the console, the eraser: lib/api-stack.ts); a local run gives a key
// file (useErasureKey, or PARLEY_ERASURE_KEY_FILE). Read once per container; errors name the
// variable or file, never a value.
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { fileErasureKey, secretsManagerErasureKey } from '../adapters/erasure-key';
import type { SubjectKeySource } from '../domain/erasure/subject';
import { ENV, type StageConfig } from '../schemas/config';
import type { AppDeps } from './deps';
import { EnvironmentError } from './env';

const localKeys = new WeakMap<StageConfig, SubjectKeySource>();
let environmentKey: SubjectKeySource | undefined;

/** The local runtime and tests: the subject key of the functions built with this config. */
export const useErasureKey = (config: StageConfig, source: SubjectKeySource): void => {
  localKeys.set(config, source);
};

/** The subject key these deps use; an EnvironmentError at the first use when none is given. */
export const subjectKeyOf = (deps: Pick<AppDeps, 'config'>): SubjectKeySource => {
  const local = localKeys.get(deps.config);
  if (local) return local;
  if (!environmentKey) {
    const arn = process.env[ENV.erasureKeySecretArn];
    const file = process.env[ENV.erasureKeyFile];
    if (arn) {
      let client: SecretsManagerClient | undefined;
      environmentKey = secretsManagerErasureKey({
        client: () => {
          client ??= new SecretsManagerClient({});
          return client;
        },
        secretArn: arn,
      });
    } else if (file) {
      environmentKey = fileErasureKey(file);
    } else {
      return {
        key: async () => {
          throw new EnvironmentError(
            `Environment variable ${ENV.erasureKeySecretArn} is not set: this function holds no subject key (the secret that names users in checkpoints and tombstones).`,
          );
        },
      };
    }
  }
  return environmentKey;
};
