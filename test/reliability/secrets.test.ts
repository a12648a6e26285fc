// Suite 8, secrets stay secret: the whole run's output searched for every secret and token value.
import { defineSecretsSuite } from '../security/secrets.suite';

describe('secrets', () => {
  defineSecretsSuite(60, 'secrets');
});
