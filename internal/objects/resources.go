package objects

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/cfn"
	"github.com/nimbus-platform/nimbus/internal/functions"
)

// prefixOwner keys record which service's deploy created a bucket.
const prefixOwner = 'M'

func ownerKey(bucket string) []byte { return append([]byte{prefixOwner}, bucket...) }

// DeclaredBucket is a bucket an application declares (resources, provider.s3
// or a function's s3 event) or uses (an s3 event with existing: true).
type DeclaredBucket struct {
	Name   string
	Where  string // where the manifest declares it, for errors
	Create bool   // the service creates and owns it; false: it must exist
	Retain bool   // DeletionPolicy Retain: it outlives the service
	// Targets are the service's notification configurations on it.
	Targets     []NotificationTarget
	EventBridge bool
	Lifecycle   []LifecycleRule
	// Website and CORS settings travel as written to the part that serves
	// them (WebsiteConfiguration, CorsConfiguration).
	Website json.RawMessage `json:",omitempty"`
	CORS    json.RawMessage `json:",omitempty"`
	// ACL is the canned ACL of AccessControl, Ownership the object
	// ownership of OwnershipControls; "" when the template says none.
	ACL       string `json:",omitempty"`
	Ownership string `json:",omitempty"`
}

// targetPrefix starts the ids of the configurations a service's deploy
// sets, so a redeploy replaces its own and leaves the others.
func targetPrefix(service string) string { return "nimbus:" + service + ":" }

type cfnFilter struct {
	S3Key struct {
		Rules []struct{ Name, Value string }
	}
}

type cfnNotification struct {
	Event    string
	Function string
	Queue    string
	Topic    string
	Filter   *cfnFilter
}

type bucketProps struct {
	NotificationConfiguration *struct {
		LambdaConfigurations     []cfnNotification
		QueueConfigurations      []cfnNotification
		TopicConfigurations      []cfnNotification
		EventBridgeConfiguration *struct{ EventBridgeEnabled any }
	}
	LifecycleConfiguration *struct {
		Rules []lifecycleProp
	}
	WebsiteConfiguration json.RawMessage
	CorsConfiguration    json.RawMessage
	AccessControl        string
	OwnershipControls    *struct {
		Rules []struct{ ObjectOwnership string }
	}
}

type lifecycleProp struct {
	ID               string `json:"Id"`
	Status           string
	Prefix           string
	ExpirationInDays any
	Filter           *struct{ Prefix string }
}

