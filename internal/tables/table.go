package tables

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// KeyElement is one entry of a KeySchema.
type KeyElement struct {
	AttributeName string
	KeyType       string // HASH or RANGE
}

// AttributeDefinition declares the type of a key attribute.
type AttributeDefinition struct {
	AttributeName string
	AttributeType string // S, N or B
}

// Projection says which attributes an index copies.
type Projection struct {
	ProjectionType   string // ALL, KEYS_ONLY or INCLUDE
	NonKeyAttributes []string
}

// Throughput is provisioned capacity (accepted, not enforced).
type Throughput struct {
	ReadCapacityUnits  int64
	WriteCapacityUnits int64
}

// IndexSpec describes a secondary index.
type IndexSpec struct {
	IndexName  string
	KeySchema  []KeyElement
	Projection Projection
	Throughput *Throughput `json:",omitempty"`
	// ID is the index's stored id, the byte after the table id in its
	// entries' keys (0 in metadata written before ids were stored: the
	// index's position then).
	ID byte `json:",omitempty"`
	// Creating is set while an index added by UpdateTable is backfilled.
	Creating bool `json:",omitempty"`
}

// TableSpec is what CreateTable asks for.
type TableSpec struct {
	TableName              string
	AttributeDefinitions   []AttributeDefinition
	KeySchema              []KeyElement
	BillingMode            string      // PROVISIONED (default) or PAY_PER_REQUEST
	Throughput             *Throughput `json:",omitempty"`
	GlobalSecondaryIndexes []IndexSpec `json:",omitempty"`
	LocalSecondaryIndexes  []IndexSpec `json:",omitempty"`
	StreamSpecification    *StreamSpec `json:",omitempty"`
}

// Table is a table as stored: its spec and what the platform assigned.
type Table struct {
	TableSpec
	ID      uint32
	ARN     string
	Created time.Time
	// Service is the service whose manifest declares the table ("" when it
	// was created through the API).
	Service string `json:",omitempty"`
	// TTL is the time to live setting (nil: never enabled).
	TTL *TTLSpec `json:",omitempty"`
	// Tags are the table's tags (TagResource).
	Tags map[string]string `json:",omitempty"`
	// Stream is the table's stream (nil: never enabled).
	Stream *StreamInfo `json:",omitempty"`
	// Indexes are the secondary indexes, global then local, with their ids.
	// UpdateTable replaces the slice (never edits it) under schemaMu and
	// live held exclusively: writers read it under live, readers through
	// indexes() and Index().
	Indexes  []*Index `json:"-"`
	schemaMu sync.RWMutex
	hash     string
	rng      string
	types    map[string]Kind
	// live is held shared by writers and exclusively by DeleteTable, so no
	// write lands after (or answers success across) the table's deletion.
	live    sync.RWMutex
	deleted bool
	stats   stats
}

// useTables holds tables open for a write and fails if one was deleted.
// Tables are taken in id order, so writers and DeleteTable cannot deadlock.
// useTable is useTables for one table, without allocating: the caller
// releases it with t.live.RUnlock().
func useTable(t *Table) error {
	t.live.RLock()
	if t.deleted {
		t.live.RUnlock()
		return errTableNotFound
	}
	return nil
}

func useTables(ts ...*Table) (release func(), err error) {
	uniq := make([]*Table, 0, len(ts))
	for _, t := range ts {
		if !slices.Contains(uniq, t) {
			uniq = append(uniq, t)
		}
	}
	sort.Slice(uniq, func(i, j int) bool { return uniq[i].ID < uniq[j].ID })
	release = func() {
		for _, t := range uniq {
			t.live.RUnlock()
		}
	}
	for i, t := range uniq {
		t.live.RLock()
		if t.deleted {
			uniq = uniq[:i+1]
			release()
			return nil, errTableNotFound
		}
	}
	return release, nil
}

// Index is a secondary index of a table.
type Index struct {
	IndexSpec
	Global bool
	ARN    string
	hash   string
	rng    string
	// hashKind and rngKind are the declared types of the index's keys.
	hashKind, rngKind Kind
}

// kind is the declared type of one of the index's key attributes.
func (ix *Index) kind(name string) Kind {
	if name == ix.hash {
		return ix.hashKind
	}
	return ix.rngKind
}

// indexes is the table's current list of secondary indexes.
func (t *Table) indexes() []*Index {
	t.schemaMu.RLock()
	defer t.schemaMu.RUnlock()
	return t.Indexes
}

// Schema is a consistent copy of the parts of a table UpdateTable changes.
type Schema struct {
	AttributeDefinitions []AttributeDefinition
	Indexes              []*Index
}

