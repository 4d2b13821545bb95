package cluster

import (
	"errors"
	"strings"
	"testing"
)

func TestValidateModule(t *testing.T) {
	ok := []byte("x = 1\n")
	for _, name := range []string{"x.py", "_a1.py", "Crm_Channel.py"} {
		if err := ValidateModule(name, ok, 100); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, name := range []string{"", ".py", "1x.py", "a/b.py", `a\b.py`, "../x.py", "x.py\x00", "x.pyc", "x.txt", "x", "x.py/", "x-y.py", "..py"} {
		if err := ValidateModule(name, ok, 100); !errors.Is(err, ErrBadName) {
			t.Errorf("%q: got %v, want ErrBadName", name, err)
		}
	}
	if err := ValidateModule("x.py", []byte(strings.Repeat("a", 101)), 100); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
	for _, src := range [][]byte{{0xff, 0xfe}, []byte("a\x00b"), {}} {
		if err := ValidateModule("x.py", src, 100); !errors.Is(err, ErrBadPayload) {
			t.Errorf("%q: %v", src, err)
		}
	}
}

func FuzzValidateModule(f *testing.F) {
	f.Add("x.py", []byte("x = 1"))
	f.Add("../etc/passwd.py", []byte("x"))
	f.Add("a\\b.py", []byte{0xff})
	f.Fuzz(func(t *testing.T, name string, src []byte) {
		err := ValidateModule(name, src, 1<<20)
		if err != nil {
			return
		}
		// Whatever passes must be safe to join to a directory and be text.
		if strings.ContainsAny(name, "/\\\x00") || strings.Contains(name, "..") || !strings.HasSuffix(name, ".py") {
			t.Fatalf("accepted unsafe name %q", name)
		}
		if strings.IndexByte(string(src), 0) >= 0 {
			t.Fatalf("accepted NUL in source")
		}
	})
}
