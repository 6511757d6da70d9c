// Package sdk installs and finds the AWS SDKs that functions use without
// packaging them, as on Lambda: the AWS SDK for JavaScript v3 for the Node.js
// runtimes (from npm, versions pinned by a lock file) and boto3 for the Python
// runtimes (Debian's packages, unpacked). The folder is self-contained: once
// installed it needs no network.
//
// Layout of the folder:
//
//	nodejs/node_modules/@aws-sdk/...   NODE_PATH entry, and ESM fallback
//	python/boto3, python/botocore ...  PYTHONPATH entry
//	nimbus-sdk.json                    what was installed (Manifest)
package sdk

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/nimbus-platform/nimbus/runtimes"
)

// ManifestFile names the installed folder's description.
const ManifestFile = "nimbus-sdk.json"

// InstallCommand is what users run to install the SDK folder.
const InstallCommand = "nimbus sdk install"

// DefaultDir is where `nimbus sdk install` puts the SDKs and `nimbus up`
// looks for them: /var/lib/nimbus/sdk for root (readable by the function
// users the sandbox runs as), the user's data directory otherwise (functions
// then run as that user).
func DefaultDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/nimbus/sdk"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "nimbus", "sdk")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "nimbus", "sdk")
	}
	return filepath.Join(os.TempDir(), "nimbus-sdk")
}

// Manifest describes an installed folder.
type Manifest struct {
	Installed time.Time `json:"installed"`
	// Node maps npm package names to versions (the top-level ones).
	Node map[string]string `json:"node,omitempty"`
	// Python maps Debian package names to versions.
	Python map[string]string `json:"python,omitempty"`
}

// Status is what a folder offers.
type Status struct {
	Node     bool // @aws-sdk/* resolve from nodejs/node_modules
	Python   bool // boto3 imports from python/
	Manifest *Manifest
}

// Check reports what dir holds; a missing dir is an empty Status.
func Check(dir string) Status {
	var st Status
	if dir == "" {
		return st
	}
	if _, err := os.Stat(filepath.Join(dir, "nodejs", "node_modules", "@aws-sdk", "client-sqs", "package.json")); err == nil {
		st.Node = true
	}
	if _, err := os.Stat(filepath.Join(dir, "python", "boto3", "__init__.py")); err == nil {
		st.Python = true
	}
	if b, err := os.ReadFile(filepath.Join(dir, ManifestFile)); err == nil {
		var m Manifest
		if json.Unmarshal(b, &m) == nil {
			st.Manifest = &m
		}
	}
	return st
}

// Options selects what Install does.
type Options struct {
	Dir    string
	Node   bool
	Python bool
	// Out receives the tools' progress; nil discards it.
	Out io.Writer
	// PythonExe precompiles the Python SDK's bytecode (function users cannot
	// write it); empty finds python3.
	PythonExe string
}

// Install builds the SDK folder beside Dir and swaps it into place, so a
// failed install leaves a previous folder as it was.
func Install(ctx context.Context, opt Options) error {
	if opt.Dir == "" {
		return errors.New("sdk: no directory given")
	}
	if !opt.Node && !opt.Python {
		return errors.New("sdk: nothing to install (neither Node.js nor Python)")
	}
	if opt.Out == nil {
		opt.Out = io.Discard
	}
	dir, err := filepath.Abs(opt.Dir)
	if err != nil {
		return fmt.Errorf("sdk: %w", err)
	}
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("sdk: create %s: %w", parent, err)
	}
	staging, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".new-")
	if err != nil {
		return fmt.Errorf("sdk: %w", err)
	}
	defer os.RemoveAll(staging) // gone once renamed

	m := Manifest{Installed: time.Now().UTC().Truncate(time.Second)}
	if opt.Node {
		if m.Node, err = installNode(ctx, staging, opt.Out); err != nil {
			return err
		}
	}
	if opt.Python {
		if m.Python, err = installPython(ctx, staging, opt); err != nil {
			return err
		}
	}
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(staging, ManifestFile), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("sdk: %w", err)
	}
	// Function processes run under other uids: everything readable, nothing writable.
	if err := makeReadable(staging); err != nil {
		return fmt.Errorf("sdk: set permissions: %w", err)
	}
	return swap(staging, dir)
}

