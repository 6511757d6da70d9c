package manifest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// dotenvLookup implements useDotenv: .env.<stage> is read if it exists, else
// .env; variables already in the environment win, as with Serverless.
func dotenvLookup(dir, stage string, base func(string) (string, bool)) (func(string) (string, bool), error) {
	var vars map[string]string
	for _, name := range []string{".env." + stage, ".env"} {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return base, fmt.Errorf("useDotenv: %w", err)
		}
		vars, err = parseDotenv(data)
		if err != nil {
			return base, fmt.Errorf("useDotenv: %s: %w", name, err)
		}
		break
	}
	return func(name string) (string, bool) {
		if v, ok := base(name); ok {
			return v, true
		}
		v, ok := vars[name]
		return v, ok
	}, nil
}

// parseDotenv reads KEY=value lines; values may be quoted, # starts a comment.
func parseDotenv(data []byte) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for lineNo := 1; sc.Scan(); lineNo++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: expected KEY=value", lineNo)
		}
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		switch {
		case strings.HasPrefix(value, `"`) && strings.HasSuffix(value, `"`) && len(value) >= 2:
			if u, err := strconv.Unquote(value); err == nil {
				value = u
			} else {
				value = value[1 : len(value)-1]
			}
		case strings.HasPrefix(value, "'") && strings.HasSuffix(value, "'") && len(value) >= 2:
			value = value[1 : len(value)-1]
		default:
			if i := strings.Index(value, " #"); i >= 0 {
				value = strings.TrimSpace(value[:i])
			}
		}
		out[key] = value
	}
	return out, sc.Err()
}
