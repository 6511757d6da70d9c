// Package ssm serves the Parameter Store part of the SSM API (JSON 1.1,
// X-Amz-Target AmazonSSM.*) over internal/params.
package ssm

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/auth"
	"github.com/nimbus-platform/nimbus/internal/params"
	"github.com/nimbus-platform/nimbus/internal/store"
)

// TargetPrefix is the X-Amz-Target prefix of SSM operations.
const TargetPrefix = "AmazonSSM."

// MaxRequestBytes bounds a request body (a value is at most 4 KB).
const MaxRequestBytes = 1 << 20

// DefaultRegion names parameters in ARNs when a request's signature does not.
const DefaultRegion = "us-east-1"

// API is the SSM endpoint.
type API struct {
	Params *params.Store
	Logger *slog.Logger
}

// ServeHTTP answers one JSON 1.1 request.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), TargetPrefix)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxRequestBytes))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "ValidationException", "The request is too large.")
		return
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	h, ok := a.ops()[op]
	if !ok {
		writeError(w, http.StatusBadRequest, "UnknownOperationException", "The operation "+op+" is not supported by nimbus (Parameter Store operations only).")
		return
	}
	c := &call{ctx: r.Context(), region: signingRegion(r)}
	out, err := h(c, body)
	if err != nil {
		a.writeErr(w, op, err)
		return
	}
	if out == nil {
		out = struct{}{}
	}
	data, _ := json.Marshal(out)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_, _ = w.Write(data)
}

func (a *API) writeErr(w http.ResponseWriter, op string, err error) {
	if ae, ok := auth.AsError(err); ok {
		auth.WriteError(w, auth.ProtocolJSON, ae)
		return
	}
	var pe *params.Error
	if errors.As(err, &pe) {
		writeError(w, http.StatusBadRequest, codes[pe.Kind], pe.Message)
		return
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &te) {
		writeError(w, http.StatusBadRequest, "SerializationException", err.Error())
		return
	}
	if store.IsNoSpace(err) {
		writeError(w, http.StatusServiceUnavailable, "ServiceUnavailable", err.Error())
		return
	}
	if a.Logger != nil {
		a.Logger.Error("ssm request failed", "op", op, "err", err)
	}
	writeError(w, http.StatusInternalServerError, "InternalServerError", err.Error())
}

// codes are AWS's error codes for the store's kinds of error.
var codes = map[params.Kind]string{
	params.Invalid:               "ValidationException",
	params.NotFound:              "ParameterNotFound",
	params.AlreadyExists:         "ParameterAlreadyExists",
	params.VersionNotFound:       "ParameterVersionNotFound",
	params.HierarchyLevelLimit:   "HierarchyLevelLimitExceededException",
	params.PatternMismatch:       "ParameterPatternMismatchException",
	params.InvalidAllowedPattern: "InvalidAllowedPatternException",
	params.LabelLimit:            "ParameterVersionLabelLimitExceeded",
	params.Conflict:              "ParameterMaxVersionLimitExceeded",
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	data, _ := json.Marshal(map[string]string{"__type": code, "message": msg})
	_, _ = w.Write(data)
}

func validation(format string) error { return &params.Error{Kind: params.Invalid, Message: format} }

// signingRegion is the region of the request's credential scope, which names
// the parameters' ARNs as AWS's regional endpoints do.
func signingRegion(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if i := strings.Index(h, "Credential="); i >= 0 {
		parts := strings.Split(h[i+len("Credential="):], "/")
		if len(parts) >= 3 && parts[2] != "" {
			return parts[2]
		}
	}
	if c := r.URL.Query().Get("X-Amz-Credential"); c != "" {
		if parts := strings.Split(c, "/"); len(parts) >= 3 {
			return parts[2]
		}
	}
	return DefaultRegion
}

type call struct {
	ctx    context.Context
	region string
}

// ARN is a parameter's ARN: names with a leading slash keep a single one.
func ARN(region, name string) string {
	return "arn:aws:ssm:" + region + ":" + appspec.AccountID + ":parameter/" + strings.TrimPrefix(name, "/")
}

