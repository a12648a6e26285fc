// Runs before every test file: quiet, deterministic defaults for the process environment.
process.env.AWS_REGION = process.env.AWS_REGION || 'eu-west-1';
process.env.AWS_ACCESS_KEY_ID = process.env.AWS_ACCESS_KEY_ID || 'local';
process.env.AWS_SECRET_ACCESS_KEY = process.env.AWS_SECRET_ACCESS_KEY || 'local';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.POWERTOOLS_LOG_LEVEL = process.env.POWERTOOLS_LOG_LEVEL || 'SILENT';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.CDK_DISABLE_VERSION_CHECK = '1';
