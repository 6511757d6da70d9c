package manifest

import (
	"slices"
	"strconv"
	"strings"
)

// SAM APIs' Auth sections become the gateway's authorizers: a REST API's
// Lambda authorizers the `authorizer` of each `http` event, an HTTP API's
// JWT and Lambda authorizers provider.httpApi.authorizers that `httpApi`
// events name. A protected route then refuses callers as API Gateway does
// (401 without the identity, 403 when the authorizer denies).

// samGlobalsAPI keys the Auth of Globals.Api / Globals.HttpApi, which
// applies to the implicit API and to explicit APIs without their own.
const samGlobalsAPI = "\x00Globals"

// samAuth is one API's Auth.
type samAuth struct {
	// authorizers are, for a REST API, each authorizer's `authorizer` node
	// of an http event; for an HTTP API, the name it has under
	// provider.httpApi.authorizers.
	authorizers map[string]*node
	names       map[string]string
	defaultAuth string
	apiKey      bool // ApiKeyRequired on every method
}

// restAuth reads a REST API's Auth.
func (s *samLoader) restAuth(api, where string, n *node) {
	if n.kind != kindMap {
		s.typeError(n, where, "a map (Authorizers, DefaultAuthorizer ...)")
		return
	}
	a := &samAuth{authorizers: map[string]*node{}}
	for _, e := range n.entries {
		switch e.key {
		case "Authorizers":
			if e.val.kind != kindMap {
				s.typeError(e.val, where+".Authorizers", "a map of authorizer names to authorizers")
				continue
			}
			for _, ae := range e.val.entries {
				if an := s.restAuthorizer(where+".Authorizers."+ae.key, ae); an != nil {
					a.authorizers[ae.key] = an
				}
			}
		case "DefaultAuthorizer":
			a.defaultAuth, _ = e.val.scalarString()
			if a.defaultAuth == "AWS_IAM" {
				s.errorf(e.val.pos, "use a Lambda authorizer", "%s.DefaultAuthorizer: AWS_IAM authorization of API routes is not supported by nimbus", where)
			}
		case "ApiKeyRequired":
			a.apiKey = e.val.kind == kindBool && e.val.boolean
			if a.apiKey {
				s.warnf(e.keyPos, "check the key in an authorizer", "%s.ApiKeyRequired: API keys of SAM APIs are not checked by nimbus", where)
			}
		case "AddDefaultAuthorizerToCorsPreflight", "AddApiKeyRequiredToCorsPreflight":
			// nimbus answers CORS preflights itself, unauthorized, as
			// API Gateway does when this is false.
		case "InvokeRole", "ResourcePolicy", "UsagePlan":
			s.warnf(e.keyPos, "", "%s.%s is not applied by nimbus", where, e.key)
		default:
			s.errorf(e.keyPos, "", "unknown key %q in %s", e.key, where)
		}
	}
	if a.defaultAuth != "" && a.defaultAuth != "NONE" && a.defaultAuth != "AWS_IAM" && a.authorizers[a.defaultAuth] == nil {
		s.errorf(n.get("DefaultAuthorizer").pos, "", "%s.DefaultAuthorizer %q is not one of its Authorizers", where, a.defaultAuth)
	}
	s.restAuths[api] = a
}

