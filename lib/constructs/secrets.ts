// The Secrets Manager secrets: two per configured Parley Service (its Parley credentials, API tokens
// and signing secret; and its callback tokens alone, which the internet-facing webhook reads) and
// one for the auditors. They are created with a placeholder (no value in the template) and filled by
// the secrets CLI (cli/secrets/), which finds them by their tags (SECRET_TAGS). Retained when the stack goes away.
import { RemovalPolicy, Tags } from 'aws-cdk-lib';
import { Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { ServiceConfig } from '../../functions/schemas/config';
import { PLACEHOLDER_KEY, SECRET_TAGS } from '../secret-values';
import { acknowledge } from './nag';

const alphanumeric = (s: string): string => s.replace(/[^A-Za-z0-9]/g, '');

export interface HandoverSecretsProps {
  stage: string;
  services: readonly ServiceConfig[];
  /**
   * What happens to the secrets when they leave the stack.
   * @default RemovalPolicy.RETAIN
   */
  removalPolicy?: RemovalPolicy;
}

export class HandoverSecrets extends Construct {
  /** Service identification -> its secret (Parley credentials, API tokens, signing secret). */
  public readonly services: ReadonlyMap<string, Secret>;
  /** Service identification -> its callback-token secret (the webhook reads only these). */
  public readonly callbackTokens: ReadonlyMap<string, Secret>;
  public readonly auditors: Secret;

  constructor(scope: Construct, id: string, props: HandoverSecretsProps) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const services = new Map<string, Secret>();
    const callbackTokens = new Map<string, Secret>();
    for (const service of props.services) {
      // The placeholder is the secret's shape with empty token lists; Secrets Manager generates
      // the downstream signing secret itself, so no value is ever part of the template.
      // Keyed by the identification (stable), not the position, so reordering replaces nothing.
      const secret = new Secret(this, `Service${alphanumeric(service.identification)}`, {
        description: `Parley credentials and tokens of the Service "${service.name}" (${props.stage}); set with npm run secrets`,
        generateSecretString: {
          secretStringTemplate: JSON.stringify({ apiTokens: [] }),
          generateStringKey: 'signingSecret',
          passwordLength: 48,
          excludePunctuation: true,
        },
        removalPolicy,
      });
      Tags.of(secret).add(SECRET_TAGS.stage, props.stage);
      Tags.of(secret).add(SECRET_TAGS.kind, 'service');
      Tags.of(secret).add(SECRET_TAGS.service, service.identification);
      services.set(service.identification, secret);

      const tokens = new Secret(this, `CallbackTokens${alphanumeric(service.identification)}`, {
        description: `Parley callback tokens of the Service "${service.name}" (${props.stage}); set with npm run secrets`,
        generateSecretString: {
          secretStringTemplate: JSON.stringify({ callbackTokens: [] }),
          generateStringKey: PLACEHOLDER_KEY,
          excludePunctuation: true,
        },
        removalPolicy,
      });
      Tags.of(tokens).add(SECRET_TAGS.stage, props.stage);
      Tags.of(tokens).add(SECRET_TAGS.kind, 'callback-tokens');
      Tags.of(tokens).add(SECRET_TAGS.service, service.identification);
      callbackTokens.set(service.identification, tokens);
    }
    this.services = services;
    this.callbackTokens = callbackTokens;

    this.auditors = new Secret(this, 'Auditors', {
      description: `Auditor tokens of parley-handover (${props.stage}); set with npm run secrets`,
      generateSecretString: {
        secretStringTemplate: JSON.stringify({ auditors: [] }),
        generateStringKey: PLACEHOLDER_KEY,
        excludePunctuation: true,
      },
      removalPolicy,
    });
    Tags.of(this.auditors).add(SECRET_TAGS.stage, props.stage);
    Tags.of(this.auditors).add(SECRET_TAGS.kind, 'auditors');

    acknowledge(this, {
      id: 'AwsSolutions-SMG4',
      reason:
        'The values are issued by Parley (shared service-account secret) or are bearer tokens that ' +
        'the operator rotates with `npm run secrets -- rotate` (current and next both valid); a ' +
        'Secrets Manager rotation Lambda cannot change them on the Parley side.',
    });
  }
}
