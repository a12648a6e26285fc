// Secrets stay secret, the quick version for `npm test`.
import { defineSecretsSuite } from './secrets.suite';

describe('secrets (quick)', () => {
  defineSecretsSuite(6, 'secrets-quick');
});
