package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/spf13/cobra"
)

func newTableCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "table",
		Short: "Read tables without the AWS CLI (scan, get)",
	}
	var typed bool
	var limit int
	scan := &cobra.Command{
		Use:   "scan NAME",
		Short: "Print every item of a table, one JSON object a line",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var start json.RawMessage
			printed := 0
			for {
				req := map[string]any{"TableName": args[0]}
				if start != nil {
					req["ExclusiveStartKey"] = start
				}
				var page struct {
					Items            []map[string]json.RawMessage
					LastEvaluatedKey json.RawMessage
				}
				if err := g.dynamoDB(cmd, "Scan", req, &page); err != nil {
					return err
				}
				for _, item := range page.Items {
					if limit > 0 && printed == limit {
						return nil
					}
					if err := printItem(cmd.OutOrStdout(), item, typed); err != nil {
						return err
					}
					printed++
				}
				if len(page.LastEvaluatedKey) == 0 || string(page.LastEvaluatedKey) == "null" {
					return nil
				}
				start = page.LastEvaluatedKey
			}
		},
	}
	scan.Flags().IntVar(&limit, "limit", 0, "print at most this many items (0: all)")
	get := &cobra.Command{
		Use:   "get NAME KEY-JSON",
		Short: `Print one item by its key, e.g. nimbus table get users '{"id":"u1"}'`,
		Long: "Print one item by its key. KEY-JSON is plain JSON ({\"id\":\"u1\",\"ts\":5}) or DynamoDB JSON\n" +
			"({\"id\":{\"S\":\"u1\"}}). The item is printed as plain JSON, or as DynamoDB JSON with --typed.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			key, err := keyFromJSON(args[1])
			if err != nil {
				return err
			}
			var out struct{ Item map[string]json.RawMessage }
			if err := g.dynamoDB(cmd, "GetItem", map[string]any{"TableName": args[0], "Key": key, "ConsistentRead": true}, &out); err != nil {
				return err
			}
			if out.Item == nil {
				return fmt.Errorf("no item with key %s in table %s", args[1], args[0])
			}
			return printItem(cmd.OutOrStdout(), out.Item, typed)
		},
	}
	for _, c := range []*cobra.Command{scan, get} {
		c.Flags().BoolVar(&typed, "typed", false, "print DynamoDB JSON ({\"S\":...}) instead of plain JSON")
	}
	cmd.AddCommand(scan, get)
	return cmd
}

// dynamoDB calls one DynamoDB operation on the platform, signed with the
// CLI's key.
func (g *globals) dynamoDB(cmd *cobra.Command, op string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(g.endpoint, "/")+"/", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
	if creds, ok := g.credentials(cmd); ok {
		sum := sha256.Sum256(body)
		c := aws.Credentials{AccessKeyID: creds.AccessKeyID, SecretAccessKey: creds.SecretAccessKey, SessionToken: creds.SessionToken}
		if err := v4.NewSigner().SignHTTP(ctx, c, req, hex.EncodeToString(sum[:]), "dynamodb", region(), time.Now()); err != nil {
			return err
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach nimbus at %s (is `nimbus up` running? set --endpoint or NIMBUS_ENDPOINT): %w", g.endpoint, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(data, &e)
		code := e.Type[strings.LastIndex(e.Type, "#")+1:]
		if code == "" {
			return fmt.Errorf("%s: the platform answered %s", op, resp.Status)
		}
		return fmt.Errorf("%s: %s: %s", op, code, e.Message)
	}
	return json.Unmarshal(data, out)
}

func printItem(w io.Writer, item map[string]json.RawMessage, typed bool) error {
	var out any = item
	if !typed {
		plain := make(map[string]any, len(item))
		for k, v := range item {
			p, err := plainValue(v)
			if err != nil {
				return err
			}
			plain[k] = p
		}
		out = plain
	}
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

// plainValue turns a DynamoDB JSON value into plain JSON, as the
// DocumentClient does: numbers stay exact, sets become sorted arrays and
// binary values their base64 text.
func plainValue(raw json.RawMessage) (any, error) {
	var v map[string]json.RawMessage
	if err := json.Unmarshal(raw, &v); err != nil || len(v) != 1 {
		return nil, fmt.Errorf("not a DynamoDB value: %s", raw)
	}
	for typ, x := range v {
		switch typ {
		case "S", "B":
			var s string
			err := json.Unmarshal(x, &s)
			return s, err
		case "N":
			var s string
			err := json.Unmarshal(x, &s)
			return json.Number(s), err
		case "BOOL":
			var b bool
			err := json.Unmarshal(x, &b)
			return b, err
		case "NULL":
			return nil, nil
		case "SS", "BS":
			var l []string
			err := json.Unmarshal(x, &l)
			sort.Strings(l)
			return l, err
		case "NS":
			var l []string
			if err := json.Unmarshal(x, &l); err != nil {
				return nil, err
			}
			out := make([]json.Number, len(l))
			for i, s := range l {
				out[i] = json.Number(s)
			}
			return out, nil
		case "L":
			var l []json.RawMessage
			if err := json.Unmarshal(x, &l); err != nil {
				return nil, err
			}
			out := make([]any, len(l))
			for i, e := range l {
				p, err := plainValue(e)
				if err != nil {
					return nil, err
				}
				out[i] = p
			}
			return out, nil
		case "M":
			var m map[string]json.RawMessage
			if err := json.Unmarshal(x, &m); err != nil {
				return nil, err
			}
			out := make(map[string]any, len(m))
			for k, e := range m {
				p, err := plainValue(e)
				if err != nil {
					return nil, err
				}
				out[k] = p
			}
			return out, nil
		}
		return nil, fmt.Errorf("unknown DynamoDB type %s", typ)
	}
	return nil, nil
}

// keyFromJSON reads a key given as plain JSON (strings and numbers) or as
// DynamoDB JSON, and returns it as DynamoDB JSON.
func keyFromJSON(text string) (map[string]any, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var in map[string]any
	if err := dec.Decode(&in); err != nil || in == nil {
		return nil, errors.New(`KEY-JSON must be a JSON object, e.g. '{"id":"u1"}' or '{"id":{"S":"u1"}}'`)
	}
	out := make(map[string]any, len(in))
	for k, v := range in {
		switch x := v.(type) {
		case string:
			out[k] = map[string]string{"S": x}
		case json.Number:
			out[k] = map[string]string{"N": x.String()}
		case map[string]any:
			if len(x) != 1 {
				return nil, fmt.Errorf("key attribute %s: give a string, a number or one DynamoDB value such as {\"S\":\"u1\"}", k)
			}
			for typ, val := range x {
				s, ok := val.(string)
				if !ok || (typ != "S" && typ != "B") {
					if n, isNum := val.(json.Number); !(typ == "N" && (ok || isNum)) {
						return nil, fmt.Errorf("key attribute %s: a key is a string (S), number (N) or binary (B)", k)
					} else if isNum {
						s = n.String()
					}
				}
				out[k] = map[string]string{typ: s}
			}
		default:
			return nil, fmt.Errorf("key attribute %s: a key is a string or a number", k)
		}
	}
	return out, nil
}
