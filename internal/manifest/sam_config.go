package manifest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/goccy/go-yaml"
)

// samconfig.toml (or .yaml / .yml) next to a template holds what `sam
// deploy` would otherwise be told on the command line:
// [ENV.deploy.parameters] (then [ENV.global.parameters]) stack_name,
// parameter_overrides and region, ENV being --config-env (default). Flags
// win over the file.

var samConfigNames = []string{"samconfig.toml", "samconfig.yaml", "samconfig.yml"}

// samConfigParams are the settings nimbus reads from a samconfig file.
type samConfigParams struct {
	StackName          string
	Region             string
	ParameterOverrides map[string]string
}

// readSAMConfig reads dir's samconfig file for env; a missing file gives
// nothing, an env the file does not have is an error only when asked for
// by name.
func readSAMConfig(dir, env string) (samConfigParams, string, error) {
	var out samConfigParams
	named := env != ""
	if env == "" {
		env = "default"
	}
	for _, name := range samConfigNames {
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return out, path, err
		}
		if len(data) > 1<<20 {
			return out, path, fmt.Errorf("%s is over 1 MB", name)
		}
		var doc map[string]any
		if strings.HasSuffix(name, ".toml") {
			_, err = toml.Decode(string(data), &doc)
		} else {
			err = yaml.Unmarshal(data, &doc)
		}
		if err != nil {
			return out, path, fmt.Errorf("%s: %w", name, err)
		}
		cmds, ok := doc[env].(map[string]any)
		if !ok {
			if named {
				return out, path, fmt.Errorf("%s has no environment %q (--config-env)", name, env)
			}
			return out, path, nil
		}
		// deploy's own settings win over global ones.
		for _, cmd := range []string{"global", "deploy"} {
			section, _ := cmds[cmd].(map[string]any)
			params, _ := section["parameters"].(map[string]any)
			for k, v := range params {
				switch k {
				case "stack_name":
					out.StackName = fmt.Sprint(v)
				case "region":
					out.Region = fmt.Sprint(v)
				case "parameter_overrides":
					pairs, err := samOverrides(v)
					if err != nil {
						return out, path, fmt.Errorf("%s: [%s.%s.parameters] parameter_overrides: %w", name, env, cmd, err)
					}
					if out.ParameterOverrides == nil {
						out.ParameterOverrides = map[string]string{}
					}
					for pk, pv := range pairs {
						out.ParameterOverrides[pk] = pv
					}
				}
			}
		}
		return out, path, nil
	}
	if named && env != "default" {
		return out, "", fmt.Errorf("--config-env %s: the template's directory has no samconfig.toml", env)
	}
	return out, "", nil
}

// samOverrides reads parameter_overrides: "A=1 B=\"two words\"" or a list
// of "A=1" strings, as the SAM CLI does.
func samOverrides(v any) (map[string]string, error) {
	var fields []string
	switch x := v.(type) {
	case string:
		var err error
		if fields, err = splitQuoted(x); err != nil {
			return nil, err
		}
	case []any:
		for _, it := range x {
			fields = append(fields, fmt.Sprint(it))
		}
	default:
		return nil, fmt.Errorf("must be a string of Name=Value pairs or a list of them, not %T", v)
	}
	out := map[string]string{}
	for _, f := range fields {
		name, value, ok := strings.Cut(f, "=")
		if name == "ParameterKey" {
			key, rest, found := strings.Cut(value, ",ParameterValue=")
			if !found {
				return nil, fmt.Errorf("%q: write ParameterKey=Name,ParameterValue=Value", f)
			}
			name, value, ok = key, rest, true
		}
		if !ok || name == "" {
			return nil, fmt.Errorf("%q: write Name=Value", f)
		}
		out[name] = strings.Trim(value, `"`)
	}
	return out, nil
}

// splitQuoted splits s at spaces outside double quotes, keeping the quotes
// for samOverrides to trim.
func splitQuoted(s string) ([]string, error) {
	var out []string
	var b strings.Builder
	quoted, has := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted = !quoted
			b.WriteRune(r)
			has = true
		case (r == ' ' || r == '\t' || r == '\n') && !quoted:
			if has {
				out = append(out, b.String())
				b.Reset()
				has = false
			}
		default:
			b.WriteRune(r)
			has = true
		}
	}
	if quoted {
		return nil, errors.New("a double quote is not closed")
	}
	if has {
		out = append(out, b.String())
	}
	return out, nil
}

// withSAMConfig applies dir's samconfig to opts: flags win.
func withSAMConfig(dir string, opts Options) (Options, error) {
	c, path, err := readSAMConfig(dir, opts.ConfigEnv)
	if err != nil {
		return opts, err
	}
	if path == "" {
		return opts, nil
	}
	if opts.StackName == "" {
		opts.StackName = c.StackName
	}
	if opts.Region == "" {
		opts.Region = c.Region
	}
	if len(c.ParameterOverrides) > 0 {
		merged := c.ParameterOverrides
		for k, v := range opts.ParameterOverrides {
			merged[k] = v
		}
		opts.ParameterOverrides = merged
	}
	return opts, nil
}
