package dynamodb_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

type item = map[string]types.AttributeValue

func TestPutGetDeleteEveryType(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	createTable(t, c, "things", "")
	full := item{
		"pk":   s("k1"),
		"s":    s("héllo"),
		"e":    s(""),
		"n":    n("-12.50"),
		"b":    &types.AttributeValueMemberB{Value: []byte{0, 1, 2, 255}},
		"t":    &types.AttributeValueMemberBOOL{Value: true},
		"f":    &types.AttributeValueMemberBOOL{Value: false},
		"null": &types.AttributeValueMemberNULL{Value: true},
		"m":    &types.AttributeValueMemberM{Value: item{"nested": s("x"), "deep": &types.AttributeValueMemberM{Value: item{"z": n("1")}}}},
		"l":    &types.AttributeValueMemberL{Value: []types.AttributeValue{s("a"), n("2"), &types.AttributeValueMemberL{Value: []types.AttributeValue{}}}},
		"ss":   &types.AttributeValueMemberSS{Value: []string{"a", "b"}},
		"ns":   &types.AttributeValueMemberNS{Value: []string{"1", "2.5"}},
		"bs":   &types.AttributeValueMemberBS{Value: [][]byte{{1}, {2, 3}}},
	}
	put, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("things"), Item: full, ReturnValues: types.ReturnValueAllOld})
	if err != nil {
		t.Fatal(err)
	}
	if len(put.Attributes) != 0 {
		t.Fatalf("ALL_OLD of a new item = %v", put.Attributes)
	}
	got, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("things"), Key: item{"pk": s("k1")}, ConsistentRead: aws.Bool(true)})
	if err != nil {
		t.Fatal(err)
	}
	want := full
	want["n"] = n("-12.5") // DynamoDB returns numbers in canonical form
	if !reflect.DeepEqual(got.Item, want) {
		t.Fatalf("got  %#v\nwant %#v", got.Item, want)
	}
	// Overwrite returns the old item with ALL_OLD.
	put, err = c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("things"), Item: item{"pk": s("k1"), "v": n("2")}, ReturnValues: types.ReturnValueAllOld})
	if err != nil || !reflect.DeepEqual(put.Attributes, want) {
		t.Fatalf("ALL_OLD = %v, %v", put.Attributes, err)
	}
	got, _ = c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("things"), Key: item{"pk": s("k1")}, ProjectionExpression: aws.String("v")})
	if !reflect.DeepEqual(got.Item, item{"v": n("2")}) {
		t.Fatalf("projected get = %v", got.Item)
	}
	del, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: aws.String("things"), Key: item{"pk": s("k1")}, ReturnValues: types.ReturnValueAllOld})
	if err != nil || !reflect.DeepEqual(del.Attributes, item{"pk": s("k1"), "v": n("2")}) {
		t.Fatalf("delete ALL_OLD = %v, %v", del.Attributes, err)
	}
	got, err = c.GetItem(ctx, &dynamodb.GetItemInput{TableName: aws.String("things"), Key: item{"pk": s("k1")}})
	if err != nil || got.Item != nil {
		t.Fatalf("get after delete = %v, %v", got.Item, err)
	}
}

