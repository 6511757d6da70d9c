package manifest

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Parameter is a parameter as ${ssm:} reads it from the platform.
type Parameter struct {
	Type  string // String, StringList or SecureString
	Value string
}

// ErrParameterNotFound is what Options.Parameters answers for a parameter
// that does not exist, so a fallback can take its place.
var ErrParameterNotFound = errors.New("parameter not found")

// ParameterSource reads a parameter (decrypted when decrypt is set).
type ParameterSource func(name string, decrypt bool) (Parameter, error)

var regionShape = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)

// ssmSource resolves ${ssm:NAME} (and ${ssm(region|raw|noDecrypt):NAME})
// against the platform's parameters, as Serverless v3 resolves it against
// SSM: SecureStrings decrypted, StringLists as arrays.
func (r *resolver) ssmSource(owner *node, src varSource, name string) (*node, error) {
	decrypt, raw := true, false
	for _, seg := range src.params {
		p, err := r.evalString(owner, seg)
		if err != nil {
			return nil, err
		}
		switch {
		case p == "noDecrypt":
			decrypt = false
		case p == "raw":
			raw = true
		case regionShape.MatchString(p):
			if p != r.currentRegion() && !r.ssmRegionNoted {
				r.ssmRegionNoted = true
				r.diags.warnf(owner.pos, "", "${ssm(%s):...}: nimbus keeps one set of parameters for the platform, not one per region; %s is read from it like any other", p, name)
			}
		default:
			return nil, fmt.Errorf("${ssm(%s):...}: unknown option %q (nimbus knows a region, raw and noDecrypt)", p, p)
		}
	}
	if before, ok := strings.CutSuffix(name, "~true"); ok {
		return nil, &varError{offset: -1, err: fmt.Errorf("the ~true suffix of ${ssm:%s} is Serverless v1/v2 syntax, which nimbus does not support", name),
			hint: fmt.Sprintf("SecureStrings are decrypted by default, as in Serverless v3: write ${ssm:%s}", before)}
	}
	if strings.HasSuffix(name, "~split") {
		return nil, &varError{offset: -1, err: fmt.Errorf("the ~split suffix of ${ssm:%s} is Serverless v1/v2 syntax, which nimbus does not support", name),
			hint: "StringList parameters become arrays by default, as in Serverless v3"}
	}
	if strings.HasPrefix(name, "/aws/reference/secretsmanager/") {
		return nil, &varError{offset: -1, err: fmt.Errorf("${ssm:%s} reads Secrets Manager, which nimbus does not have", name),
			hint: "keep the secret as a SecureString parameter (nimbus params set NAME VALUE --secure) and refer to it as ${ssm:NAME}"}
	}
	if name == "" {
		return nil, errors.New("${ssm:} needs a parameter name, as in ${ssm:/app/db/url}")
	}
	if r.opts.Parameters == nil {
		return nil, fmt.Errorf("${ssm:%s} reads the platform's parameters, and this command does not reach a platform", name)
	}
	key := fmt.Sprintf("%t\x00%s", decrypt, name)
	p, ok := r.ssmCache[key]
	if !ok {
		var err error
		p, err = r.opts.Parameters(name, decrypt)
		if errors.Is(err, ErrParameterNotFound) {
			return nil, fmt.Errorf("parameter %s does not exist on the platform (set it with: nimbus params set %s VALUE): %w", name, name, errNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("read parameter %s: %w", name, err)
		}
		if r.ssmCache == nil {
			r.ssmCache = map[string]Parameter{}
		}
		r.ssmCache[key] = p
	}
	if p.Type == "StringList" && !raw {
		n := &node{kind: kindSeq}
		for _, item := range strings.Split(p.Value, ",") {
			n.items = append(n.items, &node{kind: kindString, str: item, state: resolved})
		}
		return n, nil
	}
	return &node{kind: kindString, str: p.Value}, nil
}
