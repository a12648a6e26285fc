// The house's layering rules (docs/ARCHITECTURE.md), checked by `npm run lint`. Type-only imports
// count (tsPreCompilationDeps): a circle of types is still a circle a reader has to untangle.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No import circles, type-only ones included.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'domain-is-pure',
      severity: 'error',
      comment:
        'The domain imports no adapter, platform or handler code: dependencies come in as arguments (domain/ports.ts).',
      from: { path: '^functions/domain/' },
      to: { path: '^functions/(adapters|platform|handlers)/' },
    },
    {
      name: 'domain-no-sdk-or-http',
      severity: 'error',
      comment:
        'The domain imports no AWS SDK, no Lambda runtime or Powertools, and no node:http: those are adapters and platform.',
      from: { path: '^functions/domain/' },
      to: {
        path: [
          '(^|/)node_modules/(@aws-sdk|@smithy|@aws-lambda-powertools|aws-lambda|@types/aws-lambda)/',
          '^(node:)?(http|https|http2|net)$',
        ],
      },
    },
    {
      name: 'handlers-no-adapters',
      severity: 'error',
      comment:
        'A handler gets its adapters from the composition root (platform/runtime.ts), never builds or imports one.',
      from: { path: '^functions/handlers/' },
      to: { path: '^functions/adapters/' },
    },
    {
      name: 'adapters-no-composition-root',
      severity: 'error',
      comment:
        'Adapters implement the ports of domain/ports.ts; they never import the composition root.',
      from: { path: '^functions/adapters/' },
      to: { path: '^functions/(platform|handlers)/' },
    },
    {
      name: 'lib-reads-contracts-and-schemas-only',
      severity: 'error',
      comment: 'The CDK code reads only what functions/ declares for it: contracts/ and schemas/.',
      from: { path: '^lib/' },
      to: { path: '^functions/', pathNot: '^functions/(contracts|schemas)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '(^|/)(cdk\\.out|\\.local|coverage)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    moduleSystems: ['es6', 'cjs'],
  },
};
