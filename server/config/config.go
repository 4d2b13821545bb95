// Package config reads and writes a server's config/repo/server.conf (INI, as in Zato) and lays out environments.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Server is one server's configuration with every path made absolute.
type Server struct {
	Name      string
	Dir       string // the server directory
	ConfPath  string
	Host      string
	Port      int
	TLSCert   string
	TLSKey    string
	TLSCA     string // CA that signed the peers' certificates, when it is not in the system pool
	PublicURL string // how peers reach this server

	Username     string
	PasswordHash string
	// IDEUsername and IDEPasswordHash, when set, are a second user for Zato's IDE plug-ins (Zato's ide_publisher),
	// accepted on the Zato-compatible upload endpoints only.
	IDEUsername     string
	IDEPasswordHash string
	MaxPayload      int64

	ClusterSecret string

	ODBEngine string // sqlite | postgresql
	ODBDSN    string // file path for sqlite

	WorkDir           string
	ServiceSources    string
	PickupDir         string
	PickupPoll        time.Duration // 0 = fsnotify only
	DeleteAfterPickUp bool
	CurrentWorkDir    string
	BackupWorkDir     string
	LastBackupWorkDir string
	BackupHistory     int
	BackupFormat      string
	ExtraPathsDir     string

	// MaxProcs is how many cores this server's Go runtime schedules on (GOMAXPROCS); 0 leaves Go's default, every
	// core. Servers sharing a machine each spinning on every core burn CPU on scheduling, not work.
	MaxProcs int

	Python        string
	InvokeThreads int // invocations each of a server's Python workers runs at once; 0: its default
	// PythonWorkers is how many python3 interpreters a server runs, each holding every module (default 2): a load
	// is tried in the first before the others, and invocations go to the least busy one.
	PythonWorkers int
	// MemoryMaxMB and PidsMax limit each worker's process tree (its cgroup), where the system lets the server make
	// cgroups; 0: no limit.
	MemoryMaxMB, PidsMax int
	ImportTimeout        time.Duration
	InvokeTimeout        time.Duration

	LogPath string
	PIDPath string
}

// Paths inside a server directory.
const (
	ConfRel        = "config/repo/server.conf"
	SourcesRel     = "config/repo/service-sources.txt"
	LogRel         = "logs/server.log"
	PIDRel         = "pidfile"
	ExtraPathsRel  = "zato_extra_paths"
	PickupRel      = "pickup/incoming/services"
	CurrentRel     = "work/hot-deploy/current"
	BackupRel      = "work/hot-deploy/backup"
	LastBackupRel  = "work/hot-deploy/backup/last"
	RuntimeRel     = "work/runtime"
	DefaultMaxBody = 1 << 20
)

