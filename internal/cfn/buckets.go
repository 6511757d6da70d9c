package cfn

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// bucketType is what nimbus knows of AWS::S3::Bucket. Properties marked
// false are accepted without being applied; website hosting and CORS
// (WebsiteConfiguration, CorsConfiguration), AccessControl and
// OwnershipControls are passed through to the bucket's configuration by the
// part that serves them.
func bucketType() ResourceType {
	return ResourceType{
		Ref: bucketName, // Ref of a bucket is its name
		Attributes: map[string]Getter{
			"Arn":                bucketARN,
			"DomainName":         bucketDomain(".s3.amazonaws.com"),
			"RegionalDomainName": bucketRegionalDomain,
			"WebsiteURL":         bucketWebsiteURL,
		},
		Properties: map[string]bool{
			"BucketName": true, "NotificationConfiguration": true, "LifecycleConfiguration": true,
			"WebsiteConfiguration": false, "CorsConfiguration": false, "VersioningConfiguration": false, "Tags": false,
			"AccessControl": false, "PublicAccessBlockConfiguration": false, "BucketEncryption": false,
			"OwnershipControls": false, "ObjectLockEnabled": false, "ObjectLockConfiguration": false,
			"AccelerateConfiguration": false, "AnalyticsConfigurations": false, "IntelligentTieringConfigurations": false,
			"InventoryConfigurations": false, "LoggingConfiguration": false, "MetricsConfigurations": false,
			"ReplicationConfiguration": false, "MetadataConfiguration": false, "MetadataTableConfiguration": false,
		},
	}
}

// BucketName is the name of a bucket resource: its BucketName, else one
// generated as CloudFormation does from the stack and the logical id,
// lower-cased (without CloudFormation's random suffix, so that the CLI, the
// platform and every redeploy agree).
func (s *Stack) BucketName(id string) (string, error) {
	name, err := s.Property(id, "BucketName", nil)
	if err != nil || name != "" {
		return name, err
	}
	return GeneratedBucketName(s.Name, id), nil
}

// GeneratedBucketName is stack-logicalid in S3's alphabet, at most 63
// characters (a long one keeps a hash of the whole).
func GeneratedBucketName(stack, id string) string {
	full := strings.ToLower(stack + "-" + id)
	var b strings.Builder
	for _, r := range full {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	name := strings.Trim(b.String(), "-")
	if len(name) > 63 {
		sum := sha256.Sum256([]byte(full))
		name = strings.TrimRight(name[:50], "-") + "-" + hex.EncodeToString(sum[:6])
	}
	return name
}

// BucketARN is the ARN of a bucket (S3 ARNs carry no region or account).
func BucketARN(region, name string) string {
	return fmt.Sprintf("arn:%s:s3:::%s", Partition(region), name)
}

func bucketName(s *Stack, id string, _ []any) (string, error) { return s.BucketName(id) }

func bucketARN(s *Stack, id string, _ []any) (string, error) {
	name, err := s.BucketName(id)
	if err != nil {
		return "", err
	}
	return BucketARN(s.Region, name), nil
}

func bucketDomain(suffix string) Getter {
	return func(s *Stack, id string, _ []any) (string, error) {
		name, err := s.BucketName(id)
		return name + suffix, err
	}
}

func bucketRegionalDomain(s *Stack, id string, _ []any) (string, error) {
	name, err := s.BucketName(id)
	return name + ".s3." + s.Region + ".amazonaws.com", err
}

func bucketWebsiteURL(s *Stack, id string, _ []any) (string, error) {
	name, err := s.BucketName(id)
	return "http://" + name + ".s3-website-" + s.Region + ".amazonaws.com", err
}