// restAuthorizer is a REST Lambda authorizer as an http event's authorizer.
func (s *samLoader) restAuthorizer(where string, e *entry) *node {
	if e.val.kind != kindMap {
		s.typeError(e.val, where, "a map with FunctionArn (or UserPoolArn)")
		return nil
	}
	if up := e.val.get("UserPoolArn"); up != nil {
		s.errorf(e.keyPos, "verify the Cognito token in a Lambda authorizer (FunctionArn)",
			"%s: Cognito user pool authorizers are not supported by nimbus, and the routes would be served unprotected", where)
		return nil
	}
	out := mapNode(e.keyPos)
	add := func(k string, v *node) { out.entries = append(out.entries, &entry{key: k, keyPos: v.pos, val: v}) }
	typ := "token"
	if t := e.val.get("FunctionPayloadType"); t != nil {
		switch str, _ := t.scalarString(); str {
		case "TOKEN":
		case "REQUEST":
			typ = "request"
		default:
			s.errorf(t.pos, "", "%s.FunctionPayloadType must be TOKEN or REQUEST", where)
		}
	}
	add("type", strNode(typ))
	fn := e.val.get("FunctionArn")
	if fn == nil {
		s.errorf(e.keyPos, "e.g. FunctionArn: !GetAtt AuthFunction.Arn", "%s needs FunctionArn", where)
		return nil
	}
	if !s.authorizerFunction(fn, where, func(k string, v *node) {
		if k == "functionName" {
			k = "name"
		} else {
			k = "arn"
		}
		add(k, v)
	}) {
		return nil
	}
	ttl := 300
	var sources []string
	if id := e.val.get("Identity"); id != nil {
		if id.kind != kindMap {
			s.typeError(id, where+".Identity", "a map")
			return nil
		}
		for _, ie := range id.entries {
			switch ie.key {
			case "Header":
				if typ == "token" {
					h, _ := ie.val.scalarString()
					sources = append(sources, "method.request.header."+h)
				}
			case "ValidationExpression":
				add("identityValidationExpression", ie.val)
			case "ReauthorizeEvery":
				v, _ := ie.val.scalarString()
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 || n > 3600 {
					s.errorf(ie.val.pos, "", "%s.Identity.ReauthorizeEvery must be 0 to 3600 seconds", where)
					continue
				}
				ttl = n
			case "Headers", "QueryStrings":
				prefix := "method.request.header."
				if ie.key == "QueryStrings" {
					prefix = "method.request.querystring."
				}
				for _, it := range ie.val.items {
					if str, ok := it.scalarString(); ok {
						sources = append(sources, prefix+str)
					}
				}
			case "StageVariables", "Context":
				// Always present here: they only widen AWS's cache key.
			default:
				s.errorf(ie.keyPos, "", "unknown key %q in %s.Identity", ie.key, where)
			}
		}
	}
	if typ == "token" && len(sources) == 0 {
		sources = []string{"method.request.header.Authorization"}
	}
	if typ == "request" && len(sources) == 0 && ttl > 0 {
		s.errorf(e.keyPos, "name Identity.Headers or QueryStrings, or set Identity.ReauthorizeEvery: 0",
			"%s: a cached REQUEST authorizer needs an identity source to key its cache", where)
		return nil
	}
	add("resultTtlInSeconds", intNode(ttl))
	if len(sources) > 0 {
		list := seqNode()
		for _, src := range sources {
			list.items = append(list.items, strNode(src))
		}
		add("identitySource", list)
	}
	for _, k := range []string{"FunctionInvokeRole", "AuthorizationScopes", "DisableFunctionDefaultPermissions"} {
		if v := e.val.get(k); v != nil {
			s.warnf(v.pos, "", "%s.%s is not applied by nimbus", where, k)
		}
	}
	return out
}

// authorizerFunction reads FunctionArn: a function of the template (by
// !GetAtt Fn.Arn or !Ref Fn), or a literal ARN.
func (s *samLoader) authorizerFunction(fn *node, where string, add func(key string, v *node)) bool {
	id := ""
	if isIntrinsic(fn) {
		k, arg := fn.entries[0].key, fn.entries[0].val
		switch {
		case k == "Fn::GetAtt" && arg.kind == kindSeq && len(arg.items) == 2 && arg.items[0].kind == kindString:
			id = arg.items[0].str
		case k == "Fn::GetAtt" && arg.kind == kindString:
			id, _, _ = strings.Cut(arg.str, ".")
		case k == "Ref" && arg.kind == kindString:
			id = arg.str
		}
	}
	switch {
	case id != "" && s.functions[id]:
		add("functionName", &node{kind: kindString, str: id, pos: fn.pos, state: resolved})
		return true
	case fn.kind == kindString && strings.HasPrefix(fn.str, "arn:"):
		add("functionArn", fn)
		return true
	}
	s.errorf(fn.pos, "e.g. FunctionArn: !GetAtt AuthFunction.Arn", "%s.FunctionArn must name a function of the template or be a Lambda ARN", where)
	return false
}

