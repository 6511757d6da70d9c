package appspec

import (
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// CheckHandler verifies that a function's code package (a directory through
// os.DirFS, or a zip through zip.Reader) holds what its runtime will start:
// the handler file for Node.js and Python, the executable for go1.x, and
// bootstrap for provided runtimes.
func CheckHandler(code fs.FS, runtime, handler string) error {
	family, ok := RuntimeFamily(runtime)
	if !ok {
		return fmt.Errorf("unknown runtime %q", runtime)
	}
	switch family {
	case FamilyProvided:
		// A shell script runs without its exec bit, as it does on Lambda's images.
		if isScript(code, "bootstrap") {
			return nil
		}
		return checkExecutable(code, "bootstrap", "provided runtimes start an executable named bootstrap at the package root")
	case FamilyGo:
		name := path.Clean(handler)
		if !fs.ValidPath(name) {
			return fmt.Errorf("handler %q must be a path inside the package", handler)
		}
		return checkExecutable(code, name, "go1.x starts the executable the handler names")
	case FamilyNode:
		file, export, ok := splitHandler(handler)
		if !ok {
			return fmt.Errorf("handler %q must look like path/file.export", handler)
		}
		for _, ext := range []string{".js", ".mjs", ".cjs"} {
			if isFile(code, file+ext) {
				return nil
			}
		}
		return fmt.Errorf("handler %q: none of %s.js, %s.mjs or %s.cjs is in the package (export %q)", handler, file, file, file, export)
	case FamilyPython:
		// Python splits at the last dot: "pkg.mod.handler" is pkg/mod.py's handler.
		i := strings.LastIndex(handler, ".")
		if i <= 0 || i == len(handler)-1 || strings.Contains(handler[i:], "/") {
			return fmt.Errorf("handler %q must look like path/module.function", handler)
		}
		module, fn := handler[:i], handler[i+1:]
		dir, base := path.Split(module)
		file := path.Clean(dir + strings.ReplaceAll(base, ".", "/"))
		if !fs.ValidPath(file) {
			return fmt.Errorf("handler %q must be a path inside the package", handler)
		}
		if isFile(code, file+".py") || isFile(code, file+"/__init__.py") {
			return nil
		}
		file += ".py"
		return fmt.Errorf("handler %q: %s is not in the package (function %q)", handler, file, fn)
	case FamilyRuby:
		// file.method or file.Module::Class.method, file relative to the root.
		parts := strings.Split(handler, ".")
		if (len(parts) != 2 && len(parts) != 3) || slices.Contains(parts, "") {
			return fmt.Errorf("handler %q must look like path/file.method or path/file.Module::Class.method", handler)
		}
		file := path.Clean(parts[0])
		if !fs.ValidPath(file) {
			return fmt.Errorf("handler %q must be a path inside the package", handler)
		}
		if !isFile(code, file+".rb") {
			return fmt.Errorf("handler %q: %s.rb is not in the package (method %q)", handler, file, parts[len(parts)-1])
		}
		return nil
	case FamilyJava:
		// pkg.Class::method or pkg.Class; the class is in a jar or a classes folder.
		class, _, _ := strings.Cut(handler, "::")
		if class == "" || strings.ContainsAny(class, "/ ") {
			return fmt.Errorf("handler %q must look like package.Class::method or package.Class", handler)
		}
		found := false
		_ = fs.WalkDir(code, ".", func(name string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && (strings.HasSuffix(name, ".jar") || strings.HasSuffix(name, ".class")) {
				found = true
				return fs.SkipAll
			}
			return nil
		})
		if !found {
			return fmt.Errorf("handler %q: the package holds no .class or .jar file (package the build's jar or zip)", handler)
		}
		return nil
	}
	return nil
}

// isScript reports whether name is a file that is not an executable binary
// (ELF): a script a shell can run.
func isScript(code fs.FS, name string) bool {
	f, err := code.Open(name)
	if err != nil {
		return false
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || st.IsDir() {
		return false
	}
	head := make([]byte, 4)
	n, _ := io.ReadFull(f, head)
	return n > 0 && string(head[:n]) != "\x7fELF"
}

// splitHandler splits "dir/file.export" at the first dot after the last slash.
func splitHandler(handler string) (file, export string, ok bool) {
	dir, base := path.Split(handler)
	i := strings.Index(base, ".")
	if i <= 0 || i == len(base)-1 {
		return "", "", false
	}
	file = path.Clean(dir + base[:i])
	if !fs.ValidPath(file) {
		return "", "", false
	}
	return file, base[i+1:], true
}

func isFile(code fs.FS, name string) bool {
	st, err := fs.Stat(code, name)
	return err == nil && !st.IsDir()
}

func checkExecutable(code fs.FS, name, why string) error {
	st, err := fs.Stat(code, name)
	if err != nil || st.IsDir() {
		return fmt.Errorf("%s is not in the package (%s)", name, why)
	}
	if st.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not executable (chmod +x it before packaging)", name)
	}
	return nil
}
