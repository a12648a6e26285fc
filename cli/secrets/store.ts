// The few Secrets Manager calls the secrets CLI makes: find a stage's secret by its tags
// (parley-handover:stage / :kind / :service), read it, write a new version.
import {
  GetSecretValueCommand,
  ListSecretsCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { SECRET_TAGS, SecretInputError } from '../../lib/secret-values';

export interface SecretStore {
  /** The ARN of the secret whose tags include all of `tags`. */
  find(tags: Record<string, string>): Promise<string>;
  read(secretId: string): Promise<string | undefined>;
  write(secretId: string, value: string): Promise<void>;
}

export const secretsManagerStore = (client = new SecretsManagerClient({})): SecretStore => ({
  async find(tags) {
    const matches: string[] = [];
    let nextToken: string | undefined;
    do {
      const page = await client.send(
        new ListSecretsCommand({
          Filters: [
            { Key: 'tag-key', Values: [SECRET_TAGS.stage] },
            { Key: 'tag-value', Values: [tags[SECRET_TAGS.stage]!] },
          ],
          NextToken: nextToken,
        }),
      );
      for (const s of page.SecretList ?? []) {
        const own = new Map((s.Tags ?? []).map((t) => [t.Key, t.Value]));
        if (Object.entries(tags).every(([k, v]) => own.get(k) === v) && s.ARN) matches.push(s.ARN);
      }
      nextToken = page.NextToken;
    } while (nextToken);
    const wanted = Object.values(tags).join(', ');
    if (matches.length === 0) {
      throw new SecretInputError(
        `No secret tagged ${wanted} was found: deploy the data stack first or pass --secret-id.`,
      );
    }
    if (matches.length > 1) {
      throw new SecretInputError(`Several secrets are tagged ${wanted}: pass --secret-id.`);
    }
    return matches[0]!;
  },
  async read(secretId) {
    const out = await client.send(new GetSecretValueCommand({ SecretId: secretId }));
    return out.SecretString;
  },
  async write(secretId, value) {
    await client.send(new PutSecretValueCommand({ SecretId: secretId, SecretString: value }));
  },
});