// httpAuth reads an HTTP API's Auth; its authorizers join
// provider.httpApi.authorizers.
func (s *samLoader) httpAuth(api, where string, n *node) {
	if n.kind != kindMap {
		s.typeError(n, where, "a map (Authorizers, DefaultAuthorizer ...)")
		return
	}
	a := &samAuth{names: map[string]string{}}
	for _, e := range n.entries {
		switch e.key {
		case "Authorizers":
			if e.val.kind != kindMap {
				s.typeError(e.val, where+".Authorizers", "a map of authorizer names to authorizers")
				continue
			}
			for _, ae := range e.val.entries {
				an := s.httpAuthorizer(where+".Authorizers."+ae.key, ae)
				if an == nil {
					continue
				}
				name := ae.key
				if s.httpAuthorizers.get(name) != nil {
					// Two HTTP APIs name an authorizer alike: keep both.
					name = strings.TrimPrefix(api, samGlobalsAPI) + name
				}
				s.httpAuthorizers.entries = append(s.httpAuthorizers.entries, &entry{key: name, keyPos: ae.keyPos, val: an})
				a.names[ae.key] = name
			}
		case "DefaultAuthorizer":
			a.defaultAuth, _ = e.val.scalarString()
		case "EnableIamAuthorizer":
			if e.val.kind == kindBool && e.val.boolean {
				s.warnf(e.keyPos, "", "%s.EnableIamAuthorizer: AWS_IAM authorization of API routes is not supported by nimbus", where)
			}
		default:
			s.errorf(e.keyPos, "", "unknown key %q in %s", e.key, where)
		}
	}
	if a.defaultAuth != "" && a.defaultAuth != "NONE" && a.names[a.defaultAuth] == "" {
		s.errorf(n.get("DefaultAuthorizer").pos, "", "%s.DefaultAuthorizer %q is not one of its Authorizers", where, a.defaultAuth)
	}
	s.httpAuths[api] = a
}

// httpAuthorizer is an HTTP API authorizer in provider.httpApi.authorizers'
// form: JWT (JwtConfiguration) or Lambda REQUEST (FunctionArn).
func (s *samLoader) httpAuthorizer(where string, e *entry) *node {
	if e.val.kind != kindMap {
		s.typeError(e.val, where, "a map with JwtConfiguration or FunctionArn")
		return nil
	}
	out := mapNode(e.keyPos)
	add := func(k string, v *node) { out.entries = append(out.entries, &entry{key: k, keyPos: v.pos, val: v}) }
	if jc := e.val.get("JwtConfiguration"); jc != nil {
		add("type", strNode("jwt"))
		for _, je := range jc.entries {
			switch strings.ToLower(je.key) {
			case "issuer":
				add("issuerUrl", je.val)
			case "audience":
				add("audience", je.val)
			default:
				s.errorf(je.keyPos, "", "unknown key %q in %s.JwtConfiguration", je.key, where)
			}
		}
		if src := e.val.get("IdentitySource"); src != nil {
			add("identitySource", src)
		}
		for _, ae := range e.val.entries {
			switch ae.key {
			case "JwtConfiguration", "IdentitySource":
			case "AuthorizationScopes":
				s.warnf(ae.keyPos, "list the scopes on each route's Auth.AuthorizationScopes", "%s.AuthorizationScopes are checked per route by nimbus", where)
			default:
				s.errorf(ae.keyPos, "", "%s: a JWT authorizer has no property %s", where, ae.key)
			}
		}
		return out
	}
	fn := e.val.get("FunctionArn")
	if fn == nil {
		s.errorf(e.keyPos, "", "%s needs JwtConfiguration (a JWT authorizer) or FunctionArn (a Lambda authorizer)", where)
		return nil
	}
	add("type", strNode("request"))
	if !s.authorizerFunction(fn, where, add) {
		return nil
	}
	version := ""
	if v := e.val.get("AuthorizerPayloadFormatVersion"); v != nil {
		version, _ = v.scalarString()
		if version == "2" || version == "1" {
			version += ".0"
		}
	}
	if version != "1.0" && version != "2.0" {
		s.errorf(e.keyPos, "set AuthorizerPayloadFormatVersion: 2.0 (or 1.0)", "%s: a Lambda authorizer of an HTTP API needs AuthorizerPayloadFormatVersion 1.0 or 2.0", where)
		return nil
	}
	add("payloadVersion", strNode(version))
	if v := e.val.get("EnableSimpleResponses"); v != nil {
		add("enableSimpleResponses", v)
	}
	var sources []string
	ttl := 0
	if id := e.val.get("Identity"); id != nil {
		for _, ie := range id.entries {
			switch ie.key {
			case "Headers", "QueryStrings":
				prefix := "$request.header."
				if ie.key == "QueryStrings" {
					prefix = "$request.querystring."
				}
				for _, it := range ie.val.items {
					if str, ok := it.scalarString(); ok {
						sources = append(sources, prefix+str)
					}
				}
			case "ReauthorizeEvery":
				v, _ := ie.val.scalarString()
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 || n > 3600 {
					s.errorf(ie.val.pos, "", "%s.Identity.ReauthorizeEvery must be 0 to 3600 seconds", where)
					continue
				}
				ttl = n
			case "StageVariables", "Context":
			default:
				s.errorf(ie.keyPos, "", "unknown key %q in %s.Identity", ie.key, where)
			}
		}
	}
	if ttl > 0 {
		add("resultTtlInSeconds", intNode(ttl))
	}
	if len(sources) > 0 {
		list := seqNode()
		for _, src := range sources {
			list.items = append(list.items, strNode(src))
		}
		add("identitySource", list)
	}
	for _, ae := range e.val.entries {
		if !slices.Contains([]string{"FunctionArn", "AuthorizerPayloadFormatVersion", "EnableSimpleResponses", "Identity"}, ae.key) {
			s.warnf(ae.keyPos, "", "%s.%s is not applied by nimbus", where, ae.key)
		}
	}
	return out
}

