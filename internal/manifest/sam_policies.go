package manifest

import (
	"fmt"
	"slices"
	"strings"
)

// samPolicyTemplate is one of SAM's policy templates: the statements it
// stands for, written with ${Param} for its parameters.
type samPolicyTemplate struct {
	params     []string
	statements []samStatement
}

type samStatement struct {
	actions   []string
	resources []string // Fn::Sub text; "*" is every resource
}

const (
	arnPrefix = "arn:${AWS::Partition}:"
	regionAcc = ":${AWS::Region}:${AWS::AccountId}:"
)

// samPolicyTemplates are the policy templates nimbus knows, as AWS's SAM
// policy template list defines them (for the services nimbus serves).
var samPolicyTemplates = map[string]samPolicyTemplate{
	"DynamoDBCrudPolicy": {[]string{"TableName"}, []samStatement{{
		[]string{"dynamodb:GetItem", "dynamodb:DeleteItem", "dynamodb:PutItem", "dynamodb:Scan", "dynamodb:Query",
			"dynamodb:UpdateItem", "dynamodb:BatchWriteItem", "dynamodb:BatchGetItem", "dynamodb:DescribeTable", "dynamodb:ConditionCheckItem"},
		[]string{arnPrefix + "dynamodb" + regionAcc + "table/${TableName}", arnPrefix + "dynamodb" + regionAcc + "table/${TableName}/index/*"}}}},
	"DynamoDBReadPolicy": {[]string{"TableName"}, []samStatement{{
		[]string{"dynamodb:GetItem", "dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchGetItem", "dynamodb:DescribeTable"},
		[]string{arnPrefix + "dynamodb" + regionAcc + "table/${TableName}", arnPrefix + "dynamodb" + regionAcc + "table/${TableName}/index/*"}}}},
	"DynamoDBWritePolicy": {[]string{"TableName"}, []samStatement{{
		[]string{"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:BatchWriteItem"},
		[]string{arnPrefix + "dynamodb" + regionAcc + "table/${TableName}", arnPrefix + "dynamodb" + regionAcc + "table/${TableName}/index/*"}}}},
	"DynamoDBStreamReadPolicy": {[]string{"TableName", "StreamName"}, []samStatement{
		{[]string{"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator"},
			[]string{arnPrefix + "dynamodb" + regionAcc + "table/${TableName}/stream/${StreamName}"}},
		{[]string{"dynamodb:ListStreams"}, []string{arnPrefix + "dynamodb" + regionAcc + "table/${TableName}/stream/*"}}}},
	"SQSPollerPolicy": {[]string{"QueueName"}, []samStatement{{
		[]string{"sqs:ChangeMessageVisibility", "sqs:ChangeMessageVisibilityBatch", "sqs:DeleteMessage", "sqs:DeleteMessageBatch",
			"sqs:GetQueueAttributes", "sqs:ReceiveMessage"},
		[]string{arnPrefix + "sqs" + regionAcc + "${QueueName}"}}}},
	"SQSSendMessagePolicy": {[]string{"QueueName"}, []samStatement{{
		[]string{"sqs:SendMessage*"}, []string{arnPrefix + "sqs" + regionAcc + "${QueueName}"}}}},
	"SNSPublishMessagePolicy": {[]string{"TopicName"}, []samStatement{{
		[]string{"sns:Publish"}, []string{arnPrefix + "sns" + regionAcc + "${TopicName}"}}}},
	"SNSCrudPolicy": {[]string{"TopicName"}, []samStatement{{
		[]string{"sns:ListSubscriptionsByTopic", "sns:CreateTopic", "sns:SetTopicAttributes", "sns:Subscribe", "sns:Publish"},
		[]string{arnPrefix + "sns" + regionAcc + "${TopicName}*"}}}},
	"S3ReadPolicy": {[]string{"BucketName"}, []samStatement{{
		[]string{"s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation", "s3:GetObjectVersion", "s3:GetLifecycleConfiguration"},
		[]string{arnPrefix + "s3:::${BucketName}", arnPrefix + "s3:::${BucketName}/*"}}}},
	"S3WritePolicy": {[]string{"BucketName"}, []samStatement{{
		[]string{"s3:PutObject", "s3:PutObjectAcl", "s3:PutLifecycleConfiguration"},
		[]string{arnPrefix + "s3:::${BucketName}", arnPrefix + "s3:::${BucketName}/*"}}}},
	"S3CrudPolicy": {[]string{"BucketName"}, []samStatement{{
		[]string{"s3:GetObject", "s3:ListBucket", "s3:GetBucketLocation", "s3:GetObjectVersion", "s3:PutObject", "s3:PutObjectAcl",
			"s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration", "s3:DeleteObject"},
		[]string{arnPrefix + "s3:::${BucketName}", arnPrefix + "s3:::${BucketName}/*"}}}},
	"LambdaInvokePolicy": {[]string{"FunctionName"}, []samStatement{{
		[]string{"lambda:InvokeFunction"}, []string{arnPrefix + "lambda" + regionAcc + "function:${FunctionName}*"}}}},
	"EventBridgePutEventsPolicy": {[]string{"EventBusName"}, []samStatement{{
		[]string{"events:PutEvents"}, []string{arnPrefix + "events" + regionAcc + "event-bus/${EventBusName}"}}}},
	"StepFunctionsExecutionPolicy": {[]string{"StateMachineName"}, []samStatement{{
		[]string{"states:StartExecution"}, []string{arnPrefix + "states" + regionAcc + "stateMachine:${StateMachineName}"}}}},
	"KinesisStreamReadPolicy": {[]string{"StreamName"}, []samStatement{
		{[]string{"kinesis:ListStreams", "kinesis:DescribeLimits"}, []string{arnPrefix + "kinesis" + regionAcc + "stream/*"}},
		{[]string{"kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetRecords", "kinesis:GetShardIterator"},
			[]string{arnPrefix + "kinesis" + regionAcc + "stream/${StreamName}"}}}},
	"KinesisCrudPolicy": {[]string{"StreamName"}, []samStatement{{
		[]string{"kinesis:AddTagsToStream", "kinesis:CreateStream", "kinesis:DecreaseStreamRetentionPeriod", "kinesis:DeleteStream",
			"kinesis:DescribeStream", "kinesis:DescribeStreamSummary", "kinesis:GetShardIterator", "kinesis:IncreaseStreamRetentionPeriod",
			"kinesis:ListTagsForStream", "kinesis:MergeShards", "kinesis:PutRecord", "kinesis:PutRecords", "kinesis:SplitShard",
			"kinesis:RemoveTagsFromStream"},
		[]string{arnPrefix + "kinesis" + regionAcc + "stream/${StreamName}"}}}},
	"SSMParameterReadPolicy": {[]string{"ParameterName"}, []samStatement{
		{[]string{"ssm:DescribeParameters"}, []string{"*"}},
		{[]string{"ssm:GetParameters", "ssm:GetParameter", "ssm:GetParametersByPath"},
			[]string{arnPrefix + "ssm" + regionAcc + "parameter/${ParameterName}"}}}},
}

