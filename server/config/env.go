package config

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/bcrypt"
)

// EnvOptions describe a new environment.
type EnvOptions struct {
	Servers   int
	BasePort  int
	ODBEngine string // sqlite (default) | postgresql
	ODBDSN    string // postgresql DSN
	Username  string // default "admin"
	Password  string // default: random
	// IDEUser adds Zato's IDE user, ide_publisher, with a password of its own, for Zato's IDE plug-ins.
	IDEUser bool
	// Overrides are "section.key" -> value applied to every server.conf, e.g. "hot_deploy.import_timeout": "2s".
	Overrides map[string]string
}

// ClientFile is zato-client.yaml as CreateEnv writes it: what the CLI, the LSP and tests need to reach the
// environment. Its one reader is deployclient.LoadConfig (strict: a typo names the file and line).
type ClientFile struct {
	URL      string         `yaml:"url"`
	Username string         `yaml:"username"`
	Password string         `yaml:"password"`
	Servers  []ClientServer `yaml:"servers"`
	// IDE is Zato's IDE user, for Zato's own plug-ins (zato quickstart create --ide-user).
	IDE *IDEUser `yaml:"ide,omitempty"`
}

// IDEUser is a user for Zato's IDE plug-ins.
type IDEUser struct {
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// IDEUsername is the user Zato's IDE plug-ins log in as by default.
const IDEUsername = "ide_publisher"

// ClientServer is one server of ClientFile.
type ClientServer struct {
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
	Dir  string `yaml:"dir,omitempty"`
}

// ClientFileName is written at the top of an environment.
const ClientFileName = "zato-client.yaml"

// SQLiteFileName is the embedded ODB of an environment.
const SQLiteFileName = "zato.db"

// CreateEnv lays out an environment in dir: one directory per server with its server.conf, and zato-client.yaml.
// The ODB itself is created by the caller (this package does not import the ODB).
func CreateEnv(dir string, o EnvOptions) (ClientFile, error) {
	if o.Servers <= 0 {
		o.Servers = 2
	}
	if o.BasePort <= 0 {
		o.BasePort = 17010
	}
	if o.ODBEngine == "" {
		o.ODBEngine = "sqlite"
	}
	if o.ODBEngine != "sqlite" && o.ODBEngine != "postgresql" {
		return ClientFile{}, fmt.Errorf("unknown ODB engine %q (sqlite or postgresql)", o.ODBEngine)
	}
	if o.ODBEngine == "postgresql" && o.ODBDSN == "" {
		return ClientFile{}, errors.New("--odb-dsn is required with --odb postgresql")
	}
	if o.Username == "" {
		o.Username = "admin"
	}
	if o.Password == "" {
		o.Password = RandomToken(24)
	}
	for _, sk := range slices.Sorted(maps.Keys(o.Overrides)) {
		section, key, _ := strings.Cut(sk, ".")
		if _, ok := schemaKind(section, key); ok {
			continue
		}
		if _, ok := schemaSection(section); ok {
			return ClientFile{}, fmt.Errorf("%s: server.conf has no key %s in [%s] (known: %s)", sk, key, section, knownKeys(section))
		}
		return ClientFile{}, fmt.Errorf("%s: server.conf has no section [%s] (known: %s)", sk, section, knownSections())
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ClientFile{}, err
	}
	entries, err := os.ReadDir(abs)
	if err == nil && len(entries) > 0 {
		return ClientFile{}, fmt.Errorf("%s exists and is not empty", abs)
	}
	existed := err == nil
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return ClientFile{}, fmt.Errorf("create %s: %w", abs, err)
	}
	cf, err := createEnv(abs, o)
	if err != nil {
		// Leave nothing half made: the directory was empty or absent.
		if existed {
			entries, _ := os.ReadDir(abs)
			for _, e := range entries {
				_ = os.RemoveAll(filepath.Join(abs, e.Name()))
			}
		} else {
			_ = os.RemoveAll(abs)
		}
	}
	return cf, err
}