// apiID is the logical id an event's RestApiId / ApiId names ("" for the
// implicit API).
func (s *samLoader) apiID(f map[string]*entry, key string) string {
	v := val(f, key)
	if v == nil {
		return ""
	}
	if isIntrinsic(v) && v.entries[0].key == "Ref" && v.entries[0].val.kind == kindString {
		return v.entries[0].val.str
	}
	if v.kind == kindString {
		return v.str
	}
	return ""
}

// eventAuth is the authorizer an Api or HttpApi event is served with: its
// own Auth.Authorizer, else its API's DefaultAuthorizer. It returns nil for
// an unprotected route.
func (s *samLoader) eventAuth(rest bool, api, what string, f map[string]*entry) *node {
	auths := s.httpAuths
	if rest {
		auths = s.restAuths
	}
	a := auths[api]
	if a == nil {
		a = auths[samGlobalsAPI]
	}
	name, at := "", position{}
	var scopes *node
	if a != nil {
		name = a.defaultAuth
	}
	if ev := val(f, "Auth"); ev != nil {
		if ev.kind != kindMap {
			s.typeError(ev, what+".Auth", "a map (Authorizer ...)")
			return nil
		}
		for _, e := range ev.entries {
			switch e.key {
			case "Authorizer":
				name, _ = e.val.scalarString()
				at = e.val.pos
			case "AuthorizationScopes":
				scopes = e.val
			case "ApiKeyRequired":
				if e.val.kind == kindBool && e.val.boolean {
					s.warnf(e.keyPos, "check the key in an authorizer", "%s.Auth.ApiKeyRequired: API keys of SAM APIs are not checked by nimbus", what)
				}
			case "InvokeRole", "ResourcePolicy", "OverrideApiAuth":
				s.warnf(e.keyPos, "", "%s.Auth.%s is not applied by nimbus", what, e.key)
			default:
				s.errorf(e.keyPos, "", "unknown key %q in %s.Auth", e.key, what)
			}
		}
	}
	switch name {
	case "", "NONE":
		return nil
	case "AWS_IAM":
		s.errorf(at, "use a Lambda authorizer", "%s: AWS_IAM authorization of API routes is not supported by nimbus", what)
		return nil
	}
	if a == nil || (rest && a.authorizers[name] == nil) || (!rest && a.names[name] == "") {
		s.errorf(at, "declare it under the API's Auth.Authorizers", "%s: authorizer %q is not declared by its API", what, name)
		return nil
	}
	if rest {
		return a.authorizers[name].clone()
	}
	ref := mapNode(at, "name", strNode(a.names[name]))
	if scopes != nil {
		ref.entries = append(ref.entries, &entry{key: "scopes", keyPos: scopes.pos, val: scopes})
	}
	return ref
}
