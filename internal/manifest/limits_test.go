package manifest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

const bombHead = "service: bomb\nprovider:\n  name: aws\n  runtime: nodejs20.x\nfunctions: {}\ncustom:\n"

// aliasBomb is nine levels of nine aliases: 9^9 values from about 600 bytes.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString(bombHead)
	b.WriteString("  a: &a [x, x, x, x, x, x, x, x, x]\n")
	for l := 'b'; l <= 'i'; l++ {
		prev := "*" + string(l-1)
		fmt.Fprintf(&b, "  %c: &%c [%s]\n", l, l, strings.TrimSuffix(strings.Repeat(prev+", ", 9), ", "))
	}
	return b.String()
}

// doublingBomb makes each value twice the one before: 2^40 bytes.
func doublingBomb(levels int) string {
	var b strings.Builder
	b.WriteString(bombHead)
	b.WriteString("  v0: x\n")
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "  v%d: ${self:custom.v%d}${self:custom.v%d}\n", i, i-1, i-1)
	}
	return b.String()
}

// loadMeasured loads yml and returns its single error and the bytes allocated.
func loadMeasured(t *testing.T, yml string) (*Error, uint64) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := Load(dir, Options{LookupEnv: envOf(nil)})
	runtime.ReadMemStats(&after)
	var list ErrorList
	if !errors.As(err, &list) || len(list) != 1 {
		t.Fatalf("Load = %v, want one positioned error", err)
	}
	return list[0], after.TotalAlloc - before.TotalAlloc
}

// The bombs of issue 8 took 22 GB; they must now fail with a position while
// allocating little.
const bombAllocLimit = 256 << 20

func TestAliasBombIsRefused(t *testing.T) {
	yml := aliasBomb()
	if len(yml) > 700 {
		t.Fatalf("the bomb is %d bytes", len(yml))
	}
	e, alloc := loadMeasured(t, yml)
	t.Logf("%d-byte alias bomb: %v (allocated %d MB)", len(yml), e, alloc>>20)
	// Level e holds 9^5 values: the third copy of it in f goes over.
	if !strings.Contains(e.Message, "alias *e: the manifest expands to more than 250000 values") || e.Line != 12 || e.Column != 18 {
		t.Errorf("error %q at %d:%d, want the third *e of line 12", e.Message, e.Line, e.Column)
	}
	if e.File == "" || e.Hint == "" || !strings.Contains(e.Error(), "serverless.yml:12:18") {
		t.Errorf("error is not placed like the manifest's others: %v", e)
	}
	if alloc > bombAllocLimit {
		t.Errorf("loading the bomb allocated %d MB", alloc>>20)
	}
}

func TestDoublingBombIsRefused(t *testing.T) {
	yml := doublingBomb(40)
	e, alloc := loadMeasured(t, yml)
	t.Logf("%d-byte doubling bomb: %v (allocated %d MB)", len(yml), e, alloc>>20)
	// v21 would be 2 MB.
	if !strings.Contains(e.Message, "the string would be over 1 MB") || e.Line != 28 {
		t.Errorf("error %q at line %d, want line 28 (v21)", e.Message, e.Line)
	}
	if e.Column != 26 { // the second variable is the one that goes over
		t.Errorf("error at column %d, want 26", e.Column)
	}
	if alloc > bombAllocLimit {
		t.Errorf("loading the bomb allocated %d MB", alloc>>20)
	}
}

// TestCopiedStringsAreBounded: strings under the limit each, referenced
// through aliases until the copies are too much text.
func TestCopiedStringsAreBounded(t *testing.T) {
	yml := doublingBomb(20) + "  list: &l [" + strings.TrimSuffix(strings.Repeat(`"${self:custom.v20}", `, 9), ", ") + "]\n" +
		"  more: [*l, *l, *l, *l, *l]\n"
	e, alloc := loadMeasured(t, yml)
	if !strings.Contains(e.Message, "more than 32 MB of text") || e.Line == 0 {
		t.Errorf("error %q at line %d", e.Message, e.Line)
	}
	if alloc > bombAllocLimit {
		t.Errorf("loading allocated %d MB", alloc>>20)
	}
}

func TestVariableDepthIsBounded(t *testing.T) {
	chain := func(n int) string {
		var b strings.Builder
		b.WriteString(bombHead)
		for i := range n {
			fmt.Fprintf(&b, "  v%d: ${self:custom.v%d}\n", i, i+1)
		}
		fmt.Fprintf(&b, "  v%d: end\n", n)
		return b.String()
	}
	out, errs := resolveCustom(t, chain(30)+"  out: ${self:custom.v0}\n", Options{}, nil)
	if errs != nil || out != `"end"` {
		t.Fatalf("a chain of 30: %q %v", out, errs)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "serverless.yml"), []byte(chain(100)), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir, Options{LookupEnv: envOf(nil)})
	var list ErrorList
	if !errors.As(err, &list) || !strings.Contains(list[0].Message, "nest more than 64 levels") || list[0].Line == 0 {
		t.Fatalf("a chain of 100: %v", err)
	}
}

// TestOrdinaryAliasesStillWork: aliases and merge keys within the limits
// expand as before.
func TestOrdinaryAliasesStillWork(t *testing.T) {
	out, errs := resolveCustom(t, "custom:\n  base: &base {a: 1, b: [x, y]}\n  list: &l [*base, *base]\n  out: {<<: *base, c: *l}\n", Options{}, nil)
	if errs != nil || out != `{"c":[{"a":1,"b":["x","y"]},{"a":1,"b":["x","y"]}],"a":1,"b":["x","y"]}` {
		t.Fatalf("%s %v", out, errs)
	}
}

func TestFlowNestingIsBounded(t *testing.T) {
	deep := strings.Repeat("[", 50_000) + strings.Repeat("]", 50_000)
	e, _ := loadMeasured(t, bombHead+"  a: "+deep+"\n")
	if !strings.Contains(e.Message, "nest more than 256 levels") || e.Line != 7 || e.Column != 6+256 {
		t.Errorf("error %q at %d:%d, want 7:262", e.Message, e.Line, e.Column)
	}
	// Brackets in quoted scalars and comments do not count; real nesting
	// within the limit loads.
	many := strings.Repeat("[", 300)
	yml := "custom:\n  q: \"" + many + "\"\n  s: '" + many + "''" + many + "'\n  # " + many + "\n  out: " +
		strings.Repeat("[", 200) + "1" + strings.Repeat("]", 200) + "\n"
	out, errs := resolveCustom(t, yml, Options{}, nil)
	if errs != nil || out != strings.Repeat("[", 200)+"1"+strings.Repeat("]", 200) {
		t.Fatalf("%.60s %v", out, errs)
	}
}
