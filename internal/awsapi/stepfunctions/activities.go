package stepfunctions

import (
	"context"
	"encoding/json"

	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/workflows"
)

// authActivity parses an activity ARN strictly and authorizes action on the
// ARN rebuilt from it, as authMachine does.
func (a *API) authActivity(ctx context.Context, action, raw string) (string, error) {
	name, err := a.Service.ParseActivityARN(raw)
	if err != nil {
		return "", err
	}
	arn := a.Service.ActivityARN(name)
	if err := auth.Authorize(ctx, action, arn, nil); err != nil {
		return "", err
	}
	return arn, nil
}

func (a *API) createActivity(ctx context.Context, body []byte) (any, error) {
	var in struct {
		Name string `json:"name"`
		Tags []tag  `json:"tags"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if err := auth.Authorize(ctx, "states:CreateActivity", a.Service.ActivityARN(in.Name), nil); err != nil {
		return nil, err
	}
	var tags map[string]string
	if len(in.Tags) > 0 {
		tags = map[string]string{}
		for _, t := range in.Tags {
			tags[t.Key] = t.Value
		}
	}
	act, err := a.Service.CreateActivity(ctx, in.Name, tags)
	if err != nil {
		return nil, err
	}
	return map[string]any{"activityArn": act.ARN, "creationDate": ts(act.Created)}, nil
}

type activityInput struct {
	ActivityArn string `json:"activityArn"`
	WorkerName  string `json:"workerName"`
}

func (a *API) describeActivity(ctx context.Context, body []byte) (any, error) {
	var in activityInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	arn, err := a.authActivity(ctx, "states:DescribeActivity", in.ActivityArn)
	if err != nil {
		return nil, err
	}
	act, err := a.Service.DescribeActivity(ctx, arn)
	if err != nil {
		return nil, err
	}
	return map[string]any{"activityArn": act.ARN, "name": act.Name, "creationDate": ts(act.Created)}, nil
}

func (a *API) deleteActivity(ctx context.Context, body []byte) (any, error) {
	var in activityInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	arn, err := a.authActivity(ctx, "states:DeleteActivity", in.ActivityArn)
	if err != nil {
		return nil, err
	}
	return nil, a.Service.DeleteActivity(ctx, arn)
}

func (a *API) listActivities(ctx context.Context, body []byte) (any, error) {
	var in pageInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if err := auth.Authorize(ctx, "states:ListActivities", "*", nil); err != nil {
		return nil, err
	}
	all, err := a.Service.ListActivities(ctx)
	if err != nil {
		return nil, err
	}
	start, end, next, err := in.page(len(all))
	if err != nil {
		return nil, err
	}
	items := make([]map[string]any, 0, end-start)
	for _, act := range all[start:end] {
		items = append(items, map[string]any{"activityArn": act.ARN, "name": act.Name, "creationDate": ts(act.Created)})
	}
	return map[string]any{"activities": items, "nextToken": next}, nil
}

// getActivityTask long-polls (up to 60 s) for a task of the activity; no
// task is an answer without a taskToken, as on AWS.
func (a *API) getActivityTask(ctx context.Context, body []byte) (any, error) {
	var in activityInput
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if len(in.WorkerName) > 80 {
		return nil, validation("1 validation error detected: Value at 'workerName' failed to satisfy constraint: Member must have length less than or equal to 80")
	}
	arn, err := a.authActivity(ctx, "states:GetActivityTask", in.ActivityArn)
	if err != nil {
		return nil, err
	}
	t, err := a.Service.GetActivityTask(ctx, arn, in.WorkerName, workflows.MaxActivityPoll)
	if err != nil {
		return nil, err
	}
	if t.Token == "" {
		return map[string]any{}, nil
	}
	return map[string]any{"taskToken": t.Token, "input": t.Input}, nil
}