func TestItemValidation(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	createTable(t, c, "events", "ts")
	tbl := aws.String("events")
	big := strings.Repeat("x", 400*1024)
	for _, tc := range []struct {
		name string
		call func() error
		code string
		msg  string
	}{
		{"missing key", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: item{"pk": s("a")}})
			return err
		}, "ValidationException", "One or more parameter values were invalid: Missing the key ts in the item"},
		{"wrong key type", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: item{"pk": n("1"), "ts": n("1")}})
			return err
		}, "ValidationException", "One or more parameter values were invalid: Type mismatch for key pk expected: S actual: N"},
		{"empty string key", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: item{"pk": s(""), "ts": n("1")}})
			return err
		}, "ValidationException", "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: pk"},
		{"get with partial key", func() error {
			_, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: tbl, Key: item{"pk": s("a")}})
			return err
		}, "ValidationException", "The provided key element does not match the schema"},
		{"get with extra attribute", func() error {
			_, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: tbl, Key: item{"pk": s("a"), "ts": n("1"), "x": s("y")}})
			return err
		}, "ValidationException", "The provided key element does not match the schema"},
		{"item too large", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: item{"pk": s("a"), "ts": n("1"), "big": s(big)}})
			return err
		}, "ValidationException", "Item size has exceeded the maximum allowed size"},
		{"missing table", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("nothere"), Item: item{"pk": s("a")}})
			return err
		}, "ResourceNotFoundException", "Requested resource not found"},
		{"empty set", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: item{"pk": s("a"), "ts": n("1"), "ss": &types.AttributeValueMemberSS{Value: []string{}}}})
			return err
		}, "ValidationException", "set  may not be empty"},
		{"duplicate in set", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: item{"pk": s("a"), "ts": n("1"), "ns": &types.AttributeValueMemberNS{Value: []string{"1", "1.0"}}}})
			return err
		}, "ValidationException", "contains duplicates"},
		{"bad number", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: item{"pk": s("a"), "ts": n("one")}})
			return err
		}, "ValidationException", "A value provided cannot be converted into a number"},
		{"nesting over 32 levels", func() error {
			var deep types.AttributeValue = s("bottom")
			for i := 0; i < 33; i++ {
				deep = &types.AttributeValueMemberL{Value: []types.AttributeValue{deep}}
			}
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: item{"pk": s("a"), "ts": n("1"), "deep": deep}})
			return err
		}, "ValidationException", "Nesting Levels have exceeded supported limits"},
		{"ReturnValues on put", func() error {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: item{"pk": s("a"), "ts": n("1")}, ReturnValues: types.ReturnValueAllNew})
			return err
		}, "ValidationException", "ReturnValues can only be ALL_OLD or NONE"},
	} {
		t.Run(tc.name, func(t *testing.T) { apiError(t, tc.call(), tc.code, tc.msg) })
	}
	// Nothing above was written.
	sc, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: tbl})
	if err != nil || sc.Count != 0 {
		t.Fatalf("scan = %v, %v", sc, err)
	}
}

