package webadmin

import (
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// sides returns the lines of a and of b that a script holds, in order.
func sides(script []diffLine) (a, b []string) {
	for _, l := range script {
		if l.Op != opInsert {
			a = append(a, l.Text)
		}
		if l.Op != opDelete {
			b = append(b, l.Text)
		}
	}
	return a, b
}

func edits(script []diffLine) int {
	n := 0
	for _, l := range script {
		if l.Op != opEqual {
			n++
		}
	}
	return n
}

// lcsLen is the textbook dynamic programme: the shortest script has len(a)+len(b)-2*lcs edits.
func lcsLen(a, b []string) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	return dp[0][0]
}

func TestLineDiffIsCorrectAndShortest(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "b", "c", "d"}
	gen := func() []string {
		n := r.IntN(12)
		out := make([]string, n)
		for i := range out {
			out[i] = alphabet[r.IntN(len(alphabet))]
		}
		return out
	}
	for i := range 3000 {
		a, b := gen(), gen()
		s := lineDiff(a, b)
		ga, gb := sides(s)
		if !reflect.DeepEqual(ga, nilIfEmpty(a)) || !reflect.DeepEqual(gb, nilIfEmpty(b)) {
			t.Fatalf("case %d: %q -> %q: script %v gives %q -> %q", i, a, b, s, ga, gb)
		}
		if want := len(a) + len(b) - 2*lcsLen(a, b); edits(s) != want {
			t.Fatalf("case %d: %q -> %q: %d edits, want %d (%v)", i, a, b, edits(s), want, s)
		}
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

func TestLineDiffTooFarApartReplacesAll(t *testing.T) {
	var a, b []string
	for i := range maxEdits + 10 {
		a = append(a, "old"+itoa(int64(i)))
		b = append(b, "new"+itoa(int64(i)))
	}
	a = append([]string{"same"}, a...)
	b = append([]string{"same"}, b...)
	s := lineDiff(a, b)
	ga, gb := sides(s)
	if !reflect.DeepEqual(ga, a) || !reflect.DeepEqual(gb, b) {
		t.Fatal("the fallback script does not give both sides")
	}
}

func TestUnifiedHunks(t *testing.T) {
	var a []string
	for i := 1; i <= 20; i++ {
		a = append(a, "line "+itoa(int64(i)))
	}
	b := append([]string(nil), a...)
	b[1] = "line two"                                         // a change near the top
	b = append(b[:15], append([]string{"new"}, b[15:]...)...) // an insertion after line 15
	hunks := unified(lineDiff(a, b), 3)
	if len(hunks) != 2 {
		t.Fatalf("%d hunks: %+v", len(hunks), hunks)
	}
	if hunks[0].Header != "@@ -1,5 +1,5 @@" || hunks[1].Header != "@@ -13,6 +13,7 @@" {
		t.Errorf("headers %q, %q", hunks[0].Header, hunks[1].Header)
	}
	var got []string
	for _, l := range hunks[0].Lines {
		got = append(got, l.Prefix()+l.Text)
	}
	want := []string{" line 1", "-line 2", "+line two", " line 3", " line 4", " line 5"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") { // 1 line of context before (the top), 3 after
		t.Errorf("first hunk:\n%s", strings.Join(got, "\n"))
	}
	if len(unified(lineDiff(a, a), 3)) != 0 {
		t.Error("equal sources have hunks")
	}
	// Only additions to an empty file: "-0,0".
	if h := unified(lineDiff(nil, []string{"x"}), 3); len(h) != 1 || h[0].Header != "@@ -0,0 +1 @@" {
		t.Errorf("from empty: %+v", h)
	}
	if got := splitLines("a\r\nb\n"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf("splitLines: %q", got)
	}
}
