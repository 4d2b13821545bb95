package lsp

import (
	"path/filepath"
	"regexp"
	"strings"
	"unicode/utf16"

	"github.com/zato-go/zato/wire"
)

// serviceClass is a top-level class whose bases name a Service, found by a line scan: the server needs the class
// header's position and name, not a Python parser.
type serviceClass struct {
	class     string
	name      string // the name Zato serves it under
	explicit  bool   // from a `name = "..."` attribute
	line      int    // 0-based line of the class header
	nameStart int    // UTF-16 column range of the class name
	nameEnd   int
}

var (
	classRe    = regexp.MustCompile(`^class\s+([\p{L}_][\p{L}\p{N}_]*)\s*(\(|:)`)
	nameAttrRe = regexp.MustCompile(`^name\s*(?::\s*[A-Za-z_][\w.\[\]]*\s*)?=\s*(?:[rRuU]?)(['"])([^'"]+)['"]`)
)

// findServices lists the Service classes of a module's source.
func findServices(source, module string) []serviceClass {
	lines := strings.Split(source, "\n")
	var out []serviceClass
	for i := 0; i < len(lines); i++ {
		line := strings.TrimRight(lines[i], "\r")
		m := classRe.FindStringSubmatchIndex(line)
		if m == nil {
			continue
		}
		class := line[m[2]:m[3]]
		bases := ""
		if line[m[4]:m[5]] == "(" {
			// Bases may run over several lines.
			rest := line[m[5]:]
			for j := i; !strings.Contains(rest, ")") && j+1 < len(lines); j++ {
				rest += " " + lines[j+1]
			}
			bases, _, _ = strings.Cut(rest, ")")
		}
		if !isServiceBase(bases) {
			continue
		}
		sc := serviceClass{class: class, line: i, nameStart: utf16Len(line[:m[2]]), nameEnd: utf16Len(line[:m[3]])}
		sc.name, sc.explicit = classNameAttr(lines[i+1:]), true
		if sc.name == "" {
			sc.name, sc.explicit = derivedName(strings.TrimSuffix(module, ".py"), class), false
		}
		out = append(out, sc)
	}
	return out
}

// isServiceBase reports whether a base list names Service or a subclass by the usual naming (AdminService...).
func isServiceBase(bases string) bool {
	for b := range strings.SplitSeq(bases, ",") {
		b = strings.TrimSpace(b)
		if i := strings.LastIndex(b, "."); i >= 0 {
			b = b[i+1:]
		}
		if strings.HasSuffix(b, "Service") && !strings.Contains(b, "=") {
			return true
		}
	}
	return false
}

// classNameAttr finds `name = "..."` directly in a class body (the lines after its header).
func classNameAttr(body []string) string {
	indent := ""
	for _, l := range body {
		l = strings.TrimRight(l, "\r")
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		lead := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if lead == "" {
			return "" // the class ended
		}
		if indent == "" {
			indent = lead
		}
		if lead != indent {
			continue // a nested block
		}
		if m := nameAttrRe.FindStringSubmatch(t); m != nil {
			return m[2]
		}
	}
	return ""
}

// derivedName is Zato's name for a service without a name attribute:
// billing_invoice + ListOverdueInvoices -> billing-invoice.list-overdue-invoices. It follows Zato's uncamelify (a
// dash before a capital that follows a lower-case letter, or that starts a lower-case run anywhere but at the start;
// then lower case) and its conversion: underscores become dashes in the module part only.
func derivedName(module, class string) string {
	in := []rune(module + "." + class)
	lower := func(i int) bool { return i >= 0 && i < len(in) && in[i] >= 'a' && in[i] <= 'z' }
	var b strings.Builder
	for i, r := range in {
		if r >= 'A' && r <= 'Z' && i > 0 && (lower(i-1) || lower(i+1)) {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	parts := strings.Split(strings.ToLower(strings.Join(strings.Fields(b.String()), "-")), ".")
	path := parts[:len(parts)-1]
	for i := range path {
		path[i] = strings.ReplaceAll(path[i], "_", "-")
	}
	cls := strings.TrimPrefix(parts[len(parts)-1], "-")
	cls = strings.ReplaceAll(strings.ReplaceAll(cls, ".-", "."), "_-", "_")
	return strings.Join(path, ".") + "." + cls
}

// moduleName is the module a file deploys as, or "" when its name is not one Zato accepts.
func moduleName(path string) string {
	base := filepath.Base(path)
	if !wire.ValidModuleName(base) {
		return ""
	}
	return base
}

// utf16Len is the length of s in UTF-16 code units, LSP's default column unit.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// lineText returns a 0-based line of source.
func lineText(source string, line int) string {
	for i, l := range strings.Split(source, "\n") {
		if i == line {
			return strings.TrimRight(l, "\r")
		}
	}
	return ""
}

// runeColToUTF16 converts a 0-based code-point column (Python's) of line into UTF-16 units.
func runeColToUTF16(line string, col int) int {
	n, i := 0, 0
	for _, r := range line {
		if i == col {
			return n
		}
		n += utf16.RuneLen(r)
		i++
	}
	if col > i {
		return n + (col - i)
	}
	return n
}