// DeclaredBuckets returns the buckets an application declares or uses, by
// name, with the service's notification configurations on each.
func DeclaredBuckets(app *appspec.Application) ([]DeclaredBucket, error) {
	byName := map[string]*DeclaredBucket{}
	var order []string
	get := func(name, where string) *DeclaredBucket {
		b := byName[name]
		if b == nil {
			b = &DeclaredBucket{Name: name, Where: where}
			byName[name] = b
			order = append(order, name)
		}
		return b
	}
	prefix := targetPrefix(app.Service)

	// provider.s3: keys to {name, ...}; the name defaults to the key.
	providerNames := map[string]string{}
	if len(app.Buckets) > 0 && string(app.Buckets) != "null" {
		var ps map[string]json.RawMessage
		if err := json.Unmarshal(app.Buckets, &ps); err != nil {
			return nil, fmt.Errorf("provider.s3 must be a map of bucket keys to settings: %w", err)
		}
		keys := make([]string, 0, len(ps))
		for k := range ps {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			var p struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(ps[k], &p)
			name := p.Name
			if name == "" {
				name = k
			}
			providerNames[k] = name
			get(name, "provider.s3."+k).Create = true
		}
	}

	// resources: AWS::S3::Bucket.
	if len(app.Resources) > 0 && string(app.Resources) != "null" {
		var top struct {
			Resources map[string]struct {
				Type           string
				DeletionPolicy string
				Properties     json.RawMessage
			}
		}
		if err := json.Unmarshal(app.Resources, &top); err != nil {
			return nil, fmt.Errorf("resources: %w", err)
		}
		stack, err := cfn.NewStack(app, "")
		if err != nil {
			return nil, err
		}
		ids := make([]string, 0, len(top.Resources))
		for id, r := range top.Resources {
			if r.Type == cfn.TypeBucket {
				ids = append(ids, id)
			}
		}
		sort.Strings(ids)
		for _, id := range ids {
			r := top.Resources[id]
			where := "resources.Resources." + id
			name, err := stack.BucketName(id)
			if err != nil {
				return nil, fmt.Errorf("%s.BucketName: %w", where, err)
			}
			if other := byName[name]; other != nil && other.Create {
				return nil, fmt.Errorf("%s: %s declares bucket %s too", where, other.Where, name)
			}
			b := get(name, where)
			b.Create, b.Where = true, where
			b.Retain = r.DeletionPolicy == "Retain" || r.DeletionPolicy == "RetainExceptOnCreate"
			var p bucketProps
			if len(r.Properties) > 0 {
				if err := json.Unmarshal(r.Properties, &p); err != nil {
					return nil, fmt.Errorf("%s: %w", where, err)
				}
			}
			b.Website, b.CORS = p.WebsiteConfiguration, p.CorsConfiguration
			if err := checkWebProperties(b.Website, b.CORS, where); err != nil {
				return nil, err
			}
			if p.AccessControl != "" {
				acl, ok := CannedACLFromCloudFormation(p.AccessControl)
				if !ok {
					return nil, fmt.Errorf("%s.AccessControl: %q is not one of Private, PublicRead, PublicReadWrite, AuthenticatedRead, LogDeliveryWrite, BucketOwnerRead, BucketOwnerFullControl, AwsExecRead", where, p.AccessControl)
				}
				b.ACL = acl
			}
			if oc := p.OwnershipControls; oc != nil {
				if len(oc.Rules) != 1 || !ValidOwnership(oc.Rules[0].ObjectOwnership) {
					return nil, fmt.Errorf("%s.OwnershipControls: one rule with ObjectOwnership BucketOwnerEnforced, BucketOwnerPreferred or ObjectWriter", where)
				}
				b.Ownership = oc.Rules[0].ObjectOwnership
			}
			if b.Ownership == OwnershipBucketOwnerEnforced && b.ACL != "" && b.ACL != "private" && b.ACL != "bucket-owner-full-control" {
				return nil, fmt.Errorf("%s: AccessControl %s cannot be set with OwnershipControls BucketOwnerEnforced (ACLs are disabled)", where, p.AccessControl)
			}
			if nc := p.NotificationConfiguration; nc != nil {
				add := func(kind TargetKind, list []cfnNotification, what string) error {
					for i, c := range list {
						t := NotificationTarget{Kind: kind, ID: fmt.Sprintf("%s%s.%s.%d", prefix, id, what, i), Events: []string{c.Event}}
						switch kind {
						case TargetFunction:
							t.ARN = c.Function
						case TargetQueue:
							t.ARN = c.Queue
						case TargetTopic:
							t.ARN = c.Topic
						}
						if t.ARN == "" {
							return fmt.Errorf("%s.NotificationConfiguration.%s[%d]: the destination is missing", where, what, i)
						}
						if c.Filter != nil {
							for _, rule := range c.Filter.S3Key.Rules {
								switch strings.ToLower(rule.Name) {
								case "prefix":
									t.Prefix = rule.Value
								case "suffix":
									t.Suffix = rule.Value
								default:
									return fmt.Errorf("%s.NotificationConfiguration.%s[%d].Filter: rule name %q must be prefix or suffix", where, what, i, rule.Name)
								}
							}
						}
						b.Targets = append(b.Targets, t)
					}
					return nil
				}
				if err := add(TargetFunction, nc.LambdaConfigurations, "LambdaConfigurations"); err != nil {
					return nil, err
				}
				if err := add(TargetQueue, nc.QueueConfigurations, "QueueConfigurations"); err != nil {
					return nil, err
				}
				if err := add(TargetTopic, nc.TopicConfigurations, "TopicConfigurations"); err != nil {
					return nil, err
				}
				if eb := nc.EventBridgeConfiguration; eb != nil {
					b.EventBridge = eb.EventBridgeEnabled == nil || eb.EventBridgeEnabled == true || eb.EventBridgeEnabled == "true"
				}
			}
			if lc := p.LifecycleConfiguration; lc != nil {
				rules, err := lifecycleRules(lc.Rules, where+".LifecycleConfiguration")
				if err != nil {
					return nil, err
				}
				b.Lifecycle = rules
			}
		}
	}

	// Function events: - s3: bucket, or {bucket, event, rules, existing}.
	for _, f := range app.Functions {
		for i, ev := range f.Events {
			if ev.Type != "s3" {
				continue
			}
			where := fmt.Sprintf("function %q event #%d (s3)", f.Key, i+1)
			var e struct {
				Bucket   string
				Event    string
				Rules    []map[string]string
				Existing any
			}
			if err := json.Unmarshal(ev.Properties, &e.Bucket); err != nil {
				if err := json.Unmarshal(ev.Properties, &e); err != nil {
					return nil, fmt.Errorf("%s: %w", where, err)
				}
			}
			if e.Bucket == "" {
				return nil, fmt.Errorf("%s: bucket is required", where)
			}
			name := e.Bucket
			if n, ok := providerNames[name]; ok {
				name = n
			}
			existing := e.Existing == true || e.Existing == "true"
			b := get(name, where)
			if !existing {
				b.Create = true
			}
			if e.Event == "" {
				e.Event = "s3:ObjectCreated:*"
			}
			t := NotificationTarget{Kind: TargetFunction, ID: fmt.Sprintf("%s%s.%d", prefix, f.Key, i+1),
				ARN: cfn.FunctionARN(app.Region, appspec.AccountID, f.Name), Events: []string{e.Event}}
			for _, r := range e.Rules {
				for k, v := range r {
					switch k {
					case "prefix":
						t.Prefix = v
					case "suffix":
						t.Suffix = v
					default:
						return nil, fmt.Errorf("%s: rule %q must be prefix or suffix", where, k)
					}
				}
			}
			b.Targets = append(b.Targets, t)
		}
	}

	out := make([]DeclaredBucket, 0, len(order))
	for _, name := range order {
		b := byName[name]
		if !ValidBucketName(name) {
			return nil, fmt.Errorf("%s: %q is not a valid bucket name (3 to 63 lower-case letters, digits, dots and hyphens)", b.Where, name)
		}
		c := NotificationConfiguration{Targets: b.Targets}
		if err := CheckNotifications(&c); err != nil {
			return nil, fmt.Errorf("%s: bucket %s: %w", b.Where, name, err)
		}
		out = append(out, *b)
	}
	return out, nil
}

