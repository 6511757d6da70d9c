package tables

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/cfn"
	"github.com/nimbus-platform/nimbus/internal/functions"
)

// Declared is an AWS::DynamoDB::Table of a manifest.
type Declared struct {
	LogicalID string
	Spec      TableSpec
	// Retain is `DeletionPolicy: Retain` (or RetainExceptOnCreate): the
	// table outlives its removal from the manifest.
	Retain bool
	TTL    *TTLSpec
	Tags   map[string]string
}

// capacity is a number CloudFormation accepts as a number or a string.
type capacity int64

func (c *capacity) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		b = []byte(s)
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return fmt.Errorf("%s is not a whole number", b)
	}
	*c = capacity(n)
	return nil
}

type throughputProp struct {
	ReadCapacityUnits  capacity
	WriteCapacityUnits capacity
}

func (p *throughputProp) spec() *Throughput {
	if p == nil {
		return nil
	}
	return &Throughput{ReadCapacityUnits: int64(p.ReadCapacityUnits), WriteCapacityUnits: int64(p.WriteCapacityUnits)}
}

type indexProp struct {
	IndexName             string
	KeySchema             []KeyElement
	Projection            Projection
	ProvisionedThroughput *throughputProp
}

func indexSpecs(in []indexProp) []IndexSpec {
	var out []IndexSpec
	for _, ix := range in {
		out = append(out, IndexSpec{IndexName: ix.IndexName, KeySchema: ix.KeySchema, Projection: ix.Projection, Throughput: ix.ProvisionedThroughput.spec()})
	}
	return out
}

// tableProps are the AWS::DynamoDB::Table properties nimbus applies; the
// others cfn lists as accepted are read and ignored (the CLI warned).
type tableProps struct {
	AttributeDefinitions    []AttributeDefinition
	KeySchema               []KeyElement
	BillingMode             string
	ProvisionedThroughput   *throughputProp
	GlobalSecondaryIndexes  []indexProp
	LocalSecondaryIndexes   []indexProp
	TimeToLiveSpecification *struct {
		AttributeName string
		Enabled       bool
	}
	Tags                []Tag
	StreamSpecification *struct{ StreamViewType string }
}

