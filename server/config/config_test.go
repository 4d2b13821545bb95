package config

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestCreateEnvAndLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "env")
	cf, err := CreateEnv(dir, EnvOptions{Servers: 3, BasePort: 21000, Overrides: map[string]string{
		"hot_deploy.import_timeout": "2s", "hot_deploy.pickup_poll_interval": "0.5", "new_section.key": "v",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cf.Servers) != 3 || cf.URL != "http://127.0.0.1:21000" || cf.Servers[2].URL != "http://127.0.0.1:21002" || len(cf.Password) < 20 {
		t.Fatalf("%+v", cf)
	}
	fi, err := os.Stat(filepath.Join(dir, ClientFileName))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("client file mode %v %v", fi.Mode(), err)
	}
	back, err := ReadClientFile(filepath.Join(dir, ClientFileName))
	if err != nil || back.Password != cf.Password {
		t.Fatalf("%+v %v", back, err)
	}
	s, err := Load(filepath.Join(dir, "server2"))
	if err != nil {
		t.Fatal(err)
	}
	sd := filepath.Join(dir, "server2")
	checks := map[string]string{
		s.Name: "server2", s.PickupDir: filepath.Join(sd, "pickup/incoming/services"),
		s.CurrentWorkDir: filepath.Join(sd, "work/hot-deploy/current"), s.BackupWorkDir: filepath.Join(sd, "work/hot-deploy/backup"),
		s.LastBackupWorkDir: filepath.Join(sd, "work/hot-deploy/backup/last"), s.ServiceSources: filepath.Join(sd, "config/repo/service-sources.txt"),
		s.ODBDSN: filepath.Join(dir, SQLiteFileName), s.BackupFormat: "bztar",
	}
	for got, want := range checks {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	// The three servers share this machine's cores.
	if want := max(1, runtime.NumCPU()/3); s.MaxProcs != want {
		t.Errorf("max_procs %d, want %d", s.MaxProcs, want)
	}
	if s.Port != 21001 || s.ImportTimeout != 2*time.Second || s.PickupPoll != 500*time.Millisecond || s.BackupHistory != 100 || s.DeleteAfterPickUp {
		t.Fatalf("%+v", s)
	}
	for _, d := range []string{s.PickupDir, s.CurrentWorkDir, s.LastBackupWorkDir, s.ExtraPathsDir, filepath.Dir(s.LogPath)} {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			t.Errorf("layout: %s missing", d)
		}
	}
	// Servers keep only a hash.
	conf, _ := os.ReadFile(s.ConfPath)
	if strings.Contains(string(conf), cf.Password) || !CheckPassword(s.PasswordHash, cf.Password) || CheckPassword(s.PasswordHash, cf.Password+"x") {
		t.Fatal("password handling")
	}
	if _, err := CreateEnv(dir, EnvOptions{}); err == nil {
		t.Fatal("created over a non-empty directory")
	}
}