// bucketOwner returns the service whose deploy created a bucket ("" for a
// bucket created through the API).
func (s *Store) bucketOwner(bucket string) (string, error) {
	v, closer, err := s.db.Get(ownerKey(bucket))
	if errors.Is(err, pebble.ErrNotFound) {
		return "", nil
	} else if err != nil {
		return "", err
	}
	defer closer.Close()
	return string(v), nil
}

// Deployed returns the application a service runs now, if any.
type Deployed func(service string) (*appspec.Application, bool)

// DeployHook returns the functions.PrepareHook that creates the buckets an
// application declares and sets its notification configurations and
// lifecycle rules on them (beside the configurations others set). Every
// bucket is checked before any changes. Buckets a redeploy no longer
// declares are deleted when empty and not retained.
func (s *Store) DeployHook(deployed Deployed) functions.PrepareHook {
	return func(ctx context.Context, app *appspec.Application) error {
		declared, err := DeclaredBuckets(app)
		if err != nil {
			return &functions.InvalidError{Err: err}
		}
		var before []DeclaredBucket
		if prev, ok := deployed(app.Service); ok {
			before, _ = DeclaredBuckets(prev)
		}
		webBefore := map[string]bool{} // buckets whose web settings the last deploy set
		aclBefore := map[string]bool{} // buckets whose ACL or ownership the last deploy set
		for _, d := range before {
			if d.Create && (!isNull(d.Website) || !isNull(d.CORS)) {
				webBefore[d.Name] = true
			}
			if d.Create && (d.ACL != "" || d.Ownership != "") {
				aclBefore[d.Name] = true
			}
		}
		keep := map[string]bool{}
		for _, d := range declared {
			keep[d.Name] = true
			_, err := s.bucket(d.Name)
			exists := err == nil
			if err != nil && !IsKind(err, KindNoSuchBucket) {
				return err
			}
			owner, err := s.bucketOwner(d.Name)
			if err != nil {
				return err
			}
			switch {
			case d.Create && exists && owner != app.Service:
				by := "through the S3 API"
				if owner != "" {
					by = "by service " + owner
				}
				return &functions.InvalidError{Err: fmt.Errorf("%s: bucket %s already exists (created %s); choose another name, or use it with `existing: true`", d.Where, d.Name, by)}
			case !d.Create && !exists:
				return &functions.InvalidError{Err: fmt.Errorf("%s: bucket %s does not exist; `existing: true` uses a bucket made elsewhere (create it first, or drop `existing` to have the service create it)", d.Where, d.Name)}
			}
		}
		// Check the merged configurations (against other services' too) first.
		plans := map[string]NotificationConfiguration{}
		for _, d := range declared {
			c, err := s.mergedNotifications(app, d.Name, &d)
			if err != nil {
				return &functions.InvalidError{Err: err}
			}
			plans[d.Name] = c
		}
		for _, d := range declared {
			if d.Create {
				if _, err := s.bucket(d.Name); err != nil {
					// Owner first: a crash between the two leaves a record
					// without a bucket, which the next deploy completes.
					if err := s.db.Set(ownerKey(d.Name), []byte(app.Service), pebble.Sync); err != nil {
						return fmt.Errorf("create bucket %s: %w", d.Name, err)
					}
					if _, err := s.CreateBucket(ctx, d.Name); err != nil && !IsKind(err, KindBucketExists) {
						return fmt.Errorf("create bucket %s: %w", d.Name, err)
					}
				}
			}
			if err := s.applyNotifications(ctx, d.Name, plans[d.Name]); err != nil {
				return err
			}
			if d.Create {
				if err := s.setLifecycle(d.Name, d.Lifecycle); err != nil {
					return err
				}
				// Website and CORS as the template says, whatever the
				// bucket's name; left alone when it never said (they may
				// have been set through the API), cleared when it no
				// longer does, as CloudFormation does.
				if webBefore[d.Name] || !isNull(d.Website) || !isNull(d.CORS) {
					if err := s.ApplyWebProperties(ctx, d.Name, d.Website, d.CORS); err != nil {
						return err
					}
				}
				// AccessControl and OwnershipControls the same way: a
				// template that stops naming them makes the bucket private
				// and its ownership the default again.
				if aclBefore[d.Name] || d.ACL != "" || d.Ownership != "" {
					if err := s.updateBucket(d.Name, func(b *Bucket) {
						b.ACL, b.Ownership = d.ACL, d.Ownership
						if b.ACL == "private" {
							b.ACL = ""
						}
					}); err != nil {
						return fmt.Errorf("bucket %s: AccessControl: %w", d.Name, err)
					}
				}
			}
		}
		for _, d := range before {
			if keep[d.Name] {
				continue
			}
			if err := s.releaseBucket(ctx, app, d); err != nil {
				s.log.Warn("bucket no longer declared is kept", "bucket", d.Name, "reason", err)
			}
		}
		return nil
	}
}

