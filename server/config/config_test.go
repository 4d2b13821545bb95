package config

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/zato-go/zato/deployclient"
	"golang.org/x/crypto/bcrypt"
)

func TestCreateEnvAndLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "env")
	cf, err := CreateEnv(dir, EnvOptions{Servers: 3, BasePort: 21000, Overrides: map[string]string{
		"hot_deploy.import_timeout": "2s", "hot_deploy.pickup_poll_interval": "0.5",
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
	// What is written here, the client reads (strictly: a key it does not know would fail).
	back, err := deployclient.LoadConfig(filepath.Join(dir, ClientFileName))
	if err != nil || back.Password != cf.Password || len(back.Servers) != 3 {
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
	// The three servers share this machine's cores, with 2 at least.
	for _, c := range []struct{ cpus, servers, want int }{{1, 2, 1}, {2, 2, 2}, {2, 16, 2}, {8, 2, 4}, {32, 3, 10}} {
		if got := SharedMaxProcs(c.cpus, c.servers); got != c.want {
			t.Errorf("%d servers on %d cores: max_procs %d, want %d", c.servers, c.cpus, got, c.want)
		}
	}
	if want := SharedMaxProcs(runtime.NumCPU(), 3); s.MaxProcs != want {
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

// TestPasswordHash: new hashes are bcrypt (made to be slow to guess), old salted SHA-256 ones stay readable.
func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "bcrypt$$2a$") {
		t.Fatalf("new hash %q is not bcrypt", h)
	}
	start := time.Now()
	if !CheckPassword(h, "correct horse") {
		t.Fatal("right password refused")
	}
	t.Logf("one bcrypt check: %v", time.Since(start))
	// The rest at bcrypt's lowest cost: the race detector makes each check at the default cost last about a second.
	if h, err = hashPassword("correct horse", bcrypt.MinCost); err != nil {
		t.Fatal(err)
	}
	for _, wrong := range []string{"", "correct horse ", "Correct horse"} {
		if CheckPassword(h, wrong) {
			t.Fatalf("%q accepted", wrong)
		}
	}
	// bcrypt reads 72 bytes at most: longer passwords still count in full.
	long := strings.Repeat("x", 100)
	if h, err = hashPassword(long, bcrypt.MinCost); err != nil || !CheckPassword(h, long) || CheckPassword(h, long[:72]) || CheckPassword(h, long+"y") {
		t.Fatalf("long password: %v", err)
	}
	// A hash written by an older version: "sha256$salt$hex(sha256(salt+password))".
	sum := sha256.Sum256([]byte("c2FsdHNhbHRzYWx0" + "old pass"))
	old := "sha256$c2FsdHNhbHRzYWx0$" + hex.EncodeToString(sum[:])
	if !CheckPassword(old, "old pass") || CheckPassword(old, "old pas") {
		t.Fatal("an old hash is not read")
	}
	for _, bad := range []string{"", "bcrypt$", "bcrypt$nonsense", "sha256$x", "md5$a$b", "$2a$10$abc"} {
		if CheckPassword(bad, "") || CheckPassword(bad, "x") {
			t.Fatalf("malformed hash %q accepted a password", bad)
		}
	}
}
