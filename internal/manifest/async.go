package manifest

import (
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/cfn"
)

// asyncSettings reads a function's asynchronous invocation settings:
// maximumRetryAttempts, maximumEventAge, destinations and onError.
func (d *decoder) asyncSettings(f map[string]*entry, where string, fn *appspec.Function) {
	if r := d.placedInt(val(f, "maximumRetryAttempts"), where+" maximumRetryAttempts"); r.set {
		v := r.value
		fn.MaximumRetryAttempts = &v
		if v < 0 || v > appspec.MaxRetryAttempts {
			d.errorf(r.pos, "Lambda retries an asynchronous event at most twice", "%s: maximumRetryAttempts %d must be between 0 and %d", where, v, appspec.MaxRetryAttempts)
		}
	}
	if a := d.placedInt(val(f, "maximumEventAge"), where+" maximumEventAge"); a.set {
		v := a.value
		fn.MaximumEventAge = &v
		if v < appspec.MinEventAgeSeconds || v > appspec.MaxEventAgeSeconds {
			d.errorf(a.pos, "", "%s: maximumEventAge %d must be between %d and %d seconds", where, v, appspec.MinEventAgeSeconds, appspec.MaxEventAgeSeconds)
		}
	}
	if n := val(f, "onError"); n != nil {
		if arn, ok := d.target(n, where+" onError"); ok {
			fn.OnError = arn
			if !appspec.ValidDeadLetterTarget(arn) {
				d.errorf(n.pos, "give the ARN of an SQS queue or SNS topic", "%s: onError %q is not an SQS queue or SNS topic ARN", where, arn)
			}
		}
	}
	if n := val(f, "destinations"); n != nil {
		dest := d.fields(n, where+" destinations", []string{"onSuccess", "onFailure"})
		for key, into := range map[string]*string{"onSuccess": &fn.Destinations.OnSuccess, "onFailure": &fn.Destinations.OnFailure} {
			v := val(dest, key)
			if v == nil {
				continue
			}
			what := where + " destinations." + key
			if v.kind == kindMap && !isIntrinsic(v) {
				// The object form: {type: sqs|sns|function|eventBus, arn: ...}.
				obj := d.fields(v, what, []string{"type", "arn"})
				v = val(obj, "arn")
				if v == nil {
					d.errorf(dest[key].keyPos, "", "%s has no arn", what)
					continue
				}
			}
			arn, ok := d.target(v, what)
			if !ok {
				continue
			}
			if !appspec.ValidDestination(arn) {
				d.errorf(v.pos, "give a function name or the ARN of a queue, topic, function or event bus", "%s: %q is not a valid destination", what, arn)
				continue
			}
			*into = arn
		}
	}
}

// target reads a string or a CloudFormation reference to a queue or topic
// declared in resources.
func (d *decoder) target(n *node, what string) (string, bool) {
	if n.kind == kindMap {
		stack, err := cfn.NewStack(d.app, "")
		if err != nil {
			d.errorf(n.pos, "", "%s: %v", what, err)
			return "", false
		}
		arn, err := stack.String(n.toJSON())
		if err != nil {
			d.errorf(n.pos, "", "%s: %v", what, err)
			return "", false
		}
		return arn, true
	}
	return d.str(n, what)
}

// isIntrinsic reports whether n is a CloudFormation intrinsic function
// ({Ref: ...}, {Fn::GetAtt: ...} ...).
func isIntrinsic(n *node) bool {
	return n != nil && n.kind == kindMap && len(n.entries) == 1 &&
		(n.entries[0].key == "Ref" || strings.HasPrefix(n.entries[0].key, "Fn::"))
}
