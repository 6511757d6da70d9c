package dynamodb_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// seed writes partitions "p0".."p{parts-1}" with sort keys 0..per-1.
func seed(t *testing.T, c *dynamodb.Client, table string, parts, per int) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, parts)
	for p := 0; p < parts; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			for i := 0; i < per; i++ {
				it := item{"pk": s(fmt.Sprintf("p%d", p)), "sk": n(fmt.Sprint(i)), "even": &types.AttributeValueMemberBOOL{Value: i%2 == 0}, "name": s(fmt.Sprintf("item-%03d", i))}
				if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String(table), Item: it}); err != nil {
					errs <- err
					return
				}
			}
		}(p)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func sortKeys(items []item) string {
	var out []string
	for _, it := range items {
		out = append(out, it["sk"].(*types.AttributeValueMemberN).Value)
	}
	return strings.Join(out, ",")
}

func TestQuery(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	createTable(t, c, "series", "sk")
	seed(t, c, "series", 3, 12)
	tbl := aws.String("series")
	for _, tc := range []struct {
		name    string
		kc      string
		values  item
		filter  string
		forward *bool
		want    string
	}{
		{"partition", "pk = :p", item{":p": s("p1")}, "", nil, "0,1,2,3,4,5,6,7,8,9,10,11"},
		{"backward", "pk = :p", item{":p": s("p1")}, "", aws.Bool(false), "11,10,9,8,7,6,5,4,3,2,1,0"},
		{"=", "pk = :p AND sk = :v", item{":p": s("p1"), ":v": n("7")}, "", nil, "7"},
		{"<", "pk = :p AND sk < :v", item{":p": s("p1"), ":v": n("3")}, "", nil, "0,1,2"},
		{"<=", "pk = :p AND sk <= :v", item{":p": s("p1"), ":v": n("3")}, "", nil, "0,1,2,3"},
		{">", "pk = :p AND sk > :v", item{":p": s("p1"), ":v": n("9")}, "", nil, "10,11"},
		{">=", "pk = :p AND sk >= :v", item{":p": s("p1"), ":v": n("9.5")}, "", nil, "10,11"},
		{"between", "pk = :p AND sk BETWEEN :a AND :b", item{":p": s("p1"), ":a": n("2"), ":b": n("4")}, "", nil, "2,3,4"},
		{"between backward", "pk = :p AND sk BETWEEN :a AND :b", item{":p": s("p1"), ":a": n("2"), ":b": n("4")}, "", aws.Bool(false), "4,3,2"},
		{"filter", "pk = :p", item{":p": s("p2"), ":t": &types.AttributeValueMemberBOOL{Value: true}}, "even = :t", nil, "0,2,4,6,8,10"},
		{"missing partition", "pk = :p", item{":p": s("nope")}, "", nil, ""},
		{"parenthesised", "(pk = :p) AND (sk < :v)", item{":p": s("p0"), ":v": n("2")}, "", nil, "0,1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &dynamodb.QueryInput{TableName: tbl, KeyConditionExpression: aws.String(tc.kc), ExpressionAttributeValues: tc.values, ScanIndexForward: tc.forward}
			if tc.filter != "" {
				in.FilterExpression = aws.String(tc.filter)
			}
			out, err := c.Query(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if got := sortKeys(out.Items); got != tc.want {
				t.Fatalf("sort keys %s, want %s", got, tc.want)
			}
			if tc.filter == "" && out.ScannedCount != out.Count {
				t.Fatalf("Count %d, ScannedCount %d", out.Count, out.ScannedCount)
			}
		})
	}
	// Strings order bytewise and begins_with is a range.
	createTable(t, c, "words", "")
	createWords := &dynamodb.CreateTableInput{TableName: aws.String("wordsr"), BillingMode: types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String("pk"), AttributeType: "S"}, {AttributeName: aws.String("w"), AttributeType: "S"}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String("pk"), KeyType: types.KeyTypeHash}, {AttributeName: aws.String("w"), KeyType: types.KeyTypeRange}}}
	if _, err := c.CreateTable(ctx, createWords); err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"apple", "app", "b", "apricot", "Zebra", "ap\x00x", "apple pie", "éclair"} {
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("wordsr"), Item: item{"pk": s("x"), "w": s(w)}}); err != nil {
			t.Fatal(err)
		}
	}
	words := func(kc string, values item) string {
		out, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("wordsr"), KeyConditionExpression: aws.String(kc), ExpressionAttributeValues: values})
		if err != nil {
			t.Fatal(err)
		}
		var ws []string
		for _, it := range out.Items {
			ws = append(ws, it["w"].(*types.AttributeValueMemberS).Value)
		}
		return strings.Join(ws, "|")
	}
	if got := words("pk = :p", item{":p": s("x")}); got != "Zebra|ap\x00x|app|apple|apple pie|apricot|b|éclair" {
		t.Fatalf("order: %q", got)
	}
	if got := words("pk = :p AND begins_with(w, :b)", item{":p": s("x"), ":b": s("app")}); got != "app|apple|apple pie" {
		t.Fatalf("begins_with: %q", got)
	}

	// Paging with Limit and ExclusiveStartKey visits every item once.
	var seen []item
	var start map[string]types.AttributeValue
	pages := 0
	for {
		out, err := c.Query(ctx, &dynamodb.QueryInput{TableName: tbl, KeyConditionExpression: aws.String("pk = :p"), ExpressionAttributeValues: item{":p": s("p0")},
			Limit: aws.Int32(5), ExclusiveStartKey: start, ScanIndexForward: aws.Bool(false)})
		if err != nil {
			t.Fatal(err)
		}
		pages++
		seen = append(seen, out.Items...)
		if out.LastEvaluatedKey == nil {
			break
		}
		start = out.LastEvaluatedKey
	}
	if got := sortKeys(seen); got != "11,10,9,8,7,6,5,4,3,2,1,0" || pages != 3 {
		t.Fatalf("paged %d pages: %s", pages, got)
	}
	// The SDK's paginator agrees.
	pager := dynamodb.NewQueryPaginator(c, &dynamodb.QueryInput{TableName: tbl, KeyConditionExpression: aws.String("pk = :p"), ExpressionAttributeValues: item{":p": s("p2")}, Limit: aws.Int32(4)})
	total := 0
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		total += len(page.Items)
	}
	if total != 12 {
		t.Fatalf("paginator saw %d items", total)
	}

	// Select COUNT and projections.
	cnt, err := c.Query(ctx, &dynamodb.QueryInput{TableName: tbl, KeyConditionExpression: aws.String("pk = :p"), ExpressionAttributeValues: item{":p": s("p0")}, Select: types.SelectCount})
	if err != nil || cnt.Count != 12 || cnt.Items != nil {
		t.Fatalf("COUNT = %+v, %v", cnt, err)
	}
	proj, err := c.Query(ctx, &dynamodb.QueryInput{TableName: tbl, KeyConditionExpression: aws.String("pk = :p AND sk = :s"), ExpressionAttributeValues: item{":p": s("p0"), ":s": n("1")},
		ProjectionExpression: aws.String("#n"), ExpressionAttributeNames: map[string]string{"#n": "name"}})
	if err != nil || len(proj.Items) != 1 || len(proj.Items[0]) != 1 {
		t.Fatalf("projection = %+v, %v", proj, err)
	}

	_, err = c.Query(ctx, &dynamodb.QueryInput{TableName: tbl, KeyConditionExpression: aws.String("pk = :p"), FilterExpression: aws.String("sk > :v"),
		ExpressionAttributeValues: item{":p": s("p0"), ":v": n("1")}})
	apiError(t, err, "ValidationException", "Filter Expression can only contain non-primary key attributes: Primary key attribute: sk")
	for _, tc := range []struct {
		kc     string
		values item
		msg    string
	}{
		{"sk = :v", item{":v": n("1")}, "Query condition missed key schema element: pk"},
		{"pk = :p OR sk = :v", item{":p": s("a"), ":v": n("1")}, "Invalid operator used in KeyConditionExpression: OR"},
		{"pk = :p AND label = :v", item{":p": s("a"), ":v": s("x")}, "Query condition missed key schema element"},
		{"pk = :p AND sk = :v", item{":p": s("a"), ":v": s("x")}, "One or more parameter values were invalid: Condition parameter type does not match schema type"},
		{"pk < :p", item{":p": s("a")}, "Query key condition not supported"},
	} {
		t.Run("invalid "+tc.kc, func(t *testing.T) {
			_, err := c.Query(ctx, &dynamodb.QueryInput{TableName: tbl, KeyConditionExpression: aws.String(tc.kc), ExpressionAttributeValues: tc.values})
			apiError(t, err, "ValidationException", tc.msg)
		})
	}
}

