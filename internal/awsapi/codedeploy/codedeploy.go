// Package codedeploy serves the part of the CodeDeploy API (JSON 1.1,
// X-Amz-Target CodeDeploy_20141006.*) that Lambda traffic hooks and people
// following a shift use: PutLifecycleEventHookExecutionStatus, GetDeployment
// and ListDeployments, over internal/deployments.
package codedeploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/awsapi/jsonproto"
	"github.com/nimbus-platform/nimbus/internal/deployments"
)

// TargetPrefix is the X-Amz-Target prefix of CodeDeploy operations.
const TargetPrefix = "CodeDeploy_20141006."

// API is the CodeDeploy endpoint.
type API struct {
	Engine *deployments.Engine
	// RegionOf is the region of a function's deployment group.
	RegionOf  func(function string) string
	AccountID string
}

var answer = jsonproto.Answer{ContentType: jsonproto.JSON11}

// ServeHTTP answers one request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := jsonproto.Operation(r, TargetPrefix)
	body, err := jsonproto.Body(w, r, 1<<20)
	if err != nil {
		answer.Error(w, http.StatusRequestEntityTooLarge, "ValidationException", "The request is too large.")
		return
	}
	var out any
	switch op {
	case "PutLifecycleEventHookExecutionStatus":
		out, err = a.putStatus(r.Context(), body)
	case "GetDeployment":
		out, err = a.getDeployment(r.Context(), body)
	case "ListDeployments":
		out, err = a.listDeployments(r.Context())
	default:
		answer.Error(w, http.StatusBadRequest, "UnknownOperationException", "The operation "+op+" is not supported by nimbus.")
		return
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	data, err := json.Marshal(out)
	if err != nil {
		writeErr(w, err)
		return
	}
	answer.Write(w, http.StatusOK, data)
}

func writeErr(w http.ResponseWriter, err error) {
	if ae, ok := auth.AsError(err); ok {
		auth.WriteError(w, auth.ProtocolJSON, ae)
		return
	}
	var de *deployments.Error
	if errors.As(err, &de) {
		answer.Error(w, http.StatusBadRequest, de.Code, de.Message)
		return
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &te) {
		answer.Error(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	answer.Error(w, http.StatusInternalServerError, "InternalFailure", err.Error())
}

// groupARN is the deployment group a function's shifts belong to, as IAM
// sees it: the application is the function, the group its alias.
func (a *API) groupARN(d *deployments.Deployment) string {
	return fmt.Sprintf("arn:aws:codedeploy:%s:%s:deploymentgroup:%s/%s", a.RegionOf(d.Function), a.AccountID, d.Function, d.Alias)
}

func (a *API) putStatus(ctx context.Context, body []byte) (any, error) {
	var in struct {
		DeploymentID                  string `json:"deploymentId"`
		LifecycleEventHookExecutionID string `json:"lifecycleEventHookExecutionId"`
		Status                        string `json:"status"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if in.DeploymentID == "" {
		return nil, &deployments.Error{Code: "DeploymentIdRequiredException", Message: "deploymentId is required"}
	}
	d, err := a.Engine.Get(ctx, in.DeploymentID)
	if err != nil {
		return nil, err
	}
	if err := auth.Authorize(ctx, "codedeploy:PutLifecycleEventHookExecutionStatus", a.groupARN(d), nil); err != nil {
		return nil, err
	}
	if err := a.Engine.PutHookStatus(ctx, in.DeploymentID, in.LifecycleEventHookExecutionID, in.Status); err != nil {
		return nil, err
	}
	return map[string]string{"lifecycleEventHookExecutionId": in.LifecycleEventHookExecutionID}, nil
}

// deploymentInfo is GetDeployment's deploymentInfo, with nimbus's state of
// the shift under "nimbus".
type deploymentInfo struct {
	DeploymentID         string                  `json:"deploymentId"`
	ApplicationName      string                  `json:"applicationName"`
	DeploymentGroupName  string                  `json:"deploymentGroupName"`
	DeploymentConfigName string                  `json:"deploymentConfigName"`
	Status               string                  `json:"status"`
	ComputePlatform      string                  `json:"computePlatform"`
	CreateTime           float64                 `json:"createTime"`
	CompleteTime         float64                 `json:"completeTime,omitempty"`
	ErrorInformation     map[string]string       `json:"errorInformation,omitempty"`
	Nimbus               *deployments.Deployment `json:"nimbus"`
}

func info(d *deployments.Deployment) deploymentInfo {
	out := deploymentInfo{DeploymentID: d.ID, ApplicationName: d.Function, DeploymentGroupName: d.Alias,
		DeploymentConfigName: "CodeDeployDefault.Lambda" + d.Type, Status: d.Status, ComputePlatform: "Lambda",
		CreateTime: float64(d.Created.UnixMilli()) / 1000, Nimbus: d}
	if !d.Ended.IsZero() {
		out.CompleteTime = float64(d.Ended.UnixMilli()) / 1000
	}
	if d.Status == deployments.Failed {
		out.ErrorInformation = map[string]string{"code": "HOOK_EXECUTION_FAILURE", "message": d.Message}
	}
	return out
}

func (a *API) getDeployment(ctx context.Context, body []byte) (any, error) {
	var in struct {
		DeploymentID string `json:"deploymentId"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	d, err := a.Engine.Get(ctx, in.DeploymentID)
	if err != nil {
		return nil, err
	}
	if err := auth.Authorize(ctx, "codedeploy:GetDeployment", a.groupARN(d), nil); err != nil {
		return nil, err
	}
	return map[string]any{"deploymentInfo": info(d)}, nil
}

func (a *API) listDeployments(ctx context.Context) (any, error) {
	all, err := a.Engine.List(ctx)
	if err != nil {
		return nil, err
	}
	ids := []string{}
	for i := range all {
		if auth.Authorize(ctx, "codedeploy:ListDeployments", a.groupARN(&all[i]), nil) == nil {
			ids = append(ids, all[i].ID)
		}
	}
	return map[string]any{"deployments": ids}, nil
}
