package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const samFunctionAt = `
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: nodejs20.x
      Handler: app.handler
      CodeUri: %s
`

// Paths a template names stay inside the project: climbing out, absolute
// paths and symlinks that lead out are refused with the path named.
func TestSAMPathsLeavingTheProjectAreRefused(t *testing.T) {
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "app.js"), []byte("exports.handler = async () => 1;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "flow.asl.json"), []byte(`{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, template, want string }{
		{"parent", samHeader + strings.Replace(samFunctionAt, "%s", "../", 1), "leaves the project"},
		{"parent inside", samHeader + strings.Replace(samFunctionAt, "%s", "src/../../other", 1), "leaves the project"},
		{"absolute", samHeader + strings.Replace(samFunctionAt, "%s", outside, 1), "absolute path"},
		{"symlinked folder", samHeader + strings.Replace(samFunctionAt, "%s", "linked/", 1), "symlink to"},
		{"state machine definition", samHeader + strings.Replace(samFunctionAt, "%s", "src/", 1) + `
  Flow:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: flow.asl.json
`, "symlink to"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := samDir(t, tc.template)
			if err := os.Symlink(outside, filepath.Join(dir, "linked")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Join(outside, "flow.asl.json"), filepath.Join(dir, "flow.asl.json")); err != nil {
				t.Fatal(err)
			}
			_, err := Load(dir, Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %v, want an error saying %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), "template.yaml:") {
				t.Errorf("error %q does not name the template's line", err)
			}
		})
	}
}

// loadWithin loads a template, failing the test if the loader takes more
// than a generous while (it must refuse, not grind).
func loadWithin(t *testing.T, template string, opts Options) error {
	t.Helper()
	done := make(chan error, 1)
	dir := samDir(t, template)
	go func() {
		_, err := Load(dir, opts)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(60 * time.Second):
		t.Fatal("loading the template did not finish in a minute")
		return nil
	}
}

// Templates that describe far more than they hold, or loop, are refused
// with a clear error.
func TestSAMTemplateBombsAreBounded(t *testing.T) {
	fn := strings.Replace(samFunctionAt, "%s", "src/", 1)
	var bomb strings.Builder
	bomb.WriteString("Metadata:\n  a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		prev := "*a" + string(rune('0'+i-1))
		bomb.WriteString("  a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [" + strings.Repeat(prev+", ", 9) + prev + "]\n")
	}
	long := strings.Repeat("x", 4000)
	manyRefs := strings.Repeat("${Long}", 20000)
	for _, tc := range []struct {
		name, template string
		opts           Options
		want           string
	}{
		{"alias bomb", samHeader + bomb.String() + fn, Options{}, "expands to more than"},
		{"deep flow nesting", samHeader + "Metadata:\n  deep: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n" + fn, Options{}, "nest more than"},
		{"deep block nesting", samHeader + "Metadata:\n  deep:\n    " + strings.Repeat("- ", 200000) + "x\n" + fn, Options{}, "nest more than"},
		{"long parameter", samHeader + "Parameters:\n  Name:\n    Type: String\n" + fn, Options{ParameterOverrides: map[string]string{"Name": strings.Repeat("y", 5000)}}, "at most 4096"},
		{"Fn::Sub multiplying a parameter", samHeader + "Parameters:\n  Long:\n    Type: String\n    Default: " + long + "\n" + fn +
			"      Environment:\n        Variables:\n          BIG: !Sub \"" + manyRefs + "\"\n", Options{}, "expands to more than"},
		{"condition cycle", samHeader + `
Conditions:
  A: !Condition B
  B: !Condition A
` + fn + `
  Extra:
    Type: AWS::Serverless::Function
    Condition: A
    Properties:
      Runtime: nodejs20.x
      Handler: app.handler
      CodeUri: src/
`, Options{}, "Condition"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := loadWithin(t, tc.template, tc.opts)
			t.Logf("%.300v", err)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load = %.500v, want an error saying %q", err, tc.want)
			}
		})
	}
}