// Load reads DIR/config/repo/server.conf. Relative paths resolve as in Zato: pickup_dir and service_sources against
// config/repo, the hot-deploy work dirs against work_dir, work_dir against config/repo.
//
// The file is read strictly: an unknown section or key, a key set twice, or a value that is not of its key's kind (a
// whole number, a duration, True or False) fails with the file, the line, the section and key, every problem at
// once. A typo must stop the start rather than leave a setting silently at its default.
func Load(serverDir string) (Server, error) {
	dir, err := filepath.Abs(serverDir)
	if err != nil {
		return Server{}, fmt.Errorf("server dir %s: %w", serverDir, err)
	}
	confPath := filepath.Join(dir, ConfRel)
	b, err := os.ReadFile(confPath)
	if err != nil {
		return Server{}, fmt.Errorf("read %s: %w", confPath, err)
	}
	c := parseConf(confPath, b)
	repo := filepath.Dir(confPath)
	rel := func(base, p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Clean(filepath.Join(base, p))
	}
	s := Server{
		Name:              c.str("main.name"),
		Dir:               dir,
		ConfPath:          confPath,
		Host:              c.str("http.host"),
		Port:              int(c.int("http.port", 0, 1)),
		TLSCert:           rel(repo, c.str("http.tls_cert")),
		TLSKey:            rel(repo, c.str("http.tls_key")),
		TLSCA:             rel(repo, c.str("http.tls_ca")),
		PublicURL:         c.str("http.public_url"),
		Username:          c.str("api.username"),
		PasswordHash:      c.str("api.password_hash"),
		IDEUsername:       c.str("api.ide_username"),
		IDEPasswordHash:   c.str("api.ide_password_hash"),
		MaxPayload:        c.int("api.max_payload", DefaultMaxBody, 0),
		ClusterSecret:     c.str("cluster.secret"),
		ODBEngine:         c.str("odb.engine"),
		ODBDSN:            c.str("odb.dsn"),
		WorkDir:           rel(repo, c.str("main.work_dir")),
		ServiceSources:    rel(repo, c.str("main.service_sources")),
		PickupDir:         rel(repo, c.str("hot_deploy.pickup_dir")),
		PickupPoll:        c.duration("hot_deploy.pickup_poll_interval", 0),
		DeleteAfterPickUp: c.bool("hot_deploy.delete_after_pick_up", false),
		BackupHistory:     int(c.int("hot_deploy.backup_history", 100, 0)),
		BackupFormat:      c.str("hot_deploy.backup_format"),
		ExtraPathsDir:     filepath.Join(dir, ExtraPathsRel),
		MaxProcs:          int(c.int("main.max_procs", 0, 0)),
		InvokeThreads:     int(c.int("main.invoke_threads", 0, 0)),
		ImportTimeout:     c.duration("hot_deploy.import_timeout", 10*time.Second),
		InvokeTimeout:     c.duration("main.invoke_timeout", 60*time.Second),
		Python:            c.str("python.executable"),
		PythonWorkers:     int(c.int("python.workers", 2, 1)),
		MemoryMaxMB:       int(c.int("python.memory_max_mb", 0, 0)),
		PidsMax:           int(c.int("python.pids_max", 0, 0)),
		LogPath:           filepath.Join(dir, LogRel),
		PIDPath:           filepath.Join(dir, PIDRel),
	}
	c.oneOf("odb.engine", "sqlite", "postgresql")
	c.oneOf("hot_deploy.backup_format", BackupFormats...)
	if e, ok := c.entries["http.port"]; ok && s.Port > 65535 {
		c.fail(e.line, "[http] port=%s is above 65535", e.value)
	}
	if s.Port == 0 && len(c.errs) == 0 {
		c.fail(0, "[http] port is not set")
	}
	if err := c.err(); err != nil {
		return Server{}, err
	}
	if s.Name == "" {
		s.Name = filepath.Base(dir)
	}
	if s.Host == "" {
		s.Host = "127.0.0.1"
	}
	if s.MaxPayload == 0 {
		s.MaxPayload = DefaultMaxBody
	}
	if s.ODBEngine == "" {
		s.ODBEngine = "sqlite"
	}
	if s.ODBEngine == "sqlite" {
		s.ODBDSN = rel(repo, s.ODBDSN)
	}
	if s.WorkDir == "" {
		s.WorkDir = filepath.Join(dir, "work")
	}
	s.CurrentWorkDir = rel(s.WorkDir, orDefault(c.str("hot_deploy.current_work_dir"), "./hot-deploy/current"))
	s.BackupWorkDir = rel(s.WorkDir, orDefault(c.str("hot_deploy.backup_work_dir"), "./hot-deploy/backup"))
	s.LastBackupWorkDir = rel(s.WorkDir, orDefault(c.str("hot_deploy.last_backup_work_dir"), "./hot-deploy/backup/last"))
	if s.PickupDir == "" {
		s.PickupDir = filepath.Join(dir, PickupRel)
	}
	if s.ServiceSources == "" {
		s.ServiceSources = filepath.Join(dir, SourcesRel)
	}
	if s.BackupHistory == 0 {
		s.BackupHistory = 100
	}
	if s.BackupFormat == "" {
		s.BackupFormat = "bztar"
	}
	if s.Python == "" {
		s.Python = "python3"
	}
	if s.PublicURL == "" {
		scheme := "http"
		if s.TLSCert != "" {
			scheme = "https"
		}
		s.PublicURL = fmt.Sprintf("%s://%s:%d", scheme, s.Host, s.Port)
	}
	return s, nil
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

// MkdirLayout creates a server directory's layout as in Zato.
func MkdirLayout(s Server) error {
	for _, d := range []string{
		filepath.Dir(s.ConfPath), s.CurrentWorkDir, s.BackupWorkDir, s.LastBackupWorkDir, s.PickupDir,
		s.ExtraPathsDir, filepath.Dir(s.LogPath),
	} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	return nil
}

// BackupFormats are backup_format's values (Python's shutil.make_archive names, as in Zato); server/backup writes each.
var BackupFormats = []string{"zip", "tar", "gztar", "bztar", "xztar"}