// mergedNotifications is a bucket's configuration with the service's own
// configurations replaced by d's (nil: removed).
func (s *Store) mergedNotifications(app *appspec.Application, bucket string, d *DeclaredBucket) (NotificationConfiguration, error) {
	cur, err := s.notificationConfig(bucket)
	if err != nil {
		return cur, err
	}
	prefix := targetPrefix(app.Service)
	next := NotificationConfiguration{EventBridge: cur.EventBridge, Region: cur.Region}
	for _, t := range cur.Targets {
		if !strings.HasPrefix(t.ID, prefix) {
			next.Targets = append(next.Targets, t)
		}
	}
	owner, err := s.bucketOwner(bucket)
	if err != nil {
		return cur, err
	}
	if d != nil {
		next.Targets = append(next.Targets, d.Targets...)
		if d.Create || owner == app.Service {
			next.EventBridge, next.Region = d.EventBridge, app.Region
		}
	}
	if err := CheckNotifications(&next); err != nil {
		where := "bucket " + bucket
		if d != nil {
			where = d.Where + ": " + where
		}
		return next, fmt.Errorf("%s: %w (with the configurations already on the bucket)", where, err)
	}
	return next, nil
}

// applyNotifications stores a configuration that changed; destinations the
// deploy itself creates are not checked (its functions exist only after it).
func (s *Store) applyNotifications(ctx context.Context, bucket string, c NotificationConfiguration) error {
	cur, err := s.notificationConfig(bucket)
	if err != nil {
		return err
	}
	if reflect.DeepEqual(normalTargets(cur.Targets), normalTargets(c.Targets)) && cur.EventBridge == c.EventBridge && cur.Region == c.Region {
		return nil
	}
	return s.putNotification(ctx, bucket, c)
}

func normalTargets(ts []NotificationTarget) []NotificationTarget {
	if len(ts) == 0 {
		return nil
	}
	return ts
}

