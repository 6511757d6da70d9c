package runtime

import (
	"context"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// compilePython writes the bytecode of the Python runtime client for one
// interpreter, once per platform start, into __pycache__ beside it in the
// platform's runtime directory. Instances see that directory read-only and
// run with PYTHONDONTWRITEBYTECODE, so without this every cold start
// compiled the client again. The interpreter finds the .pyc by its own
// cache tag (cpython-312, ...), so interpreters of several versions share
// the directory; the standard library keeps its own caches.
func (m *Manager) compilePython(interp string) {
	if m.cfg.PythonEntry == "" {
		return
	}
	once, _ := m.pyCompiled.LoadOrStore(interp, new(sync.Once))
	once.(*sync.Once).Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		dir := filepath.Dir(m.cfg.PythonEntry)
		// -S: no site packages; -q: quiet; -l: this directory only.
		out, err := exec.CommandContext(ctx, interp, "-S", "-m", "compileall", "-q", "-l", dir).CombinedOutput()
		if err != nil {
			// Only slower: the client still runs from source.
			m.log.Warn("python runtime client not precompiled", "interpreter", interp, "error", err, "output", string(out))
		}
	})
}