// Schema returns the table's attribute definitions and indexes.
func (t *Table) Schema() Schema {
	t.schemaMu.RLock()
	defer t.schemaMu.RUnlock()
	return Schema{AttributeDefinitions: t.AttributeDefinitions, Indexes: t.Indexes}
}

// HashKey is the name of the table's partition key.
func (t *Table) HashKey() string { return t.hash }

// RangeKey is the name of the table's sort key ("" if none).
func (t *Table) RangeKey() string { return t.rng }

// Index finds a secondary index by name.
func (t *Table) Index(name string) *Index {
	for _, ix := range t.indexes() {
		if ix.IndexName == name {
			return ix
		}
	}
	return nil
}

var tableNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)

func validateName(what, name string) error {
	if len(name) < 3 {
		return validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length greater than or equal to 3", name, what)
	}
	if len(name) > 255 {
		return validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must have length less than or equal to 255", name, what)
	}
	if !tableNamePattern.MatchString(name) {
		return validationf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+", name, what)
	}
	return nil
}

// splitKeySchema checks a KeySchema's shape and returns its hash and range names.
func splitKeySchema(ks []KeyElement) (hash, rng string, err error) {
	if len(ks) == 0 || len(ks) > 2 {
		return "", "", validationf("1 validation error detected: Value '%v' at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2 and greater than or equal to 1", ks)
	}
	for _, k := range ks {
		if k.KeyType != "HASH" && k.KeyType != "RANGE" {
			return "", "", validationf("1 validation error detected: Value '%s' at 'keySchema.1.member.keyType' failed to satisfy constraint: Member must satisfy enum value set: [HASH, RANGE]", k.KeyType)
		}
		if k.AttributeName == "" {
			return "", "", validationf("1 validation error detected: Value null at 'keySchema.1.member.attributeName' failed to satisfy constraint: Member must not be null")
		}
	}
	if ks[0].KeyType != "HASH" {
		return "", "", validationf("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
	}
	if len(ks) == 2 {
		if ks[1].KeyType != "RANGE" {
			return "", "", validationf("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")
		}
		if ks[0].AttributeName == ks[1].AttributeName {
			return "", "", validationf("Both the Hash Key and the Range Key element in the KeySchema have the same name")
		}
		return ks[0].AttributeName, ks[1].AttributeName, nil
	}
	return ks[0].AttributeName, "", nil
}

// validateSpec checks a CreateTable request as DynamoDB does.
func validateSpec(spec *TableSpec) error {
	if err := validateName("tableName", spec.TableName); err != nil {
		return err
	}
	types := map[string]Kind{}
	var defined []string
	for _, d := range spec.AttributeDefinitions {
		k := ParseKind(d.AttributeType)
		if k != KindS && k != KindN && k != KindB {
			return validationf("1 validation error detected: Value '%s' at 'attributeDefinitions.1.member.attributeType' failed to satisfy constraint: Member must satisfy enum value set: [B, N, S]", d.AttributeType)
		}
		if _, dup := types[d.AttributeName]; dup {
			return validationf("Cannot have two attributes with the same name")
		}
		types[d.AttributeName] = k
		defined = append(defined, d.AttributeName)
	}
	hash, rng, err := splitKeySchema(spec.KeySchema)
	if err != nil {
		return err
	}
	used := map[string]bool{}
	var missing []string
	need := func(names ...string) {
		for _, n := range names {
			if n == "" {
				continue
			}
			used[n] = true
			if _, ok := types[n]; !ok && !contains(missing, n) {
				missing = append(missing, n)
			}
		}
	}
	need(hash, rng)
	switch spec.BillingMode {
	case "", "PROVISIONED":
		if spec.Throughput == nil {
			return validationf("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
		}
	case "PAY_PER_REQUEST":
		if spec.Throughput != nil {
			return validationf("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
		}
	default:
		return validationf("1 validation error detected: Value '%s' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]", spec.BillingMode)
	}
	names := map[string]bool{}
	if len(spec.GlobalSecondaryIndexes) > 20 {
		return validationf("One or more parameter values were invalid: GlobalSecondaryIndex count exceeds the per-table limit of 20")
	}
	if len(spec.LocalSecondaryIndexes) > 5 {
		return validationf("One or more parameter values were invalid: Number of LocalSecondaryIndexes exceeds per-table limit of 5")
	}
	if len(spec.LocalSecondaryIndexes) > 0 && rng == "" {
		return validationf("One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex")
	}
	for gi, list := range [][]IndexSpec{spec.GlobalSecondaryIndexes, spec.LocalSecondaryIndexes} {
		for _, ix := range list {
			if err := validateName("indexName", ix.IndexName); err != nil {
				return err
			}
			if names[ix.IndexName] {
				return validationf("One or more parameter values were invalid: Duplicate index name: %s", ix.IndexName)
			}
			names[ix.IndexName] = true
			ih, ir, err := splitKeySchema(ix.KeySchema)
			if err != nil {
				return err
			}
			need(ih, ir)
			if gi == 1 {
				if ih != hash {
					return validationf("One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: %s. index hash key: %s, table hash key: %s", ix.IndexName, ih, hash)
				}
				if ir == "" {
					return validationf("One or more parameter values were invalid: Index KeySchema for LocalSecondaryIndex %s must have a range key", ix.IndexName)
				}
			}
			switch ix.Projection.ProjectionType {
			case "ALL", "KEYS_ONLY":
				if len(ix.Projection.NonKeyAttributes) > 0 {
					return validationf("One or more parameter values were invalid: ProjectionType is %s, but NonKeyAttributes is specified", ix.Projection.ProjectionType)
				}
			case "INCLUDE":
				if len(ix.Projection.NonKeyAttributes) == 0 {
					return validationf("One or more parameter values were invalid: NonKeyAttributes must not be empty")
				}
			case "":
				return validationf("One or more parameter values were invalid: Unknown ProjectionType: null")
			default:
				return validationf("1 validation error detected: Value '%s' at 'projection.projectionType' failed to satisfy constraint: Member must satisfy enum value set: [ALL, INCLUDE, KEYS_ONLY]", ix.Projection.ProjectionType)
			}
			if gi == 0 && spec.BillingMode != "PAY_PER_REQUEST" && ix.Throughput == nil {
				return validationf("One or more parameter values were invalid: ProvisionedThroughput must be specified for index: %s", ix.IndexName)
			}
		}
	}
	if len(missing) > 0 {
		return validationf("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [%s], AttributeDefinitions: [%s]", strings.Join(missing, ", "), strings.Join(defined, ", "))
	}
	if len(used) != len(types) {
		return validationf("One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions")
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// prepare fills the derived fields of a stored table.
func (t *Table) prepare() {
	t.types = map[string]Kind{}
	for _, d := range t.AttributeDefinitions {
		t.types[d.AttributeName] = ParseKind(d.AttributeType)
	}
	t.hash, t.rng, _ = splitKeySchema(t.KeySchema)
	// Indexes without a stored id come from metadata written when ids were
	// positional (globals then locals, from 1): they keep that id.
	id := byte(1)
	for _, list := range [][]IndexSpec{t.GlobalSecondaryIndexes, t.LocalSecondaryIndexes} {
		for i := range list {
			if list[i].ID == 0 {
				list[i].ID = id
			}
			id++
		}
	}
	t.Indexes = t.buildIndexes(t.AttributeDefinitions, t.GlobalSecondaryIndexes, t.LocalSecondaryIndexes)
}

// buildIndexes makes the Index values of index specs whose ids are set.
func (t *Table) buildIndexes(defs []AttributeDefinition, gsis, lsis []IndexSpec) []*Index {
	kinds := map[string]Kind{}
	for _, d := range defs {
		kinds[d.AttributeName] = ParseKind(d.AttributeType)
	}
	var out []*Index
	for gi, list := range [][]IndexSpec{gsis, lsis} {
		for _, spec := range list {
			ix := &Index{IndexSpec: spec, Global: gi == 0, ARN: t.ARN + "/index/" + spec.IndexName}
			ix.hash, ix.rng, _ = splitKeySchema(spec.KeySchema)
			ix.hashKind, ix.rngKind = kinds[ix.hash], kinds[ix.rng]
			out = append(out, ix)
		}
	}
	return out
}

// KeyType is the declared type of a key attribute.
func (t *Table) KeyType(name string) Kind { return t.types[name] }

func (t *Table) keyNames() []string {
	if t.rng == "" {
		return []string{t.hash}
	}
	return []string{t.hash, t.rng}
}

// checkItemKeys validates the key attributes of an item to be written, the
// table's and its indexes'.
func (t *Table) checkItemKeys(item Item) error {
	for _, name := range t.keyNames() {
		v, ok := item[name]
		if !ok {
			return validationf("One or more parameter values were invalid: Missing the key %s in the item", name)
		}
		if want := t.types[name]; v.Kind != want {
			return validationf("One or more parameter values were invalid: Type mismatch for key %s expected: %s actual: %s", name, want, v.Kind)
		}
		if err := checkKeySize(name, v, name == t.hash); err != nil {
			return err
		}
	}
	for _, ix := range t.indexes() {
		for _, name := range []string{ix.hash, ix.rng} {
			if name == "" {
				continue
			}
			v, ok := item[name]
			if !ok {
				continue
			}
			if want := ix.kind(name); v.Kind != want {
				return validationf("One or more parameter values were invalid: Type mismatch for Index Key %s Expected: %s Actual: %s IndexName: %s", name, want, v.Kind, ix.IndexName)
			}
			if (v.Kind == KindS && v.S == "") || (v.Kind == KindB && len(v.B) == 0) {
				return validationf("One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty %s value. IndexName: %s, IndexKey: %s", emptyWord(v.Kind), ix.IndexName, name)
			}
		}
	}
	return nil
}

func emptyWord(k Kind) string {
	if k == KindB {
		return "binary"
	}
	return "string"
}

func checkKeySize(name string, v Value, hash bool) error {
	if (v.Kind == KindS && v.S == "") || (v.Kind == KindB && len(v.B) == 0) {
		return validationf("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty %s value. Key: %s", emptyWord(v.Kind), name)
	}
	if hash && v.Size() > 2048 {
		return validationf("One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of2048 bytes")
	}
	if !hash && v.Size() > 1024 {
		return validationf("One or more parameter values were invalid: Aggregated size of all range keys has exceeded the size limit of 1024 bytes")
	}
	return nil
}

// checkKey validates a primary key given to GetItem, DeleteItem, UpdateItem.
func (t *Table) checkKey(key Item) error {
	names := t.keyNames()
	if len(key) != len(names) {
		return validationf("The provided key element does not match the schema")
	}
	for _, name := range names {
		v, ok := key[name]
		if !ok || v.Kind != t.types[name] {
			return validationf("The provided key element does not match the schema")
		}
		if err := checkKeySize(name, v, name == t.hash); err != nil {
			return err
		}
	}
	return nil
}

// itemKey is the storage key of an item (or of its primary key).
func (t *Table) itemKey(item Item) []byte {
	k := partitionPrefix(t.ID, 0, item[t.hash])
	if t.rng != "" {
		k = appendKeyValue(k, item[t.rng])
	}
	return k
}

// primaryKey extracts the key attributes of an item.
func (t *Table) primaryKey(item Item) Item {
	k := Item{t.hash: item[t.hash]}
	if t.rng != "" {
		k[t.rng] = item[t.rng]
	}
	return k
}

// entryKey is the storage key of item's entry in ix, or nil when the item
// lacks the index's key attributes (a sparse index).
func (ix *Index) entryKey(t *Table, item Item) []byte {
	pk, ok := item[ix.hash]
	if !ok || !indexable(pk, ix.hashKind) {
		return nil
	}
	var sk Value
	if ix.rng != "" {
		if sk, ok = item[ix.rng]; !ok || !indexable(sk, ix.rngKind) {
			return nil
		}
	}
	k := partitionPrefix(t.ID, ix.ID, pk)
	if ix.rng != "" {
		k = appendKeyValue(k, sk)
	}
	k = appendKeyValue(k, item[t.hash])
	if t.rng != "" {
		k = appendKeyValue(k, item[t.rng])
	}
	return k
}

// indexable reports whether v can be an index key of kind k. Writes refuse
// other values, but items written before an index existed may hold them:
// DynamoDB leaves those out of the index, and so does a backfill.
func indexable(v Value, k Kind) bool {
	return v.Kind == k && !(k == KindS && v.S == "") && !(k == KindB && len(v.B) == 0)
}

// project copies the attributes of item that ix holds.
func (ix *Index) project(t *Table, item Item) Item {
	if ix.Projection.ProjectionType == "ALL" {
		return item
	}
	out := Item{}
	for _, name := range []string{t.hash, t.rng, ix.hash, ix.rng} {
		if v, ok := item[name]; ok && name != "" {
			out[name] = v
		}
	}
	for _, name := range ix.Projection.NonKeyAttributes {
		if v, ok := item[name]; ok {
			out[name] = v
		}
	}
	return out
}

// indexKeyOf extracts the attributes that make up an index entry's position
// (the index key and the table key), for LastEvaluatedKey.
func (ix *Index) keyOf(t *Table, item Item) Item {
	k := t.primaryKey(item)
	k[ix.hash] = item[ix.hash]
	if ix.rng != "" {
		k[ix.rng] = item[ix.rng]
	}
	return k
}

func (t *Table) String() string { return fmt.Sprintf("table %s (%d)", t.TableName, t.ID) }
