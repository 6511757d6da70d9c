package lambda

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/nimbus-platform/nimbus/internal/functions"
	"github.com/nimbus-platform/nimbus/internal/invoke"
)

func (a *API) registerVersions(mux *http.ServeMux) {
	mux.HandleFunc("POST /2015-03-31/functions/{name}/versions", a.publishVersion)
	mux.HandleFunc("GET /2015-03-31/functions/{name}/versions", a.listVersions)
	mux.HandleFunc("POST /2015-03-31/functions/{name}/aliases", a.createAlias)
	mux.HandleFunc("GET /2015-03-31/functions/{name}/aliases", a.listAliases)
	mux.HandleFunc("GET /2015-03-31/functions/{name}/aliases/{alias}", a.getAlias)
	mux.HandleFunc("PUT /2015-03-31/functions/{name}/aliases/{alias}", a.updateAlias)
	mux.HandleFunc("DELETE /2015-03-31/functions/{name}/aliases/{alias}", a.deleteAlias)
}

// unqualified resolves the path's function name, which must not carry a
// qualifier (the version and alias operations name the function itself).
func (a *API) unqualified(w http.ResponseWriter, r *http.Request) (*functions.Function, bool) {
	name := r.PathValue("name")
	if _, q, err := invoke.ParseName(name); err == nil && q != "" {
		writeError(w, http.StatusBadRequest, "InvalidParameterValueException", "The function name must not carry a qualifier for this operation")
		return nil, false
	}
	f, err := a.lookup(name, "")
	if err != nil {
		writeCoreError(w, err)
		return nil, false
	}
	return f, true
}

// decodeBody reads a JSON request body into v; an empty body leaves v alone.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "InvalidRequestContentException", "reading the request body: "+err.Error())
		return false
	}
	if len(body) == 0 {
		return true
	}
	if err := json.Unmarshal(body, v); err != nil {
		writeError(w, http.StatusBadRequest, "InvalidRequestContentException", "Could not parse request body into json: "+err.Error())
		return false
	}
	return true
}

// paging reads Marker and MaxItems (1 to 10000, default 50).
func paging(w http.ResponseWriter, r *http.Request) (marker string, maxItems int, ok bool) {
	q := r.URL.Query()
	maxItems = 50
	if s := q.Get("MaxItems"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 10000 {
			writeError(w, http.StatusBadRequest, "InvalidParameterValueException", "MaxItems must be between 1 and 10000")
			return "", 0, false
		}
		maxItems = n
	}
	return q.Get("Marker"), maxItems, true
}

// page returns the items after marker (an item's key), at most maxItems,
// and the marker of the next page ("" on the last).
func page[T any](items []T, key func(T) string, marker string, maxItems int) ([]T, string) {
	start := 0
	if marker != "" {
		start = len(items)
		for i, it := range items {
			if key(it) == marker {
				start = i + 1
				break
			}
		}
	}
	end := min(start+maxItems, len(items))
	next := ""
	if end < len(items) {
		next = key(items[end-1])
	}
	return items[start:end], next
}

// publishVersion is PublishVersion.
func (a *API) publishVersion(w http.ResponseWriter, r *http.Request) {
	if !a.authorize(w, r, "lambda:PublishVersion") {
		return
	}
	f, ok := a.unqualified(w, r)
	if !ok {
		return
	}
	var in struct {
		CodeSha256  string `json:"CodeSha256"`
		Description string `json:"Description"`
		RevisionID  string `json:"RevisionId"`
	}
	if !decodeBody(w, r, &in) {
		return
	}
	if len(in.Description) > 256 {
		writeError(w, http.StatusBadRequest, "InvalidParameterValueException", "Description must be 256 characters or fewer")
		return
	}
	v, err := a.Registry.PublishVersion(r.Context(), f.Config.Name, functions.PublishOptions{
		CodeSha256: in.CodeSha256, RevisionID: in.RevisionID, Description: in.Description})
	if err != nil {
		writeCoreError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, configuration(v))
}