// policies turns a function's Policies into IAM statements; managed policies
// (by name or ARN) are recorded for the function.
func (s *samLoader) policies(key string, n *node, where string) *node {
	out := &node{kind: kindSeq, pos: n.pos, state: resolved}
	items := []*node{n}
	if n.kind == kindSeq {
		items = n.items
	}
	for i, it := range items {
		what := fmt.Sprintf("%s[%d]", where, i)
		switch {
		case it.kind == kindString:
			s.managed[key] = append(s.managed[key], samManagedPolicyARN(it.str))
		case isIntrinsic(it):
			s.warnf(it.pos, "name the managed policy, or write the statements", "%s: a managed policy given by a reference is not applied by nimbus", what)
		case it.kind == kindMap && it.get("Statement") != nil:
			st := it.get("Statement")
			if st.kind == kindSeq {
				out.items = append(out.items, st.items...)
			} else {
				out.items = append(out.items, st)
			}
		case it.kind == kindMap && len(it.entries) == 1:
			e := it.entries[0]
			tpl, ok := samPolicyTemplates[e.key]
			if !ok {
				s.warnf(e.keyPos, "write the statements instead (Statement: [...])",
					"%s: nimbus does not know the policy template %s; the function gets no permissions from it", what, e.key)
				continue
			}
			out.items = append(out.items, s.expandTemplate(e, tpl, what)...)
		default:
			s.errorf(it.pos, "a policy is a managed policy name, a policy template ({DynamoDBCrudPolicy: {TableName: ...}}) or a document with Statement", "%s is not a policy", what)
		}
	}
	return out
}

// expandTemplate writes a template's statements with its parameters bound
// by Fn::Sub's variable map, so references in them resolve on deploy.
func (s *samLoader) expandTemplate(e *entry, tpl samPolicyTemplate, what string) []*node {
	vars := mapNode(e.val.pos)
	if e.val.kind == kindMap {
		for _, pe := range e.val.entries {
			if !slices.Contains(tpl.params, pe.key) {
				s.errorf(pe.keyPos, "parameters: "+strings.Join(tpl.params, ", "), "%s: %s has no parameter %s", what, e.key, pe.key)
				continue
			}
			vars.entries = append(vars.entries, pe)
		}
	} else if e.val.kind != kindNull && len(tpl.params) > 0 {
		s.typeError(e.val, what+"."+e.key, "a map of its parameters")
		return nil
	}
	for _, p := range tpl.params {
		if vars.get(p) == nil {
			s.errorf(e.keyPos, "", "%s: %s needs its parameter %s", what, e.key, p)
			return nil
		}
	}
	var out []*node
	for _, st := range tpl.statements {
		actions := &node{kind: kindSeq, pos: e.keyPos, state: resolved}
		for _, a := range st.actions {
			actions.items = append(actions.items, strNode(a))
		}
		resources := &node{kind: kindSeq, pos: e.keyPos, state: resolved}
		for _, r := range st.resources {
			if !strings.Contains(r, "${") {
				resources.items = append(resources.items, strNode(r))
				continue
			}
			resources.items = append(resources.items, intrinsic("Fn::Sub", seqNode(strNode(r), vars)))
		}
		out = append(out, mapNode(e.keyPos, "Effect", strNode("Allow"), "Action", actions, "Resource", resources))
	}
	return out
}
