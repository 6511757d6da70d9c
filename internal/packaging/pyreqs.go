package packaging

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/appspec"
	"github.com/nimbus-platform/nimbus/internal/manifest"
)

// pyReqsConfig is custom.pythonRequirements as serverless-python-requirements
// reads it.
type pyReqsConfig struct {
	FileName                   string          `json:"fileName"`
	Slim                       bool            `json:"slim"`
	SlimPatterns               []string        `json:"slimPatterns"`
	SlimPatternsAppendDefaults *bool           `json:"slimPatternsAppendDefaults"`
	Zip                        bool            `json:"zip"`
	NoDeploy                   []string        `json:"noDeploy"`
	DockerizePip               json.RawMessage `json:"dockerizePip"`
	PipCmdExtraArgs            []string        `json:"pipCmdExtraArgs"`
	Layer                      json.RawMessage `json:"layer"`
	PythonBin                  string          `json:"pythonBin"`
}

// defaultNoDeploy are the packages serverless-python-requirements leaves
// out unless noDeploy is set: Lambda's runtime has them (nimbus's Python
// SDK too, see runtimes/sdk/python).
var defaultNoDeploy = []string{"boto3", "botocore", "docutils", "jmespath", "pip", "python-dateutil", "s3transfer", "setuptools", "six"}

// defaultSlimPatterns are removed from installed requirements with slim:
// compiled bytecode and test suites. dist-info stays: importlib.metadata
// (entry points, versions) reads it.
var defaultSlimPatterns = []string{"**/*.py[co]", "**/__pycache__/**", "**/tests/**", "**/test/**"}

// pythonInterpreter finds the python3 that runs Python functions, as the
// platform does (internal/server): $NIMBUS_PYTHON, the system's, then PATH
// with version-manager shims resolved.
func pythonInterpreter() (string, error) {
	if p := os.Getenv("NIMBUS_PYTHON"); p != "" {
		return p, nil
	}
	for _, p := range []string{"/usr/bin/python3", "/usr/local/bin/python3"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	p, err := exec.LookPath("python3")
	if err != nil {
		return "", errors.New("installing Python requirements needs python3 with pip (set NIMBUS_PYTHON to choose one)")
	}
	return p, nil
}

// installRequirements installs, for the Python functions of a service that
// uses serverless-python-requirements (or serverless-wsgi's own packing),
// the requirements of the service root or of each function's module. It
// returns each function's module and the installed files by module.
func installRequirements(ctx context.Context, p *manifest.Project, cacheDir string, progress func(string, ...any)) (map[string]string, map[string][]file, error) {
	raw := manifest.CustomSection(p.Custom, "pythonRequirements")
	enabled := slices.Contains(p.Plugins, "serverless-python-requirements") || raw != nil
	if !enabled && slices.Contains(p.Plugins, "serverless-wsgi") {
		// serverless-wsgi installs requirements itself unless told not to.
		var w struct {
			PackRequirements *bool `json:"packRequirements"`
		}
		_ = json.Unmarshal(manifest.CustomSection(p.Custom, "wsgi"), &w)
		enabled = w.PackRequirements == nil || *w.PackRequirements
	}
	if !enabled {
		return nil, nil, nil
	}
	var cfg pyReqsConfig
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return nil, nil, settingErr("pythonRequirements", "custom.pythonRequirements: %v", err)
		}
	}
	if cfg.FileName == "" {
		cfg.FileName = "requirements.txt"
	}
	if cfg.NoDeploy == nil {
		cfg.NoDeploy = defaultNoDeploy
	}
	if b := string(cfg.DockerizePip); b != "" && b != "false" && b != "null" {
		progress("note: custom.pythonRequirements.dockerizePip is ignored: requirements are installed with this machine's python3")
	}
	if b := string(cfg.Layer); b != "" && b != "false" && b != "null" {
		progress("note: custom.pythonRequirements.layer is not supported: requirements go into each function's package")
	}
	if cfg.Zip {
		progress("note: custom.pythonRequirements.zip is not supported: requirements are installed unzipped (import unzip_requirements does nothing)")
	}
	modules := map[string]string{}
	warned := map[string]bool{}
	var order []string
	for _, fn := range p.App.Functions {
		if family, _ := appspec.RuntimeFamily(fn.Runtime); family != appspec.FamilyPython || artifactFunction(p, fn.Key) {
			continue
		}
		m := p.Modules[fn.Key]
		folder := filepath.Join(p.Dir, filepath.FromSlash(m))
		if _, err := os.Stat(filepath.Join(folder, cfg.FileName)); err != nil {
			for _, other := range []string{"Pipfile", "pyproject.toml"} {
				if _, err := os.Stat(filepath.Join(folder, other)); err == nil && !warned[m] {
					warned[m] = true
					progress("warning: %s has %s but no %s: nimbus installs requirements files only (export one, e.g. pip freeze)", filepath.ToSlash(filepath.Join(".", m)), other, cfg.FileName)
				}
			}
			continue // no requirements: nothing to install, as the plugin
		}
		modules[fn.Key] = m
		if !slices.Contains(order, m) {
			order = append(order, m)
		}
	}
	if len(order) == 0 {
		return nil, nil, nil
	}
	python := cfg.PythonBin
	if python == "" {
		var err error
		if python, err = pythonInterpreter(); err != nil {
			return nil, nil, err
		}
	}
	version, err := exec.CommandContext(ctx, python, "-c", "import sys; print(sys.version)").Output()
	if err != nil {
		return nil, nil, fmt.Errorf("python requirements: %s does not run: %w", python, err)
	}
	pruneCache(filepath.Join(cacheDir, "pip"))
	installed := map[string][]file{}
	for _, m := range order {
		reqFile := filepath.Join(p.Dir, filepath.FromSlash(m), cfg.FileName)
		files, cached, err := pipInstall(ctx, python, string(version), reqFile, cfg, cacheDir)
		if err != nil {
			return nil, nil, err
		}
		if cfg.Zip {
			files = append(files, file{rel: "unzip_requirements.py", mode: 0o644, data: unzipShim, size: int64(len(unzipShim))})
		}
		installed[m] = files
		how := "pip"
		if cached {
			how = "pip, cached"
		}
		rel, _ := filepath.Rel(p.Dir, reqFile)
		progress("Installed Python requirements from %s (%s, %d files)", filepath.ToSlash(rel), how, len(files))
	}
	return modules, installed, nil
}

