package manifest

import (
	"fmt"
	"slices"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

// serverless-lift constructs (https://github.com/getlift/lift) are expanded
// into what the plugin adds to the stack: functions, their events, resources,
// provider IAM statements and HTTP API authorizers. The rest of the loader
// then treats them like anything the user wrote. See ADR 0022.

// liftQueueKeys and liftWebhookKeys are the keys lift's schemas accept.
var (
	liftQueueKeys = []string{"type", "worker", "maxRetries", "alarm", "batchSize", "maxBatchingWindow",
		"maxConcurrency", "fifo", "delay", "encryption", "encryptionKey", "encryptionKeyArn", "extensions"}
	liftWebhookKeys = []string{"type", "authorizer", "insecure", "path", "method", "eventType", "extensions"}
	liftStorageKeys = []string{"type", "archive", "encryption", "allowAcl", "publicPath", "cors", "lifecycleRules", "extensions"}
	liftTableKeys   = []string{"type", "localSecondaryIndexes", "gsiCount", "extensions"}
)

// Actions lift grants every function of the service on its storage buckets
// and single tables.
var (
	liftStorageActions = []string{"s3:PutObject", "s3:GetObject", "s3:DeleteObject", "s3:ListBucket", "s3:GetObjectAcl",
		"s3:PutObjectAcl", "s3:GetObjectTagging", "s3:PutObjectTagging", "s3:DeleteObjectTagging", "s3:GetObjectAttributes",
		"s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:ListBucketMultipartUploads", "s3:RestoreObject"}
	liftTableActions = []string{"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:Scan",
		"dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"}
)

// liftMissing says what a deploy goes without for the construct types nimbus
// does not reproduce.
var liftMissing = map[string]string{
	"storage":             "no S3 bucket is created and ${construct:NAME.bucketName} does not resolve",
	"static-website":      "no bucket or CloudFront distribution is created and no files are uploaded",
	"single-page-app":     "no bucket or CloudFront distribution is created and no files are uploaded",
	"server-side-website": "no CloudFront distribution, bucket or asset upload is created",
	"database/sql":        "no database is created",
	"vpc":                 "no VPC is created (functions run on the host's network)",
}

// liftLogicalID is the logical id of a construct's resource: the construct
// name as the Serverless Framework normalises names, then the part.
func liftLogicalID(name, part string) string {
	var b strings.Builder
	for i, r := range name {
		switch {
		case r == '-':
			b.WriteString("Dash")
		case r == '_':
			b.WriteString("Underscore")
		case i == 0:
			b.WriteString(strings.ToUpper(string(r)))
		default:
			b.WriteRune(r)
		}
	}
	return b.String() + part
}

// constructSource resolves ${construct:NAME.variable} to the CloudFormation
// reference lift puts in its place.
func (r *resolver) constructSource(address string) (*node, error) {
	name, variable, ok := strings.Cut(address, ".")
	if !ok {
		return nil, fmt.Errorf("${construct:%s} must name a construct and a variable, e.g. ${construct:jobs.queueUrl}", address)
	}
	cn := r.root.get("constructs").get(name)
	if cn == nil {
		return nil, fmt.Errorf("there is no construct %q under constructs", name)
	}
	typ := cn.get("type")
	if typ != nil {
		r.resolveNode(typ)
	}
	if typ == nil || typ.kind != kindString {
		return nil, fmt.Errorf("construct %q has no type", name)
	}
	ref := func(id string) *node { return intrinsic("Ref", strNode(id)) }
	getAtt := func(id, attr string) *node {
		return intrinsic("Fn::GetAtt", &node{kind: kindSeq, state: resolved, items: []*node{strNode(id), strNode(attr)}})
	}
	var vars map[string]*node
	switch typ.str {
	case "queue":
		vars = map[string]*node{
			"queueUrl": ref(liftLogicalID(name, "Queue")), "queueArn": getAtt(liftLogicalID(name, "Queue"), "Arn"),
			"dlqUrl": ref(liftLogicalID(name, "Dlq")), "dlqArn": getAtt(liftLogicalID(name, "Dlq"), "Arn"),
		}
	case "webhook":
		vars = map[string]*node{"busName": ref(liftLogicalID(name, "Bus"))}
	case "storage":
		vars = map[string]*node{"bucketName": ref(liftLogicalID(name, "Bucket")), "bucketArn": getAtt(liftLogicalID(name, "Bucket"), "Arn")}
	case "database/dynamodb-single-table":
		id := liftLogicalID(name, "Table")
		vars = map[string]*node{"tableName": ref(id), "tableArn": getAtt(id, "Arn"), "tableStreamArn": getAtt(id, "StreamArn")}
	default:
		return nil, fmt.Errorf("construct %q of type %q is not reproduced by nimbus, so ${construct:%s} has no value", name, typ.str, address)
	}
	v, ok := vars[variable]
	if !ok {
		known := make([]string, 0, len(vars))
		for k := range vars {
			known = append(known, k)
		}
		slices.Sort(known)
		return nil, fmt.Errorf("construct %q (%s) has no variable %q (it has %s)", name, typ.str, variable, strings.Join(known, ", "))
	}
	return v, nil
}

func strNode(s string) *node { return &node{kind: kindString, str: s, state: resolved} }

func intNode(i int) *node { return &node{kind: kindInt, num: int64(i), state: resolved} }

func boolNode(b bool) *node { return &node{kind: kindBool, boolean: b, state: resolved} }

func intrinsic(fn string, arg *node) *node {
	return &node{kind: kindMap, state: resolved, entries: []*entry{{key: fn, val: arg}}}
}

// mapNode builds a map from key/value pairs, in order.
func mapNode(pos position, kv ...any) *node {
	n := &node{kind: kindMap, pos: pos, state: resolved}
	for i := 0; i+1 < len(kv); i += 2 {
		n.entries = append(n.entries, &entry{key: kv[i].(string), keyPos: pos, val: kv[i+1].(*node)})
	}
	return n
}

// child returns the map under key of n, creating it (at pos) when missing or
// null; nil when the key holds something else, which the decoder reports.
func child(n *node, key string, pos position) *node {
	for _, e := range n.entries {
		if e.key == key {
			if e.val.kind == kindNull {
				*e.val = node{kind: kindMap, pos: e.val.pos, state: resolved}
			}
			if e.val.kind != kindMap {
				return nil
			}
			return e.val
		}
	}
	c := &node{kind: kindMap, pos: pos, state: resolved}
	n.entries = append(n.entries, &entry{key: key, keyPos: pos, val: c})
	return c
}

// appendItem adds v to the list under key of n, creating the list.
func appendItem(n *node, key string, pos position, v *node) bool {
	for _, e := range n.entries {
		if e.key == key {
			if e.val.kind == kindNull {
				*e.val = node{kind: kindSeq, pos: e.val.pos, state: resolved}
			}
			if e.val.kind != kindSeq {
				return false
			}
			e.val.items = append(e.val.items, v)
			return true
		}
	}
	n.entries = append(n.entries, &entry{key: key, keyPos: pos, val: &node{kind: kindSeq, pos: pos, state: resolved, items: []*node{v}}})
	return true
}

// expandConstructs reads `constructs:` and adds to the tree what lift adds
// to the stack. Webhook routes, which are no function's events, are returned.
func (d *decoder) expandConstructs(root *node, stage string) []appspec.EventRoute {
	cs := root.get("constructs")
	if cs == nil || cs.failed || cs.kind == kindNull {
		return nil
	}
	// The service name as written (the decoder checks it later).
	svc := root.get("service")
	if svc != nil && svc.kind == kindMap {
		svc = svc.get("name")
	}
	service := ""
	if svc != nil {
		service, _ = svc.scalarString()
	}
	if cs.kind != kindMap {
		d.typeError(cs, "constructs", "a map of construct names to constructs")
		return nil
	}
	var routes []appspec.EventRoute
	for _, e := range cs.entries {
		where := fmt.Sprintf("construct %q", e.key)
		if e.val.failed {
			continue
		}
		if e.val.kind != kindMap {
			d.typeError(e.val, where, "a map with a type")
			continue
		}
		typ, ok := d.str(e.val.get("type"), where+" type")
		if !ok {
			if e.val.get("type") == nil {
				d.errorf(e.keyPos, "add `type: queue` or `type: webhook`", "%s has no type", where)
			}
			continue
		}
		if !functionKeyRE.MatchString(e.key) {
			d.errorf(e.keyPos, "", "construct name %q must contain only letters, digits, hyphens and underscores", e.key)
			continue
		}
		switch typ {
		case "queue":
			d.liftQueue(root, e, where, service, stage)
		case "webhook":
			if r, ok := d.liftWebhook(root, e, where, service, stage); ok {
				routes = append(routes, r)
			}
		case "storage":
			d.liftStorage(root, e, where)
		case "database/dynamodb-single-table":
			d.liftTable(root, e, where)
		default:
			gap, known := liftMissing[typ]
			if !known {
				d.errorf(e.val.get("type").pos, "nimbus reproduces lift's queue, webhook, storage and database/dynamodb-single-table constructs",
					"%s: unknown construct type %q", where, typ)
				continue
			}
			d.warnf(e.val.get("type").pos, "nimbus reproduces lift's queue, webhook, storage and database/dynamodb-single-table constructs",
				"%s of type %s is not reproduced by nimbus: %s", where, typ, gap)
		}
	}
	return routes
}

// addFunction adds a construct's function under `functions:`.
func (d *decoder) addFunction(root *node, key string, def *node, pos position) *node {
	fns := child(root, "functions", pos)
	if fns == nil {
		return nil // reported by the decoder
	}
	if fns.get(key) != nil {
		d.errorf(pos, "rename the function or the construct", "function %q is declared by the manifest and by a construct", key)
		return nil
	}
	fn := def.clone()
	if fn.kind == kindNull {
		fn = &node{kind: kindMap, pos: def.pos, state: resolved}
	}
	fns.entries = append(fns.entries, &entry{key: key, keyPos: pos, val: fn})
	return fn
}

// addResource adds a CloudFormation resource under resources.Resources.
func (d *decoder) addResource(root *node, id string, res *node, pos position) {
	rs := child(root, "resources", pos)
	if rs == nil {
		return
	}
	rs = child(rs, "Resources", pos)
	if rs == nil {
		return
	}
	if rs.get(id) != nil {
		d.errorf(pos, "rename the resource or the construct", "resource %q is declared by the manifest and by a construct", id)
		return
	}
	rs.entries = append(rs.entries, &entry{key: id, keyPos: pos, val: res})
}

func (d *decoder) liftQueue(root *node, e *entry, where, service, stage string) {
	f := d.fields(e.val, where, liftQueueKeys)
	pos := e.keyPos
	worker := val(f, "worker")
	if worker == nil {
		d.errorf(pos, "add `worker: {handler: src/worker.handler}`", "%s: queue constructs require a worker function", where)
		return
	}
	workerKey := e.key + "Worker"
	timeout := appspec.DefaultTimeout
	var workerFn *node
	switch worker.kind {
	case kindString: // a reference to a function of `functions:`
		workerKey = worker.str
		workerFn = root.get("functions").get(workerKey)
		if workerFn == nil || workerFn.kind != kindMap {
			d.errorf(worker.pos, "name a function declared under functions", "%s: worker %q is not a function of the service", where, workerKey)
			return
		}
	case kindMap:
		workerFn = d.addFunction(root, workerKey, worker, f["worker"].keyPos)
		if workerFn == nil {
			return
		}
	default:
		d.typeError(worker, where+" worker", "a function definition")
		return
	}
	if t := workerFn.get("timeout"); t != nil {
		timeout, _ = d.integer(t, where+" worker timeout")
	} else if t := root.get("provider").get("timeout"); t != nil && t.kind == kindInt {
		// Lift reads the worker's own timeout only; a provider timeout is
		// what the function gets, so the queue follows it.
		timeout = int(t.num)
	}
	intOpt := func(key string, def, lo, hi int) (int, bool) {
		n := val(f, key)
		if n == nil {
			return def, true
		}
		v, ok := d.integer(n, where+" "+key)
		if ok && (v < lo || v > hi) {
			d.errorf(n.pos, "", "%s: %s %d must be between %d and %d", where, key, v, lo, hi)
			return def, false
		}
		return v, ok
	}
	maxRetries, _ := intOpt("maxRetries", 3, 1, 1000)
	window, _ := intOpt("maxBatchingWindow", 0, 0, 300)
	batchSize, _ := intOpt("batchSize", 1, 1, 10000)
	delay, hasDelay := 0, val(f, "delay") != nil
	if hasDelay {
		delay, _ = intOpt("delay", 0, 0, 900)
	}
	fifo := false
	if n := val(f, "fifo"); n != nil {
		fifo, _ = d.boolean(n, where+" fifo")
	}
	if n := val(f, "batchSize"); n != nil && batchSize > 10 {
		if fifo {
			d.errorf(n.pos, "", "%s: batchSize must be between 1 and 10 for FIFO queues, %d given", where, batchSize)
		} else if window == 0 {
			d.errorf(n.pos, "set maxBatchingWindow", "%s: maxBatchingWindow must be greater than 0 for batchSize > 10", where)
		}
	}
	if n := val(f, "alarm"); n != nil {
		d.warnf(n.pos, "", "%s: alarm is not reproduced by nimbus: no e-mail is sent when messages reach the dead-letter queue (list them with `aws sqs receive-message` on the dlqUrl)", where)
	}
	if n := val(f, "encryption"); n != nil {
		d.warnf(n.pos, "", "%s: encryption is ignored: nimbus keeps queue messages on its own disk, unencrypted by a KMS key", where)
	}
	if n := val(f, "extensions"); n != nil {
		d.warnf(n.pos, "", "%s: extensions are not applied by nimbus", where)
	}

	base := service + "-" + stage + "-" + e.key
	queueName, dlqName := base, base+"-dlq"
	if fifo {
		queueName, dlqName = base+".fifo", base+"-dlq.fifo"
	}
	queueID, dlqID := liftLogicalID(e.key, "Queue"), liftLogicalID(e.key, "Dlq")
	dlqProps := mapNode(pos, "QueueName", strNode(dlqName), "MessageRetentionPeriod", intNode(14*24*3600))
	if fifo {
		dlqProps.entries = append(dlqProps.entries, &entry{key: "FifoQueue", keyPos: pos, val: boolNode(true)})
	}
	d.addResource(root, dlqID, mapNode(pos, "Type", strNode("AWS::SQS::Queue"), "Properties", dlqProps), pos)
	qProps := mapNode(pos,
		"QueueName", strNode(queueName),
		"VisibilityTimeout", intNode(timeout*6+window),
		"RedrivePolicy", mapNode(pos,
			"deadLetterTargetArn", intrinsic("Fn::GetAtt", &node{kind: kindSeq, state: resolved, items: []*node{strNode(dlqID), strNode("Arn")}}),
			"maxReceiveCount", intNode(maxRetries)))
	if fifo {
		qProps.entries = append(qProps.entries,
			&entry{key: "FifoQueue", keyPos: pos, val: boolNode(true)},
			&entry{key: "ContentBasedDeduplication", keyPos: pos, val: boolNode(true)})
	}
	if hasDelay {
		qProps.entries = append(qProps.entries, &entry{key: "DelaySeconds", keyPos: pos, val: intNode(delay)})
	}
	d.addResource(root, queueID, mapNode(pos, "Type", strNode("AWS::SQS::Queue"), "Properties", qProps), pos)

	queueArn := intrinsic("Fn::GetAtt", &node{kind: kindSeq, state: resolved, items: []*node{strNode(queueID), strNode("Arn")}})
	sqs := mapNode(pos, "arn", queueArn, "batchSize", intNode(batchSize), "maximumBatchingWindow", intNode(window),
		"functionResponseType", strNode("ReportBatchItemFailures"))
	if n := val(f, "maxConcurrency"); n != nil {
		if mc, ok := intOpt("maxConcurrency", 0, 2, 1000); ok {
			sqs.entries = append(sqs.entries, &entry{key: "maximumConcurrency", keyPos: pos, val: intNode(mc)})
		}
	}
	if !appendItem(workerFn, "events", pos, mapNode(pos, "sqs", sqs)) {
		return // events is not a list: the decoder reports it
	}

	// Every function of the service may send to the queue, as lift grants.
	d.addProviderStatement(root, pos, []string{"sqs:SendMessage", "sqs:ChangeMessageVisibility"}, queueArn.clone())
}

// addProviderStatement appends an Allow statement to the provider's role,
// which every function without a role of its own gets.
func (d *decoder) addProviderStatement(root *node, pos position, actions []string, resources ...*node) {
	provider := root.get("provider")
	if provider == nil || provider.kind != kindMap {
		return // reported by the decoder
	}
	acts := &node{kind: kindSeq, pos: pos, state: resolved}
	for _, a := range actions {
		acts.items = append(acts.items, strNode(a))
	}
	st := mapNode(pos, "Effect", strNode("Allow"), "Action", acts,
		"Resource", &node{kind: kindSeq, pos: pos, state: resolved, items: resources})
	appendItem(provider, "iamRoleStatements", pos, st)
}

func (d *decoder) liftWebhook(root *node, e *entry, where, service, stage string) (appspec.EventRoute, bool) {
	f := d.fields(e.val, where, liftWebhookKeys)
	pos := e.keyPos
	route := appspec.EventRoute{Construct: e.key, Method: "POST", Source: e.key, DetailType: "Webhook",
		EventBusName: service + "-" + stage + "-" + e.key}
	path, ok := d.str(val(f, "path"), where+" path")
	switch {
	case !ok && val(f, "path") == nil:
		d.errorf(pos, "add `path: /my-webhook`", "%s: path is required", where)
		return route, false
	case !ok:
		return route, false
	case !strings.HasPrefix(path, "/"):
		d.errorf(val(f, "path").pos, "", "%s: path %q must start with /", where, path)
		return route, false
	}
	route.Path = path
	if n := val(f, "method"); n != nil {
		m, ok := d.str(n, where+" method")
		if !ok {
			return route, false
		}
		route.Method = strings.ToUpper(m)
	}
	if n := val(f, "eventType"); n != nil {
		t, ok := d.str(n, where+" eventType")
		if !ok {
			return route, false
		}
		if strings.HasPrefix(t, "$") && !strings.HasPrefix(t, "$request.header.") && !strings.HasPrefix(t, "$request.body") {
			d.errorf(n.pos, "use a fixed string, $request.header.NAME or $request.body.PATH", "%s: eventType %q is not a selector nimbus maps", where, t)
			return route, false
		}
		route.DetailType = t
	}
	insecure := false
	if n := val(f, "insecure"); n != nil {
		insecure, _ = d.boolean(n, where+" insecure")
	}
	auth := val(f, "authorizer")
	switch {
	case insecure && auth != nil:
		d.errorf(f["authorizer"].keyPos, "remove the authorizer (recommended: remove `insecure: true`)",
			"%s is declared insecure but has an authorizer", where)
		return route, false
	case !insecure && auth == nil:
		d.errorf(pos, "add `authorizer: {handler: ...}` (recommended), or `insecure: true` to accept every request",
			"%s is secure by default but has no authorizer", where)
		return route, false
	}
	if n := val(f, "extensions"); n != nil {
		d.warnf(n.pos, "", "%s: extensions are not applied by nimbus", where)
	}
	d.addResource(root, liftLogicalID(e.key, "Bus"),
		mapNode(pos, "Type", strNode("AWS::Events::EventBus"), "Properties", mapNode(pos, "Name", strNode(route.EventBusName))), pos)
	if auth == nil {
		return route, true
	}
	if auth.kind != kindMap {
		d.typeError(auth, where+" authorizer", "a function definition with a handler")
		return route, false
	}
	key := e.key + "Authorizer"
	if d.addFunction(root, key, auth, f["authorizer"].keyPos) == nil {
		return route, false
	}
	provider := root.get("provider")
	if provider == nil || provider.kind != kindMap {
		return route, false
	}
	api := child(provider, "httpApi", pos)
	if api == nil {
		return route, false
	}
	auths := child(api, "authorizers", pos)
	if auths == nil {
		return route, false
	}
	// API Gateway calls lift's authorizer with payload 2.0 and reads a
	// simple response; with the Authorization header as identity source, a
	// request without it is refused (401) before the function runs.
	name := "lift-" + e.key
	auths.entries = append(auths.entries, &entry{key: name, keyPos: pos, val: mapNode(pos,
		"type", strNode("request"), "functionName", strNode(key), "enableSimpleResponses", boolNode(true),
		"payloadVersion", strNode("2.0"), "resultTtlInSeconds", intNode(0),
		"identitySource", &node{kind: kindSeq, state: resolved, items: []*node{strNode("$request.header.Authorization")}})})
	route.Authorizer = name
	return route, true
}

func seqNode(items ...*node) *node { return &node{kind: kindSeq, state: resolved, items: items} }

func getAttNode(id, attr string) *node {
	return intrinsic("Fn::GetAtt", seqNode(strNode(id), strNode(attr)))
}

// joinNode is Fn::Join of parts with sep.
func joinNode(sep string, parts ...*node) *node {
	return intrinsic("Fn::Join", seqNode(strNode(sep), seqNode(parts...)))
}

// liftStorage is lift's storage construct: a private bucket every function
// may read and write.
func (d *decoder) liftStorage(root *node, e *entry, where string) {
	f := d.fields(e.val, where, liftStorageKeys)
	pos := e.keyPos
	for _, k := range []string{"archive", "encryption", "allowAcl", "publicPath", "lifecycleRules", "extensions"} {
		if n := val(f, k); n != nil {
			d.warnf(f[k].keyPos, "", "%s: %s is not applied by nimbus", where, k)
		}
	}
	props := mapNode(pos)
	if n := val(f, "cors"); n != nil {
		rules := seqNode()
		switch n.kind {
		case kindString:
			rules.items = append(rules.items, mapNode(pos, "AllowedOrigins", seqNode(strNode(n.str)),
				"AllowedMethods", seqNode(strNode("GET"), strNode("PUT"), strNode("DELETE")), "AllowedHeaders", seqNode(strNode("*"))))
		case kindSeq:
			for _, it := range n.items {
				rules.items = append(rules.items, capitalizeKeys(it))
			}
		default:
			d.typeError(n, where+" cors", "an origin or a list of CORS rules")
		}
		props.entries = append(props.entries, &entry{key: "CorsConfiguration", keyPos: pos, val: mapNode(pos, "CorsRules", rules)})
	}
	id := liftLogicalID(e.key, "Bucket")
	d.addResource(root, id, mapNode(pos, "Type", strNode("AWS::S3::Bucket"), "Properties", props), pos)
	d.addProviderStatement(root, pos, liftStorageActions, getAttNode(id, "Arn"), joinNode("/", getAttNode(id, "Arn"), strNode("*")))
}

// capitalizeKeys writes lift's camelCase CORS rules as CloudFormation's.
func capitalizeKeys(n *node) *node {
	c := n.clone()
	var walk func(*node)
	walk = func(n *node) {
		for _, e := range n.entries {
			if e.key != "" {
				e.key = strings.ToUpper(e.key[:1]) + e.key[1:]
			}
			walk(e.val)
		}
		for _, it := range n.items {
			walk(it)
		}
	}
	walk(c)
	return c
}

// liftTable is lift's database/dynamodb-single-table construct: a PK/SK
// table with a stream, TimeToLive, and optional generic indexes.
func (d *decoder) liftTable(root *node, e *entry, where string) {
	f := d.fields(e.val, where, liftTableKeys)
	pos := e.keyPos
	gsiCount := 0
	if n := val(f, "gsiCount"); n != nil {
		if v, ok := d.integer(n, where+" gsiCount"); ok {
			if v < 1 || v > 20 {
				d.errorf(n.pos, "", "%s: gsiCount %d must be between 1 and 20", where, v)
			} else {
				gsiCount = v
			}
		}
	}
	lsi := false
	if n := val(f, "localSecondaryIndexes"); n != nil {
		lsi, _ = d.boolean(n, where+" localSecondaryIndexes")
	}
	if n := val(f, "extensions"); n != nil {
		d.warnf(n.pos, "", "%s: extensions are not applied by nimbus", where)
	}
	attr := func(name string) *node {
		return mapNode(pos, "AttributeName", strNode(name), "AttributeType", strNode("S"))
	}
	key := func(name, typ string) *node {
		return mapNode(pos, "AttributeName", strNode(name), "KeyType", strNode(typ))
	}
	all := mapNode(pos, "ProjectionType", strNode("ALL"))
	attrs := seqNode(attr("PK"), attr("SK"))
	props := mapNode(pos,
		"BillingMode", strNode("PAY_PER_REQUEST"),
		"AttributeDefinitions", attrs,
		"KeySchema", seqNode(key("PK", "HASH"), key("SK", "RANGE")),
		"TimeToLiveSpecification", mapNode(pos, "AttributeName", strNode("TimeToLive"), "Enabled", boolNode(true)),
		"StreamSpecification", mapNode(pos, "StreamViewType", strNode("NEW_AND_OLD_IMAGES")))
	if lsi {
		list := seqNode()
		for i := 1; i <= 5; i++ {
			sk := fmt.Sprintf("LSI-%d-SK", i)
			attrs.items = append(attrs.items, attr(sk))
			list.items = append(list.items, mapNode(pos, "IndexName", strNode(fmt.Sprintf("LSI-%d", i)),
				"KeySchema", seqNode(key("PK", "HASH"), key(sk, "RANGE")), "Projection", all.clone()))
		}
		props.entries = append(props.entries, &entry{key: "LocalSecondaryIndexes", keyPos: pos, val: list})
	}
	if gsiCount > 0 {
		list := seqNode()
		for i := 1; i <= gsiCount; i++ {
			pk, sk := fmt.Sprintf("GSI-%d-PK", i), fmt.Sprintf("GSI-%d-SK", i)
			attrs.items = append(attrs.items, attr(pk), attr(sk))
			list.items = append(list.items, mapNode(pos, "IndexName", strNode(fmt.Sprintf("GSI-%d", i)),
				"KeySchema", seqNode(key(pk, "HASH"), key(sk, "RANGE")), "Projection", all.clone()))
		}
		props.entries = append(props.entries, &entry{key: "GlobalSecondaryIndexes", keyPos: pos, val: list})
	}
	id := liftLogicalID(e.key, "Table")
	d.addResource(root, id, mapNode(pos, "Type", strNode("AWS::DynamoDB::Table"), "Properties", props), pos)
	d.addProviderStatement(root, pos, liftTableActions, getAttNode(id, "Arn"), joinNode("/", getAttNode(id, "Arn"), strNode("index"), strNode("*")))
}