func createEnv(abs string, o EnvOptions) (ClientFile, error) {
	hash, err := HashPassword(o.Password)
	if err != nil {
		return ClientFile{}, err
	}
	secret := RandomToken(24)
	cf := ClientFile{Username: o.Username, Password: o.Password}
	var ideHash string
	if o.IDEUser {
		cf.IDE = &IDEUser{Username: IDEUsername, Password: RandomToken(24)}
		if ideHash, err = HashPassword(cf.IDE.Password); err != nil {
			return ClientFile{}, err
		}
	}
	for i := 1; i <= o.Servers; i++ {
		name := fmt.Sprintf("server%d", i)
		sdir := filepath.Join(abs, name)
		port := o.BasePort + i - 1
		dsn := o.ODBDSN
		if o.ODBEngine == "sqlite" {
			dsn = "../../../" + SQLiteFileName // relative to config/repo
		}
		if err := writeServerConf(sdir, confValues{
			Name: name, Port: port, Username: o.Username, PasswordHash: hash, IDEPasswordHash: ideHash, Secret: secret,
			ODBEngine: o.ODBEngine, ODBDSN: dsn, MaxProcs: SharedMaxProcs(runtime.NumCPU(), o.Servers),
		}, o.Overrides); err != nil {
			return ClientFile{}, err
		}
		s, err := Load(sdir)
		if err != nil {
			return ClientFile{}, err
		}
		if err := MkdirLayout(s); err != nil {
			return ClientFile{}, err
		}
		if err := os.WriteFile(s.ServiceSources, []byte(sourcesTemplate), 0o644); err != nil {
			return ClientFile{}, fmt.Errorf("write %s: %w", s.ServiceSources, err)
		}
		cf.Servers = append(cf.Servers, ClientServer{Name: name, URL: s.PublicURL, Dir: sdir})
	}
	cf.URL = cf.Servers[0].URL
	if err := WriteClientFile(filepath.Join(abs, ClientFileName), cf); err != nil {
		return ClientFile{}, err
	}
	return cf, nil
}

// WriteClientFile writes a ClientFile with mode 0600: it holds the password.
func WriteClientFile(path string, cf ClientFile) error {
	b, err := yaml.Marshal(cf)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Chmod(path, 0o600)
}

// SharedMaxProcs is max_procs for each of servers servers sharing a machine of cpus cores: its share of the cores,
// so that co-located servers do not all spin on every core, but at least 2 where the machine has them. With one, a
// goroutine's long computation (a password check, a backup's compression) holds every request of its server for up
// to Go's 10 ms time slice: the canary of issue 11 measured p99 14 ms with 1, 10.5 ms with 2, while 6 servers on 2
// cores deployed about as fast (p50 19-22 ms against 19).
func SharedMaxProcs(cpus, servers int) int {
	return max(min(2, cpus), cpus/max(1, servers))
}

type confValues struct {
	Name, Username, PasswordHash, IDEPasswordHash, Secret, ODBEngine, ODBDSN string
	Port                                                                     int
	MaxProcs                                                                 int
}

var confTemplate = template.Must(template.New("server.conf").Parse(`[main]
name={{.Name}}
work_dir=../../work
service_sources=./service-sources.txt
# Cores this server schedules Go code on (0: every core). The environment's servers share this machine's cores.
max_procs={{.MaxProcs}}
# Invocations the Python worker runs at once; the others wait their turn (0: 256).
invoke_threads=0

[http]
host=127.0.0.1
port={{.Port}}
tls_cert=
tls_key=

[api]
username={{.Username}}
password_hash={{.PasswordHash}}
{{- if .IDEPasswordHash}}
ide_username=ide_publisher
ide_password_hash={{.IDEPasswordHash}}
{{- end}}
max_payload=1048576

[cluster]
secret={{.Secret}}

[odb]
engine={{.ODBEngine}}
dsn={{.ODBDSN}}

[hot_deploy]
pickup_dir=../../pickup/incoming/services
pickup_poll_interval=0
backup_history=100
backup_format=bztar
delete_after_pick_up=False
current_work_dir=./hot-deploy/current
backup_work_dir=./hot-deploy/backup
last_backup_work_dir=./hot-deploy/backup/last
import_timeout=10s

[python]
executable=python3
# python3 interpreters serving this server's services, each holding every module: a module is imported in the first
# before the others (one that crashes it never reaches them), and each invocation goes to the least busy one.
workers=2
# Limits on each interpreter's process tree (memory in MiB, processes), enforced with a cgroup where the system lets
# the server make one (Linux, cgroup v1 or v2, as root or with a delegated cgroup); 0: none. A module that goes over
# fails, or its interpreter is restarted, and the others go on.
memory_max_mb=1024
pids_max=4096
`))

