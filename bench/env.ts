// Imported first by the bench entry: a quiet, region-stable process for the SDK clients built here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.AWS_REGION = process.env.AWS_REGION || 'us-east-1';
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
