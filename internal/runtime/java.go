package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/nimbus-platform/nimbus/runtimes"
)

// javaClient compiles the Java runtime client once per JDK, at first use,
// into the runtime directory (which instances see at /var/runtime).
type javaClient struct {
	mu       sync.Mutex
	compiled map[string]javaResult // by java path
}

type javaResult struct {
	rel string // classes directory relative to the runtime directory
	err error
}

// classes returns the client's classes directory for the JDK of java,
// relative to runtimeDir, compiling it if needed.
func (j *javaClient) classes(runtimeDir, java string) (string, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if r, ok := j.compiled[java]; ok {
		return r.rel, r.err
	}
	rel, err := compileJava(runtimeDir, java)
	if j.compiled == nil {
		j.compiled = map[string]javaResult{}
	}
	j.compiled[java] = javaResult{rel, err}
	return rel, err
}

func compileJava(runtimeDir, java string) (string, error) {
	real, err := filepath.EvalSymlinks(java)
	if err != nil {
		return "", err
	}
	javac := filepath.Join(filepath.Dir(real), "javac")
	if st, err := os.Stat(javac); err != nil || st.IsDir() {
		return "", fmt.Errorf("%s is a Java runtime without a compiler: install a JDK (javac beside java) so nimbus can compile its Java runtime client", java)
	}
	src := filepath.Join(runtimeDir, filepath.FromSlash(runtimes.JavaSource))
	code, err := os.ReadFile(src)
	if err != nil {
		return "", fmt.Errorf("the Java runtime client is not installed: %w", err)
	}
	sum := sha256.Sum256(append([]byte(real+"\n"), code...))
	rel := filepath.Join(filepath.FromSlash(runtimes.JavaClasses), hex.EncodeToString(sum[:8]))
	dir := filepath.Join(runtimeDir, rel)
	if _, err := os.Stat(filepath.Join(dir, "NimbusRuntime.class")); err == nil {
		return rel, nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".compile-*")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// javac on C1 alone takes half the CPU time for one small file.
	out, err := exec.CommandContext(ctx, javac, "-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC", "-nowarn", "-d", tmp, src).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("compile the Java runtime client with %s: %w: %s", javac, err, strings.TrimSpace(string(out)))
	}
	// Readable by function users, whatever the umask.
	_ = filepath.Walk(tmp, func(p string, info os.FileInfo, err error) error {
		if err == nil {
			mode := os.FileMode(0o644)
			if info.IsDir() {
				mode = 0o755
			}
			_ = os.Chmod(p, mode)
		}
		return nil
	})
	if err := os.Rename(tmp, dir); err != nil && !errors.Is(err, os.ErrExist) {
		if _, statErr := os.Stat(filepath.Join(dir, "NimbusRuntime.class")); statErr != nil {
			return "", err // another process did not win the race either
		}
	}
	return rel, nil
}