func TestConditionExpressions(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	createTable(t, c, "cond", "")
	tbl := aws.String("cond")
	base := item{"pk": s("a"), "n": n("5"), "s": s("hello world"), "l": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("x"), n("1")}},
		"ss": &types.AttributeValueMemberSS{Value: []string{"red", "blue"}}, "m": &types.AttributeValueMemberM{Value: item{"k": s("v")}}, "nul": &types.AttributeValueMemberNULL{Value: true}}
	if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: base}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		expr   string
		names  map[string]string
		values item
		pass   bool
	}{
		{"attribute_exists(pk)", nil, nil, true},
		{"attribute_not_exists(pk)", nil, nil, false},
		{"attribute_not_exists(#x)", map[string]string{"#x": "missing"}, nil, true},
		{"n = :v", nil, item{":v": n("5.0")}, true},
		{"n <> :v", nil, item{":v": n("5")}, false},
		{"n < :v", nil, item{":v": n("10")}, true},
		{"n <= :v", nil, item{":v": n("4")}, false},
		{"n > :v", nil, item{":v": s("4")}, false}, // different types never compare
		{"n >= :v", nil, item{":v": n("5")}, true},
		{"n BETWEEN :a AND :b", nil, item{":a": n("1"), ":b": n("5")}, true},
		{"n IN (:a, :b)", nil, item{":a": n("1"), ":b": n("5")}, true},
		{"n IN (:a)", nil, item{":a": n("1")}, false},
		{"begins_with(s, :p)", nil, item{":p": s("hello")}, true},
		{"contains(s, :p)", nil, item{":p": s("o w")}, true},
		{"contains(ss, :p)", nil, item{":p": s("red")}, true},
		{"contains(l, :p)", nil, item{":p": n("1")}, true},
		{"contains(ss, :p)", nil, item{":p": s("green")}, false},
		{"size(s) = :n", nil, item{":n": n("11")}, true},
		{"size(l) > :n", nil, item{":n": n("2")}, false},
		{"attribute_type(nul, :t)", nil, item{":t": s("NULL")}, true},
		{"attribute_type(n, :t)", nil, item{":t": s("S")}, false},
		{"m.k = :v", nil, item{":v": s("v")}, true},
		{"#m.#k = :v", map[string]string{"#m": "m", "#k": "k"}, item{":v": s("v")}, true},
		{"l[0] = :v", nil, item{":v": s("x")}, true},
		{"l[5] = :v", nil, item{":v": s("x")}, false},
		{"NOT n = :v", nil, item{":v": n("5")}, false},
		{"n = :a OR n = :b", nil, item{":a": n("1"), ":b": n("5")}, true},
		{"n = :a AND (s = :b OR s = :c)", nil, item{":a": n("5"), ":b": s("no"), ":c": s("hello world")}, true},
		{"n = :a and not (s = :b)", nil, item{":a": n("5"), ":b": s("no")}, true},
		{"absent <> :v", nil, item{":v": n("1")}, true},
	} {
		t.Run(tc.expr, func(t *testing.T) {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: base, ConditionExpression: aws.String(tc.expr),
				ExpressionAttributeNames: tc.names, ExpressionAttributeValues: tc.values})
			if tc.pass && err != nil {
				t.Fatalf("condition failed: %v", err)
			}
			if !tc.pass {
				var ccf *types.ConditionalCheckFailedException
				if !errors.As(err, &ccf) || *ccf.Message != "The conditional request failed" {
					t.Fatalf("error = %v, want ConditionalCheckFailedException", err)
				}
			}
		})
	}
	// ReturnValuesOnConditionCheckFailure gives the item as it is.
	_, err := c.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: tbl, Key: item{"pk": s("a")}, ConditionExpression: aws.String("n = :v"),
		ExpressionAttributeValues: item{":v": n("6")}, ReturnValuesOnConditionCheckFailure: types.ReturnValuesOnConditionCheckFailureAllOld})
	var ccf *types.ConditionalCheckFailedException
	if !errors.As(err, &ccf) || !reflect.DeepEqual(ccf.Item["n"], n("5")) {
		t.Fatalf("error = %v, want ConditionalCheckFailedException with the item", err)
	}

	for _, tc := range []struct {
		expr   string
		names  map[string]string
		values item
		msg    string
	}{
		{"n = :v", nil, item{":v": n("1"), ":w": n("2")}, "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}"},
		{"n = :v", map[string]string{"#a": "x"}, item{":v": n("1")}, "Value provided in ExpressionAttributeNames unused in expressions: keys: {#a}"},
		{"n = :v", nil, nil, "An expression attribute value used in expression is not defined; attribute value: :v"},
		{"#n = :v", nil, item{":v": n("1")}, "An expression attribute name used in the document path is not defined; attribute name: #n"},
		{"n = = :v", nil, item{":v": n("1")}, "Invalid ConditionExpression: Syntax error; token: \"=\""},
		{"n BETWEEN :a AND :b", nil, item{":a": n("5"), ":b": n("1")}, "The BETWEEN operator requires upper bound to be greater than or equal to lower bound"},
		{"attribute_type(n, :t)", nil, item{":t": s("X")}, "Invalid attribute type name found; type: X"},
		{"nosuch(n)", nil, nil, "Invalid function name; function: nosuch"},
	} {
		t.Run("invalid "+tc.expr, func(t *testing.T) {
			_, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: base, ConditionExpression: aws.String(tc.expr),
				ExpressionAttributeNames: tc.names, ExpressionAttributeValues: tc.values})
			apiError(t, err, "ValidationException", tc.msg)
		})
	}
	_, err = c.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: base, ExpressionAttributeValues: item{":v": n("1")}})
	apiError(t, err, "ValidationException", "ExpressionAttributeValues can only be specified when using expressions")
}

