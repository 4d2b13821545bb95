package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// kind is what a server.conf value must look like.
type kind int

const (
	kString   kind = iota
	kInt           // a whole number
	kDuration      // 10s, 500ms, or a plain number of seconds as in Zato
	kBool          // True or False, as Zato writes them
)

// schema lists every key server.conf may hold, by section, in the order `zato quickstart create` writes them. A key
// or section that is not here fails the start: a typo must not silently leave a setting at its default.
var schema = []struct {
	section string
	keys    []schemaKey
}{
	{"main", []schemaKey{
		{"name", kString}, {"work_dir", kString}, {"service_sources", kString}, {"max_procs", kInt},
		{"invoke_threads", kInt}, {"invoke_timeout", kDuration},
	}},
	{"http", []schemaKey{
		{"host", kString}, {"port", kInt}, {"tls_cert", kString}, {"tls_key", kString}, {"tls_ca", kString},
		{"public_url", kString},
	}},
	{"api", []schemaKey{{"username", kString}, {"password_hash", kString}, {"ide_username", kString}, {"ide_password_hash", kString}, {"max_payload", kInt}}},
	{"cluster", []schemaKey{{"secret", kString}}},
	{"odb", []schemaKey{{"engine", kString}, {"dsn", kString}}},
	{"hot_deploy", []schemaKey{
		{"pickup_dir", kString}, {"pickup_poll_interval", kDuration}, {"backup_history", kInt},
		{"backup_format", kString}, {"delete_after_pick_up", kBool}, {"current_work_dir", kString},
		{"backup_work_dir", kString}, {"last_backup_work_dir", kString}, {"import_timeout", kDuration},
	}},
	{"python", []schemaKey{{"executable", kString}, {"workers", kInt}, {"memory_max_mb", kInt}, {"pids_max", kInt}}},
}

type schemaKey struct {
	name string
	kind kind
}

func schemaSection(name string) ([]schemaKey, bool) {
	for _, s := range schema {
		if s.section == name {
			return s.keys, true
		}
	}
	return nil, false
}

func schemaKind(section, key string) (kind, bool) {
	keys, _ := schemaSection(section)
	for _, k := range keys {
		if k.name == key {
			return k.kind, true
		}
	}
	return 0, false
}

// entry is one key=value line of server.conf.
type entry struct {
	value string
	line  int
}

// confFile is a parsed server.conf: "section.key" -> entry, every key known to the schema.
type confFile struct {
	path    string
	entries map[string]entry
	errs    []error
}

// lineError is a problem at one line of server.conf, worded for the person editing it.
type lineError struct {
	path    string
	line    int
	problem string
}

func (e lineError) Error() string {
	if e.line == 0 {
		return fmt.Sprintf("%s: %s", e.path, e.problem)
	}
	return fmt.Sprintf("%s line %d: %s", e.path, e.line, e.problem)
}

func (c *confFile) fail(line int, format string, args ...any) {
	c.errs = append(c.errs, lineError{c.path, line, fmt.Sprintf(format, args...)})
}

// err joins every problem found, in line order.
func (c *confFile) err() error {
	slices.SortStableFunc(c.errs, func(a, b error) int {
		var la, lb lineError
		errors.As(a, &la)
		errors.As(b, &lb)
		return la.line - lb.line
	})
	return errors.Join(c.errs...)
}

// parseConf reads server.conf as Zato writes it: [section] headers, key=value lines, whole-line comments (# or ;).
// A value is taken as is up to the end of its line (a # inside it is part of it: secrets and DSNs may hold one);
// matching quotes around it are removed. Unknown sections and keys, keys set twice and lines that are none of these
// are errors.
func parseConf(path string, b []byte) *confFile {
	c := &confFile{path: path, entries: map[string]entry{}}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	section, sectionKnown := "", false
	seenSection := map[string]int{}
	for i, raw := range strings.Split(string(b), "\n") {
		n := i + 1
		t := strings.TrimSpace(raw)
		switch {
		case t == "" || strings.HasPrefix(t, "#") || strings.HasPrefix(t, ";"):
			continue
		case strings.HasPrefix(t, "["):
			if !strings.HasSuffix(t, "]") {
				c.fail(n, "%s is not a [section] header", t)
				section, sectionKnown = "", false
				continue
			}
			section = strings.TrimSpace(t[1 : len(t)-1])
			if first, ok := seenSection[section]; ok {
				c.fail(n, "section [%s] appears twice (first at line %d)", section, first)
			}
			seenSection[section] = n
			_, sectionKnown = schemaSection(section)
			if !sectionKnown {
				c.fail(n, "unknown section [%s] (known: %s)", section, knownSections())
			}
			continue
		}
		key, value, ok := strings.Cut(t, "=")
		if !ok {
			c.fail(n, "%q is not key=value", t)
			continue
		}
		key, value = strings.TrimSpace(key), unquote(strings.TrimSpace(value))
		if section == "" {
			c.fail(n, "%s is outside any [section]", key)
			continue
		}
		if !sectionKnown {
			continue // the section is reported already
		}
		if _, ok := schemaKind(section, key); !ok {
			c.fail(n, "unknown key %s in [%s] (known: %s)", key, section, knownKeys(section))
			continue
		}
		sk := section + "." + key
		if prev, ok := c.entries[sk]; ok {
			c.fail(n, "[%s] %s is set twice (first at line %d)", section, key, prev.line)
			continue
		}
		c.entries[sk] = entry{value: value, line: n}
	}
	return c
}