// listVersions is ListVersionsByFunction: $LATEST, then the published
// versions oldest first.
func (a *API) listVersions(w http.ResponseWriter, r *http.Request) {
	if !a.authorize(w, r, "lambda:ListVersionsByFunction") {
		return
	}
	f, ok := a.unqualified(w, r)
	if !ok {
		return
	}
	marker, maxItems, ok := paging(w, r)
	if !ok {
		return
	}
	all := append([]*functions.Function{f}, a.Registry.Versions(f.Config.Name)...)
	items, next := page(all, func(f *functions.Function) string { return f.Version }, marker, maxItems)
	out := struct {
		Versions   []FunctionConfiguration `json:"Versions"`
		NextMarker *string                 `json:"NextMarker,omitempty"`
	}{Versions: []FunctionConfiguration{}}
	for _, v := range items {
		c := configuration(v)
		if v.Version == functions.Latest {
			c.FunctionArn += ":" + functions.Latest
		}
		out.Versions = append(out.Versions, c)
	}
	if next != "" {
		out.NextMarker = &next
	}
	writeJSON(w, http.StatusOK, out)
}

// AliasConfiguration is Lambda's description of an alias.
type AliasConfiguration struct {
	AliasArn        string         `json:"AliasArn"`
	Name            string         `json:"Name"`
	FunctionVersion string         `json:"FunctionVersion"`
	Description     string         `json:"Description"`
	RoutingConfig   *routingConfig `json:"RoutingConfig,omitempty"`
	RevisionID      string         `json:"RevisionId"`
}

type routingConfig struct {
	AdditionalVersionWeights map[string]float64 `json:"AdditionalVersionWeights"`
}

func aliasConfiguration(f *functions.Function, al *functions.Alias) AliasConfiguration {
	out := AliasConfiguration{AliasArn: f.ARN + ":" + al.Name, Name: al.Name, FunctionVersion: al.FunctionVersion,
		Description: al.Description, RevisionID: al.RevisionID}
	if len(al.Weights) > 0 {
		out.RoutingConfig = &routingConfig{AdditionalVersionWeights: al.Weights}
	}
	return out
}

// aliasInput is the body of CreateAlias and UpdateAlias.
type aliasInput struct {
	Name            string         `json:"Name"`
	FunctionVersion *string        `json:"FunctionVersion"`
	Description     *string        `json:"Description"`
	RoutingConfig   *routingConfig `json:"RoutingConfig"`
	RevisionID      string         `json:"RevisionId"`
}

func (in *aliasInput) change() functions.AliasChange {
	c := functions.AliasChange{FunctionVersion: in.FunctionVersion, Description: in.Description, RevisionID: in.RevisionID}
	if in.RoutingConfig != nil {
		weights := in.RoutingConfig.AdditionalVersionWeights
		if weights == nil {
			weights = map[string]float64{}
		}
		c.Weights = &weights
	}
	return c
}

func (a *API) createAlias(w http.ResponseWriter, r *http.Request) {
	if !a.authorize(w, r, "lambda:CreateAlias") {
		return
	}
	f, ok := a.unqualified(w, r)
	if !ok {
		return
	}
	var in aliasInput
	if !decodeBody(w, r, &in) {
		return
	}
	a.putAlias(w, r, f, in.Name, &in, true)
}

func (a *API) updateAlias(w http.ResponseWriter, r *http.Request) {
	if !a.authorize(w, r, "lambda:UpdateAlias") {
		return
	}
	f, ok := a.unqualified(w, r)
	if !ok {
		return
	}
	var in aliasInput
	if !decodeBody(w, r, &in) {
		return
	}
	a.putAlias(w, r, f, r.PathValue("alias"), &in, false)
}

