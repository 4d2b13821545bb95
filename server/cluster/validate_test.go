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

// TestValidateModuleNames: a name too long for a file on the servers, or one that would shadow the standard library,
// the zato package or the runtime, is refused at the door with a message that says why.
func TestValidateModuleNames(t *testing.T) {
	ok := []byte("x = 1\n")
	longest := strings.Repeat("a", MaxNameBytes-len(".py")) + ".py"
	if err := ValidateModule(longest, ok, 100); err != nil {
		t.Errorf("%d-byte name: %v", len(longest), err)
	}
	for _, n := range []int{MaxNameBytes + 1, 240, 300} {
		name := strings.Repeat("a", n-len(".py")) + ".py"
		err := ValidateModule(name, ok, 100)
		if !errors.Is(err, ErrBadName) || !strings.Contains(err.Error(), "200 bytes") {
			t.Errorf("%d-byte name: %v", n, err)
		}
	}
	for name, why := range map[string]string{
		"json.py":        "json.py would shadow Python's standard module json; rename it",
		"os.py":          "standard module os",
		"__future__.py":  "standard module __future__",
		"_io.py":         "standard module _io",
		"asyncio.py":     "standard module asyncio",
		"zato.py":        "would shadow the zato package",
		"zato_worker.py": "would shadow the runtime's zato_worker",
		"zato_guard.py":  "would shadow the runtime's zato_guard",
		"__init__.py":    "__init__.py",
		"__main__.py":    "__main__.py",
	} {
		err := ValidateModule(name, ok, 100)
		if !errors.Is(err, ErrBadName) || !strings.Contains(err.Error(), why) {
			t.Errorf("%s: got %v, want ErrBadName saying %q", name, err, why)
		}
	}
	// Names near the standard ones are fine: case matters to Python's import, and prefixes are other modules.
	for _, name := range []string{"Json.py", "json2.py", "my_os.py", "zato_services.py", "crm_json.py"} {
		if err := ValidateModule(name, ok, 100); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// A rollback deploys too: the same rules, without a source.
	if err := ValidateName("json.py"); !errors.Is(err, ErrBadName) || ValidateName("ok.py") != nil {
		t.Errorf("ValidateName: %v", err)
	}
	// ValidName stays syntactic, so a module deployed before these rules can still be undeployed.
	if !ValidName("json.py") {
		t.Error("ValidName refuses json.py: it could not be undeployed")
	}
}

// TestNormalizeSource: python3 skips a UTF-8 BOM at the start of a file, so a module saved with one is accepted and
// stored without it (the worker compiles a str, where a BOM is a syntax error).
func TestNormalizeSource(t *testing.T) {
	for in, want := range map[string]string{
		"\ufeffx = 1\n":       "x = 1\n",
		"x = 1\n":             "x = 1\n",
		"x = '\ufeff'\n":      "x = '\ufeff'\n", // only a leading one is a BOM
		"\ufeff\ufeffx = 1\n": "\ufeffx = 1\n",  // python3 strips one, and so do we
		"":                    "",
	} {
		if got := NormalizeSource(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
	if err := ValidateModule("x.py", []byte("\ufeffx = 1\n"), 100); err != nil {
		t.Errorf("a BOM is refused: %v", err)
	}
	if err := ValidateModule("x.py", []byte("\ufeff"), 100); !errors.Is(err, ErrBadPayload) {
		t.Errorf("a BOM alone: %v, want ErrBadPayload (empty)", err)
	}
}