// requirementName is the project name a requirements line installs.
var requirementName = regexp.MustCompile(`^\s*([A-Za-z0-9][A-Za-z0-9._-]*)`)

var nameSeparators = regexp.MustCompile(`[-_.]+`)

// filterNoDeploy drops the lines of a requirements file naming a noDeploy
// package (names compare as PEP 503 normalises them).
func filterNoDeploy(data []byte, noDeploy []string) []byte {
	norm := func(s string) string { return strings.ToLower(nameSeparators.ReplaceAllString(s, "-")) }
	skip := map[string]bool{}
	for _, n := range noDeploy {
		skip[norm(n)] = true
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := requirementName.FindStringSubmatch(line); m != nil && !strings.HasPrefix(strings.TrimSpace(line), "-") && skip[norm(m[1])] {
			continue
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	return out.Bytes()
}

// pipInstall installs reqFile into a cache entry keyed by the requirements,
// the interpreter and the settings, reusing it when present.
func pipInstall(ctx context.Context, python, version, reqFile string, cfg pyReqsConfig, cacheDir string) ([]file, bool, error) {
	data, err := os.ReadFile(reqFile)
	if err != nil {
		return nil, false, fmt.Errorf("python requirements: %w", err)
	}
	reqs := filterNoDeploy(data, cfg.NoDeploy)
	slim := []string(nil)
	if cfg.Slim {
		slim = cfg.SlimPatterns
		if cfg.SlimPatternsAppendDefaults == nil || *cfg.SlimPatternsAppendDefaults {
			slim = append(slices.Clone(defaultSlimPatterns), slim...)
		}
	}
	// PIP_* variables change what pip installs: they are part of the key.
	var pipEnv []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PIP_") {
			pipEnv = append(pipEnv, kv)
		}
	}
	sort.Strings(pipEnv)
	key := hashKey("pip", python, version, string(reqs), filepath.Dir(reqFile), cfg.PipCmdExtraArgs, slim, pipEnv)
	entry := cacheEntry{dir: filepath.Join(cacheDir, "pip", key)}
	if _, err := os.Stat(filepath.Join(entry.dir, "done")); err == nil {
		entry.touch()
		files, err := listTree(entry.out(), "")
		if err == nil {
			return files, true, nil
		}
	}
	err = entry.replace(func(tmp string) error {
		reqPath := filepath.Join(tmp, "requirements.txt")
		if err := os.WriteFile(reqPath, reqs, 0o644); err != nil {
			return err
		}
		out := filepath.Join(tmp, "out")
		args := append([]string{"-m", "pip", "install", "-r", reqPath, "-t", out, "--no-input", "--disable-pip-version-check"}, cfg.PipCmdExtraArgs...)
		cmd := exec.CommandContext(ctx, python, args...)
		cmd.Dir = filepath.Dir(reqFile) // relative paths in the file, as the plugin runs pip
		if b, err := cmd.CombinedOutput(); err != nil {
			rel := filepath.Base(reqFile)
			return fmt.Errorf("python requirements: pip install -r %s failed (%w):\n%s", rel, err, tail(b, 40))
		}
		if err := os.MkdirAll(out, 0o755); err != nil {
			return err
		}
		if len(slim) > 0 {
			if err := removeMatching(out, slim); err != nil {
				return err
			}
		}
		return os.WriteFile(filepath.Join(tmp, "done"), nil, 0o644)
	})
	if err != nil {
		return nil, false, err
	}
	files, err := listTree(entry.out(), "")
	return files, false, err
}

// removeMatching deletes the files under root that any pattern matches.
func removeMatching(root string, patterns []string) error {
	files, err := listTree(root, "")
	if err != nil {
		return err
	}
	compiled := make([]pattern, len(patterns))
	for i, p := range patterns {
		compiled[i] = compilePattern(p)
	}
	for _, f := range files {
		for _, c := range compiled {
			if c.match(f.rel) {
				if err := os.Remove(f.abs); err != nil {
					return err
				}
				break
			}
		}
	}
	return nil
}

// tail is the last n lines of out, trimmed.
func tail(out []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}

// unzipShim stands in for the plugin's unzip_requirements module.
var unzipShim = []byte("# nimbus installs requirements unzipped: nothing to do.\n")
