package e2e

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/internal/testenv"
)

func TestTLSCluster(t *testing.T) {
	t.Parallel()
	cert, key := testenv.SelfSignedCert(t, t.TempDir())
	c := testenv.StartCluster(t, testenv.Options{ServerConf: map[string]string{"http.tls_cert": cert, "http.tls_key": key}})
	if !strings.HasPrefix(c.URL, "https://") {
		t.Fatalf("url %s", c.URL)
	}
	// Plain HTTP and untrusted clients are refused.
	if resp, err := http.Get(strings.Replace(c.URL, "https", "http", 1) + "/healthz"); err == nil && resp.StatusCode == 200 {
		t.Fatal("plain HTTP answered on a TLS server")
	}
	if _, err := http.Get(c.URL + "/healthz"); err == nil {
		t.Fatal("a client without the CA trusted the server")
	}
	cl, err := deployclient.New(deployclient.Config{URL: c.URL, Username: c.Username, Password: c.Password, CAFile: cert})
	if err != nil {
		t.Fatal(err)
	}
	d := deploy(t, cl, "tls_mod.py", fmt.Sprintf(greet, 1))
	mustStatus(t, d, "deployed")
	// Servers nudged each other over TLS (no failed nudges in the logs).
	for _, s := range c.Servers {
		if log := readLog(t, c, s.Name); strings.Contains(log, "nudge failed") {
			t.Fatalf("%s: TLS trouble between servers:\n%s", s.Name, log)
		}
	}
	out, err := c.Zato(t, "invoke", "tls-mod.greet", "--data", `{"name": "T"}`, "--server", "server2", "--ca-file", cert)
	if err != nil || !strings.Contains(out, `"T"`) {
		t.Fatalf("invoke over TLS: %v %s", err, out)
	}
}
