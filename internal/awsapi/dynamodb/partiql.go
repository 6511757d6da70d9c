package dynamodb

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strconv"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/tables"
)

// statementIn is a PartiQL statement as ExecuteStatement,
// BatchExecuteStatement and ExecuteTransaction take it.
type statementIn struct {
	Statement                           string
	Parameters                          []wireValue
	ConsistentRead                      bool
	ReturnValuesOnConditionCheckFailure string
}

func (s statementIn) core() tables.StatementInput {
	params := make([]tables.Value, len(s.Parameters))
	for i, p := range s.Parameters {
		params[i] = tables.Value(p)
	}
	return tables.StatementInput{Statement: s.Statement, Parameters: params, ConsistentRead: s.ConsistentRead,
		ReturnOldOnFailure: s.ReturnValuesOnConditionCheckFailure == "ALL_OLD"}
}

// authorizeStatement checks the PartiQL action of a statement (PartiQLSelect
// on the index when it reads one) before it runs.
func (a *API) authorizeStatement(ctx context.Context, in tables.StatementInput) error {
	verb, table, index, err := tables.StatementTarget(in)
	if err != nil {
		return err
	}
	arn := a.Tables.ARN(table)
	if index != "" {
		arn += "/index/" + index
	}
	action := "PartiQL" + strings.ToUpper(verb[:1]) + strings.ToLower(verb[1:])
	if a.restricted(ctx) {
		// Which attributes a statement reads or writes is not worked out
		// from its text: under a dynamodb:Attributes condition it is refused.
		keys := scanKeys()
		keys.Unknowable = append(keys.Unknowable, AttributesKey)
		return a.authorizeMulti(ctx, action, arn, keys)
	}
	return a.authorize(ctx, action, arn)
}

func (a *API) executeStatement(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		statementIn
		Limit                  *int
		NextToken              string
		ReturnConsumedCapacity string
	}](body)
	if err != nil {
		return nil, err
	}
	req := in.core()
	req.NextToken = in.NextToken
	if in.Limit != nil {
		if *in.Limit < 1 {
			return nil, validation("1 validation error detected: Value '" + itoa(*in.Limit) + "' at 'limit' failed to satisfy constraint: Member must have value greater than or equal to 1")
		}
		req.Limit = *in.Limit
	}
	if err := a.authorizeStatement(ctx, req); err != nil {
		return nil, err
	}
	out, err := a.Tables.ExecuteStatement(ctx, req)
	if err != nil {
		return nil, err
	}
	resp := map[string]any{"Items": items(out.Items)}
	if out.NextToken != "" {
		resp["NextToken"] = out.NextToken
		resp["LastEvaluatedKey"] = wireItem(out.LastEvaluatedKey)
	}
	if want, err := capacityMode(in.ReturnConsumedCapacity); err != nil {
		return nil, err
	} else if want && out.Table != "" {
		data, err := json.Marshal(resp)
		if err != nil {
			return nil, err
		}
		u := tables.ReadUnits(out.ReadBytes, in.ConsistentRead)
		c := &tables.Consumed{Table: u}
		if out.Index != "" {
			c = &tables.Consumed{Indexes: map[string]float64{out.Index: u}}
		}
		return a.withCapacity(rawBody(data), out.Table, in.ReturnConsumedCapacity, c, true), nil
	}
	return resp, nil
}

func itoa(n int) string { return strconv.Itoa(n) }

// errorCode is the code of a core error inside a batch answer
// (ConditionalCheckFailed, DuplicateItem, ...).
func errorCode(err error) (code, msg string) {
	var te *tables.Error
	if !errors.As(err, &te) {
		return "InternalServerError", "Internal server error"
	}
	code = map[tables.ErrorKind]string{
		tables.KindValidation:      "ValidationError",
		tables.KindNotFound:        "ResourceNotFound",
		tables.KindConditionFailed: "ConditionalCheckFailed",
		tables.KindDuplicateItem:   "DuplicateItem",
	}[te.Kind]
	if code == "" {
		code = "InternalServerError"
	}
	return code, te.Message
}

func (a *API) batchExecuteStatement(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		Statements []statementIn
	}](body)
	if err != nil {
		return nil, err
	}
	req := make([]tables.StatementInput, len(in.Statements))
	for i, st := range in.Statements {
		req[i] = st.core()
		// A statement that does not parse answers its own error below.
		if _, _, _, perr := tables.StatementTarget(req[i]); perr == nil {
			if err := a.authorizeStatement(ctx, req[i]); err != nil {
				return nil, err
			}
		}
	}
	res, err := a.Tables.BatchExecuteStatement(ctx, req)
	if err != nil {
		return nil, err
	}
	type batchError struct {
		Code    string
		Message string
		Item    wireItem `json:",omitempty"`
	}
	type response struct {
		TableName string      `json:",omitempty"`
		Item      wireItem    `json:",omitempty"`
		Error     *batchError `json:",omitempty"`
	}
	out := make([]response, len(res))
	for i, r := range res {
		out[i] = response{TableName: r.Table, Item: wireItem(r.Item)}
		if r.Err != nil {
			code, msg := errorCode(r.Err)
			out[i].Error = &batchError{Code: code, Message: msg}
			var te *tables.Error
			if errors.As(r.Err, &te) && te.Item != nil {
				out[i].Error.Item = wireItem(te.Item)
			}
		}
	}
	return map[string]any{"Responses": out}, nil
}

func (a *API) executeTransaction(ctx context.Context, body []byte) (any, error) {
	in, err := decode[struct {
		TransactStatements []statementIn
		ClientRequestToken string
	}](body)
	if err != nil {
		return nil, err
	}
	req := make([]tables.StatementInput, len(in.TransactStatements))
	for i, st := range in.TransactStatements {
		req[i] = st.core()
		if err := a.authorizeStatement(ctx, req[i]); err != nil {
			return nil, err
		}
	}
	var fingerprint []byte
	if in.ClientRequestToken != "" {
		sum := sha256.Sum256(body)
		fingerprint = sum[:]
	}
	res, err := a.Tables.ExecuteTransaction(ctx, req, in.ClientRequestToken, fingerprint)
	if err != nil {
		return nil, err
	}
	if res == nil {
		return map[string]any{}, nil
	}
	type response struct {
		Item wireItem `json:",omitempty"`
	}
	out := make([]response, len(res))
	for i, it := range res {
		out[i].Item = wireItem(it)
	}
	return map[string]any{"Responses": out}, nil
}
