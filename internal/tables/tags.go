package tables

import (
	"context"
	"sort"
	"strings"
)

// Tag is a key and value attached to a table.
type Tag struct {
	Key   string
	Value string
}

// maxTags is DynamoDB's limit of tags per resource.
const maxTags = 50

// tableByARN finds the table an ARN names (a table's, or one of its indexes');
// the caller holds s.mu.
func (s *Service) tableByARN(arn string) (*Table, error) {
	_, rest, ok := strings.Cut(arn, ":table/")
	name, _, _ := strings.Cut(rest, "/")
	if !ok || name == "" || !strings.HasPrefix(arn, "arn:") {
		return nil, validationf("Invalid TableArn: Invalid ResourceArn provided as input %s", arn)
	}
	t := s.tables[name]
	if t == nil || t.ARN != arn {
		return nil, &Error{Kind: KindNotFound, Message: "Requested resource not found: ResourceArn: " + arn + " not found"}
	}
	return t, nil
}

// TagResource adds or replaces tags of a table.
func (s *Service) TagResource(ctx context.Context, arn string, tags []Tag) error {
	if len(tags) == 0 {
		return validationf("1 validation error detected: Value null at 'tags' failed to satisfy constraint: Member must not be null")
	}
	for _, tag := range tags {
		if len(tag.Key) < 1 || len(tag.Key) > 128 || strings.HasPrefix(tag.Key, "aws:") {
			return validationf("One or more parameter values were invalid: Tag key %q is invalid: it must be 1 to 128 characters and not start with aws:", tag.Key)
		}
		if len(tag.Value) > 256 {
			return validationf("One or more parameter values were invalid: The value of tag %s is longer than 256 characters", tag.Key)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.tableByARN(arn)
	if err != nil {
		return err
	}
	next := make(map[string]string, len(t.Tags)+len(tags))
	for k, v := range t.Tags {
		next[k] = v
	}
	for _, tag := range tags {
		next[tag.Key] = tag.Value
	}
	if len(next) > maxTags {
		return &Error{Kind: KindLimitExceeded, Message: "The number of tags on the resource would exceed the limit of 50"}
	}
	return s.setTags(t, next)
}

// UntagResource removes tags of a table by key.
func (s *Service) UntagResource(ctx context.Context, arn string, keys []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.tableByARN(arn)
	if err != nil {
		return err
	}
	next := make(map[string]string, len(t.Tags))
	for k, v := range t.Tags {
		next[k] = v
	}
	for _, k := range keys {
		delete(next, k)
	}
	return s.setTags(t, next)
}

func (s *Service) setTags(t *Table, tags map[string]string) error {
	old := t.Tags
	t.Tags = tags
	if err := s.saveMeta(t); err != nil {
		t.Tags = old
		return err
	}
	return nil
}

// ListTagsOfResource returns a table's tags, sorted by key.
func (s *Service) ListTagsOfResource(ctx context.Context, arn string) ([]Tag, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, err := s.tableByARN(arn)
	if err != nil {
		return nil, err
	}
	out := make([]Tag, 0, len(t.Tags))
	for k, v := range t.Tags {
		out = append(out, Tag{Key: k, Value: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}