func TestQueryPageLimit(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	createTable(t, c, "bigitems", "sk")
	blob := strings.Repeat("x", 100*1024)
	for i := 0; i < 25; i++ {
		if _, err := c.PutItem(ctx, &dynamodb.PutItemInput{TableName: aws.String("bigitems"), Item: item{"pk": s("p"), "sk": n(fmt.Sprint(i)), "blob": s(blob)}}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := c.Query(ctx, &dynamodb.QueryInput{TableName: aws.String("bigitems"), KeyConditionExpression: aws.String("pk = :p"), ExpressionAttributeValues: item{":p": s("p")}})
	if err != nil {
		t.Fatal(err)
	}
	// 1 MB holds about ten 100 KB items; the page stops there and says where.
	if len(out.Items) < 9 || len(out.Items) > 11 || out.LastEvaluatedKey == nil {
		t.Fatalf("page of %d items, LastEvaluatedKey %v", len(out.Items), out.LastEvaluatedKey)
	}
}

func TestScan(t *testing.T) {
	c := client(t)
	ctx := context.Background()
	createTable(t, c, "scanme", "sk")
	seed(t, c, "scanme", 20, 5)
	tbl := aws.String("scanme")
	all := map[string]bool{}
	pager := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: tbl, Limit: aws.Int32(7)})
	for pager.HasMorePages() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			k := it["pk"].(*types.AttributeValueMemberS).Value + "/" + it["sk"].(*types.AttributeValueMemberN).Value
			if all[k] {
				t.Fatalf("%s seen twice", k)
			}
			all[k] = true
		}
	}
	if len(all) != 100 {
		t.Fatalf("scan saw %d items", len(all))
	}
	// Parallel segments partition the table.
	segs := map[string]int{}
	for seg := 0; seg < 4; seg++ {
		pager := dynamodb.NewScanPaginator(c, &dynamodb.ScanInput{TableName: tbl, Segment: aws.Int32(int32(seg)), TotalSegments: aws.Int32(4), Limit: aws.Int32(9)})
		for pager.HasMorePages() {
			page, err := pager.NextPage(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, it := range page.Items {
				k := it["pk"].(*types.AttributeValueMemberS).Value + "/" + it["sk"].(*types.AttributeValueMemberN).Value
				segs[k]++
			}
		}
	}
	if len(segs) != 100 {
		t.Fatalf("segments saw %d items", len(segs))
	}
	for k, n := range segs {
		if n != 1 {
			t.Fatalf("%s seen by %d segments", k, n)
		}
	}
	f, err := c.Scan(ctx, &dynamodb.ScanInput{TableName: tbl, FilterExpression: aws.String("sk >= :v AND begins_with(pk, :p)"), ExpressionAttributeValues: item{":v": n("3"), ":p": s("p1")}, Select: types.SelectCount})
	if err != nil || f.Count != 22 || f.ScannedCount != 100 {
		t.Fatalf("filtered count = %d of %d, %v", f.Count, f.ScannedCount, err)
	}
	_, err = c.Scan(ctx, &dynamodb.ScanInput{TableName: tbl, Segment: aws.Int32(4), TotalSegments: aws.Int32(4)})
	apiError(t, err, "ValidationException", "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: 4 is out of bounds for TotalSegments: 4")
}