func TestUpdateExpressions(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	createTable(t, c, "upd", "")
	tbl := aws.String("upd")
	key := item{"pk": s("a")}
	start := item{"pk": s("a"), "n": n("10"), "l": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("x"), s("y"), s("z")}},
		"m":  &types.AttributeValueMemberM{Value: item{"k": s("v"), "nested": &types.AttributeValueMemberM{Value: item{}}}},
		"ss": &types.AttributeValueMemberSS{Value: []string{"a", "b"}}, "gone": s("bye")}
	for _, tc := range []struct {
		name   string
		expr   string
		values item
		rv     types.ReturnValue
		check  func(t *testing.T, after item, attrs item)
	}{
		{"arithmetic", "SET n = n + :one, m2 = :two - n", item{":one": n("1"), ":two": n("2")}, types.ReturnValueAllNew, func(t *testing.T, after, attrs item) {
			eq(t, after["n"], n("11"))
			eq(t, after["m2"], n("-8")) // operands read the item before the update
			eq(t, attrs["n"], n("11"))
		}},
		{"38-digit arithmetic", "SET big = :a + :b", item{":a": n("99999999999999999999999999999999999998"), ":b": n("1")}, types.ReturnValueNone, func(t *testing.T, after, _ item) {
			eq(t, after["big"], n("99999999999999999999999999999999999999"))
		}},
		{"if_not_exists", "SET c = if_not_exists(c, :z), n = if_not_exists(n, :z)", item{":z": n("0")}, types.ReturnValueUpdatedNew, func(t *testing.T, after, attrs item) {
			eq(t, after["c"], n("0"))
			eq(t, after["n"], n("10"))
			if len(attrs) != 2 {
				t.Fatalf("UPDATED_NEW = %v", attrs)
			}
		}},
		{"list_append and indexes", "SET l = list_append(:more, l), head = l[0]", item{":more": &types.AttributeValueMemberL{Value: []types.AttributeValue{s("w")}}}, types.ReturnValueNone, func(t *testing.T, after, _ item) {
			eq(t, after["l"], &types.AttributeValueMemberL{Value: []types.AttributeValue{s("w"), s("x"), s("y"), s("z")}})
			eq(t, after["head"], s("x"))
		}},
		{"index past the end appends", "SET l[10] = :x", item{":x": s("X")}, types.ReturnValueNone, func(t *testing.T, after, _ item) {
			eq(t, after["l"], &types.AttributeValueMemberL{Value: []types.AttributeValue{s("x"), s("y"), s("z"), s("X")}})
		}},
		{"nested map", "SET m.nested.deep = :v, m.k = :w", item{":v": n("1"), ":w": s("changed")}, types.ReturnValueUpdatedOld, func(t *testing.T, after, attrs item) {
			eq(t, after["m"], &types.AttributeValueMemberM{Value: item{"k": s("changed"), "nested": &types.AttributeValueMemberM{Value: item{"deep": n("1")}}}})
			eq(t, attrs["m"], &types.AttributeValueMemberM{Value: item{"k": s("v")}})
		}},
		{"remove", "REMOVE gone, l[1], l[0]", nil, types.ReturnValueAllOld, func(t *testing.T, after, attrs item) {
			if _, ok := after["gone"]; ok {
				t.Fatal("gone is still there")
			}
			eq(t, after["l"], &types.AttributeValueMemberL{Value: []types.AttributeValue{s("z")}})
			eq(t, attrs["gone"], s("bye"))
		}},
		{"add and delete", "ADD n :five, tags :cd, newn :five DELETE ss :a", item{":five": n("5"), ":cd": &types.AttributeValueMemberSS{Value: []string{"c", "d"}}, ":a": &types.AttributeValueMemberSS{Value: []string{"a"}}}, types.ReturnValueNone, func(t *testing.T, after, _ item) {
			eq(t, after["n"], n("15"))
			eq(t, after["newn"], n("5"))
			eq(t, after["ss"], &types.AttributeValueMemberSS{Value: []string{"b"}})
			eq(t, after["tags"], &types.AttributeValueMemberSS{Value: []string{"c", "d"}})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: tbl, Item: start}); err != nil {
				t.Fatal(err)
			}
			out, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: key, UpdateExpression: aws.String(tc.expr), ExpressionAttributeValues: tc.values, ReturnValues: tc.rv})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.GetItem(ctx, &dynamodb.GetItemInput{TableName: tbl, Key: key})
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil {
				tc.check(t, got.Item, out.Attributes)
			}
		})
	}
	// An update creates a missing item.
	out, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: item{"pk": s("new")}, UpdateExpression: aws.String("SET v = :v"),
		ExpressionAttributeValues: item{":v": s("x")}, ReturnValues: types.ReturnValueAllNew})
	if err != nil || !reflect.DeepEqual(out.Attributes, item{"pk": s("new"), "v": s("x")}) {
		t.Fatalf("upsert = %v, %v", out, err)
	}
	for _, tc := range []struct {
		expr   string
		values item
		code   string
		msg    string
	}{
		{"SET pk = :v", item{":v": s("x")}, "ValidationException", "Cannot update attribute pk. This attribute is part of the key"},
		{"SET n = n + :v", item{":v": s("x")}, "ValidationException", "An operand in the update expression has an incorrect data type"},
		{"SET n = nothere + :v", item{":v": n("1")}, "ValidationException", "The provided expression refers to an attribute that does not exist in the item"},
		{"SET a.b.c = :v", item{":v": n("1")}, "ValidationException", "The document path provided in the update expression is invalid for update"},
		{"SET a = :v SET b = :v", item{":v": n("1")}, "ValidationException", "The \"SET\" section can only be used once in an update expression"},
		{"SET m = :v REMOVE m.k", item{":v": n("1")}, "ValidationException", "Two document paths overlap with each other"},
		{"ADD n :v", item{":v": s("x")}, "ValidationException", "Incorrect operand type for operator or function; operator: ADD, operand type: STRING"},
		{"SET big = :a + :b", item{":a": n("99999999999999999999999999999999999999"), ":b": n("0.1")}, "ValidationException", "38 significant digits"},
	} {
		t.Run("invalid "+tc.expr, func(t *testing.T) {
			_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: key, UpdateExpression: aws.String(tc.expr), ExpressionAttributeValues: tc.values})
			apiError(t, err, tc.code, tc.msg)
		})
	}
	// A failed condition leaves the item as it was.
	_, err = c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: tbl, Key: key, UpdateExpression: aws.String("SET n = :v"), ConditionExpression: aws.String("n = :old"),
		ExpressionAttributeValues: item{":v": n("1"), ":old": n("-1")}})
	apiError(t, err, "ConditionalCheckFailedException", "The conditional request failed")
}

