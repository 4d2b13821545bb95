package webadmin

// A small line diff (Myers' O(ND) algorithm) for the module history's "compare two versions": no dependency, and
// the result is data the template renders (so every line is escaped like any other text).

import (
	"fmt"
	"strings"
)

// diffOp is what happens to one line.
type diffOp byte

const (
	opEqual  diffOp = ' '
	opDelete diffOp = '-'
	opInsert diffOp = '+'
)

// diffLine is one line of a unified diff; Kind is "ctx", "del" or "add" (the CSS class).
type diffLine struct {
	Op   diffOp
	Text string
}

// Kind is the line's CSS class.
func (l diffLine) Kind() string {
	switch l.Op {
	case opDelete:
		return "del"
	case opInsert:
		return "add"
	}
	return "ctx"
}

// Prefix is the line's first column in a unified diff.
func (l diffLine) Prefix() string { return string(l.Op) }

// diffHunk is one @@ block.
type diffHunk struct {
	Header string // @@ -a,b +c,d @@
	Lines  []diffLine
}

// maxEdits bounds the work (and memory, O(D²)) of a diff: versions further apart than this are shown as every old
// line removed and every new line added, which is still a correct diff, only not the shortest.
const maxEdits = 2000

// splitLines splits a source into lines without their line ends ("a\nb\n" is two lines, "a\nb" too).
func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	lines := strings.Split(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}

// invisible says how two sources with the same lines (splitLines) differ: their line endings, their final newline.
func invisible(a, b string, from, to int) string {
	ending := func(s string) string {
		switch crlf := strings.Count(s, "\r\n"); {
		case crlf == 0:
			return "LF"
		case crlf == strings.Count(s, "\n"):
			return "CRLF"
		default:
			return "mixed LF and CRLF"
		}
	}
	var out []string
	if ea, eb := ending(a), ending(b); ea != eb {
		out = append(out, fmt.Sprintf("line endings (%s in v%d, %s in v%d)", ea, from, eb, to))
	}
	if fa, fb := strings.HasSuffix(a, "\n"), strings.HasSuffix(b, "\n"); fa != fb {
		with, without := from, to
		if fb {
			with, without = to, from
		}
		out = append(out, fmt.Sprintf("the final newline (v%d ends with one, v%d does not)", with, without))
	}
	if len(out) == 0 {
		out = append(out, "line endings")
	}
	return strings.Join(out, " and ")
}

// lineDiff returns the edit script turning a into b: every line of both, in order, marked equal, deleted or inserted.
// It is a shortest one unless the two differ in more than maxEdits lines.
func lineDiff(a, b []string) []diffLine {
	// Lines as numbers: comparisons are then cheap.
	ids := map[string]int32{}
	num := func(ls []string) []int32 {
		out := make([]int32, len(ls))
		for i, l := range ls {
			id, ok := ids[l]
			if !ok {
				id = int32(len(ids))
				ids[l] = id
			}
			out[i] = id
		}
		return out
	}
	x, y := num(a), num(b)

	// The common head and tail need no search.
	pre := 0
	for pre < len(x) && pre < len(y) && x[pre] == y[pre] {
		pre++
	}
	suf := 0
	for suf < len(x)-pre && suf < len(y)-pre && x[len(x)-1-suf] == y[len(y)-1-suf] {
		suf++
	}
	out := make([]diffLine, 0, len(a)+len(b))
	for i := 0; i < pre; i++ {
		out = append(out, diffLine{opEqual, a[i]})
	}
	out = append(out, myers(a[pre:len(a)-suf], b[pre:len(b)-suf], x[pre:len(x)-suf], y[pre:len(y)-suf])...)
	for i := len(a) - suf; i < len(a); i++ {
		out = append(out, diffLine{opEqual, a[i]})
	}
	return out
}

