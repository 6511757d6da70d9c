package ssm_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsssm "github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"github.com/aws/smithy-go"

	"github.com/nimbus-platform/nimbus/internal/testkit"
)

func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

func TestParameterStoreAPI(t *testing.T) {
	p := testkit.Start(t, nil)
	c := awsssm.NewFromConfig(p.AWSConfig())
	ctx := context.Background()

	put, err := c.PutParameter(ctx, &awsssm.PutParameterInput{Name: aws.String("/app/db/url"), Value: aws.String("postgres://db"),
		Type: types.ParameterTypeString, Description: aws.String("the database"), Tier: types.ParameterTierAdvanced})
	if err != nil || put.Version != 1 || put.Tier != types.ParameterTierStandard {
		t.Fatalf("PutParameter: %+v %v", put, err)
	}
	_, err = c.PutParameter(ctx, &awsssm.PutParameterInput{Name: aws.String("/app/db/url"), Value: aws.String("x"), Type: types.ParameterTypeString})
	var exists *types.ParameterAlreadyExists
	if !errors.As(err, &exists) {
		t.Fatalf("PutParameter again: %v", err)
	}
	put, err = c.PutParameter(ctx, &awsssm.PutParameterInput{Name: aws.String("/app/db/url"), Value: aws.String("postgres://db2"), Overwrite: aws.Bool(true)})
	if err != nil || put.Version != 2 {
		t.Fatalf("overwrite: %+v %v", put, err)
	}
	mustPut := func(name, value string, typ types.ParameterType) {
		t.Helper()
		if _, err := c.PutParameter(ctx, &awsssm.PutParameterInput{Name: aws.String(name), Value: aws.String(value), Type: typ}); err != nil {
			t.Fatalf("PutParameter %s: %v", name, err)
		}
	}
	mustPut("/app/db/password", "s3cret", types.ParameterTypeSecureString)
	mustPut("/app/hosts", "a,b,c", types.ParameterTypeStringList)
	mustPut("/other/x", "1", types.ParameterTypeString)

	got, err := c.GetParameter(ctx, &awsssm.GetParameterInput{Name: aws.String("/app/db/url")})
	if err != nil || aws.ToString(got.Parameter.Value) != "postgres://db2" || got.Parameter.Version != 2 ||
		aws.ToString(got.Parameter.ARN) != "arn:aws:ssm:us-east-1:000000000000:parameter/app/db/url" || got.Parameter.LastModifiedDate == nil {
		t.Fatalf("GetParameter: %+v %v", got.Parameter, err)
	}
	got, err = c.GetParameter(ctx, &awsssm.GetParameterInput{Name: aws.String("/app/db/url:1")})
	if err != nil || aws.ToString(got.Parameter.Value) != "postgres://db" || aws.ToString(got.Parameter.Selector) != ":1" {
		t.Fatalf("GetParameter :1: %+v %v", got.Parameter, err)
	}
	got, err = c.GetParameter(ctx, &awsssm.GetParameterInput{Name: aws.String("/app/db/password")})
	if err != nil || aws.ToString(got.Parameter.Value) == "s3cret" {
		t.Fatalf("SecureString without decryption: %+v %v", got.Parameter, err)
	}
	got, err = c.GetParameter(ctx, &awsssm.GetParameterInput{Name: aws.String("/app/db/password"), WithDecryption: aws.Bool(true)})
	if err != nil || aws.ToString(got.Parameter.Value) != "s3cret" || got.Parameter.Type != types.ParameterTypeSecureString {
		t.Fatalf("SecureString with decryption: %+v %v", got.Parameter, err)
	}
	_, err = c.GetParameter(ctx, &awsssm.GetParameterInput{Name: aws.String("/app/missing")})
	var nf *types.ParameterNotFound
	if !errors.As(err, &nf) {
		t.Fatalf("GetParameter missing: %v", err)
	}
	_, err = c.GetParameter(ctx, &awsssm.GetParameterInput{Name: aws.String("/app/db/url:9")})
	var vnf *types.ParameterVersionNotFound
	if !errors.As(err, &vnf) {
		t.Fatalf("GetParameter :9: %v", err)
	}

	many, err := c.GetParameters(ctx, &awsssm.GetParametersInput{Names: []string{"/app/hosts", "/nope", "/app/db/url"}})
	if err != nil || len(many.Parameters) != 2 || len(many.InvalidParameters) != 1 || many.InvalidParameters[0] != "/nope" {
		t.Fatalf("GetParameters: %+v %v", many, err)
	}

	// Validation, with AWS's codes.
	for _, tc := range []struct {
		in   awsssm.PutParameterInput
		code string
	}{
		{awsssm.PutParameterInput{Name: aws.String("/aws/mine"), Value: aws.String("v"), Type: types.ParameterTypeString}, "ValidationException"},
		{awsssm.PutParameterInput{Name: aws.String("a/b"), Value: aws.String("v"), Type: types.ParameterTypeString}, "ValidationException"},
		{awsssm.PutParameterInput{Name: aws.String("/" + strings.Repeat("a/", 15) + "z"), Value: aws.String("v"), Type: types.ParameterTypeString}, "HierarchyLevelLimitExceededException"},
		{awsssm.PutParameterInput{Name: aws.String("/big"), Value: aws.String(strings.Repeat("v", 4097)), Type: types.ParameterTypeString}, "ValidationException"},
		{awsssm.PutParameterInput{Name: aws.String("/num"), Value: aws.String("abc"), Type: types.ParameterTypeString, AllowedPattern: aws.String(`^\d+$`)}, "ParameterPatternMismatchException"},
		{awsssm.PutParameterInput{Name: aws.String("/untyped"), Value: aws.String("v")}, "ValidationException"},
	} {
		if _, err := c.PutParameter(ctx, &tc.in); apiCode(err) != tc.code {
			t.Errorf("PutParameter %s: %v, want %s", aws.ToString(tc.in.Name), err, tc.code)
		}
	}

	// By path: one level, recursive, filters.
	names := func(ps []types.Parameter) []string {
		var out []string
		for _, p := range ps {
			out = append(out, aws.ToString(p.Name))
		}
		return out
	}
	bp, err := c.GetParametersByPath(ctx, &awsssm.GetParametersByPathInput{Path: aws.String("/app")})
	if err != nil || fmt.Sprint(names(bp.Parameters)) != "[/app/hosts]" {
		t.Fatalf("GetParametersByPath /app: %v %v", names(bp.Parameters), err)
	}
	bp, err = c.GetParametersByPath(ctx, &awsssm.GetParametersByPathInput{Path: aws.String("/app/"), Recursive: aws.Bool(true), WithDecryption: aws.Bool(true)})
	if err != nil || fmt.Sprint(names(bp.Parameters)) != "[/app/db/password /app/db/url /app/hosts]" || aws.ToString(bp.Parameters[0].Value) != "s3cret" {
		t.Fatalf("GetParametersByPath /app/ recursive: %v %v", names(bp.Parameters), err)
	}
	bp, err = c.GetParametersByPath(ctx, &awsssm.GetParametersByPathInput{Path: aws.String("/app"), Recursive: aws.Bool(true),
		ParameterFilters: []types.ParameterStringFilter{{Key: aws.String("Type"), Option: aws.String("Equals"), Values: []string{"SecureString"}}}})
	if err != nil || fmt.Sprint(names(bp.Parameters)) != "[/app/db/password]" {
		t.Fatalf("GetParametersByPath filtered: %v %v", names(bp.Parameters), err)
	}
	if _, err := c.GetParametersByPath(ctx, &awsssm.GetParametersByPathInput{Path: aws.String("app")}); apiCode(err) != "ValidationException" {
		t.Fatalf("GetParametersByPath without slash: %v", err)
	}

	// Paging: 25 parameters, 10 a page, the paginator walks them all.
	for i := range 25 {
		mustPut(fmt.Sprintf("/many/p%02d", i), "v", types.ParameterTypeString)
	}
	var seen []string
	pages := awsssm.NewGetParametersByPathPaginator(c, &awsssm.GetParametersByPathInput{Path: aws.String("/many"), MaxResults: aws.Int32(10)})
	n := 0
	for pages.HasMorePages() {
		pg, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		n++
		seen = append(seen, names(pg.Parameters)...)
	}
	if n != 3 || len(seen) != 25 || seen[0] != "/many/p00" || seen[24] != "/many/p24" {
		t.Fatalf("paging: %d pages, %v", n, seen)
	}
	if _, err := c.GetParametersByPath(ctx, &awsssm.GetParametersByPathInput{Path: aws.String("/many"), NextToken: aws.String("!!")}); apiCode(err) != "ValidationException" {
		t.Fatalf("bad token: %v", err)
	}

	// DescribeParameters pages too, and filters by name.
	var described []string
	dpages := awsssm.NewDescribeParametersPaginator(c, &awsssm.DescribeParametersInput{MaxResults: aws.Int32(7),
		ParameterFilters: []types.ParameterStringFilter{{Key: aws.String("Name"), Option: aws.String("BeginsWith"), Values: []string{"/many/"}}}})
	for dpages.HasMorePages() {
		pg, err := dpages.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range pg.Parameters {
			described = append(described, aws.ToString(m.Name))
		}
	}
	if len(described) != 25 {
		t.Fatalf("DescribeParameters: %v", described)
	}
	desc, err := c.DescribeParameters(ctx, &awsssm.DescribeParametersInput{Filters: []types.ParametersFilter{{Key: types.ParametersFilterKeyType, Values: []string{"SecureString"}}}})
	if err != nil || len(desc.Parameters) != 1 || aws.ToString(desc.Parameters[0].KeyId) != "alias/aws/ssm" || !strings.Contains(aws.ToString(desc.Parameters[0].LastModifiedUser), "arn:aws:") {
		t.Fatalf("DescribeParameters by type: %+v %v", desc, err)
	}

	// History and labels.
	lbl, err := c.LabelParameterVersion(ctx, &awsssm.LabelParameterVersionInput{Name: aws.String("/app/db/url"), ParameterVersion: aws.Int64(1), Labels: []string{"stable", "9bad"}})
	if err != nil || lbl.ParameterVersion != 1 || fmt.Sprint(lbl.InvalidLabels) != "[9bad]" {
		t.Fatalf("LabelParameterVersion: %+v %v", lbl, err)
	}
	got, err = c.GetParameter(ctx, &awsssm.GetParameterInput{Name: aws.String("/app/db/url:stable")})
	if err != nil || aws.ToString(got.Parameter.Value) != "postgres://db" {
		t.Fatalf("GetParameter :stable: %+v %v", got, err)
	}
	hist, err := c.GetParameterHistory(ctx, &awsssm.GetParameterHistoryInput{Name: aws.String("/app/db/url")})
	if err != nil || len(hist.Parameters) != 2 || hist.Parameters[0].Version != 1 || fmt.Sprint(hist.Parameters[0].Labels) != "[stable]" ||
		aws.ToString(hist.Parameters[1].Value) != "postgres://db2" || aws.ToString(hist.Parameters[0].Description) != "the database" {
		t.Fatalf("GetParameterHistory: %+v %v", hist, err)
	}

	// Deletes.
	if _, err := c.DeleteParameter(ctx, &awsssm.DeleteParameterInput{Name: aws.String("/other/x")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteParameter(ctx, &awsssm.DeleteParameterInput{Name: aws.String("/other/x")}); !errors.As(err, &nf) {
		t.Fatalf("DeleteParameter twice: %v", err)
	}
	del, err := c.DeleteParameters(ctx, &awsssm.DeleteParametersInput{Names: []string{"/many/p00", "/many/p01", "/never"}})
	if err != nil || len(del.DeletedParameters) != 2 || fmt.Sprint(del.InvalidParameters) != "[/never]" {
		t.Fatalf("DeleteParameters: %+v %v", del, err)
	}
}

// A request signed for another service is refused: the signing name must
// be ssm.
func TestWrongSigningName(t *testing.T) {
	p := testkit.Start(t, nil)
	for _, svc := range []string{"sqs", "ssm"} {
		req, _ := http.NewRequest(http.MethodPost, p.URL()+"/", strings.NewReader("{}"))
		req.Header.Set("X-Amz-Target", "AmazonSSM.DescribeParameters")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		p.Sign(req, svc)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := map[string]int{"sqs": 403, "ssm": 200}[svc]; resp.StatusCode != want {
			t.Errorf("signed for %s: %d %s, want %d", svc, resp.StatusCode, body, want)
		}
	}
}
