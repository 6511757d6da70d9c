// Package params is nimbus's parameter store: named, versioned values
// (String, StringList, SecureString) kept in a JetStream KV bucket, with
// SecureString values encrypted at rest. The SSM edge (internal/awsapi/ssm)
// and ${ssm:} in manifests read it.
package params

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/nimbus-platform/nimbus/internal/store"
)

// Types of parameter.
const (
	String       = "String"
	StringList   = "StringList"
	SecureString = "SecureString"
)

// Limits, as AWS's standard tier has them.
const (
	MaxNameLength  = 2048
	MaxLevels      = 15
	MaxValueBytes  = 4096
	MaxVersions    = 100
	MaxLabels      = 10
	MaxLabelLength = 100
	// DefaultKeyID is the key AWS encrypts SecureStrings with when none is named.
	DefaultKeyID = "alias/aws/ssm"
)

// Kind says what went wrong; the edge maps it to AWS's error code.
type Kind int

// Kinds of error.
const (
	Invalid Kind = iota + 1
	NotFound
	AlreadyExists
	VersionNotFound
	HierarchyLevelLimit
	PatternMismatch
	InvalidAllowedPattern
	LabelLimit
	Conflict
)

// Error is a parameter operation refused.
type Error struct {
	Kind    Kind
	Message string
}

func (e *Error) Error() string { return e.Message }

func errorf(k Kind, format string, args ...any) error {
	return &Error{Kind: k, Message: fmt.Sprintf(format, args...)}
}

// IsKind reports whether err is an *Error of kind k.
func IsKind(err error, k Kind) bool {
	var e *Error
	return errors.As(err, &e) && e.Kind == k
}

// Parameter is one version of a parameter as callers see it.
type Parameter struct {
	Name             string
	Type             string
	Value            string // decrypted, or for a SecureString read without decryption the ciphertext (base64)
	Version          int64
	LastModifiedDate time.Time
	Description      string
	AllowedPattern   string
	KeyID            string // SecureString only
	Labels           []string
	DataType         string
	LastModifiedUser string // ARN of the caller that wrote this version
}

// version is one stored version.
type version struct {
	Version        int64     `json:"v"`
	Type           string    `json:"t"`
	Value          string    `json:"val"` // ciphertext (base64) for SecureString
	Description    string    `json:"d,omitempty"`
	AllowedPattern string    `json:"p,omitempty"`
	KeyID          string    `json:"k,omitempty"`
	Modified       time.Time `json:"m"`
	Labels         []string  `json:"l,omitempty"`
	DataType       string    `json:"dt,omitempty"`
	User           string    `json:"u,omitempty"`
}

// record is a parameter: its versions, oldest first.
type record struct {
	Name     string    `json:"name"`
	Versions []version `json:"versions"`
}

func (r *record) latest() *version { return &r.Versions[len(r.Versions)-1] }

// Store keeps parameters.
type Store struct {
	kv     jetstream.KeyValue
	sealer *sealer
	now    func() time.Time
}

// Config opens a Store.
type Config struct {
	Store *store.Store
	// DataDir holds the encryption key (params.key, mode 0600).
	DataDir string
	Now     func() time.Time
}

// Bucket is the KV bucket parameters live in.
const Bucket = "nimbus_params"

// Open opens (creating if needed) the parameter store.
func Open(ctx context.Context, cfg Config) (*Store, error) {
	kv, err := cfg.Store.KeyValue(ctx, Bucket, 1)
	if err != nil {
		return nil, err
	}
	sl, err := openSealer(ctx, kv, cfg.DataDir)
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Store{kv: kv, sealer: sl, now: cfg.Now}, nil
}

// KV keys mirror the hierarchy so a path's parameters can be read alone:
// each level of a name is a subject token ("/a/b.c" is p.s.a.b=2Ec; "x" is
// p.n.x), dots inside a level escaped ('=' is never in a name).
func paramKey(name string) string {
	root, rest := "p.n.", name
	if r, ok := strings.CutPrefix(name, "/"); ok {
		root, rest = "p.s.", r
	}
	return root + levels(rest)
}

