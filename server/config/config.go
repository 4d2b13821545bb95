// Package config reads and writes a server's config/repo/server.conf (INI, as in Zato) and lays out environments.
package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
	MaxPayload   int64

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
	InvokeThreads int // invocations a server's Python worker runs at once; 0: its default
	ImportTimeout time.Duration
	InvokeTimeout time.Duration

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
func Load(serverDir string) (Server, error) {
	dir, err := filepath.Abs(serverDir)
	if err != nil {
		return Server{}, fmt.Errorf("server dir %s: %w", serverDir, err)
	}
	confPath := filepath.Join(dir, ConfRel)
	v := newViper()
	v.SetConfigFile(confPath)
	v.SetConfigType("ini")
	if err := v.ReadInConfig(); err != nil {
		return Server{}, fmt.Errorf("read %s: %w", confPath, err)
	}
	repo := filepath.Dir(confPath)
	rel := func(base, p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Clean(filepath.Join(base, p))
	}
	dur := func(key string, def time.Duration) (time.Duration, error) {
		s := strings.TrimSpace(v.GetString(key))
		if s == "" {
			return def, nil
		}
		if n, err := strconv.ParseFloat(s, 64); err == nil { // plain numbers are seconds, as in Zato
			return time.Duration(n * float64(time.Second)), nil
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%s in %s: %w", key, confPath, err)
		}
		return d, nil
	}
	s := Server{
		Name:              v.GetString("main.name"),
		Dir:               dir,
		ConfPath:          confPath,
		Host:              v.GetString("http.host"),
		Port:              v.GetInt("http.port"),
		TLSCert:           rel(repo, v.GetString("http.tls_cert")),
		TLSKey:            rel(repo, v.GetString("http.tls_key")),
		TLSCA:             rel(repo, v.GetString("http.tls_ca")),
		PublicURL:         v.GetString("http.public_url"),
		Username:          v.GetString("api.username"),
		PasswordHash:      v.GetString("api.password_hash"),
		MaxPayload:        v.GetInt64("api.max_payload"),
		ClusterSecret:     v.GetString("cluster.secret"),
		ODBEngine:         v.GetString("odb.engine"),
		ODBDSN:            v.GetString("odb.dsn"),
		WorkDir:           rel(repo, v.GetString("main.work_dir")),
		ServiceSources:    rel(repo, v.GetString("main.service_sources")),
		PickupDir:         rel(repo, v.GetString("hot_deploy.pickup_dir")),
		DeleteAfterPickUp: parseBool(v.GetString("hot_deploy.delete_after_pick_up")),
		BackupHistory:     v.GetInt("hot_deploy.backup_history"),
		BackupFormat:      v.GetString("hot_deploy.backup_format"),
		ExtraPathsDir:     filepath.Join(dir, ExtraPathsRel),
		MaxProcs:          v.GetInt("main.max_procs"),
		InvokeThreads:     v.GetInt("main.invoke_threads"),
		Python:            v.GetString("python.executable"),
		LogPath:           filepath.Join(dir, LogRel),
		PIDPath:           filepath.Join(dir, PIDRel),
	}
	if s.Name == "" {
		s.Name = filepath.Base(dir)
	}
	if s.Host == "" {
		s.Host = "127.0.0.1"
	}
	if s.Port == 0 {
		return Server{}, fmt.Errorf("%s: http.port is not set", confPath)
	}
	if s.MaxPayload <= 0 {
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
	s.CurrentWorkDir = rel(s.WorkDir, orDefault(v.GetString("hot_deploy.current_work_dir"), "./hot-deploy/current"))
	s.BackupWorkDir = rel(s.WorkDir, orDefault(v.GetString("hot_deploy.backup_work_dir"), "./hot-deploy/backup"))
	s.LastBackupWorkDir = rel(s.WorkDir, orDefault(v.GetString("hot_deploy.last_backup_work_dir"), "./hot-deploy/backup/last"))
	if s.PickupDir == "" {
		s.PickupDir = filepath.Join(dir, PickupRel)
	}
	if s.ServiceSources == "" {
		s.ServiceSources = filepath.Join(dir, SourcesRel)
	}
	if s.BackupHistory <= 0 {
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
	if s.InvokeThreads < 0 {
		return Server{}, fmt.Errorf("main.invoke_threads in %s: %d is negative (0 means the default)", confPath, s.InvokeThreads)
	}
	if s.MaxProcs < 0 {
		return Server{}, fmt.Errorf("main.max_procs in %s: %d is negative (0 means every core)", confPath, s.MaxProcs)
	}
	if s.PickupPoll, err = dur("hot_deploy.pickup_poll_interval", 0); err != nil {
		return Server{}, err
	}
	if s.ImportTimeout, err = dur("hot_deploy.import_timeout", 10*time.Second); err != nil {
		return Server{}, err
	}
	if s.InvokeTimeout, err = dur("main.invoke_timeout", 60*time.Second); err != nil {
		return Server{}, err
	}
	return s, nil
}

func orDefault(s, def string) string {
	if strings.TrimSpace(s) == "" {
		return def
	}
	return s
}

func parseBool(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
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
