package dynamodb_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// TestPartiQL: ExecuteStatement runs INSERT (refused for an existing item
// with DuplicateItemException), SELECT by key (a Query: sort key
// conditions, projection, a filter) and without (a Scan), paged by Limit
// and NextToken, UPDATE (SET, arithmetic, REMOVE, a condition, RETURNING,
// refused without the full key and for a missing item) and DELETE, with ?
// parameters, and DynamoDB's errors for bad statements.
func TestPartiQL(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	createTable(t, c, "music", "sk")
	exec := func(stmt string, params ...types.AttributeValue) (*dynamodb.ExecuteStatementOutput, error) {
		return c.ExecuteStatement(ctx, &dynamodb.ExecuteStatementInput{Statement: aws.String(stmt), Parameters: params})
	}
	must := func(stmt string, params ...types.AttributeValue) *dynamodb.ExecuteStatementOutput {
		t.Helper()
		out, err := exec(stmt, params...)
		if err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
		return out
	}
	for i := 1; i <= 5; i++ {
		must(`INSERT INTO music VALUE {'pk': 'band', 'sk': ?, 'name': ?, 'plays': 0, 'tags': <<'a', 'b'>>, 'info': {'year': 1990, 'live': true}}`,
			n(fmt.Sprint(i)), s(fmt.Sprint("song", i)))
	}
	must(`INSERT INTO "music" VALUE {'pk': 'solo', 'sk': 1, 'name': 'x'}`)
	_, err := exec(`INSERT INTO music VALUE {'pk': 'band', 'sk': 3, 'name': 'again'}`)
	var dup *types.DuplicateItemException
	if !errors.As(err, &dup) {
		t.Fatalf("INSERT of an existing item: %v, want DuplicateItemException", err)
	}

	names := func(out *dynamodb.ExecuteStatementOutput) string {
		var got string
		for _, it := range out.Items {
			got += it["name"].(*types.AttributeValueMemberS).Value + " "
		}
		return got
	}
	if got := names(must(`SELECT * FROM music WHERE pk = 'band' AND sk BETWEEN 2 AND 4`)); got != "song2 song3 song4 " {
		t.Errorf("query by key: %q", got)
	}
	if got := names(must(`SELECT name FROM music WHERE pk = ? AND sk >= 4 AND name <> 'song5'`, s("band"))); got != "song4 " {
		t.Errorf("query with a filter: %q", got)
	}
	out := must(`SELECT name, info.year FROM music WHERE pk = 'band' AND sk = 1`)
	if len(out.Items) != 1 || len(out.Items[0]) != 2 || out.Items[0]["info"].(*types.AttributeValueMemberM).Value["year"].(*types.AttributeValueMemberN).Value != "1990" {
		t.Errorf("projection: %v", out.Items)
	}
	if got := names(must(`SELECT * FROM music WHERE name IN ['song1', 'x'] OR begins_with(name, 'song5')`)); len(got) != len("song1 song5 x ") {
		t.Errorf("scan with a filter: %q", got)
	}
	// Paging: Limit and NextToken over the 6 items.
	seen := 0
	var token *string
	for pages := 0; ; pages++ {
		page, err := c.ExecuteStatement(ctx, &dynamodb.ExecuteStatementInput{Statement: aws.String(`SELECT * FROM music`), Limit: aws.Int32(4), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		seen += len(page.Items)
		if token = page.NextToken; token == nil {
			break
		}
		if pages > 3 {
			t.Fatal("paging does not end")
		}
	}
	if seen != 6 {
		t.Errorf("paged SELECT saw %d items, want 6", seen)
	}

	must(`UPDATE music SET plays = plays + 5 SET info.live = false REMOVE tags WHERE pk = 'band' AND sk = 2`)
	got := must(`SELECT * FROM music WHERE pk = 'band' AND sk = 2`).Items[0]
	if got["plays"].(*types.AttributeValueMemberN).Value != "5" || got["tags"] != nil || got["info"].(*types.AttributeValueMemberM).Value["live"].(*types.AttributeValueMemberBOOL).Value {
		t.Errorf("after UPDATE: %v", got)
	}
	ret := must(`UPDATE music SET plays = ? WHERE pk = 'band' AND sk = 2 AND plays = 5 RETURNING ALL OLD *`, n("9"))
	if len(ret.Items) != 1 || ret.Items[0]["plays"].(*types.AttributeValueMemberN).Value != "5" {
		t.Errorf("RETURNING ALL OLD: %v", ret.Items)
	}
	_, err = exec(`UPDATE music SET plays = 1 WHERE pk = 'band' AND sk = 2 AND plays = 5`)
	apiError(t, err, "ConditionalCheckFailedException", "")
	_, err = exec(`UPDATE music SET plays = 1 WHERE pk = 'band' AND sk = 99`)
	apiError(t, err, "ConditionalCheckFailedException", "")
	_, err = exec(`UPDATE music SET plays = 1 WHERE pk = 'band'`)
	apiError(t, err, "ValidationException", "Where clause does not contain a mandatory equality on all key attributes")

	must(`DELETE FROM music WHERE pk = 'band' AND sk = 5`)
	must(`DELETE FROM music WHERE pk = 'band' AND sk = 5`) // absent: nothing to do
	if out := must(`SELECT * FROM music WHERE pk = 'band'`); len(out.Items) != 4 {
		t.Errorf("after DELETE: %d items", len(out.Items))
	}

	for stmt, want := range map[string]string{
		`SELEC * FROM music`:                  "Statement wasn't well formed",
		`SELECT * FROM music WHERE pk = ?`:    "Number of parameters in request and statement don't match",
		`SELECT * FROM music WHERE`:           "Statement wasn't well formed",
		`INSERT INTO music VALUE {'pk': 'x'}`: "Missing the key sk in the item",
	} {
		_, err := exec(stmt)
		apiError(t, err, "ValidationException", want)
	}
	_, err = exec(`SELECT * FROM nope`)
	apiError(t, err, "ResourceNotFoundException", "")
}

// TestPartiQLBatchAndTransaction: BatchExecuteStatement answers each
// statement on its own (an item, or an error with its code);
// ExecuteTransaction applies writes all together or not at all, and reads
// items in one snapshot.
func TestPartiQLBatchAndTransaction(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	createTable(t, c, "accounts", "")
	stmts := func(list ...string) []types.BatchStatementRequest {
		var out []types.BatchStatementRequest
		for _, s := range list {
			out = append(out, types.BatchStatementRequest{Statement: aws.String(s)})
		}
		return out
	}
	b, err := c.BatchExecuteStatement(ctx, &dynamodb.BatchExecuteStatementInput{Statements: stmts(
		`INSERT INTO accounts VALUE {'pk': 'a', 'bal': 10}`,
		`INSERT INTO accounts VALUE {'pk': 'b', 'bal': 5}`,
		`INSERT INTO accounts VALUE {'pk': 'a', 'bal': 99}`,
	)})
	if err != nil {
		t.Fatal(err)
	}
	if b.Responses[0].Error != nil || b.Responses[1].Error != nil || b.Responses[2].Error == nil || b.Responses[2].Error.Code != types.BatchStatementErrorCodeEnumDuplicateItem {
		t.Fatalf("batch writes: %+v", b.Responses)
	}
	b, err = c.BatchExecuteStatement(ctx, &dynamodb.BatchExecuteStatementInput{Statements: stmts(
		`SELECT * FROM accounts WHERE pk = 'a'`, `SELECT bal FROM accounts WHERE pk = 'zz'`, `SELECT * FROM accounts WHERE bal = 1`,
	)})
	if err != nil {
		t.Fatal(err)
	}
	if b.Responses[0].Item["bal"].(*types.AttributeValueMemberN).Value != "10" || b.Responses[1].Item != nil || b.Responses[1].Error != nil ||
		b.Responses[2].Error == nil || b.Responses[2].Error.Code != types.BatchStatementErrorCodeEnumValidationError {
		t.Fatalf("batch reads: %+v", b.Responses)
	}

	transfer := func(amount int) error {
		_, err := c.ExecuteTransaction(ctx, &dynamodb.ExecuteTransactionInput{TransactStatements: []types.ParameterizedStatement{
			{Statement: aws.String(`UPDATE accounts SET bal = bal - ? WHERE pk = 'a' AND bal >= ?`), Parameters: []types.AttributeValue{n(fmt.Sprint(amount)), n(fmt.Sprint(amount))}},
			{Statement: aws.String(`UPDATE accounts SET bal = bal + ? WHERE pk = 'b'`), Parameters: []types.AttributeValue{n(fmt.Sprint(amount))}},
		}})
		return err
	}
	if err := transfer(7); err != nil {
		t.Fatal(err)
	}
	var tce *types.TransactionCanceledException
	if err := transfer(7); !errors.As(err, &tce) {
		t.Fatalf("overdraft: %v, want TransactionCanceledException", err)
	}
	r, err := c.ExecuteTransaction(ctx, &dynamodb.ExecuteTransactionInput{TransactStatements: []types.ParameterizedStatement{
		{Statement: aws.String(`SELECT * FROM accounts WHERE pk = 'a'`)}, {Statement: aws.String(`SELECT * FROM accounts WHERE pk = 'b'`)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if a, b := r.Responses[0].Item["bal"].(*types.AttributeValueMemberN).Value, r.Responses[1].Item["bal"].(*types.AttributeValueMemberN).Value; a != "3" || b != "12" {
		t.Fatalf("balances after one transfer and one refused: a=%s b=%s, want 3 and 12", a, b)
	}
}
