package wire

import "testing"

func TestDifferences(t *testing.T) {
	a := Served{Server: "s1", Modules: []ServedModule{{Name: "x.py", SHA256: "aaa", Services: []string{"x.b", "x.a"}}, {Name: "y.py", SHA256: "bbb"}}}
	b := Served{Server: "s2", Modules: []ServedModule{{Name: "x.py", SHA256: "aaa", Services: []string{"x.a", "x.b"}}, {Name: "y.py", SHA256: "ccc"}, {Name: "z.py", SHA256: "ddd"}}}
	got := Differences([]Served{a, b})
	if len(got) != 2 || got[0].Module != "y.py" || got[1].Module != "z.py" || got[1].Servers["s1"] != "-" || got[0].Servers["s2"] != "ccc" {
		t.Fatalf("%+v", got)
	}
	if d := Differences([]Served{a, a}); len(d) != 0 {
		t.Fatalf("identical servers differ: %+v", d)
	}
}
