package deployclient

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// FileConfig is zato-client.yaml or a workspace's .zato.yaml. The top-level url/username/password are the default
// target when there are no named targets. The mapstructure tags serve callers that layer it with other settings.
type FileConfig struct {
	URL                string            `yaml:"url" mapstructure:"url"`
	Username           string            `yaml:"username" mapstructure:"username"`
	Password           string            `yaml:"password" mapstructure:"password"`
	PasswordEnv        string            `yaml:"passwordEnv" mapstructure:"passwordEnv"`
	CAFile             string            `yaml:"caFile" mapstructure:"caFile"`
	InsecureSkipVerify bool              `yaml:"insecureSkipVerify" mapstructure:"insecureSkipVerify"`
	Kind               string            `yaml:"kind" mapstructure:"kind"`
	Timeout            time.Duration     `yaml:"timeout" mapstructure:"timeout"`
	Servers            []ServerRef       `yaml:"servers" mapstructure:"servers"`
	Targets            map[string]Target `yaml:"targets" mapstructure:"targets"`
	DefaultTarget      string            `yaml:"defaultTarget" mapstructure:"defaultTarget"`
	// IDE is Zato's IDE user of the environment (zato quickstart create --ide-user), for Zato's own plug-ins.
	IDE *struct {
		Username string `yaml:"username" mapstructure:"username"`
		Password string `yaml:"password" mapstructure:"password"`
	} `yaml:"ide" mapstructure:"ide"`
}

// ServerRef is one server of an environment, for talking to a given server directly.
type ServerRef struct {
	Name string `yaml:"name" mapstructure:"name"`
	URL  string `yaml:"url" mapstructure:"url"`
	Dir  string `yaml:"dir" mapstructure:"dir"`
}

// Target is a named place to deploy to.
type Target struct {
	URL                string `yaml:"url" mapstructure:"url"`
	Username           string `yaml:"username" mapstructure:"username"`
	Password           string `yaml:"password" mapstructure:"password"`
	PasswordEnv        string `yaml:"passwordEnv" mapstructure:"passwordEnv"`
	CAFile             string `yaml:"caFile" mapstructure:"caFile"`
	InsecureSkipVerify bool   `yaml:"insecureSkipVerify" mapstructure:"insecureSkipVerify"`
	Kind               string `yaml:"kind" mapstructure:"kind"`
}

// ConfigFile is a client config file as written: FileConfig's keys and those only the language server reads from a
// workspace's .zato.yaml. Nil or empty editor keys were not set.
type ConfigFile struct {
	FileConfig    `yaml:",inline"`
	DeployOnSave  *bool    `yaml:"deployOnSave"`
	RequireMarker *bool    `yaml:"requireMarker"`
	Include       []string `yaml:"include"`
	Exclude       []string `yaml:"exclude"`
}

// DefaultTargetName names the target made of the top-level keys.
const DefaultTargetName = "default"

// LoadConfig reads a client config file (zato-client.yaml or .zato.yaml) strictly; see ReadConfigFile.
func LoadConfig(path string) (FileConfig, error) {
	f, err := ReadConfigFile(path)
	return f.FileConfig, err
}

// ReadConfigFile reads a client config file: YAML (JSON is YAML too) with known keys only, so that a typo such as
// `pasword:` is an error naming the file and the line rather than a setting silently left out. Target names keep
// their case.
func ReadConfigFile(path string) (ConfigFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return ConfigFile{}, fmt.Errorf("read client config %s: %w", path, err)
	}
	return ParseConfigFile(path, b)
}

// ParseConfigFile is ReadConfigFile of content already read; path names it in errors.
func ParseConfigFile(path string, b []byte) (ConfigFile, error) {
	var f ConfigFile
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return ConfigFile{}, yamlError(path, err)
	}
	return f, nil
}

var (
	yamlLineRe    = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	yamlUnknownRe = regexp.MustCompile(`^field (\S+) not found in type (\S+)$`)
	yamlTypeRe    = regexp.MustCompile("^cannot unmarshal !!\\w+ `(.*)` into (\\S+)$")
)

// yamlError words a YAML decoding error for the person editing the file: "FILE line N: problem", one per problem.
func yamlError(path string, err error) error {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var errs []error
	for _, m := range msgs {
		sm := yamlLineRe.FindStringSubmatch(m)
		if sm == nil {
			errs = append(errs, fmt.Errorf("%s: %s", path, strings.TrimPrefix(m, "yaml: ")))
			continue
		}
		problem := sm[2]
		if u := yamlUnknownRe.FindStringSubmatch(problem); u != nil {
			problem = unknownKey(u[1], u[2])
		} else if u := yamlTypeRe.FindStringSubmatch(problem); u != nil {
			switch u[2] {
			case "time.Duration":
				problem = fmt.Sprintf("%s is not a duration (30s, 2m)", u[1])
			case "bool":
				problem = fmt.Sprintf("%s is not true or false", u[1])
			}
		}
		errs = append(errs, fmt.Errorf("%s line %s: %s", path, sm[1], problem))
	}
	return errors.Join(errs...)
}

// unknownKey names a key the decoder did not know, with the keys known where it stands.
func unknownKey(key, typeName string) string {
	var t reflect.Type
	where := ""
	switch typeName {
	case "deployclient.Target":
		t, where = reflect.TypeFor[Target](), " in a target"
	case "deployclient.ServerRef":
		t, where = reflect.TypeFor[ServerRef](), " in servers"
	default:
		t = reflect.TypeFor[ConfigFile]()
	}
	return fmt.Sprintf("unknown key %s%s (known: %s)", key, where, strings.Join(yamlKeys(t), ", "))
}

func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if opts == "inline" {
			keys = append(keys, yamlKeys(f.Type)...)
			continue
		}
		if name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
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

// lookup finds a named target: by its exact name, else the one target whose name matches regardless of case (editors
// and settings layered through viper may send names lower-cased). Names keep the case they were written with.
func (f FileConfig) lookup(name string) (string, Target, bool) {
	if t, ok := f.Targets[name]; ok {
		return name, t, true
	}
	found, matches := "", 0
	for n := range f.Targets {
		if strings.EqualFold(n, name) {
			found, matches = n, matches+1
		}
	}
	if matches == 1 {
		return found, f.Targets[found], true
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
	fromEnv := ""
	switch {
	case t.Password != "":
	case t.PasswordEnv != "":
		fromEnv = t.PasswordEnv
	case f.Password != "":
		cfg.Password = f.Password
	case f.PasswordEnv != "":
		fromEnv = f.PasswordEnv
	}
	if fromEnv != "" {
		if cfg.Password = env(fromEnv); cfg.Password == "" {
			return name, cfg, fmt.Errorf("passwordEnv names %s, which is not set", fromEnv)
		}
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