// releaseBucket takes a service's configurations off a bucket it no longer
// declares and deletes the bucket if the service created it, it is not
// retained, and it is empty. CloudFormation cannot delete a non-empty
// bucket either; nimbus keeps it (with its objects) and says so.
func (s *Store) releaseBucket(ctx context.Context, app *appspec.Application, d DeclaredBucket) error {
	if _, err := s.bucket(d.Name); err != nil {
		return nil
	}
	c, err := s.mergedNotifications(app, d.Name, nil)
	if err != nil {
		return err
	}
	owner, err := s.bucketOwner(d.Name)
	if err != nil {
		return err
	}
	if owner == app.Service {
		c.EventBridge = false
	}
	if err := s.applyNotifications(ctx, d.Name, c); err != nil {
		return err
	}
	if owner != app.Service || d.Retain {
		return nil
	}
	if err := s.DeleteBucket(ctx, d.Name); err != nil {
		if IsKind(err, KindBucketNotEmpty) {
			return fmt.Errorf("bucket %s is not empty, so it is kept with its objects (CloudFormation does not delete a non-empty bucket either); empty it and delete it with the S3 API", d.Name)
		}
		return err
	}
	return nil
}

// RemoveService releases the buckets of a removed service: its
// configurations go, and the buckets it created are deleted unless retained
// or not empty (the error names those; the removal has happened).
func (s *Store) RemoveService(ctx context.Context, app *appspec.Application) error {
	declared, err := DeclaredBuckets(app)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range declared {
		if err := s.releaseBucket(ctx, app, d); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// BucketInventory lists the buckets an application declares, for deploy
// summaries (a functions.Inventory).
func BucketInventory(app *appspec.Application) []functions.Item {
	declared, err := DeclaredBuckets(app)
	if err != nil {
		return nil
	}
	var out []functions.Item
	for _, d := range declared {
		if !d.Create {
			continue
		}
		digest, _ := json.Marshal(d)
		out = append(out, functions.Item{Kind: "bucket", Name: d.Name, Digest: string(digest), Retained: d.Retain})
	}
	return out
}

// checkWebProperties checks a bucket resource's WebsiteConfiguration and
// CorsConfiguration, so a deploy refuses them before it changes anything.
func checkWebProperties(website, cors json.RawMessage, where string) error {
	if !isNull(website) {
		var w Website
		if err := json.Unmarshal(website, &w); err != nil {
			return fmt.Errorf("%s.WebsiteConfiguration: %w", where, err)
		}
		if err := ValidateWebsite(&w); err != nil {
			return fmt.Errorf("%s.WebsiteConfiguration: %w", where, err)
		}
	}
	if !isNull(cors) {
		var c struct{ CorsRules []CORSRule }
		if err := json.Unmarshal(cors, &c); err != nil {
			return fmt.Errorf("%s.CorsConfiguration: %w", where, err)
		}
		if err := ValidateCORS(c.CorsRules); err != nil {
			return fmt.Errorf("%s.CorsConfiguration: %w", where, err)
		}
	}
	return nil
}

// lifecycleRules reads CloudFormation's lifecycle rules; nimbus applies
// expiration by age (ExpirationInDays) under a prefix.
func lifecycleRules(in []lifecycleProp, where string) ([]LifecycleRule, error) {
	var out []LifecycleRule
	for i, r := range in {
		w := fmt.Sprintf("%s.Rules[%d]", where, i)
		if r.Status != "Enabled" && r.Status != "Disabled" {
			return nil, fmt.Errorf("%s.Status must be Enabled or Disabled", w)
		}
		days, err := wholeNumber(r.ExpirationInDays)
		if err != nil {
			return nil, fmt.Errorf("%s.ExpirationInDays: %w", w, err)
		}
		if r.Status != "Enabled" || days == 0 {
			continue
		}
		if days < 1 {
			return nil, fmt.Errorf("%s.ExpirationInDays must be a positive number of days", w)
		}
		prefix := r.Prefix
		if r.Filter != nil && r.Filter.Prefix != "" {
			prefix = r.Filter.Prefix
		}
		out = append(out, LifecycleRule{ID: r.ID, Prefix: prefix, Days: days})
	}
	return out, nil
}

func wholeNumber(v any) (int, error) {
	switch n := v.(type) {
	case nil:
		return 0, nil
	case float64:
		if n == float64(int(n)) {
			return int(n), nil
		}
	case string:
		var i int
		if _, err := fmt.Sscanf(n, "%d", &i); err == nil && fmt.Sprint(i) == n {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%v is not a whole number", v)
}