const sourcesTemplate = `# Service sources imported when the server starts, one per line: a directory (its *.py files),
# a .py file, or a dotted module name importable from zato_extra_paths. Relative paths are relative to the server dir.
`

func writeServerConf(sdir string, v confValues, overrides map[string]string) error {
	var b strings.Builder
	if err := confTemplate.Execute(&b, v); err != nil {
		return err
	}
	text := applyOverrides(b.String(), overrides)
	p := filepath.Join(sdir, ConfRel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	// 0600: it holds the cluster secret and the password hash.
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", p, err)
	}
	return nil
}

// applyOverrides sets "section.key" values in INI text, adding keys or sections that are missing.
func applyOverrides(text string, overrides map[string]string) string {
	for sk, val := range overrides {
		section, key, ok := strings.Cut(sk, ".")
		if !ok {
			continue
		}
		lines := strings.Split(text, "\n")
		cur, inserted := "", -1
		done := false
		for i, l := range lines {
			t := strings.TrimSpace(l)
			if strings.HasPrefix(t, "[") && strings.HasSuffix(t, "]") {
				cur = strings.Trim(t, "[]")
				if cur == section {
					inserted = i + 1
				}
				continue
			}
			if cur == section {
				if k, _, ok := strings.Cut(t, "="); ok && strings.TrimSpace(k) == key {
					lines[i] = key + "=" + val
					done = true
					break
				}
			}
		}
		if !done {
			if inserted >= 0 {
				lines = append(lines[:inserted], append([]string{key + "=" + val}, lines[inserted:]...)...)
			} else {
				lines = append(lines, "", "["+section+"]", key+"="+val)
			}
		}
		text = strings.Join(lines, "\n")
	}
	return text
}

// RandomToken returns n random bytes, URL-safe base64 encoded.
func RandomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// HashPassword returns "bcrypt$" and a bcrypt hash (cost bcrypt.DefaultCost) of the password's SHA-256 in base64:
// a chosen password may be weak, so its hash must be slow to guess from, and the SHA-256 first lets every byte of a
// password over bcrypt's 72 count. A check costs tens of ms; the API remembers credentials that checked out, so a
// request pays it once per process, not every time.
func HashPassword(password string) (string, error) { return hashPassword(password, bcrypt.DefaultCost) }

func hashPassword(password string, cost int) (string, error) {
	if password == "" {
		return "", errors.New("empty password")
	}
	h, err := bcrypt.GenerateFromPassword(prehash(password), cost)
	if err != nil {
		return "", fmt.Errorf("hash the password: %w", err)
	}
	return "bcrypt$" + string(h), nil
}

func prehash(password string) []byte {
	sum := sha256.Sum256([]byte(password))
	return []byte(base64.StdEncoding.EncodeToString(sum[:]))
}

// CheckPassword reports whether password matches hash: "bcrypt$..." (HashPassword), or "sha256$salt$hex" as
// earlier versions wrote, still read so that existing environments keep working. It compares in constant time.
func CheckPassword(hash, password string) bool {
	if h, ok := strings.CutPrefix(hash, "bcrypt$"); ok {
		return bcrypt.CompareHashAndPassword([]byte(h), prehash(password)) == nil
	}
	parts := strings.Split(hash, "$")
	if len(parts) != 3 || parts[0] != "sha256" {
		return false
	}
	sum := sha256.Sum256([]byte(parts[1] + password))
	want, err := hex.DecodeString(parts[2])
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(sum[:], want) == 1
}