func levels(rest string) string {
	segs := strings.Split(rest, "/")
	for i, sg := range segs {
		segs[i] = strings.ReplaceAll(sg, ".", "=2E")
	}
	return strings.Join(segs, ".")
}

// pathFilters are the KV subjects that hold the parameters under path:
// its direct children, or everything below with recursive.
func pathFilters(path string, recursive bool) []string {
	wild := ".*"
	if recursive {
		wild = ".>"
	}
	if rest := strings.Trim(path, "/"); rest != "" {
		return []string{"p.s." + levels(rest) + wild}
	}
	// The root holds names with no slash too.
	return []string{"p.s" + wild, "p.n" + wild}
}

var nameChars = regexp.MustCompile(`^[a-zA-Z0-9_.\-/]+$`)

const nameRules = `Parameter name: can't be prefixed with "aws" or "ssm" (case-insensitive). If formed as a path, it can consist of sub-paths divided by slash symbol; each sub-path can be formed as a mix of letters, numbers and the following 3 symbols .-_`

// ValidateName checks a parameter name against AWS's rules.
func ValidateName(name string) error {
	if name == "" {
		return errorf(Invalid, "1 validation error detected: Value '' at 'name' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(name) > MaxNameLength {
		return errorf(Invalid, "1 validation error detected: Value at 'name' failed to satisfy constraint: Member must have length less than or equal to %d", MaxNameLength)
	}
	if !nameChars.MatchString(name) {
		return errorf(Invalid, "%s", nameRules)
	}
	if strings.Contains(name, "/") {
		if !strings.HasPrefix(name, "/") {
			return errorf(Invalid, "Parameter name must be a fully qualified name.")
		}
		if strings.HasSuffix(name, "/") || strings.Contains(name, "//") {
			return errorf(Invalid, "%s", nameRules)
		}
	}
	first := strings.ToLower(strings.TrimPrefix(name, "/"))
	if strings.HasPrefix(first, "aws") || strings.HasPrefix(first, "ssm") {
		return errorf(Invalid, "%s", nameRules)
	}
	if levels := strings.Count(strings.TrimPrefix(name, "/"), "/") + 1; levels > MaxLevels {
		return errorf(HierarchyLevelLimit, "Parameter name %s has %d levels; the maximum number of levels in a parameter hierarchy is %d.", name, levels, MaxLevels)
	}
	return nil
}

// PutInput is a PutParameter request.
type PutInput struct {
	Name           string
	Value          string
	Type           string // required for a new parameter
	Description    string
	AllowedPattern string
	KeyID          string
	DataType       string
	Overwrite      bool
	User           string // who writes, for LastModifiedUser
}

// Put creates a parameter or, with Overwrite, adds a version; it returns the
// new version.
func (s *Store) Put(ctx context.Context, in PutInput) (int64, error) {
	if err := ValidateName(in.Name); err != nil {
		return 0, err
	}
	if in.Value == "" {
		return 0, errorf(Invalid, "1 validation error detected: Value '' at 'value' failed to satisfy constraint: Member must have length greater than or equal to 1")
	}
	if len(in.Value) > MaxValueBytes {
		return 0, errorf(Invalid, "Standard tier parameters support a maximum parameter value of %d characters. To create a larger parameter value, upgrade the parameter to use the advanced-parameter tier. For more information, see https://docs.aws.amazon.com/systems-manager/latest/userguide/parameter-store-advanced-parameters.html", MaxValueBytes)
	}
	switch in.Type {
	case "", String, StringList, SecureString:
	default:
		return 0, errorf(Invalid, "1 validation error detected: Value '%s' at 'type' failed to satisfy constraint: Member must satisfy enum value set: [SecureString, StringList, String]", in.Type)
	}
	switch in.DataType {
	case "", "text":
	default:
		return 0, errorf(Invalid, "The following data type is not supported: %s (nimbus supports text)", in.DataType)
	}
	if len(in.Description) > 1024 {
		return 0, errorf(Invalid, "1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 1024")
	}
	if in.KeyID != "" && in.Type != SecureString && in.Type != "" {
		return 0, errorf(Invalid, "KeyId is required for SecureString type parameter only.")
	}
	key := paramKey(in.Name)
	for attempt := 0; ; attempt++ {
		rec, rev, err := s.load(ctx, key)
		if err != nil && !IsKind(err, NotFound) {
			return 0, err
		}
		if rec != nil && !in.Overwrite {
			return 0, errorf(AlreadyExists, "The parameter already exists. To overwrite this value, set the overwrite option in the request to true.")
		}
		v := version{Type: in.Type, Description: in.Description, AllowedPattern: in.AllowedPattern, KeyID: in.KeyID, DataType: "text", Modified: s.now().UTC(), User: in.User}
		if rec == nil {
			if v.Type == "" {
				return 0, errorf(Invalid, "A parameter type is required when you create a parameter.")
			}
			rec = &record{Name: in.Name}
			v.Version = 1
		} else {
			prev := rec.latest()
			v.Version = prev.Version + 1
			// What the request leaves out stays as it was.
			if v.Type == "" {
				v.Type = prev.Type
			}
			if v.Description == "" {
				v.Description = prev.Description
			}
			if v.AllowedPattern == "" {
				v.AllowedPattern = prev.AllowedPattern
			}
			if v.KeyID == "" && v.Type == SecureString && prev.Type == SecureString {
				v.KeyID = prev.KeyID
			}
		}
		if v.Type == SecureString && v.KeyID == "" {
			v.KeyID = DefaultKeyID
		}
		if v.Type != SecureString {
			v.KeyID = ""
		}
		if v.AllowedPattern != "" {
			if len(v.AllowedPattern) > 1024 {
				return 0, errorf(Invalid, "1 validation error detected: Value at 'allowedPattern' failed to satisfy constraint: Member must have length less than or equal to 1024")
			}
			re, err := regexp.Compile(v.AllowedPattern)
			if err != nil {
				return 0, errorf(InvalidAllowedPattern, "The request includes an invalid regular expression: %v", err)
			}
			if !re.MatchString(in.Value) {
				return 0, errorf(PatternMismatch, "Parameter value, cannot be validated against allowedPattern: %s", v.AllowedPattern)
			}
		}
		v.Value = in.Value
		if v.Type == SecureString {
			if v.Value, err = s.sealer.seal(in.Name, in.Value); err != nil {
				return 0, err
			}
		}
		rec.Versions = append(rec.Versions, v)
		if len(rec.Versions) > MaxVersions {
			// AWS keeps the last 100 versions; a labelled oldest one blocks the put.
			if len(rec.Versions[0].Labels) > 0 {
				return 0, errorf(Conflict, "You attempted to create a new version of %s by calling the PutParameter API with the overwrite flag. Version %d, the oldest version, can't be deleted because it has a label associated with it. Move the label to another version of the parameter, and try again.", in.Name, rec.Versions[0].Version)
			}
			rec.Versions = slices.Delete(rec.Versions, 0, 1)
		}
		err = s.save(ctx, key, rec, rev)
		if errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			if attempt < 50 {
				continue // another writer won: read again
			}
		}
		if err != nil {
			return 0, err
		}
		return v.Version, nil
	}
}

