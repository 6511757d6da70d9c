package manifest

// Keys accepted in each section of a serverless.yml, from the Serverless
// Framework v3 reference (https://www.serverless.com/framework/docs/providers/aws/guide/serverless.yml).
// Keys nimbus does not act on yet are accepted so that existing manifests
// load; anything else is a typo or a feature from elsewhere, and is an error.

var topLevelKeys = []string{
	"service", "frameworkVersion", "provider", "functions", "package", "plugins", "custom",
	"resources", "params", "configValidationMode", "useDotenv", "variablesResolutionMode",
	"disabledDeprecations", "deprecationNotificationMode", "unresolvedVariablesNotificationMode",
	"org", "app", "console", "dashboard", "outputs", "layers",
	// serverless-lift's (lift.go)
	"constructs",
	// serverless-step-functions' (state machines: internal/workflows)
	"stepFunctions",
}

var providerKeys = []string{
	// used by nimbus
	"name", "stage", "region", "runtime", "memorySize", "timeout", "environment", "architecture",
	"ephemeralStorageSize",
	// accepted, not used (yet)
	"profile", "runtimeManagement", "iam", "iamRoleStatements", "iamManagedPolicies", "role",
	"rolePermissionsBoundary", "cfnRole", "deploymentBucket", "deploymentPrefix", "deploymentMethod",
	"tags", "stackTags", "stackName", "stackPolicy", "stackParameters", "notificationArns",
	"disableRollback", "rollbackConfiguration", "logRetentionInDays", "logDataProtectionPolicy",
	"versionFunctions", "apiGateway", "httpApi", "websocketsApiName",
	"websocketsApiRouteSelectionExpression", "websocketsDescription", "websockets", "apiName",
	"apiKeys", "usagePlan", "resourcePolicy", "endpointType", "vpcEndpointIds", "alb", "tracing",
	"logs", "eventBridge", "vpc", "layers", "kmsKeyArn", "ecr", "s3", "cloudFront",
	"lambdaHashingVersion", "timeout", "description",
}

var functionKeys = []string{
	// used by nimbus
	"handler", "runtime", "memorySize", "timeout", "environment", "description",
	"reservedConcurrency", "events", "name", "package", "architecture", "ephemeralStorageSize",
	// accepted, not used (yet)
	"image", "layers", "tags", "vpc", "provisionedConcurrency", "url", "destinations",
	"maximumRetryAttempts", "maximumEventAge", "onError", "tracing", "role", "runtimeManagement",
	"snapStart", "kmsKeyArn", "disableLogs", "logRetentionInDays",
	"logDataProtectionPolicy", "fileSystemConfig", "condition", "dependsOn", "versionFunction",
	// the serverless-python-requirements plugin's: the function's folder
	"module",
	// the serverless-iam-roles-per-function plugin's, used by nimbus
	"iamRoleStatements", "iamRoleStatementsInherit", "iamRoleStatementsName",
	// serverless-plugin-canary-deployments', used by nimbus
	"deploymentSettings",
}

var servicePackageKeys = []string{"patterns", "individually", "artifact", "include", "exclude", "excludeDevDependencies"}

var functionPackageKeys = []string{"patterns", "individually", "artifact", "include", "exclude"}

// defaultExcludes are the files Serverless v3 never packages unless a pattern
// brings them back.
var defaultExcludes = []string{
	".git/**", ".gitignore", ".DS_Store", "npm-debug.log", "yarn-*.log", ".serverless/**", ".serverless_plugins/**",
}