// swap puts staging at dir, removing what was there.
func swap(staging, dir string) error {
	old := ""
	if _, err := os.Lstat(dir); err == nil {
		old = staging + ".old"
		if err := os.Rename(dir, old); err != nil {
			return fmt.Errorf("sdk: move the previous folder aside: %w", err)
		}
	}
	if err := os.Rename(staging, dir); err != nil {
		if old != "" {
			_ = os.Rename(old, dir)
		}
		return fmt.Errorf("sdk: %w", err)
	}
	if old != "" {
		_ = os.RemoveAll(old)
	}
	return nil
}

func installNode(ctx context.Context, staging string, out io.Writer) (map[string]string, error) {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return nil, errors.New("sdk: npm is needed to install the AWS SDK for JavaScript (install Node.js and npm)")
	}
	nodeDir := filepath.Join(staging, "nodejs")
	if err := os.MkdirAll(nodeDir, 0o755); err != nil {
		return nil, fmt.Errorf("sdk: %w", err)
	}
	for _, name := range []string{"package.json", "package-lock.json"} {
		b, err := runtimes.SDKFiles.ReadFile("sdk/nodejs/" + name)
		if err != nil {
			return nil, fmt.Errorf("sdk: %w", err)
		}
		if err := os.WriteFile(filepath.Join(nodeDir, name), b, 0o644); err != nil {
			return nil, fmt.Errorf("sdk: %w", err)
		}
	}
	fmt.Fprintln(out, "installing the AWS SDK for JavaScript v3 with npm ci")
	// ci installs exactly the lock file; no package scripts run.
	cmd := exec.CommandContext(ctx, npm, "ci", "--omit=dev", "--ignore-scripts", "--no-audit", "--no-fund", "--no-update-notifier")
	cmd.Dir = nodeDir
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("sdk: npm ci: %w", err)
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	b, _ := runtimes.SDKFiles.ReadFile("sdk/nodejs/package.json")
	if err := json.Unmarshal(b, &pkg); err != nil {
		return nil, fmt.Errorf("sdk: package.json: %w", err)
	}
	return pkg.Dependencies, nil
}

// debianPackages is the list in runtimes/sdk/python/debian-packages.txt.
func debianPackages() ([]string, error) {
	b, err := runtimes.SDKFiles.ReadFile("sdk/python/debian-packages.txt")
	if err != nil {
		return nil, err
	}
	var pkgs []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, "#") {
			pkgs = append(pkgs, line)
		}
	}
	return pkgs, sc.Err()
}