func eq(t *testing.T, got, want types.AttributeValue) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %#v, want %#v", got, want)
	}
}

// TestReservedWords: an expression that names a reserved word directly is
// refused with DynamoDB's message (in any case); through
// ExpressionAttributeNames it is fine.
func TestReservedWords(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	createTable(t, c, "words", "")
	_, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("words"), Key: item{"pk": s("a")},
		UpdateExpression: aws.String("SET Status = :s"), ExpressionAttributeValues: item{":s": s("new")}})
	apiError(t, err, "ValidationException", "Invalid UpdateExpression: Attribute name is a reserved keyword; reserved keyword: Status")
	_, err = c.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String("words"), FilterExpression: aws.String("size(tags) > :n AND year = :y"),
		ExpressionAttributeValues: item{":n": n("1"), ":y": n("2000")}})
	apiError(t, err, "ValidationException", "Invalid FilterExpression: Attribute name is a reserved keyword; reserved keyword: year")
	if _, err := c.UpdateItem(ctx, &dynamodb.UpdateItemInput{TableName: aws.String("words"), Key: item{"pk": s("a")},
		UpdateExpression: aws.String("SET #s = :s, label = :s"), ExpressionAttributeNames: map[string]string{"#s": "status"}, ExpressionAttributeValues: item{":s": s("new")}}); err != nil {
		t.Fatal(err)
	}
}
