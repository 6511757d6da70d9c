package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

func benchLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// writeProject writes a serverless-esbuild TypeScript project of n modules.
func writeProject(dir string, n int) error {
	files := map[string]string{
		"serverless.yml": `service: ts-bench
frameworkVersion: '3'
plugins:
  - serverless-esbuild
provider:
  name: aws
  runtime: nodejs20.x
custom:
  esbuild:
    bundle: true
    minify: false
    sourcemap: true
    exclude:
      - '@aws-sdk/*'
functions:
  api:
    handler: src/handler.main
    events:
      - httpApi:
          path: /
          method: get
`,
		"package.json":  `{"name": "ts-bench", "private": true}`,
		"tsconfig.json": `{"compilerOptions": {"target": "ES2022", "module": "commonjs", "strict": true, "esModuleInterop": true}}`,
		"src/shared.ts": "export interface Item {\n  id: number;\n  name: string;\n  tags: string[];\n}\n\nexport function normalise(s: string): string {\n  return s.trim().toLowerCase();\n}\n",
	}
	var index, calls strings.Builder
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("m%03d", i)
		next := ""
		if i+1 < n {
			next = fmt.Sprintf("import { weight as nextWeight } from \"./m%03d\";\n", i+1)
		}
		body := fmt.Sprintf(`import type { Item } from "../shared";
import { normalise } from "../shared";
%s
export interface Options%[2]d {
  limit: number;
  prefix?: string;
}

export class Store%[2]d {
  private items: Map<number, Item> = new Map();

  add(item: Item): void {
    this.items.set(item.id, { ...item, name: normalise(item.name) });
  }

  find(opts: Options%[2]d): Item[] {
    return [...this.items.values()]
      .filter((it) => !opts.prefix || it.name.startsWith(opts.prefix))
      .slice(0, opts.limit);
  }
}

export function weight(x: number): number {
  return x * %[2]d + 1;
}

export function run%[2]d(): number {
  const s = new Store%[2]d();
  s.add({ id: %[2]d, name: " Item%[2]d ", tags: ["a", "b"] });
  return s.find({ limit: 10 }).length + %[3]s;
}
`, next, i, map[bool]string{true: "nextWeight(1)", false: "0"}[next != ""])
		files["src/modules/"+name+".ts"] = body
		fmt.Fprintf(&index, "import { run%d } from \"./modules/%s\";\n", i, name)
		fmt.Fprintf(&calls, "  total += run%d();\n", i)
	}
	files["src/handler.ts"] = index.String() + "\nexport const main = async () => {\n  let total = 0;\n" + calls.String() +
		"  return { statusCode: 200, body: String(total) };\n};\n"
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}