func installPython(ctx context.Context, staging string, opt Options) (map[string]string, error) {
	for _, tool := range []string{"apt-get", "dpkg-deb"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("sdk: %s is needed to install boto3 from Debian's packages", tool)
		}
	}
	pkgs, err := debianPackages()
	if err != nil {
		return nil, fmt.Errorf("sdk: %w", err)
	}
	debs := filepath.Join(staging, ".debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return nil, fmt.Errorf("sdk: %w", err)
	}
	defer os.RemoveAll(debs)
	fmt.Fprintln(opt.Out, "downloading boto3 from Debian:", strings.Join(pkgs, " "))
	download := func() error {
		// The download runs as the caller: apt's _apt user could not write here.
		args := append([]string{"-q", "-o", "APT::Sandbox::User=root", "download"}, pkgs...)
		if os.Geteuid() != 0 {
			args = append([]string{"-q", "download"}, pkgs...)
		}
		cmd := exec.CommandContext(ctx, "apt-get", args...)
		cmd.Dir = debs
		cmd.Stdout, cmd.Stderr = opt.Out, opt.Out
		return cmd.Run()
	}
	if err := download(); err != nil {
		if os.Geteuid() != 0 {
			return nil, fmt.Errorf("sdk: apt-get download: %w (run `apt-get update` as root if the package lists are missing)", err)
		}
		// A fresh machine has no package lists yet.
		fmt.Fprintln(opt.Out, "apt-get download failed; updating the package lists and trying again")
		update := exec.CommandContext(ctx, "apt-get", "-q", "update")
		update.Stdout, update.Stderr = opt.Out, opt.Out
		if uerr := update.Run(); uerr != nil {
			return nil, fmt.Errorf("sdk: apt-get update: %w", uerr)
		}
		if err := download(); err != nil {
			return nil, fmt.Errorf("sdk: apt-get download: %w", err)
		}
	}
	files, err := filepath.Glob(filepath.Join(debs, "*.deb"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("sdk: apt-get download left no packages in %s", debs)
	}
	unpacked := filepath.Join(debs, "root")
	versions := map[string]string{}
	for _, f := range files {
		out, err := exec.CommandContext(ctx, "dpkg-deb", "-f", f, "Package", "Version").Output()
		if err != nil {
			return nil, fmt.Errorf("sdk: read %s: %w", filepath.Base(f), err)
		}
		var name, version string
		for _, line := range strings.Split(string(out), "\n") {
			if v, ok := strings.CutPrefix(line, "Package: "); ok {
				name = v
			} else if v, ok := strings.CutPrefix(line, "Version: "); ok {
				version = v
			}
		}
		versions[name] = version
		if b, err := exec.CommandContext(ctx, "dpkg-deb", "-x", f, unpacked).CombinedOutput(); err != nil {
			return nil, fmt.Errorf("sdk: unpack %s: %w: %s", filepath.Base(f), err, bytes.TrimSpace(b))
		}
	}
	for _, p := range pkgs {
		if _, ok := versions[p]; !ok {
			return nil, fmt.Errorf("sdk: apt-get download did not fetch %s", p)
		}
	}
	pyDir := filepath.Join(staging, "python")
	if err := os.Rename(filepath.Join(unpacked, "usr", "lib", "python3", "dist-packages"), pyDir); err != nil {
		return nil, fmt.Errorf("sdk: the Debian packages hold no dist-packages: %w", err)
	}
	// Function users cannot write __pycache__ here: compile once now, so a
	// cold start does not compile botocore each time.
	py := opt.PythonExe
	if py == "" {
		py = findPython()
	}
	if py != "" {
		fmt.Fprintln(opt.Out, "compiling the Python SDK's bytecode with", py)
		cmd := exec.CommandContext(ctx, py, "-m", "compileall", "-q", "-j", "0", pyDir)
		if b, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(opt.Out, "bytecode not precompiled (cold starts pay for it): %v: %s\n", err, bytes.TrimSpace(b))
		}
	}
	return versions, nil
}

// findPython prefers the system interpreter, which the platform also uses.
func findPython() string {
	if p := os.Getenv("NIMBUS_PYTHON"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/python3"); err == nil {
		return "/usr/bin/python3"
	}
	p, _ := exec.LookPath("python3")
	return p
}

// makeReadable makes dirs 0755 and files 0644 (0755 when executable).
func makeReadable(root string) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if d.IsDir() || info.Mode().Perm()&0o100 != 0 {
			mode = 0o755
		}
		if info.Mode().Perm() == mode {
			return nil
		}
		return os.Chmod(path, mode)
	})
}

// Describe is a one-line summary of a folder, for `nimbus up` and the CLI.
func (st Status) Describe() string {
	var parts []string
	if st.Node {
		parts = append(parts, "Node.js (AWS SDK for JavaScript v3"+version(st.Manifest, "@aws-sdk/client-sqs", true)+")")
	}
	if st.Python {
		parts = append(parts, "Python (boto3"+version(st.Manifest, "python3-boto3", false)+")")
	}
	if len(parts) == 0 {
		return "none"
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func version(m *Manifest, pkg string, node bool) string {
	if m == nil {
		return ""
	}
	v := m.Python[pkg]
	if node {
		v = m.Node[pkg]
	}
	if v == "" {
		return ""
	}
	return " " + v
}
