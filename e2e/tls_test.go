package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zato-go/zato/deployclient"
	"github.com/zato-go/zato/internal/testenv"
)

// selfSigned writes a certificate for 127.0.0.1 and its key, PEM-encoded.
func selfSigned(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "zato test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func TestTLSCluster(t *testing.T) {
	t.Parallel()
	cert, key := selfSigned(t, t.TempDir())
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