// user is the caller's ARN, kept as the version's LastModifiedUser.
func (c *call) user() string {
	if pr := auth.PrincipalFrom(c.ctx); pr != nil {
		return pr.ARN
	}
	return ""
}

func (c *call) authorize(action, name string) error {
	return auth.Authorize(c.ctx, "ssm:"+action, ARN(c.region, name), nil)
}

// decryptAllowed checks kms:Decrypt for a SecureString read in clear whose
// key is not the default: AWS's alias/aws/ssm key lets every principal of the
// account that may read the parameter decrypt it through SSM, a key of the
// owner's own needs kms:Decrypt on it. nimbus has no KMS: the resource is the
// key's ARN as the parameter names it (an alias ARN for an alias).
func (c *call) decryptAllowed(p *params.Parameter, decrypt bool) error {
	if !decrypt || p.Type != params.SecureString || p.KeyID == "" || p.KeyID == params.DefaultKeyID {
		return nil
	}
	return auth.Authorize(c.ctx, "kms:Decrypt", kmsARN(c.region, p.KeyID), map[string]string{"kms:ViaService": "ssm." + c.region + ".amazonaws.com"})
}

// kmsARN is a key's ARN from a KeyId: an ARN, an alias name or a key id.
func kmsARN(region, keyID string) string {
	switch {
	case strings.HasPrefix(keyID, "arn:"):
		return keyID
	case strings.HasPrefix(keyID, "alias/"):
		return "arn:aws:kms:" + region + ":" + appspec.AccountID + ":" + keyID
	}
	return "arn:aws:kms:" + region + ":" + appspec.AccountID + ":key/" + keyID
}

type handler func(c *call, body []byte) (any, error)

func (a *API) ops() map[string]handler {
	return map[string]handler{
		"PutParameter":          a.put,
		"GetParameter":          a.get,
		"GetParameters":         a.getMany,
		"GetParametersByPath":   a.byPath,
		"DeleteParameter":       a.delete,
		"DeleteParameters":      a.deleteMany,
		"DescribeParameters":    a.describe,
		"GetParameterHistory":   a.history,
		"LabelParameterVersion": a.label,
	}
}

// epoch is a JSON 1.1 timestamp: seconds since 1970 with a fraction.
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	return json.Marshal(float64(time.Time(e).UnixMilli()) / 1000)
}

type parameterOut struct {
	Name             string
	Type             string
	Value            string
	Version          int64
	LastModifiedDate epoch
	ARN              string
	DataType         string
	Selector         string `json:",omitempty"`
}

func (c *call) out(p *params.Parameter, selector string) parameterOut {
	return parameterOut{Name: p.Name, Type: p.Type, Value: p.Value, Version: p.Version, LastModifiedDate: epoch(p.LastModifiedDate),
		ARN: ARN(c.region, p.Name), DataType: p.DataType, Selector: selector}
}

