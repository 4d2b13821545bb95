package deployclient

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/viper"
)

// FileConfig is zato-client.yaml or a workspace's .zato.yaml. The top-level url/username/password are the default
// target when there are no named targets.
type FileConfig struct {
	URL                string            `mapstructure:"url"`
	Username           string            `mapstructure:"username"`
	Password           string            `mapstructure:"password"`
	PasswordEnv        string            `mapstructure:"passwordEnv"`
	CAFile             string            `mapstructure:"caFile"`
	InsecureSkipVerify bool              `mapstructure:"insecureSkipVerify"`
	Kind               string            `mapstructure:"kind"`
	Timeout            time.Duration     `mapstructure:"timeout"`
	Servers            []ServerRef       `mapstructure:"servers"`
	Targets            map[string]Target `mapstructure:"targets"`
	DefaultTarget      string            `mapstructure:"defaultTarget"`
}

// ServerRef is one server of an environment, for talking to a given server directly.
type ServerRef struct {
	Name string `mapstructure:"name"`
	URL  string `mapstructure:"url"`
	Dir  string `mapstructure:"dir"`
}

// Target is a named place to deploy to.
type Target struct {
	URL                string `mapstructure:"url"`
	Username           string `mapstructure:"username"`
	Password           string `mapstructure:"password"`
	PasswordEnv        string `mapstructure:"passwordEnv"`
	CAFile             string `mapstructure:"caFile"`
	InsecureSkipVerify bool   `mapstructure:"insecureSkipVerify"`
	Kind               string `mapstructure:"kind"`
}

// DefaultTargetName names the target made of the top-level keys.
const DefaultTargetName = "default"

// LoadConfig reads a client config file (YAML, or any format viper knows by its extension).
func LoadConfig(path string) (FileConfig, error) {
	v := viper.New()
	v.SetConfigFile(path)
	if ext := fileExt(path); ext == "" || ext == "yml" {
		v.SetConfigType("yaml")
	}
	if err := v.ReadInConfig(); err != nil {
		return FileConfig{}, fmt.Errorf("read client config %s: %w", path, err)
	}
	return DecodeConfig(v)
}

// DecodeConfig decodes a viper tree (a config file possibly layered with other sources) into a FileConfig.
func DecodeConfig(v *viper.Viper) (FileConfig, error) {
	var fc FileConfig
	if err := v.Unmarshal(&fc); err != nil {
		return FileConfig{}, fmt.Errorf("decode client config: %w", err)
	}
	return fc, nil
}

func fileExt(path string) string {
	for i := len(path) - 1; i >= 0 && path[i] != '/' && path[i] != os.PathSeparator; i-- {
		if path[i] == '.' {
			if i == 0 || path[i-1] == '/' {
				return "" // a dot file such as .zato.yaml has the extension after its first dot
			}
			return path[i+1:]
		}
	}
	return ""
}

// TargetNames lists the configured targets, the default one first.
func (f FileConfig) TargetNames() []string {
	var names []string
	for n := range f.Targets {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 && f.URL != "" {
		return []string{DefaultTargetName}
	}
	if _, _, ok := f.lookup(DefaultTargetName); !ok && f.URL != "" {
		names = append(names, DefaultTargetName) // the top-level url is a target too
		sort.Strings(names)
	}
	def, _, ok := f.lookup(f.defaultName())
	out := []string{}
	if ok || def == DefaultTargetName && f.URL != "" {
		out = append(out, def)
	}
	for _, n := range names {
		if n != def {
			out = append(out, n)
		}
	}
	return out
}

// lookup finds a named target. Names match without regard to case: viper, which reads every layer of the
// configuration, lower-cases map keys, while editors send names as the user typed them.
func (f FileConfig) lookup(name string) (string, Target, bool) {
	if t, ok := f.Targets[name]; ok {
		return name, t, true
	}
	for n, t := range f.Targets {
		if strings.EqualFold(n, name) {
			return n, t, true
		}
	}
	if name == "" || strings.EqualFold(name, DefaultTargetName) {
		return DefaultTargetName, Target{}, false
	}
	return name, Target{}, false
}

func (f FileConfig) defaultName() string {
	if f.DefaultTarget != "" {
		return f.DefaultTarget
	}
	if f.URL == "" && len(f.Targets) == 1 {
		for n := range f.Targets {
			return n
		}
	}
	return DefaultTargetName
}

// Target resolves a target by name ("" for the default) into a client Config. A named target inherits the top-level
// username, password and TLS settings it does not set; passwordEnv is read from the process environment.
func (f FileConfig) Target(name string) (string, Config, error) {
	return f.ResolveTarget(name, os.LookupEnv)
}

// ResolveTarget is Target with the environment passwordEnv is read from.
func (f FileConfig) ResolveTarget(name string, getenv func(string) (string, bool)) (string, Config, error) {
	env := func(k string) string {
		v, _ := getenv(k)
		return v
	}
	if name == "" {
		name = f.defaultName()
	}
	name, t, ok := f.lookup(name)
	if !ok {
		if name != DefaultTargetName {
			return name, Config{}, fmt.Errorf("no target named %q", name)
		}
		t = Target{URL: f.URL}
	}
	cfg := Config{
		URL: t.URL, Username: first(t.Username, f.Username), Password: t.Password, CAFile: first(t.CAFile, f.CAFile),
		InsecureSkipVerify: t.InsecureSkipVerify || f.InsecureSkipVerify, Kind: first(t.Kind, f.Kind), Timeout: f.Timeout,
	}
	switch {
	case t.Password != "":
	case t.PasswordEnv != "":
		cfg.Password = env(t.PasswordEnv)
	case f.Password != "":
		cfg.Password = f.Password
	case f.PasswordEnv != "":
		cfg.Password = env(f.PasswordEnv)
	}
	if cfg.URL == "" {
		return name, cfg, errors.New("no server URL configured")
	}
	return name, cfg, nil
}

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
