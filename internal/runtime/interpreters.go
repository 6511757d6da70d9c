package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

// Interpreter is the program that runs a managed runtime's client.
type Interpreter struct {
	Path    string // as the platform starts it
	Version string // as it reports it: "20.20.2", "3.11.7", "3.1.2", "17.0.15"
	// Exact: its version is the one the runtime identifier declares.
	Exact bool
	// Given: the operator named it (nimbus up --runtime).
	Given bool
}

// interpreters finds, for each runtime identifier, the interpreter of the
// declared version, and remembers what it found.
type interpreters struct {
	overrides map[string]string // runtime → path, given by the operator
	defaults  map[string]string // family → path, the platform's choice when no version matches

	mu       sync.Mutex
	found    map[string]interpreterResult // by runtime
	versions map[string]string            // path → version ("" when it does not run)
}

type interpreterResult struct {
	interp Interpreter
	err    error
}

func newInterpreters(overrides, defaults map[string]string) *interpreters {
	return &interpreters{overrides: overrides, defaults: defaults,
		found: map[string]interpreterResult{}, versions: map[string]string{}}
}

// NoInterpreterError means no interpreter of a runtime's language is installed.
type NoInterpreterError struct {
	Runtime string
	Want    string // what to install
}

func (e *NoInterpreterError) Error() string {
	return fmt.Sprintf("runtime %s needs %s, which is not installed on the platform's host (install it, or name one with `nimbus up --runtime %s=PATH`)", e.Runtime, e.Want, e.Runtime)
}

// lookup returns the interpreter that runs runtime (for managed runtimes).
func (in *interpreters) lookup(runtime string) (Interpreter, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if r, ok := in.found[runtime]; ok {
		return r.interp, r.err
	}
	interp, err := in.find(runtime)
	in.found[runtime] = interpreterResult{interp, err}
	return interp, err
}

func (in *interpreters) find(runtime string) (Interpreter, error) {
	family, _ := appspec.RuntimeFamily(runtime)
	want := appspec.RuntimeVersion(runtime)
	if p := in.overrides[runtime]; p != "" {
		v := in.version(p)
		if v == "" {
			return Interpreter{}, fmt.Errorf("runtime %s: the interpreter %s given for it does not run", runtime, p)
		}
		return Interpreter{Path: p, Version: v, Exact: versionMatches(family, want, v), Given: true}, nil
	}
	candidates := versionedCandidates(family, want)
	if p := in.defaults[family]; p != "" {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, genericCandidates(family)...)
	var fallback Interpreter
	for _, p := range candidates {
		v := in.version(p)
		if v == "" {
			continue
		}
		if versionMatches(family, want, v) {
			return Interpreter{Path: p, Version: v, Exact: true}, nil
		}
		if fallback.Path == "" {
			fallback = Interpreter{Path: p, Version: v}
		}
	}
	if fallback.Path != "" {
		return fallback, nil
	}
	return Interpreter{}, &NoInterpreterError{Runtime: runtime, Want: map[string]string{
		appspec.FamilyNode: "Node.js (node)", appspec.FamilyPython: "Python 3 (python3)",
		appspec.FamilyRuby: "Ruby (ruby)", appspec.FamilyJava: "a Java JDK (java and javac)",
	}[family]}
}

// version runs the interpreter once to read its version.
func (in *interpreters) version(path string) string {
	if v, ok := in.versions[path]; ok {
		return v
	}
	v := probeVersion(path)
	in.versions[path] = v
	return v
}

var versionRE = regexp.MustCompile(`\d+(\.\d+)*`)

