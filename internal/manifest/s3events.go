package manifest

import (
	"github.com/nimbus-platform/nimbus/internal/objects"
)

// s3EventKeys are the keys of a function's `- s3:` event (Serverless v3).
var s3EventKeys = []string{"bucket", "event", "rules", "existing", "forceDeploy"}

// checkS3Event checks an `- s3: bucket` or `- s3: {bucket, event, rules,
// existing}` event with positions; internal/objects applies it.
func (d *decoder) checkS3Event(n *node, where string) {
	switch n.kind {
	case kindString:
		d.checkBucketName(n, where)
		return
	case kindMap:
	default:
		if !n.failed {
			d.errorf(n.pos, "e.g. `- s3: {bucket: uploads, event: s3:ObjectCreated:*}`", "%s: an s3 event is a bucket name or a map, not %s", where, n.describe())
		}
		return
	}
	f := d.fields(n, where, s3EventKeys)
	b := val(f, "bucket")
	if b == nil {
		d.errorf(n.pos, "e.g. `- s3: {bucket: uploads, event: s3:ObjectCreated:*}`", "%s: bucket is required", where)
	} else if b.kind != kindString {
		d.typeError(b, where+" bucket", "a bucket name")
	} else {
		d.checkBucketName(b, where+" bucket")
	}
	if ev := val(f, "event"); ev != nil {
		if s, ok := d.str(ev, where+" event"); ok && !objects.ValidNotificationEvent(s) {
			d.errorf(ev.pos, "e.g. s3:ObjectCreated:* or s3:ObjectRemoved:Delete", "%s: %q is not an S3 event type", where, s)
		}
	}
	if rules := val(f, "rules"); rules != nil {
		if rules.kind != kindSeq {
			d.typeError(rules, where+" rules", "a list of {prefix: ...} and {suffix: ...}")
		} else {
			seen := map[string]bool{}
			for _, r := range rules.items {
				if r.kind != kindMap || len(r.entries) != 1 || (r.entries[0].key != "prefix" && r.entries[0].key != "suffix") {
					d.errorf(r.pos, "e.g. `rules: [{prefix: uploads/}, {suffix: .jpg}]`", "%s rules: each rule is {prefix: ...} or {suffix: ...}", where)
					continue
				}
				k := r.entries[0].key
				if seen[k] {
					d.errorf(r.pos, "", "%s rules: more than one %s rule (S3 allows one)", where, k)
				}
				seen[k] = true
				d.str(r.entries[0].val, where+" rules "+k)
			}
		}
	}
	for _, k := range []string{"existing", "forceDeploy"} {
		if v := val(f, k); v != nil {
			d.boolean(v, where+" "+k)
		}
	}
}

// checkBucketName refuses names S3 would refuse; a key of provider.s3 is
// replaced by its name on the platform, so it only has to be a key.
func (d *decoder) checkBucketName(n *node, where string) {
	if n.str == "" {
		d.errorf(n.pos, "", "%s: the bucket name is empty", where)
	}
}