func (a *API) putAlias(w http.ResponseWriter, r *http.Request, f *functions.Function, name string, in *aliasInput, create bool) {
	if in.Description != nil && len(*in.Description) > 256 {
		writeError(w, http.StatusBadRequest, "InvalidParameterValueException", "Description must be 256 characters or fewer")
		return
	}
	if v := in.FunctionVersion; v != nil && *v != functions.Latest && !invoke.IsVersion(*v) {
		writeError(w, http.StatusBadRequest, "InvalidParameterValueException", "FunctionVersion must be a version number or $LATEST")
		return
	}
	al, err := a.Registry.PutAlias(r.Context(), f.Config.Name, name, in.change(), create)
	if err != nil {
		writeCoreError(w, err)
		return
	}
	status := http.StatusOK
	if create {
		status = http.StatusCreated
	}
	writeJSON(w, status, aliasConfiguration(f, al))
}

func (a *API) getAlias(w http.ResponseWriter, r *http.Request) {
	if !a.authorize(w, r, "lambda:GetAlias") {
		return
	}
	f, ok := a.unqualified(w, r)
	if !ok {
		return
	}
	al, ok := a.Registry.Alias(f.Config.Name, r.PathValue("alias"))
	if !ok {
		writeError(w, http.StatusNotFound, "ResourceNotFoundException", "Cannot find alias arn: "+f.ARN+":"+r.PathValue("alias"))
		return
	}
	writeJSON(w, http.StatusOK, aliasConfiguration(f, al))
}

func (a *API) deleteAlias(w http.ResponseWriter, r *http.Request) {
	if !a.authorize(w, r, "lambda:DeleteAlias") {
		return
	}
	f, ok := a.unqualified(w, r)
	if !ok {
		return
	}
	if err := a.Registry.DeleteAlias(r.Context(), f.Config.Name, r.PathValue("alias")); err != nil {
		writeCoreError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// listAliases is ListAliases, optionally only the aliases that route to
// FunctionVersion.
func (a *API) listAliases(w http.ResponseWriter, r *http.Request) {
	if !a.authorize(w, r, "lambda:ListAliases") {
		return
	}
	f, ok := a.unqualified(w, r)
	if !ok {
		return
	}
	marker, maxItems, ok := paging(w, r)
	if !ok {
		return
	}
	all := a.Registry.Aliases(f.Config.Name)
	if v := r.URL.Query().Get("FunctionVersion"); v != "" {
		kept := all[:0]
		for _, al := range all {
			if _, weighted := al.Weights[v]; al.FunctionVersion == v || weighted {
				kept = append(kept, al)
			}
		}
		all = kept
	}
	items, next := page(all, func(al functions.Alias) string { return al.Name }, marker, maxItems)
	out := struct {
		Aliases    []AliasConfiguration `json:"Aliases"`
		NextMarker *string              `json:"NextMarker,omitempty"`
	}{Aliases: []AliasConfiguration{}}
	for i := range items {
		out.Aliases = append(out.Aliases, aliasConfiguration(f, &items[i]))
	}
	if next != "" {
		out.NextMarker = &next
	}
	writeJSON(w, http.StatusOK, out)
}

// deleteVersion is DeleteFunction with a version qualifier.
func (a *API) deleteVersion(w http.ResponseWriter, r *http.Request, version string) {
	f, ok := a.unqualified(w, r)
	if !ok {
		return
	}
	if err := a.Registry.DeleteVersion(r.Context(), f.Config.Name, version); err != nil {
		writeCoreError(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// coreConflict maps the registry's version and alias errors; false when
// err is none of them.
func coreConflict(w http.ResponseWriter, err error) bool {
	var (
		pre      *functions.PreconditionError
		conflict *functions.ResourceConflictError
		invalid  *functions.InvalidError
		storage  *functions.StorageExceededError
	)
	switch {
	case errors.As(err, &pre):
		writeError(w, http.StatusPreconditionFailed, "PreconditionFailedException", pre.Message)
	case errors.As(err, &conflict):
		writeError(w, http.StatusConflict, "ResourceConflictException", conflict.Message)
	case errors.As(err, &invalid):
		writeError(w, http.StatusBadRequest, "InvalidParameterValueException", invalid.Error())
	case errors.As(err, &storage):
		writeError(w, http.StatusBadRequest, "CodeStorageExceededException", storage.Message)
	default:
		return false
	}
	return true
}
