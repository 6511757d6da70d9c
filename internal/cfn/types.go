package cfn

import (
	"fmt"
	"sort"
	"strings"
)

// Resource types nimbus creates.
const (
	TypeQueue        = "AWS::SQS::Queue"
	TypeTopic        = "AWS::SNS::Topic"
	TypeSubscription = "AWS::SNS::Subscription"
	TypeEventBus     = "AWS::Events::EventBus"
	TypeRule         = "AWS::Events::Rule"
	TypeFunction     = "AWS::Lambda::Function"
	TypeTable        = "AWS::DynamoDB::Table"
	TypeDataStream   = "AWS::Kinesis::Stream"
	TypeBucket       = "AWS::S3::Bucket"
	TypeStateMachine = "AWS::StepFunctions::StateMachine"
	// TypeServerlessStateMachine is SAM's state machine: its name is Name,
	// its type Type, and it carries Policies and Events.
	TypeServerlessStateMachine = "AWS::Serverless::StateMachine"
)

// Getter returns the value of a resource's Ref or of one of its attributes.
type Getter func(s *Stack, id string, path []any) (string, error)

// ResourceType is what nimbus knows of one resource type: what references
// to it evaluate to (nil Ref: it cannot be referred to) and which of its
// properties it applies (true) or accepts without applying (false).
type ResourceType struct {
	Ref        Getter
	Attributes map[string]Getter
	Properties map[string]bool
}

// types is the one table of what each resource type's Ref and Fn::GetAtt
// give. A service that starts creating a resource type adds it here. It is
// filled once by init (the getters refer back to the resolver) and only read.
var types map[string]ResourceType

func init() { types = resourceTypes() }

func resourceTypes() map[string]ResourceType {
	return map[string]ResourceType{
		TypeQueue: {
			Ref: queueURL, // CloudFormation: Ref of a queue is its URL
			Attributes: map[string]Getter{
				"Arn":       queueARN,
				"QueueName": queueName,
				"QueueUrl":  queueURL,
			},
			Properties: map[string]bool{
				"QueueName": true, "VisibilityTimeout": true, "MessageRetentionPeriod": true, "DelaySeconds": true,
				"ReceiveMessageWaitTimeSeconds": true, "MaximumMessageSize": true, "FifoQueue": true,
				"ContentBasedDeduplication": true, "RedrivePolicy": true,
				"Tags": false, "KmsMasterKeyId": false, "KmsDataKeyReusePeriodSeconds": false, "SqsManagedSseEnabled": false,
				"DeduplicationScope": false, "FifoThroughputLimit": false, "RedriveAllowPolicy": false,
			},
		},
		TypeTopic: {
			Ref: topicARN, // Ref of a topic is its ARN
			Attributes: map[string]Getter{
				"TopicArn":  topicARN,
				"TopicName": topicName,
			},
			Properties: map[string]bool{
				"TopicName": true, "FifoTopic": true, "Subscription": true,
				"DisplayName": false, "ContentBasedDeduplication": false, "KmsMasterKeyId": false, "Tags": false,
				"TracingConfig": false, "DataProtectionPolicy": false, "ArchivePolicy": false,
				"DeliveryStatusLogging": false, "SignatureVersion": false, "FifoThroughputScope": false,
			},
		},
		TypeSubscription: {
			Properties: map[string]bool{
				"Protocol": true, "TopicArn": true, "Endpoint": true, "RawMessageDelivery": true, "FilterPolicy": true,
				"FilterPolicyScope": true,
				"DeliveryPolicy":    false, "RedrivePolicy": false, "Region": false, "SubscriptionRoleArn": false, "ReplayPolicy": false,
			},
		},
		TypeEventBus: {
			Ref: busName, // Ref of an event bus is its name
			Attributes: map[string]Getter{
				"Arn":  busARN,
				"Name": busName,
			},
			Properties: map[string]bool{
				"Name":        true,
				"Description": false, "Tags": false, "Policy": false, "DeadLetterConfig": false, "EventSourceName": false,
				"KmsKeyIdentifier": false,
			},
		},
		TypeRule: {
			Properties: map[string]bool{
				"Name": true, "Description": true, "EventBusName": true, "EventPattern": true, "ScheduleExpression": true,
				"State": true, "Targets": true,
				"RoleArn": false,
			},
		},
		TypeStateMachine: {
			Ref:        stateMachineARN, // Ref of a state machine is its ARN
			Attributes: map[string]Getter{"Arn": stateMachineARN, "Name": stateMachineName},
			Properties: map[string]bool{
				"StateMachineName": true, "StateMachineType": true, "Definition": true, "DefinitionString": true,
				"DefinitionSubstitutions": true, "RoleArn": true,
				"DefinitionS3Location": false, "LoggingConfiguration": false, "TracingConfiguration": false, "Tags": false,
				"EncryptionConfiguration": false,
			},
		},
		TypeServerlessStateMachine: {
			Ref:        stateMachineARN,
			Attributes: map[string]Getter{"Arn": stateMachineARN, "Name": stateMachineName},
			Properties: map[string]bool{
				"Name": true, "Type": true, "Definition": true, "DefinitionUri": true,
				"DefinitionSubstitutions": true, "Role": true, "Policies": true, "Events": true,
				"Logging": false, "Tracing": false, "Tags": false, "PermissionsBoundary": false,
				"AutoPublishAlias": false, "DeploymentPreference": false, "RolePath": false, "UseAliasAsEventTarget": false,
			},
		},
		TypeDataStream: {
			Ref:        dataStreamName, // Ref of a data stream is its name
			Attributes: map[string]Getter{"Arn": dataStreamARN},
			Properties: map[string]bool{
				"Name": true, "ShardCount": true, "StreamModeDetails": true,
				"RetentionPeriodHours": false, "StreamEncryption": false, "Tags": false,
			},
		},
		TypeTable: {
			Ref: tableName, // Ref of a table is its name
			Attributes: map[string]Getter{
				"Arn":       tableARN,
				"StreamArn": tableStreamARN,
			},
			Properties: map[string]bool{
				"TableName": true, "AttributeDefinitions": true, "KeySchema": true, "BillingMode": true,
				"ProvisionedThroughput": true, "GlobalSecondaryIndexes": true, "LocalSecondaryIndexes": true,
				"TimeToLiveSpecification": true, "Tags": true, "StreamSpecification": true,
				"SSESpecification": false, "PointInTimeRecoverySpecification": false,
				"ContributorInsightsSpecification": false, "KinesisStreamSpecification": false, "TableClass": false,
				"DeletionProtectionEnabled": false, "ImportSourceSpecification": false, "ResourcePolicy": false,
				"OnDemandThroughput": false, "WarmThroughput": false,
			},
		},
		TypeBucket: bucketType(), // buckets.go
		TypeFunction: {
			Ref: functionName,
			Attributes: map[string]Getter{
				"Arn": functionARN,
			},
		},
	}
}