// myers is Myers' greedy forward search keeping each step's frontier, then a walk back through them.
func myers(a, b []string, x, y []int32) []diffLine {
	n, m := len(x), len(y)
	replaceAll := func() []diffLine {
		out := make([]diffLine, 0, n+m)
		for _, l := range a {
			out = append(out, diffLine{opDelete, l})
		}
		for _, l := range b {
			out = append(out, diffLine{opInsert, l})
		}
		return out
	}
	if n == 0 || m == 0 {
		return replaceAll()
	}
	limit := min(n+m, maxEdits)
	// trace[d][k+d] is the furthest x reached on diagonal k (= x-y) after d edits, for k in -d..d.
	var trace [][]int32
	var prev []int32
	found := -1
	for d := 0; d <= limit; d++ {
		v := make([]int32, 2*d+1)
		for k := -d; k <= d; k += 2 {
			var xs int
			switch {
			case d == 0:
				xs = 0
			case k == -d || (k != d && at(prev, d-1, k-1) < at(prev, d-1, k+1)):
				xs = int(at(prev, d-1, k+1)) // down: an insertion
			default:
				xs = int(at(prev, d-1, k-1)) + 1 // right: a deletion
			}
			ys := xs - k
			for xs < n && ys < m && x[xs] == y[ys] {
				xs++
				ys++
			}
			v[k+d] = int32(xs)
			if xs >= n && ys >= m {
				found = d
				break
			}
		}
		trace = append(trace, v)
		prev = v
		if found >= 0 {
			break
		}
	}
	if found < 0 {
		return replaceAll()
	}
	// Walk back from (n, m), collecting the script in reverse.
	rev := make([]diffLine, 0, n+m)
	xs, ys := n, m
	for d := found; d > 0; d-- {
		vp := trace[d-1]
		k := xs - ys
		down := k == -d || (k != d && at(vp, d-1, k-1) < at(vp, d-1, k+1))
		var sx int // where the snake after this step's edit starts, on diagonal k
		if down {
			sx = int(at(vp, d-1, k+1))
		} else {
			sx = int(at(vp, d-1, k-1)) + 1
		}
		for xs > sx {
			xs--
			ys--
			rev = append(rev, diffLine{opEqual, a[xs]})
		}
		if down {
			ys--
			rev = append(rev, diffLine{opInsert, b[ys]})
		} else {
			xs--
			rev = append(rev, diffLine{opDelete, a[xs]})
		}
	}
	for xs > 0 {
		xs--
		rev = append(rev, diffLine{opEqual, a[xs]})
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev
}

// at reads diagonal k of a step-d frontier.
func at(v []int32, d, k int) int32 { return v[k+d] }

// unified groups an edit script into hunks with context lines around each change; none when nothing changed.
func unified(script []diffLine, context int) []diffHunk {
	var hunks []diffHunk
	// aLine/bLine: the 1-based line numbers of script[i] in a and b.
	aNo := make([]int, len(script)+1)
	bNo := make([]int, len(script)+1)
	ai, bi := 1, 1
	for i, l := range script {
		aNo[i], bNo[i] = ai, bi
		if l.Op != opInsert {
			ai++
		}
		if l.Op != opDelete {
			bi++
		}
	}
	aNo[len(script)], bNo[len(script)] = ai, bi
	i := 0
	for i < len(script) {
		if script[i].Op == opEqual {
			i++
			continue
		}
		start := max(0, i-context)
		end := i // one past the last line of the hunk
		for end < len(script) {
			if script[end].Op != opEqual {
				end++
				continue
			}
			// a run of equal lines: the hunk goes on if another change comes within 2*context lines
			run := end
			for run < len(script) && script[run].Op == opEqual {
				run++
			}
			if run < len(script) && run-end <= 2*context {
				end = run
				continue
			}
			end = min(end+context, len(script))
			break
		}
		h := diffHunk{Lines: append([]diffLine(nil), script[start:end]...)}
		var aCount, bCount int
		for _, l := range h.Lines {
			if l.Op != opInsert {
				aCount++
			}
			if l.Op != opDelete {
				bCount++
			}
		}
		h.Header = fmt.Sprintf("@@ -%s +%s @@", hunkRange(aNo[start], aCount), hunkRange(bNo[start], bCount))
		hunks = append(hunks, h)
		i = end
	}
	return hunks
}

// hunkRange is GNU diff's "start,count" (start is the line before when count is 0).
func hunkRange(start, count int) string {
	if count == 0 {
		return fmt.Sprintf("%d,0", start-1)
	}
	if count == 1 {
		return fmt.Sprintf("%d", start)
	}
	return fmt.Sprintf("%d,%d", start, count)
}