// DeclaredTables returns the tables an application declares, by logical
// id, with their properties resolved and checked as CreateTable checks them.
func DeclaredTables(app *appspec.Application) ([]Declared, error) {
	if len(app.Resources) == 0 || string(app.Resources) == "null" {
		return nil, nil
	}
	var top struct {
		Resources map[string]struct {
			Type           string
			DeletionPolicy string
			Properties     map[string]json.RawMessage
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
		if r.Type == cfn.TypeTable {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	var out []Declared
	names := map[string]string{}
	for _, id := range ids {
		r := top.Resources[id]
		where := "resources.Resources." + id
		for k := range r.Properties {
			if _, known := cfn.Property(cfn.TypeTable, k); !known {
				return nil, fmt.Errorf("%s: property %s of AWS::DynamoDB::Table is not supported", where, k)
			}
		}
		raw, err := json.Marshal(r.Properties)
		if err != nil {
			return nil, err
		}
		var p tableProps
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		name, err := stack.TableName(id)
		if err != nil {
			return nil, fmt.Errorf("%s.TableName: %w", where, err)
		}
		if other, dup := names[name]; dup {
			return nil, fmt.Errorf("%s: %s declares table %s too", where, other, name)
		}
		names[name] = id
		spec := TableSpec{
			TableName:              name,
			AttributeDefinitions:   p.AttributeDefinitions,
			KeySchema:              p.KeySchema,
			BillingMode:            p.BillingMode,
			Throughput:             p.ProvisionedThroughput.spec(),
			GlobalSecondaryIndexes: indexSpecs(p.GlobalSecondaryIndexes),
			LocalSecondaryIndexes:  indexSpecs(p.LocalSecondaryIndexes),
		}
		if ss := p.StreamSpecification; ss != nil {
			spec.StreamSpecification = &StreamSpec{StreamEnabled: true, StreamViewType: ss.StreamViewType}
		}
		if err := validateSpec(&spec); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if err := checkStreamSpec(spec.StreamSpecification); err != nil {
			return nil, fmt.Errorf("%s.StreamSpecification: %w", where, err)
		}
		if spec.BillingMode == "" {
			spec.BillingMode = "PROVISIONED"
		}
		retain := r.DeletionPolicy == "Retain" || r.DeletionPolicy == "RetainExceptOnCreate"
		dec := Declared{LogicalID: id, Spec: spec, Retain: retain}
		if ttl := p.TimeToLiveSpecification; ttl != nil {
			if ttl.Enabled && ttl.AttributeName == "" {
				return nil, fmt.Errorf("%s.TimeToLiveSpecification: AttributeName is required when Enabled is true", where)
			}
			dec.TTL = &TTLSpec{AttributeName: ttl.AttributeName, Enabled: ttl.Enabled}
		}
		if len(p.Tags) > maxTags {
			return nil, fmt.Errorf("%s.Tags: at most %d tags", where, maxTags)
		}
		for _, tag := range p.Tags {
			if dec.Tags == nil {
				dec.Tags = map[string]string{}
			}
			dec.Tags[tag.Key] = tag.Value
		}
		out = append(out, dec)
	}
	return out, nil
}

// Deployed returns the application a stage of a service runs now, if any,
// by its ID (appspec.Application.ID).
type Deployed func(id string) (*appspec.Application, bool)

// ownerOf is the owner a table declared by app records: its stack
// (service-stage), so each stage of a service owns its own tables.
func ownerOf(app *appspec.Application) string { return cfn.StackName(app) }

// owns reports whether app declared a table with that owner; tables created
// before stages were kept apart name the bare service.
func owns(app *appspec.Application, owner string) bool {
	return owner == ownerOf(app) || owner == app.Service
}

// DeployHook returns the functions.PrepareHook that creates and updates the
// tables an application declares, and deletes those a redeploy no longer
// declares (unless retained). It checks every table before changing any.
func (s *Service) DeployHook(deployed Deployed) functions.PrepareHook {
	return func(ctx context.Context, app *appspec.Application) error {
		declared, err := DeclaredTables(app)
		if err != nil {
			return &functions.InvalidError{Err: err}
		}
		var create, update []Declared
		reindex := map[string][]IndexUpdate{}
		keep := map[string]bool{}
		for _, d := range declared {
			keep[d.Spec.TableName] = true
			t, err := s.DescribeTable(ctx, d.Spec.TableName)
			if err != nil {
				create = append(create, d)
				continue
			}
			if err := replacementNeeded(app, t, d); err != nil {
				return &functions.InvalidError{Err: err}
			}
			if !sameSettings(t, d) {
				update = append(update, d)
			}
			if u, _ := indexChanges("", t, d); len(u) > 0 {
				reindex[d.Spec.TableName] = u
			}
		}
		var drop []string
		if prev, ok := deployed(app.ID()); ok {
			before, err := DeclaredTables(prev)
			if err == nil {
				for _, d := range before {
					if !keep[d.Spec.TableName] && !d.Retain {
						drop = append(drop, d.Spec.TableName)
					}
				}
			}
		}
		for _, d := range create {
			if _, err := s.createTable(d.Spec, app.Region, ownerOf(app)); err != nil {
				return fmt.Errorf("create table %s: %w", d.Spec.TableName, err)
			}
		}
		for _, d := range append(create, update...) {
			if err := s.updateSettings(d); err != nil {
				return fmt.Errorf("update table %s: %w", d.Spec.TableName, err)
			}
		}
		for _, d := range declared {
			if u := reindex[d.Spec.TableName]; u != nil {
				if _, _, err := s.UpdateIndexes(ctx, d.Spec.TableName, d.Spec.AttributeDefinitions, u); err != nil {
					return fmt.Errorf("update the indexes of table %s: %w", d.Spec.TableName, err)
				}
			}
		}
		for _, name := range drop {
			if err := s.deleteDeclared(ctx, app, name); err != nil {
				return err
			}
		}
		return nil
	}
}

// RemoveService deletes the tables a removed service declared, except those
// with DeletionPolicy Retain.
func (s *Service) RemoveService(ctx context.Context, app *appspec.Application) error {
	declared, err := DeclaredTables(app)
	if err != nil {
		return err
	}
	for _, d := range declared {
		if d.Retain {
			continue
		}
		if err := s.deleteDeclared(ctx, app, d.Spec.TableName); err != nil {
			return err
		}
	}
	return nil
}

// deleteDeclared deletes a table that service declared; a table another
// service or the API created since is left alone.
func (s *Service) deleteDeclared(ctx context.Context, app *appspec.Application, name string) error {
	t, err := s.DescribeTable(ctx, name)
	if err != nil || !owns(app, t.Service) {
		return nil
	}
	if _, err := s.DeleteTable(ctx, name); err != nil && !IsKind(err, KindNotFound) {
		return fmt.Errorf("delete table %s: %w", name, err)
	}
	return nil
}

// replacementNeeded refuses a declaration that CloudFormation could only
// apply by replacing the table (or that names a table the service does not
// own).
func replacementNeeded(app *appspec.Application, t *Table, d Declared) error {
	where := "resources.Resources." + d.LogicalID
	if !owns(app, t.Service) {
		owner := "through the DynamoDB API"
		if t.Service != "" {
			owner = "by service " + t.Service
		}
		return fmt.Errorf("%s: table %s already exists (created %s); choose another TableName", where, t.TableName, owner)
	}
	if !reflect.DeepEqual(keyTypes(&t.TableSpec, t.KeySchema), keyTypes(&d.Spec, d.Spec.KeySchema)) {
		return fmt.Errorf("%s: changing the KeySchema of table %s (%s to %s) needs a new table, as CloudFormation replaces it; give the table a new TableName (or logical id), or remove the service first (its data goes with it)",
			where, t.TableName, describeKeys(&t.TableSpec, t.KeySchema), describeKeys(&d.Spec, d.Spec.KeySchema))
	}
	if !sameIndexes(&t.TableSpec, t.LocalSecondaryIndexes, &d.Spec, d.Spec.LocalSecondaryIndexes) {
		return fmt.Errorf("%s: changing the LocalSecondaryIndexes of table %s needs a new table, as CloudFormation replaces it; give the table a new TableName (or logical id)", where, t.TableName)
	}
	_, err := indexChanges(where, t, d)
	return err
}

// indexChanges is what a redeploy changes in a table's global secondary
// indexes: as CloudFormation, at most one index added or removed per
// update, and the throughput of the others; an index whose keys or
// projection change must be removed in one deploy and added in the next.
func indexChanges(where string, t *Table, d Declared) ([]IndexUpdate, error) {
	sch := t.Schema()
	current := TableSpec{AttributeDefinitions: sch.AttributeDefinitions}
	have := map[string]IndexSpec{}
	for _, ix := range sch.Indexes {
		if ix.Global {
			have[ix.IndexName] = ix.IndexSpec
		}
	}
	var updates []IndexUpdate
	var added, removed []string
	for _, want := range d.Spec.GlobalSecondaryIndexes {
		got, ok := have[want.IndexName]
		if !ok {
			spec := want
			updates = append(updates, IndexUpdate{Create: &spec})
			added = append(added, want.IndexName)
			continue
		}
		delete(have, want.IndexName)
		if !sameIndexes(&current, []IndexSpec{got}, &d.Spec, []IndexSpec{want}) {
			return nil, fmt.Errorf("%s: changing the key schema or projection of global secondary index %s of table %s cannot be done in place (CloudFormation refuses it too); remove the index in one deploy and add it back in the next, or give it a new IndexName in a deploy that removes nothing else", where, want.IndexName, t.TableName)
		}
		if !reflect.DeepEqual(got.Throughput, want.Throughput) {
			updates = append(updates, IndexUpdate{Update: &IndexSpec{IndexName: want.IndexName, Throughput: want.Throughput}})
		}
	}
	for name := range have {
		updates = append(updates, IndexUpdate{Delete: name})
		removed = append(removed, name)
	}
	if len(added)+len(removed) > 1 {
		sort.Strings(removed)
		return nil, fmt.Errorf("%s: a deploy can add or remove only one global secondary index of table %s at a time, as CloudFormation (this one adds %v and removes %v); deploy the changes one at a time", where, t.TableName, added, removed)
	}
	return updates, nil
}

type typedKey struct{ Name, KeyType, Type string }

func keyTypes(spec *TableSpec, ks []KeyElement) []typedKey {
	out := make([]typedKey, 0, len(ks))
	for _, k := range ks {
		typ := ""
		for _, d := range spec.AttributeDefinitions {
			if d.AttributeName == k.AttributeName {
				typ = d.AttributeType
			}
		}
		out = append(out, typedKey{k.AttributeName, k.KeyType, typ})
	}
	return out
}

func describeKeys(spec *TableSpec, ks []KeyElement) string {
	b, _ := json.Marshal(keyTypes(spec, ks))
	return string(b)
}

func sameIndexes(a *TableSpec, ai []IndexSpec, b *TableSpec, bi []IndexSpec) bool {
	type shape struct {
		Name       string
		Keys       []typedKey
		Projection Projection
	}
	norm := func(spec *TableSpec, list []IndexSpec) []shape {
		out := make([]shape, 0, len(list))
		for _, ix := range list {
			p := ix.Projection
			if len(p.NonKeyAttributes) == 0 {
				p.NonKeyAttributes = nil
			}
			out = append(out, shape{ix.IndexName, keyTypes(spec, ix.KeySchema), p})
		}
		sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
		return out
	}
	return reflect.DeepEqual(norm(a, ai), norm(b, bi))
}

// sameSettings compares what a redeploy may change in place.
func sameSettings(t *Table, d Declared) bool {
	return t.BillingMode == d.Spec.BillingMode && reflect.DeepEqual(t.Throughput, d.Spec.Throughput) &&
		reflect.DeepEqual(enabledTTL(t.TTL), enabledTTL(d.TTL)) && reflect.DeepEqual(t.Tags, d.Tags) &&
		sameStream(t, d.Spec.StreamSpecification)
}

// enabledTTL is spec when it is enabled: disabled and never set are alike.
func enabledTTL(spec *TTLSpec) *TTLSpec {
	if spec == nil || !spec.Enabled {
		return nil
	}
	return spec
}

// updateSettings stores a declared table's billing mode, throughput, time
// to live and tags.
func (s *Service) updateSettings(d Declared) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[d.Spec.TableName]
	if t == nil {
		return tableNotFound(d.Spec.TableName)
	}
	oldMode, oldThroughput, oldTTL, oldTags, oldStream := t.BillingMode, t.Throughput, t.TTL, t.Tags, t.Stream
	if !sameStream(t, d.Spec.StreamSpecification) {
		t.live.Lock()
		err := s.declaredStream(t, d.Spec.StreamSpecification)
		t.live.Unlock()
		if err != nil {
			t.Stream = oldStream
			return err
		}
	}
	t.BillingMode, t.Throughput, t.Tags = d.Spec.BillingMode, d.Spec.Throughput, d.Tags
	switch {
	case enabledTTL(d.TTL) != nil:
		ttl := *d.TTL
		t.TTL = &ttl
	case enabledTTL(t.TTL) != nil:
		t.TTL = &TTLSpec{AttributeName: t.TTL.AttributeName} // no longer declared: disabled
	}
	if err := s.saveMeta(t); err != nil {
		t.BillingMode, t.Throughput, t.TTL, t.Tags, t.Stream = oldMode, oldThroughput, oldTTL, oldTags, oldStream
		return err
	}
	return nil
}

// Inventory lists the tables an application declares, for deploy
// summaries (a functions.Inventory).
func Inventory(app *appspec.Application) []functions.Item {
	declared, err := DeclaredTables(app)
	if err != nil {
		return nil
	}
	out := make([]functions.Item, 0, len(declared))
	for _, d := range declared {
		digest, _ := json.Marshal(d.Spec)
		out = append(out, functions.Item{Kind: "table", Name: d.Spec.TableName, Digest: string(digest), Retained: d.Retain})
	}
	return out
}
