package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newServerDir creates a one-server environment and returns the server's dir and its server.conf text.
func newServerDir(t *testing.T) (string, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "env")
	if _, err := CreateEnv(dir, EnvOptions{Servers: 1, BasePort: 21000, Password: "pw"}); err != nil {
		t.Fatal(err)
	}
	sdir := filepath.Join(dir, "server1")
	b, err := os.ReadFile(filepath.Join(sdir, ConfRel))
	if err != nil {
		t.Fatal(err)
	}
	return sdir, string(b)
}

// edit replaces the line that starts with prefix (in section, when given) by repl, or inserts repl after the section
// header when prefix is "". It returns the new text and the 1-based line repl ends up on.
func edit(t *testing.T, text, section, prefix, repl string) (string, int) {
	t.Helper()
	lines := strings.Split(text, "\n")
	cur := ""
	for i, l := range lines {
		if strings.HasPrefix(prefix, "[") && l == prefix {
			lines[i] = repl
			return strings.Join(lines, "\n"), i + 1
		}
		if strings.HasPrefix(l, "[") {
			cur = strings.Trim(l, "[]")
			if prefix == "" && cur == section {
				lines = append(lines[:i+1], append([]string{repl}, lines[i+1:]...)...)
				return strings.Join(lines, "\n"), i + 2
			}
			continue
		}
		if (section == "" || cur == section) && prefix != "" && strings.HasPrefix(l, prefix) {
			lines[i] = repl
			return strings.Join(lines, "\n"), i + 1
		}
	}
	t.Fatalf("no line %q in [%s]", prefix, section)
	return "", 0
}

func loadText(t *testing.T, sdir, text string) (Server, error) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(sdir, ConfRel), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(sdir)
}

// TestServerConfTypos: a typo in a value or a key fails Load with the file, the line, the section and key, in the
// words of the file itself. Before, viper read `port=80a` as 0 and `backup_history=1OO` as the default, silently.
func TestServerConfTypos(t *testing.T) {
	sdir, base := newServerDir(t)
	confPath := filepath.Join(sdir, ConfRel)
	for _, tc := range []struct {
		section, prefix, line, want string
	}{
		{"http", "port=", "port=80a", "[http] port=80a is not a whole number"},
		{"hot_deploy", "backup_history=", "backup_history=1OO", "[hot_deploy] backup_history=1OO is not a whole number"},
		{"main", "max_procs=", "max_procs=two", "[main] max_procs=two is not a whole number"},
		{"main", "invoke_threads=", "invoke_threads=-1", "[main] invoke_threads=-1 is negative"},
		{"api", "max_payload=", "max_payload=1MB", "[api] max_payload=1MB is not a whole number"},
		{"hot_deploy", "pickup_poll_interval=", "pickup_poll_interval=fast", "[hot_deploy] pickup_poll_interval=fast is not a duration"},
		{"hot_deploy", "import_timeout=", "import_timeout=10 sec", "[hot_deploy] import_timeout=10 sec is not a duration"},
		{"hot_deploy", "import_timeout=", "import_timeout=-5s", "[hot_deploy] import_timeout=-5s is negative"},
		{"hot_deploy", "delete_after_pick_up=", "delete_after_pick_up=Flase", "[hot_deploy] delete_after_pick_up=Flase is not True or False"},
		{"main", "", "invoke_timeout=NaN", "[main] invoke_timeout=NaN is not a duration"},
		{"http", "port=", "port=70000", "[http] port=70000 is above 65535"},
		{"http", "port=", "port=0", "[http] port=0 is below 1"},
		{"odb", "engine=", "engine=sqllite", "[odb] engine=sqllite is not sqlite or postgresql"},
		{"hot_deploy", "backup_format=", "backup_format=rar", "[hot_deploy] backup_format=rar is not zip, tar, gztar, bztar or xztar"},
		{"http", "", "prot=80", "unknown key prot in [http] (known: host, port,"},
		{"hot_deploy", "", "backup_histroy=3", "unknown key backup_histroy in [hot_deploy]"},
		{"hot_deploy", "", "Backup_History=3", "unknown key Backup_History in [hot_deploy]"},
		{"", "[hot_deploy]", "[hotdeploy]", "unknown section [hotdeploy] (known: [main], [http],"},
		{"http", "tls_key=", "port=1", "[http] port is set twice (first at line"},
		{"python", "executable=", "executable python3", `"executable python3" is not key=value`},
	} {
		t.Run(tc.line, func(t *testing.T) {
			text, n := edit(t, base, tc.section, tc.prefix, tc.line)
			_, err := loadText(t, sdir, text)
			want := fmt.Sprintf("%s line %d: %s", confPath, n, tc.want)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("got %v\nwant %q", err, want)
			}
		})
	}
	// Every problem is told at once, in line order.
	text, n1 := edit(t, base, "http", "port=", "port=80a")
	text, n2 := edit(t, text, "hot_deploy", "backup_history=", "backup_history=1OO")
	_, err := loadText(t, sdir, text)
	want := fmt.Sprintf("%s line %d: [http] port=80a is not a whole number\n%s line %d: [hot_deploy] backup_history=1OO is not a whole number", confPath, n1, confPath, n2)
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
	// No port at all.
	text, _ = edit(t, base, "http", "port=", "# no port")
	if _, err := loadText(t, sdir, text); err == nil || err.Error() != confPath+": [http] port is not set" {
		t.Fatalf("no port: %v", err)
	}
}