// Supported reports whether nimbus creates resources of type t.
func Supported(t string) bool {
	_, ok := types[t]
	return ok
}

// Property says whether nimbus applies a property of a resource type
// (applied), or accepts it without applying it (known, !applied); unknown
// properties are neither, and CloudFormation refuses them too.
func Property(resourceType, name string) (applied, known bool) {
	applied, known = types[resourceType].Properties[name]
	return applied, known
}

func isTrue(s string) bool { return strings.EqualFold(s, "true") }

// QueueName is the name of a queue resource: its QueueName, else
// stack-LogicalId (with .fifo for a FIFO queue).
func (s *Stack) QueueName(id string) (string, error) {
	return s.fifoName(id, "QueueName", "FifoQueue")
}

// TopicName is the name of a topic resource: its TopicName, else
// stack-LogicalId (with .fifo for a FIFO topic).
func (s *Stack) TopicName(id string) (string, error) {
	return s.fifoName(id, "TopicName", "FifoTopic")
}

// fifoName is the name property of a queue or topic, else the name
// CloudFormation generates, with the .fifo suffix FIFO ones need.
func (s *Stack) fifoName(id, nameProp, fifoProp string) (string, error) {
	name, err := s.Property(id, nameProp, nil)
	if err != nil || name != "" {
		return name, err
	}
	fifo, err := s.Property(id, fifoProp, nil)
	if err != nil {
		return "", err
	}
	name = s.Name + "-" + id
	if isTrue(fifo) {
		name += ".fifo"
	}
	return name, nil
}

// TableName is the name of a table resource: its TableName, else
// stack-LogicalId, as CloudFormation names tables it generates names for.
func (s *Stack) TableName(id string) (string, error) {
	name, err := s.Property(id, "TableName", nil)
	if err != nil || name != "" {
		return name, err
	}
	return s.Name + "-" + id, nil
}

// TableARN is the ARN of a table in a region.
func TableARN(region, account, name string) string {
	return fmt.Sprintf("arn:%s:dynamodb:%s:%s:table/%s", Partition(region), region, account, name)
}

// TableStreamLabel is the label of a table's stream. DynamoDB labels a
// stream with its creation time, which a reference resolved before the
// table exists cannot know; nimbus uses one fixed label so that
// Fn::GetAtt StreamArn and the platform agree.
const TableStreamLabel = "1970-01-01T00:00:00.000"

// TableStreamARN is the ARN of a table's stream in a region.
func TableStreamARN(region, account, name string) string {
	return TableARN(region, account, name) + "/stream/" + TableStreamLabel
}

// QueueARN is the ARN of a queue in a region.
func QueueARN(region, account, name string) string {
	return fmt.Sprintf("arn:%s:sqs:%s:%s:%s", Partition(region), region, account, name)
}

// TopicARN is the ARN of a topic in a region.
func TopicARN(region, account, name string) string {
	return fmt.Sprintf("arn:%s:sns:%s:%s:%s", Partition(region), region, account, name)
}