func probeVersion(path string) string {
	if st, err := os.Stat(path); err != nil || st.IsDir() || st.Mode().Perm()&0o111 == 0 {
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	flag := "--version"
	if filepath.Base(path) == "java" {
		flag = "-version" // Java 8 knows no --version
	}
	out, err := exec.CommandContext(ctx, path, flag).CombinedOutput()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return versionRE.FindString(line)
}

// versionMatches reports whether an interpreter's version is the declared one:
// the same major for Node.js and Java, the same major.minor for Python and Ruby.
func versionMatches(family, want, got string) bool {
	if want == "" {
		return true
	}
	switch family {
	case appspec.FamilyNode:
		major, _, _ := strings.Cut(got, ".")
		return major == want
	case appspec.FamilyJava:
		if rest, ok := strings.CutPrefix(got, "1."); ok {
			got = rest // 1.8.0_392 is Java 8
		}
		major, _, _ := strings.Cut(got, ".")
		return major == want
	}
	return got == want || strings.HasPrefix(got, want+".")
}

// versionedCandidates are the places an interpreter of one version is
// installed by the usual means: distribution packages (python3.12, ruby3.2,
// /usr/lib/jvm/java-17-*), version managers (pyenv, rbenv, nvm), and names
// an operator gives a second version (node22).
func versionedCandidates(family, want string) []string {
	if want == "" {
		return nil
	}
	home, _ := os.UserHomeDir()
	var out []string
	onPath := func(name string) {
		for _, dir := range []string{"/usr/local/bin", "/usr/bin"} {
			out = append(out, filepath.Join(dir, name))
		}
		if p, err := exec.LookPath(name); err == nil && !strings.Contains(p, "/shims/") {
			out = append(out, p)
		}
	}
	glob := func(pattern string) {
		matches, _ := filepath.Glob(pattern)
		sort.Sort(sort.Reverse(sort.StringSlice(matches))) // newest patch first
		out = append(out, matches...)
	}
	switch family {
	case appspec.FamilyNode:
		onPath("node" + want)
		onPath("nodejs" + want)
		if dir := os.Getenv("NVM_DIR"); dir != "" {
			glob(filepath.Join(dir, "versions", "node", "v"+want+".*", "bin", "node"))
		} else if home != "" {
			glob(filepath.Join(home, ".nvm", "versions", "node", "v"+want+".*", "bin", "node"))
		}
	case appspec.FamilyPython:
		onPath("python" + want)
		root := os.Getenv("PYENV_ROOT")
		if root == "" && home != "" {
			root = filepath.Join(home, ".pyenv")
		}
		if root != "" {
			glob(filepath.Join(root, "versions", want+".*", "bin", "python"+want))
		}
	case appspec.FamilyRuby:
		onPath("ruby" + want)
		if home != "" {
			glob(filepath.Join(home, ".rbenv", "versions", want+".*", "bin", "ruby"))
		}
	case appspec.FamilyJava:
		if jh := os.Getenv("JAVA_HOME"); jh != "" {
			out = append(out, filepath.Join(jh, "bin", "java"))
		}
		glob("/usr/lib/jvm/*-" + want + "-*/bin/java")
		glob("/usr/lib/jvm/*-" + want + "/bin/java")
		glob("/usr/lib/jvm/*-1." + want + ".*/bin/java")
	}
	return out
}

// genericCandidates are the language's default interpreter.
func genericCandidates(family string) []string {
	var names []string
	switch family {
	case appspec.FamilyNode:
		names = []string{"node", "nodejs"}
	case appspec.FamilyPython:
		// The system interpreter first: version managers put slow shims
		// first on PATH.
		return append([]string{"/usr/bin/python3", "/usr/local/bin/python3"}, lookPaths("python3")...)
	case appspec.FamilyRuby:
		names = []string{"ruby"}
	case appspec.FamilyJava:
		if jh := os.Getenv("JAVA_HOME"); jh != "" {
			return append([]string{filepath.Join(jh, "bin", "java")}, lookPaths("java")...)
		}
		names = []string{"java"}
	}
	return lookPaths(names...)
}

func lookPaths(names ...string) []string {
	var out []string
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil && !strings.Contains(p, "/shims/") {
			out = append(out, p)
		}
	}
	return out
}

// Interpreter returns the interpreter that runs a managed runtime (Node.js,
// Python, Ruby, Java); an error says what is missing.
func (m *Manager) Interpreter(runtime string) (Interpreter, error) {
	family, ok := appspec.RuntimeFamily(runtime)
	if !ok {
		return Interpreter{}, fmt.Errorf("unknown runtime %q", runtime)
	}
	switch family {
	case appspec.FamilyNode, appspec.FamilyPython, appspec.FamilyRuby, appspec.FamilyJava:
		return m.interps.lookup(runtime)
	}
	return Interpreter{}, errors.New("runtime " + runtime + " runs the function's own executable")
}

// CheckRuntimes judges a deploy's runtimes on this node: an error when one
// cannot run here at all, and a warning, once per runtime, for each that runs
// on another version than it declares or that AWS has deprecated.
func (m *Manager) CheckRuntimes(app *appspec.Application) (warnings []string, err error) {
	seen := map[string]bool{}
	var errs []string
	for _, f := range app.Functions {
		if seen[f.Runtime] {
			continue
		}
		seen[f.Runtime] = true
		family, ok := appspec.RuntimeFamily(f.Runtime)
		if !ok {
			continue // validation reports it
		}
		if family == appspec.FamilyProvided || family == appspec.FamilyGo {
			continue
		}
		interp, err := m.Interpreter(f.Runtime)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if family == appspec.FamilyJava {
			if _, err := m.java.classes(m.cfg.RuntimeDir, interp.Path); err != nil {
				errs = append(errs, fmt.Sprintf("runtime %s: %v", f.Runtime, err))
				continue
			}
		}
		switch {
		case appspec.RuntimeDeprecated(f.Runtime):
			warnings = append(warnings, fmt.Sprintf("runtime %s is deprecated by AWS; its functions run with %s %s (%s)",
				f.Runtime, family, interp.Version, interp.Path))
		case !interp.Exact && interp.Given:
			warnings = append(warnings, fmt.Sprintf("runtime %s runs with %s %s (%s, given with --runtime), not %s",
				f.Runtime, family, interp.Version, interp.Path, appspec.RuntimeVersion(f.Runtime)))
		case !interp.Exact:
			warnings = append(warnings, fmt.Sprintf("runtime %s: no %s %s is installed; its functions run with %s %s (%s); name another with `nimbus up --runtime %s=PATH`",
				f.Runtime, family, appspec.RuntimeVersion(f.Runtime), family, interp.Version, interp.Path, f.Runtime))
		}
	}
	if len(errs) > 0 {
		return warnings, errors.New(strings.Join(errs, "; "))
	}
	return warnings, nil
}
