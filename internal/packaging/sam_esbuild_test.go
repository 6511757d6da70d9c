package packaging_test

import (
	"archive/zip"
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/nimbus-platform/nimbus/internal/manifest"
	"github.com/nimbus-platform/nimbus/internal/packaging"
)

// A SAM function with BuildMethod esbuild is packaged as the bundle alone,
// at the package's root where its handler looks.
func TestSAMEsbuildPackageHoldsTheBundle(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ts-app")
	writeTree(t, dir, map[string]string{
		"template.yaml": `Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fn/
      Handler: app.handler
      Runtime: nodejs20.x
    Metadata:
      BuildMethod: esbuild
      BuildProperties:
        Format: esm
        OutExtension: [.js=.mjs]
`,
		"fn/app.ts":                        "import { v } from 'dep';\nexport const handler = async (): Promise<number> => v;\n",
		"fn/node_modules/dep/package.json": `{"name": "dep", "main": "index.js"}`,
		"fn/node_modules/dep/index.js":     "exports.v = 42;\n",
		"fn/README.md":                     "not code\n",
	})
	p, err := manifest.Load(dir, manifest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	arts, err := packaging.BuildWith(context.Background(), p, t.TempDir(), packaging.Options{CacheDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 1 {
		t.Fatalf("artifacts = %+v", arts)
	}
	zr, err := zip.OpenReader(arts[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, []string{"app.mjs"}) {
		t.Errorf("package holds %v, want the bundle app.mjs alone", names)
	}
}