// FunctionARN is the ARN of a function in a region.
func FunctionARN(region, account, name string) string {
	return fmt.Sprintf("arn:%s:lambda:%s:%s:function:%s", Partition(region), region, account, name)
}

// EventBusARN is the ARN of an event bus in a region.
func EventBusARN(region, account, name string) string {
	return fmt.Sprintf("arn:%s:events:%s:%s:event-bus/%s", Partition(region), region, account, name)
}

func queueName(s *Stack, id string, _ []any) (string, error) { return s.QueueName(id) }

func queueURL(s *Stack, id string, path []any) (string, error) {
	name, err := s.QueueName(id)
	if err != nil {
		return "", err
	}
	if s.QueueEndpoint == "" {
		return "", errAt(path, "the URL of queue %s is known only to the platform", id)
	}
	return strings.TrimSuffix(s.QueueEndpoint, "/") + "/" + s.AccountID + "/" + name, nil
}

func queueARN(s *Stack, id string, _ []any) (string, error) {
	name, err := s.QueueName(id)
	if err != nil {
		return "", err
	}
	return QueueARN(s.Region, s.AccountID, name), nil
}

func topicName(s *Stack, id string, _ []any) (string, error) { return s.TopicName(id) }

func topicARN(s *Stack, id string, _ []any) (string, error) {
	name, err := s.TopicName(id)
	if err != nil {
		return "", err
	}
	return TopicARN(s.Region, s.AccountID, name), nil
}

func busName(s *Stack, id string, path []any) (string, error) {
	name, err := s.Property(id, "Name", nil)
	if err != nil {
		return "", err
	}
	if name == "" {
		return "", errAt(path, "event bus %s has no Name", id)
	}
	return name, nil
}

func busARN(s *Stack, id string, path []any) (string, error) {
	name, err := busName(s, id, path)
	if err != nil {
		return "", err
	}
	return EventBusARN(s.Region, s.AccountID, name), nil
}

func tableName(s *Stack, id string, _ []any) (string, error) { return s.TableName(id) }

// DataStreamName is the name of an AWS::Kinesis::Stream: its Name, else
// stack-LogicalId.
func (s *Stack) DataStreamName(id string) (string, error) {
	name, err := s.Property(id, "Name", nil)
	if err != nil || name != "" {
		return name, err
	}
	return s.Name + "-" + id, nil
}

// DataStreamARN is the ARN of a Kinesis data stream in a region.
func DataStreamARN(region, account, name string) string {
	return fmt.Sprintf("arn:%s:kinesis:%s:%s:stream/%s", Partition(region), region, account, name)
}

func dataStreamName(s *Stack, id string, _ []any) (string, error) { return s.DataStreamName(id) }

func dataStreamARN(s *Stack, id string, _ []any) (string, error) {
	name, err := s.DataStreamName(id)
	if err != nil {
		return "", err
	}
	return DataStreamARN(s.Region, s.AccountID, name), nil
}

func tableARN(s *Stack, id string, _ []any) (string, error) {
	name, err := s.TableName(id)
	if err != nil {
		return "", err
	}
	return TableARN(s.Region, s.AccountID, name), nil
}

func tableStreamARN(s *Stack, id string, path []any) (string, error) {
	name, err := s.TableName(id)
	if err != nil {
		return "", err
	}
	if _, ok := s.Resources[id].Properties["StreamSpecification"]; !ok {
		return "", errAt(path, "Fn::GetAtt %s.StreamArn: table %s has no StreamSpecification, so it has no stream", id, id)
	}
	return TableStreamARN(s.Region, s.AccountID, name), nil
}

func functionName(s *Stack, id string, _ []any) (string, error) {
	return s.Property(id, "FunctionName", nil)
}

func functionARN(s *Stack, id string, _ []any) (string, error) {
	name, err := s.Property(id, "FunctionName", nil)
	if err != nil {
		return "", err
	}
	return FunctionARN(s.Region, s.AccountID, name), nil
}

// Properties lists the properties nimbus knows of a resource type, sorted.
func Properties(resourceType string) []string {
	props := types[resourceType].Properties
	out := make([]string, 0, len(props))
	for p := range props {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// StateMachineName is the name of an AWS::StepFunctions::StateMachine: its
// StateMachineName, else stack-LogicalId.
func (s *Stack) StateMachineName(id string) (string, error) {
	prop := "StateMachineName"
	if s.Resources[id].Type == TypeServerlessStateMachine {
		prop = "Name"
	}
	name, err := s.Property(id, prop, nil)
	if err != nil || name != "" {
		return name, err
	}
	return s.Name + "-" + id, nil
}

func stateMachineName(s *Stack, id string, _ []any) (string, error) { return s.StateMachineName(id) }

func stateMachineARN(s *Stack, id string, _ []any) (string, error) {
	name, err := s.StateMachineName(id)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("arn:%s:states:%s:%s:stateMachine:%s", Partition(s.Region), s.Region, s.AccountID, name), nil
}
