package loadorder

import (
	"slices"
	"testing"
)

func TestSort(t *testing.T) {
	for _, c := range []struct {
		name string
		src  map[string]string
		want []string
	}{
		{"by name", map[string]string{"b.py": "", "a.py": "", "c.py": ""}, []string{"a.py", "b.py", "c.py"}},
		{"imports first", map[string]string{"a.py": "import gate\n", "gate.py": "", "b.py": "from a import X\n"},
			[]string{"gate.py", "a.py", "b.py"}},
		{"chain", map[string]string{"a.py": "import b", "b.py": "import c", "c.py": "import json"}, []string{"c.py", "b.py", "a.py"}},
		{"a cycle breaks at the first by name", map[string]string{"x.py": "import y", "y.py": "import x", "a.py": "import x"},
			[]string{"a.py", "x.py", "y.py"}}, // deterministic, if not ideal: a cycle cannot import cleanly anyway
		{"self import and outside modules", map[string]string{"a.py": "import a, os\nimport zato.server.service"}, []string{"a.py"}},
		{"a duplicate edge counts once", map[string]string{"a.py": "import b\nfrom b import c\n", "b.py": ""}, []string{"b.py", "a.py"}},
	} {
		var mods []string
		for m := range c.src {
			mods = append(mods, m)
		}
		got := Sort(mods, func(m string) string { return c.src[m] })
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