func unquote(v string) string {
	if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
		return v[1 : len(v)-1]
	}
	return v
}

func knownSections() string {
	var names []string
	for _, s := range schema {
		names = append(names, "["+s.section+"]")
	}
	return strings.Join(names, ", ")
}

func knownKeys(section string) string {
	keys, _ := schemaSection(section)
	var names []string
	for _, k := range keys {
		names = append(names, k.name)
	}
	return strings.Join(names, ", ")
}

// str returns a key's value, "" when it is not set.
func (c *confFile) str(sk string) string {
	c.mustKnow(sk, kString)
	return c.entries[sk].value
}

// int returns a whole number, def when the key is absent or empty. A value below min is an error.
func (c *confFile) int(sk string, def, min int64) int64 {
	c.mustKnow(sk, kInt)
	e, ok := c.entries[sk]
	if !ok || e.value == "" {
		return def
	}
	n, err := strconv.ParseInt(e.value, 10, 64)
	if err != nil {
		c.fail(e.line, "%s=%s is not a whole number", c.label(sk), e.value)
		return def
	}
	if n < min {
		if min == 0 {
			c.fail(e.line, "%s=%s is negative", c.label(sk), e.value)
		} else {
			c.fail(e.line, "%s=%s is below %d", c.label(sk), e.value, min)
		}
		return def
	}
	return n
}

// duration returns a duration: a plain number is seconds, as in Zato, else Go's form (10s, 500ms, 1m30s).
func (c *confFile) duration(sk string, def time.Duration) time.Duration {
	c.mustKnow(sk, kDuration)
	e, ok := c.entries[sk]
	if !ok || e.value == "" {
		return def
	}
	var d time.Duration
	var err error
	if f, ferr := strconv.ParseFloat(e.value, 64); ferr == nil && !math.IsNaN(f) && math.Abs(f) < math.MaxInt64/float64(time.Second) {
		d = time.Duration(f * float64(time.Second))
	} else {
		d, err = time.ParseDuration(e.value)
	}
	if err != nil {
		c.fail(e.line, "%s=%s is not a duration (a number of seconds, or 10s, 500ms, 1m30s)", c.label(sk), e.value)
		return def
	}
	if d < 0 {
		c.fail(e.line, "%s=%s is negative", c.label(sk), e.value)
		return def
	}
	return d
}

// bool returns True or False (Zato writes these; true/false, yes/no, on/off and 1/0 are taken too).
func (c *confFile) bool(sk string, def bool) bool {
	c.mustKnow(sk, kBool)
	e, ok := c.entries[sk]
	if !ok || e.value == "" {
		return def
	}
	switch strings.ToLower(e.value) {
	case "true", "yes", "on", "1":
		return true
	case "false", "no", "off", "0":
		return false
	}
	c.fail(e.line, "%s=%s is not True or False", c.label(sk), e.value)
	return def
}

// oneOf checks a string key against the values it may take.
func (c *confFile) oneOf(sk string, allowed ...string) {
	if e, ok := c.entries[sk]; ok && e.value != "" && !slices.Contains(allowed, e.value) {
		c.fail(e.line, "%s=%s is not %s", c.label(sk), e.value, orList(allowed))
	}
}

func orList(s []string) string {
	if len(s) == 1 {
		return s[0]
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

// label is "[section] key", as the user sees it in the file.
func (c *confFile) label(sk string) string {
	section, key, _ := strings.Cut(sk, ".")
	return "[" + section + "] " + key
}

// mustKnow keeps the schema and the reader in step: reading a key the schema lacks, or as another kind, is a bug.
func (c *confFile) mustKnow(sk string, k kind) {
	section, key, _ := strings.Cut(sk, ".")
	if got, ok := schemaKind(section, key); !ok || got != k {
		panic(fmt.Sprintf("server.conf schema: %s is not listed as kind %d", sk, k))
	}
}