func (s *Store) load(ctx context.Context, key string) (*record, uint64, error) {
	e, err := s.kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
		return nil, 0, &Error{Kind: NotFound}
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read parameter: %w", err)
	}
	var rec record
	if err := json.Unmarshal(e.Value(), &rec); err != nil || len(rec.Versions) == 0 {
		return nil, 0, fmt.Errorf("parameter record %s is damaged: %v", key, err)
	}
	return &rec, e.Revision(), nil
}

// save writes rec if the key is still at revision rev (0: absent).
func (s *Store) save(ctx context.Context, key string, rec *record, rev uint64) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	if rev == 0 {
		_, err = s.kv.Create(ctx, key, data)
	} else {
		_, err = s.kv.Update(ctx, key, data, rev)
	}
	return err
}

func notFound(name string) error {
	return errorf(NotFound, "Parameter %s not found.", name)
}

// SplitSelector splits name:version or name:label.
func SplitSelector(s string) (name, selector string) {
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// Get reads a parameter; sel is a name, name:version or name:label.
func (s *Store) Get(ctx context.Context, sel string, decrypt bool) (*Parameter, error) {
	name, which := SplitSelector(sel)
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	rec, _, err := s.load(ctx, paramKey(name))
	if IsKind(err, NotFound) {
		return nil, notFound(name)
	}
	if err != nil {
		return nil, err
	}
	v := rec.latest()
	if which != "" {
		v = nil
		if n, err := strconv.ParseInt(which, 10, 64); err == nil {
			for i := range rec.Versions {
				if rec.Versions[i].Version == n {
					v = &rec.Versions[i]
				}
			}
			if v == nil {
				return nil, errorf(VersionNotFound, "Systems Manager could not find version %d of %s. Verify the version and try again.", n, name)
			}
		} else {
			for i := range rec.Versions {
				if slices.Contains(rec.Versions[i].Labels, which) {
					v = &rec.Versions[i]
				}
			}
			if v == nil {
				return nil, errorf(VersionNotFound, "Systems Manager could not find label %s of %s. Verify the label and try again.", which, name)
			}
		}
	}
	return s.view(rec.Name, v, decrypt)
}

func (s *Store) view(name string, v *version, decrypt bool) (*Parameter, error) {
	p := &Parameter{Name: name, Type: v.Type, Value: v.Value, Version: v.Version, LastModifiedDate: v.Modified,
		Description: v.Description, AllowedPattern: v.AllowedPattern, KeyID: v.KeyID, Labels: v.Labels, DataType: v.DataType, LastModifiedUser: v.User}
	if p.DataType == "" {
		p.DataType = "text"
	}
	if v.Type == SecureString && decrypt {
		plain, err := s.sealer.open(name, v.Value)
		if err != nil {
			return nil, err
		}
		p.Value = plain
	}
	return p, nil
}

// History lists every kept version, oldest first.
func (s *Store) History(ctx context.Context, name string, decrypt bool) ([]Parameter, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	rec, _, err := s.load(ctx, paramKey(name))
	if IsKind(err, NotFound) {
		return nil, notFound(name)
	}
	if err != nil {
		return nil, err
	}
	out := make([]Parameter, 0, len(rec.Versions))
	for i := range rec.Versions {
		p, err := s.view(rec.Name, &rec.Versions[i], decrypt)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	return out, nil
}

// Delete removes a parameter with all its versions.
func (s *Store) Delete(ctx context.Context, name string) error {
	if err := ValidateName(name); err != nil {
		return err
	}
	key := paramKey(name)
	_, rev, err := s.load(ctx, key)
	if IsKind(err, NotFound) {
		return notFound(name)
	}
	if err != nil {
		return err
	}
	// Purge, not delete: a parameter made again starts at version 1.
	if err := s.kv.Purge(ctx, key, jetstream.LastRevision(rev)); err != nil {
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			return s.Delete(ctx, name) // changed meanwhile: still there, delete what is there now
		}
		return fmt.Errorf("delete parameter: %w", err)
	}
	return nil
}

// List returns the latest version of every parameter, sorted by name.
func (s *Store) List(ctx context.Context, decrypt bool) ([]Parameter, error) {
	return s.list(ctx, []string{"p.>"}, decrypt)
}

// ListPath returns the latest version of the parameters under path (see
// InPath), sorted by name; only their keys are read.
func (s *Store) ListPath(ctx context.Context, path string, recursive, decrypt bool) ([]Parameter, error) {
	all, err := s.list(ctx, pathFilters(path, recursive), decrypt)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(p Parameter) bool { return !InPath(p.Name, path, recursive) }), nil
}