// TestServerConfEveryTypedKey: each whole-number, duration and boolean key of the schema refuses a typo, at its line.
func TestServerConfEveryTypedKey(t *testing.T) {
	sdir, base := newServerDir(t)
	checked := 0
	for _, sec := range schema {
		for _, k := range sec.keys {
			if k.kind == kString {
				continue
			}
			prefix := k.name + "="
			if !strings.Contains(base, "\n"+prefix) {
				prefix = "" // not in the template: add it
			}
			text, n := edit(t, base, sec.section, prefix, k.name+"=1O")
			_, err := loadText(t, sdir, text)
			want := fmt.Sprintf("line %d: [%s] %s=1O is not ", n, sec.section, k.name)
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%s.%s: got %v, want %q", sec.section, k.name, err, want)
			}
			checked++
		}
	}
	if checked < 9 {
		t.Fatalf("only %d typed keys", checked)
	}
}

// TestServerConfValues: what Zato writes and the usual spellings are read as meant.
func TestServerConfValues(t *testing.T) {
	sdir, base := newServerDir(t)
	text, _ := edit(t, base, "hot_deploy", "delete_after_pick_up=", "delete_after_pick_up = True")
	text, _ = edit(t, text, "hot_deploy", "pickup_poll_interval=", "pickup_poll_interval=0.5")
	text, _ = edit(t, text, "hot_deploy", "import_timeout=", "import_timeout=1m30s")
	text, _ = edit(t, text, "hot_deploy", "backup_format=", `backup_format="zip"`)
	text, _ = edit(t, text, "cluster", "secret=", "secret=a#b;c=d")
	text, _ = edit(t, text, "main", "", "; a comment")
	text, _ = edit(t, text, "main", "", "invoke_timeout=90")
	s, err := loadText(t, sdir, "\xef\xbb\xbf"+strings.ReplaceAll(text, "\n", "\r\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !s.DeleteAfterPickUp || s.PickupPoll != 500*time.Millisecond || s.ImportTimeout != 90*time.Second ||
		s.InvokeTimeout != 90*time.Second || s.BackupFormat != "zip" || s.ClusterSecret != "a#b;c=d" || s.Port != 21000 {
		t.Fatalf("%+v", s)
	}
	for _, v := range []string{"False", "false", "no", "0", ""} {
		text, _ := edit(t, base, "hot_deploy", "delete_after_pick_up=", "delete_after_pick_up="+v)
		if s, err := loadText(t, sdir, text); err != nil || s.DeleteAfterPickUp {
			t.Fatalf("%q: %v %v", v, s.DeleteAfterPickUp, err)
		}
	}
	// Empty numbers take their defaults, as before.
	text, _ = edit(t, base, "hot_deploy", "backup_history=", "backup_history=")
	if s, err := loadText(t, sdir, text); err != nil || s.BackupHistory != 100 {
		t.Fatalf("empty backup_history: %d %v", s.BackupHistory, err)
	}
}

// TestCreateEnvRefusesUnknownOverrides: `zato quickstart create --set` names keys of the schema only, and a refused
// environment leaves nothing behind.
func TestCreateEnvRefusesUnknownOverrides(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "env")
	_, err := CreateEnv(dir, EnvOptions{Servers: 1, Password: "pw", Overrides: map[string]string{"http.prot": "1"}})
	if err == nil || !strings.Contains(err.Error(), "http.prot: server.conf has no key prot in [http]") {
		t.Fatalf("unknown key: %v", err)
	}
	_, err = CreateEnv(dir, EnvOptions{Servers: 1, Password: "pw", Overrides: map[string]string{"new_section.key": "v"}})
	if err == nil || !strings.Contains(err.Error(), "no section [new_section]") {
		t.Fatalf("unknown section: %v", err)
	}
	_, err = CreateEnv(dir, EnvOptions{Servers: 1, Password: "pw", Overrides: map[string]string{"hot_deploy.backup_history": "1OO"}})
	if err == nil || !strings.Contains(err.Error(), "[hot_deploy] backup_history=1OO is not a whole number") {
		t.Fatalf("bad value: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("a refused environment left %s behind (%v)", dir, err)
	}
}