func (a *API) put(c *call, body []byte) (any, error) {
	var in struct {
		Name, Value, Type, Description, AllowedPattern, KeyId, Tier, DataType string
		Overwrite                                                             bool
		Tags                                                                  []struct{ Key, Value string }
		Policies                                                              string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if err := c.authorize("PutParameter", in.Name); err != nil {
		return nil, err
	}
	switch in.Tier {
	case "", "Standard", "Advanced", "Intelligent-Tiering": // accepted; every parameter is kept the same way
	default:
		return nil, validation("1 validation error detected: Value '" + in.Tier + "' at 'tier' failed to satisfy constraint: Member must satisfy enum value set: [Advanced, Intelligent-Tiering, Standard]")
	}
	if len(in.Tags) > 0 && in.Overwrite {
		return nil, validation("Tags and overwrite can't be used together. To create a parameter with tags, please remove overwrite flag. To update tags for an existing parameter, please use AddTagsToResource or RemoveTagsFromResource.")
	}
	v, err := a.Params.Put(c.ctx, params.PutInput{Name: in.Name, Value: in.Value, Type: in.Type, Description: in.Description,
		AllowedPattern: in.AllowedPattern, KeyID: in.KeyId, DataType: in.DataType, Overwrite: in.Overwrite, User: c.user()})
	if err != nil {
		return nil, err
	}
	return map[string]any{"Version": v, "Tier": "Standard"}, nil
}

func (a *API) get(c *call, body []byte) (any, error) {
	var in struct {
		Name           string
		WithDecryption bool
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	name, sel := params.SplitSelector(in.Name)
	if err := c.authorize("GetParameter", name); err != nil {
		return nil, err
	}
	p, err := a.Params.Get(c.ctx, in.Name, in.WithDecryption)
	if err != nil {
		return nil, err
	}
	if err := c.decryptAllowed(p, in.WithDecryption); err != nil {
		return nil, err
	}
	if sel != "" {
		sel = ":" + sel
	}
	return map[string]any{"Parameter": c.out(p, sel)}, nil
}

func (a *API) getMany(c *call, body []byte) (any, error) {
	var in struct {
		Names          []string
		WithDecryption bool
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if len(in.Names) == 0 || len(in.Names) > 10 {
		return nil, validation("1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1")
	}
	out := []parameterOut{}
	invalid := []string{}
	seen := map[string]bool{}
	for _, sel := range in.Names {
		if seen[sel] {
			continue
		}
		seen[sel] = true
		name, which := params.SplitSelector(sel)
		if err := c.authorize("GetParameters", name); err != nil {
			return nil, err
		}
		p, err := a.Params.Get(c.ctx, sel, in.WithDecryption)
		var pe *params.Error
		if errors.As(err, &pe) && pe.Kind != params.HierarchyLevelLimit {
			invalid = append(invalid, sel)
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := c.decryptAllowed(p, in.WithDecryption); err != nil {
			return nil, err
		}
		if which != "" {
			which = ":" + which
		}
		out = append(out, c.out(p, which))
	}
	return map[string]any{"Parameters": out, "InvalidParameters": invalid}, nil
}

// filter is a ParameterStringFilter.
type filter struct {
	Key, Option string
	Values      []string
}

// match applies the filters nimbus knows (Type, KeyId, Label, Name, Path,
// DataType, Tier); others are refused by check.
func match(p *params.Parameter, fs []filter) bool {
	for _, f := range fs {
		var ok bool
		switch f.Key {
		case "Type":
			ok = slices.Contains(f.Values, p.Type)
		case "KeyId":
			ok = slices.Contains(f.Values, p.KeyID)
		case "DataType":
			ok = slices.Contains(f.Values, p.DataType)
		case "Tier":
			ok = slices.Contains(f.Values, "Standard")
		case "Label":
			ok = slices.ContainsFunc(f.Values, func(l string) bool { return slices.Contains(p.Labels, l) })
		case "Name":
			for _, v := range f.Values {
				switch f.Option {
				case "BeginsWith":
					ok = ok || strings.HasPrefix(p.Name, v) || strings.HasPrefix(p.Name, "/"+strings.TrimPrefix(v, "/"))
				case "Contains":
					ok = ok || strings.Contains(p.Name, v)
				default:
					ok = ok || p.Name == v || strings.TrimPrefix(p.Name, "/") == strings.TrimPrefix(v, "/")
				}
			}
		case "Path":
			for _, v := range f.Values {
				ok = ok || params.InPath(p.Name, v, f.Option == "Recursive")
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func checkFilters(fs []filter, byPath bool) error {
	for _, f := range fs {
		switch f.Key {
		case "Type", "KeyId", "Label", "DataType", "Tier":
		case "Name", "Path":
			if byPath {
				return &params.Error{Kind: params.Invalid, Message: "The following filter key is not valid: " + f.Key + ". Valid filter keys include: [Type, KeyId, Label]."}
			}
		default:
			return &params.Error{Kind: params.Invalid, Message: "The following filter key is not valid: " + f.Key + ". Valid filter keys include: [Type, KeyId, Label, Name, Path, DataType, Tier] (tags are not supported by nimbus)."}
		}
		if len(f.Values) == 0 && f.Key != "Path" {
			return &params.Error{Kind: params.Invalid, Message: "The following filter values are missing : null for filter key " + f.Key + "."}
		}
	}
	return nil
}

// page cuts a sorted list after the name the token carries.
func page[T any](items []T, name func(T) string, token string, max, limit int) ([]T, string, error) {
	if max == 0 {
		max = limit
	}
	if max < 1 || max > limit {
		return nil, "", validation("1 validation error detected: Value at 'maxResults' failed to satisfy constraint: Member must have value less than or equal to " + itoa(limit) + " and greater than or equal to 1")
	}
	start := 0
	if token != "" {
		after, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(after) == 0 {
			return nil, "", &params.Error{Kind: params.Invalid, Message: "The specified token is not valid."}
		}
		start = len(items)
		for i, it := range items {
			if name(it) > string(after) {
				start = i
				break
			}
		}
	}
	end := min(start+max, len(items))
	next := ""
	if end < len(items) {
		next = base64.RawURLEncoding.EncodeToString([]byte(name(items[end-1])))
	}
	return items[start:end], next, nil
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func (a *API) byPath(c *call, body []byte) (any, error) {
	var in struct {
		Path             string
		Recursive        bool
		WithDecryption   bool
		ParameterFilters []filter
		MaxResults       int
		NextToken        string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if err := params.ValidatePath(in.Path); err != nil {
		return nil, err
	}
	if err := c.authorize("GetParametersByPath", strings.TrimSuffix(in.Path, "/")); err != nil {
		return nil, err
	}
	if err := checkFilters(in.ParameterFilters, true); err != nil {
		return nil, err
	}
	all, err := a.Params.ListPath(c.ctx, in.Path, in.Recursive, in.WithDecryption)
	if err != nil {
		return nil, err
	}
	var found []params.Parameter
	for i := range all {
		if match(&all[i], in.ParameterFilters) {
			if err := c.decryptAllowed(&all[i], in.WithDecryption); err != nil {
				return nil, err
			}
			found = append(found, all[i])
		}
	}
	items, next, err := page(found, func(p params.Parameter) string { return p.Name }, in.NextToken, in.MaxResults, 10)
	if err != nil {
		return nil, err
	}
	out := make([]parameterOut, 0, len(items))
	for i := range items {
		out = append(out, c.out(&items[i], ""))
	}
	res := map[string]any{"Parameters": out}
	if next != "" {
		res["NextToken"] = next
	}
	return res, nil
}

func (a *API) delete(c *call, body []byte) (any, error) {
	var in struct{ Name string }
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if err := c.authorize("DeleteParameter", in.Name); err != nil {
		return nil, err
	}
	return nil, a.Params.Delete(c.ctx, in.Name)
}

func (a *API) deleteMany(c *call, body []byte) (any, error) {
	var in struct{ Names []string }
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if len(in.Names) == 0 || len(in.Names) > 10 {
		return nil, validation("1 validation error detected: Value at 'names' failed to satisfy constraint: Member must have length less than or equal to 10 and greater than or equal to 1")
	}
	// Every name is authorized before any is deleted: a refused call
	// changes nothing.
	for _, name := range in.Names {
		if err := c.authorize("DeleteParameters", name); err != nil {
			return nil, err
		}
	}
	deleted, invalid := []string{}, []string{}
	for _, name := range in.Names {
		err := a.Params.Delete(c.ctx, name)
		var pe *params.Error
		switch {
		case err == nil:
			deleted = append(deleted, name)
		case errors.As(err, &pe):
			invalid = append(invalid, name)
		default:
			return nil, err
		}
	}
	return map[string]any{"DeletedParameters": deleted, "InvalidParameters": invalid}, nil
}

type metadataOut struct {
	Name             string
	ARN              string `json:",omitempty"`
	Type             string
	KeyId            string `json:",omitempty"`
	LastModifiedDate epoch
	LastModifiedUser string
	Description      string `json:",omitempty"`
	AllowedPattern   string `json:",omitempty"`
	Version          int64
	Tier             string
	Policies         []any
	DataType         string
	Labels           []string `json:",omitempty"`
	Value            string   `json:",omitempty"`
}

func (c *call) metadata(p *params.Parameter) metadataOut {
	user := p.LastModifiedUser
	if user == "" {
		user = "arn:aws:iam::" + appspec.AccountID + ":root"
	}
	return metadataOut{Name: p.Name, ARN: ARN(c.region, p.Name), Type: p.Type, KeyId: p.KeyID, LastModifiedDate: epoch(p.LastModifiedDate),
		LastModifiedUser: user, Description: p.Description, AllowedPattern: p.AllowedPattern, Version: p.Version, Tier: "Standard",
		Policies: []any{}, DataType: p.DataType}
}

func (a *API) describe(c *call, body []byte) (any, error) {
	var in struct {
		Filters []struct {
			Key    string
			Values []string
		}
		ParameterFilters []filter
		MaxResults       int
		NextToken        string
		Shared           bool
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if err := auth.Authorize(c.ctx, "ssm:DescribeParameters", "arn:aws:ssm:"+c.region+":"+appspec.AccountID+":*", nil); err != nil {
		return nil, err
	}
	if len(in.Filters) > 0 && len(in.ParameterFilters) > 0 {
		return nil, validation("You can use either Filters or ParameterFilters in a single request.")
	}
	fs := in.ParameterFilters
	for _, f := range in.Filters { // the older form: Name (begins with), Type, KeyId
		opt := "Equals"
		if f.Key == "Name" {
			opt = "BeginsWith"
		}
		fs = append(fs, filter{Key: f.Key, Option: opt, Values: f.Values})
	}
	if err := checkFilters(fs, false); err != nil {
		return nil, err
	}
	all, err := a.Params.List(c.ctx, false)
	if err != nil {
		return nil, err
	}
	var found []params.Parameter
	for i := range all {
		if match(&all[i], fs) {
			found = append(found, all[i])
		}
	}
	items, next, err := page(found, func(p params.Parameter) string { return p.Name }, in.NextToken, in.MaxResults, 50)
	if err != nil {
		return nil, err
	}
	out := make([]metadataOut, 0, len(items))
	for i := range items {
		out = append(out, c.metadata(&items[i]))
	}
	res := map[string]any{"Parameters": out}
	if next != "" {
		res["NextToken"] = next
	}
	return res, nil
}

func (a *API) history(c *call, body []byte) (any, error) {
	var in struct {
		Name           string
		WithDecryption bool
		MaxResults     int
		NextToken      string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if err := c.authorize("GetParameterHistory", in.Name); err != nil {
		return nil, err
	}
	versions, err := a.Params.History(c.ctx, in.Name, in.WithDecryption)
	if err != nil {
		return nil, err
	}
	for i := range versions {
		if err := c.decryptAllowed(&versions[i], in.WithDecryption); err != nil {
			return nil, err
		}
	}
	// Tokens carry the last version shown, zero-padded so names sort as numbers.
	key := func(p params.Parameter) string { return padded(p.Version) }
	items, next, err := page(versions, key, in.NextToken, in.MaxResults, 50)
	if err != nil {
		return nil, err
	}
	out := make([]metadataOut, 0, len(items))
	for i := range items {
		m := c.metadata(&items[i])
		m.ARN = ""
		m.Labels = items[i].Labels
		if m.Labels == nil {
			m.Labels = []string{}
		}
		m.Value = items[i].Value
		out = append(out, m)
	}
	res := map[string]any{"Parameters": out}
	if next != "" {
		res["NextToken"] = next
	}
	return res, nil
}

func padded(v int64) string {
	s := itoa(int(v))
	return strings.Repeat("0", 20-len(s)) + s
}

func (a *API) label(c *call, body []byte) (any, error) {
	var in struct {
		Name             string
		ParameterVersion int64
		Labels           []string
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	if err := c.authorize("LabelParameterVersion", in.Name); err != nil {
		return nil, err
	}
	invalid, v, err := a.Params.Label(c.ctx, in.Name, in.ParameterVersion, in.Labels)
	if err != nil {
		return nil, err
	}
	if invalid == nil {
		invalid = []string{}
	}
	return map[string]any{"InvalidLabels": invalid, "ParameterVersion": v}, nil
}