func (s *Store) list(ctx context.Context, filters []string, decrypt bool) ([]Parameter, error) {
	w, err := s.kv.WatchFiltered(ctx, filters, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("list parameters: %w", err)
	}
	defer func() { _ = w.Stop() }()
	var out []Parameter
	for {
		var e jetstream.KeyValueEntry
		select {
		case e = <-w.Updates():
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if e == nil {
			break // the initial values are all delivered
		}
		var rec record
		if err := json.Unmarshal(e.Value(), &rec); err != nil || len(rec.Versions) == 0 {
			continue
		}
		p, err := s.view(rec.Name, rec.latest(), decrypt)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	slices.SortFunc(out, func(a, b Parameter) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// InPath reports whether name lies under path: directly, or anywhere below
// with recursive. Names without a leading slash sit at the root.
func InPath(name, path string, recursive bool) bool {
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	if !strings.HasSuffix(path, "/") {
		path += "/"
	}
	rest, ok := strings.CutPrefix(name, path)
	if !ok || rest == "" {
		return false
	}
	return recursive || !strings.Contains(rest, "/")
}

// ValidatePath checks a GetParametersByPath path.
func ValidatePath(path string) error {
	if path == "" || !strings.HasPrefix(path, "/") || len(path) > MaxNameLength || (path != "/" && !nameChars.MatchString(path)) {
		return errorf(Invalid, "The parameter doesn't meet the parameter name requirements. The parameter name must begin with a forward slash \"/\". It can't be prefixed with \"aws\" or \"ssm\" (case-insensitive). It must use only letters, numbers, or the following symbols: . (period), - (hyphen), _ (underscore). Special characters are not allowed. All sub-paths, if specified, must use the forward slash symbol \"/\". Valid example: /get/parameters2-/by1./path0_.")
	}
	if strings.Count(strings.Trim(path, "/"), "/")+1 > MaxLevels {
		return errorf(HierarchyLevelLimit, "The path %s has more than %d levels.", path, MaxLevels)
	}
	return nil
}

var labelChars = regexp.MustCompile(`^[a-zA-Z0-9_.\-]+$`)

func validLabel(l string) bool {
	if l == "" || utf8.RuneCountInString(l) > MaxLabelLength || !labelChars.MatchString(l) {
		return false
	}
	low := strings.ToLower(l)
	return !(l[0] >= '0' && l[0] <= '9') && !strings.HasPrefix(low, "aws") && !strings.HasPrefix(low, "ssm")
}

// Label attaches labels to a version (0: the latest), moving any of them
// from another version. Labels that break AWS's rules are returned, not
// attached.
func (s *Store) Label(ctx context.Context, name string, ver int64, labels []string) (invalid []string, labelled int64, err error) {
	if err := ValidateName(name); err != nil {
		return nil, 0, err
	}
	if len(labels) == 0 || len(labels) > MaxLabels {
		return nil, 0, errorf(Invalid, "1 validation error detected: Value at 'labels' failed to satisfy constraint: Member must have length between 1 and %d", MaxLabels)
	}
	key := paramKey(name)
	for attempt := 0; ; attempt++ {
		rec, rev, err := s.load(ctx, key)
		if IsKind(err, NotFound) {
			return nil, 0, notFound(name)
		}
		if err != nil {
			return nil, 0, err
		}
		target := rec.latest()
		if ver != 0 {
			target = nil
			for i := range rec.Versions {
				if rec.Versions[i].Version == ver {
					target = &rec.Versions[i]
				}
			}
			if target == nil {
				return nil, 0, errorf(VersionNotFound, "Systems Manager could not find version %d of %s. Verify the version and try again.", ver, name)
			}
		}
		invalid = invalid[:0]
		for _, l := range labels {
			if !validLabel(l) {
				invalid = append(invalid, l)
				continue
			}
			for i := range rec.Versions {
				rec.Versions[i].Labels = slices.DeleteFunc(rec.Versions[i].Labels, func(x string) bool { return x == l })
			}
			target.Labels = append(target.Labels, l)
		}
		if len(target.Labels) > MaxLabels {
			return nil, 0, errorf(LabelLimit, "A parameter version can have maximum %d labels. Move one or more labels to another version and try again.", MaxLabels)
		}
		err = s.save(ctx, key, rec, rev)
		if (errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)) && attempt < 50 {
			continue
		}
		if err != nil {
			return nil, 0, err
		}
		return invalid, target.Version, nil
	}
}
