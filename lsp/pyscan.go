package lsp

import (
	"regexp"
	"slices"
	"strings"
	"unicode/utf16"
)

// What service-aware editing reads from a module: each Service class's extent and SimpleIO, the services it invokes
// by name (self.invoke('...')), and the input fields it reads (self.request.input.x). Like findServices it scans
// lines; it does not parse Python, and where it cannot be sure (a SimpleIO built from variables or inherited) it
// says so, so that nothing is flagged on a guess.

// simpleIO is a class's SimpleIO as far as it can be read from its source.
type simpleIO struct {
	declared bool // the class body has a SimpleIO
	// complete: every input and output element is a literal name; false when SimpleIO inherits, is assigned from
	// elsewhere or lists names held in variables.
	complete       bool
	inReq, inOpt   []string
	outReq, outOpt []string
	line           int // 0-based line of the SimpleIO declaration
}

// inputs are the names a service may read from self.request.input.
func (s simpleIO) inputs() []string { return append(slices.Clone(s.inReq), s.inOpt...) }

// serviceInfo is a Service class with its body's extent and its SimpleIO.
type serviceInfo struct {
	serviceClass
	end int // 0-based line after the class body
	sio simpleIO
}

// analyzeServices lists a module's Service classes (findServices) with their bodies and SimpleIO.
func analyzeServices(source, module string) []serviceInfo {
	classes := findServices(source, module)
	if len(classes) == 0 {
		return nil
	}
	lines := splitLines(source)
	out := make([]serviceInfo, 0, len(classes))
	for _, c := range classes {
		si := serviceInfo{serviceClass: c, end: blockEnd(lines, c.line, "")}
		si.sio = readSimpleIO(lines, c.line+1, si.end)
		out = append(out, si)
	}
	return out
}

func splitLines(source string) []string {
	lines := strings.Split(source, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines
}

func indentOf(l string) string { return l[:len(l)-len(strings.TrimLeft(l, " \t"))] }

func blankOrComment(l string) bool {
	t := strings.TrimSpace(l)
	return t == "" || strings.HasPrefix(t, "#")
}

// blockEnd is the line after the block whose header is at line header: the first later line of code indented no
// deeper than the header (whose indent is given, or read from the header when "").
func blockEnd(lines []string, header int, indent string) int {
	if indent == "" {
		indent = indentOf(lines[header])
	}
	// A header whose brackets run over several lines: the body starts after the line ending with ':'.
	i := header
	for i < len(lines) && !strings.HasSuffix(strings.TrimSpace(stripComment(lines[i])), ":") {
		i++
	}
	for i++; i < len(lines); i++ {
		if blankOrComment(lines[i]) {
			continue
		}
		if len(indentOf(lines[i])) <= len(indent) {
			return i
		}
	}
	return len(lines)
}

// stripComment drops a trailing # comment that is not inside a string.
func stripComment(l string) string {
	return l[:scanCode(l, func(c byte) bool { return c != '#' })]
}

// scanCode calls visit with each byte of s that is outside string literals (in a literal, a backslash escapes the
// next byte), in order, until visit returns false; it returns the index of that byte, or len(s).
func scanCode(s string, visit func(c byte) bool) int {
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == '\\' {
				i++
			} else if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case !visit(c):
			return i
		}
	}
	return len(s)
}

var (
	sioClassRe  = regexp.MustCompile(`^class\s+SimpleIO\s*(?:\(([^)]*)\))?\s*:`)
	sioAssignRe = regexp.MustCompile(`^SimpleIO\s*=`)
	sioAttrRe   = regexp.MustCompile(`^(input_required|input_optional|output_required|output_optional|input|output)\s*(?::[^=]*)?=([^=].*|)$`)
)

// readSimpleIO finds `class SimpleIO` directly in a class body (lines from..to) and reads its elements.
func readSimpleIO(lines []string, from, to int) simpleIO {
	body := ""
	for i := from; i < to; i++ {
		if blankOrComment(lines[i]) {
			continue
		}
		lead := indentOf(lines[i])
		if body == "" {
			body = lead
		}
		if lead != body {
			continue
		}
		t := strings.TrimSpace(lines[i])
		if sioAssignRe.MatchString(t) {
			return simpleIO{declared: true, line: i}
		}
		m := sioClassRe.FindStringSubmatch(t)
		if m == nil {
			continue
		}
		sio := simpleIO{declared: true, complete: true, line: i}
		for b := range strings.SplitSeq(m[1], ",") {
			switch strings.TrimSpace(b) {
			case "", "object", "SimpleIO":
			default:
				sio.complete = false // its elements come (also) from a base
			}
		}
		end := blockEnd(lines, i, lead)
		sioIndent := ""
		for j := i + 1; j < end; j++ {
			if blankOrComment(lines[j]) {
				continue
			}
			l := indentOf(lines[j])
			if sioIndent == "" {
				sioIndent = l
			}
			if l != sioIndent {
				continue
			}
			am := sioAttrRe.FindStringSubmatch(strings.TrimSpace(lines[j]))
			if am == nil {
				continue
			}
			rhs := stripComment(am[2])
			// The value may run over several lines while brackets are open.
			for depth := bracketDepth(rhs); (depth > 0 || strings.HasSuffix(strings.TrimSpace(rhs), "\\")) && j+1 < end; depth = bracketDepth(rhs) {
				j++
				rhs += "\n" + stripComment(lines[j])
			}
			names, ok := literalNames(rhs)
			if !ok {
				sio.complete = false
			}
			switch am[1] {
			case "input_required":
				sio.inReq = append(sio.inReq, names...)
			case "input_optional":
				sio.inOpt = append(sio.inOpt, names...)
			case "output_required":
				sio.outReq = append(sio.outReq, names...)
			case "output_optional":
				sio.outOpt = append(sio.outOpt, names...)
			case "input", "output": // Zato 3.2+: ('a', '-b'), '-' marks optional
				for _, n := range names {
					opt := strings.HasPrefix(n, "-")
					n = strings.TrimLeft(n, "-")
					switch {
					case am[1] == "input" && opt:
						sio.inOpt = append(sio.inOpt, n)
					case am[1] == "input":
						sio.inReq = append(sio.inReq, n)
					case opt:
						sio.outOpt = append(sio.outOpt, n)
					default:
						sio.outReq = append(sio.outReq, n)
					}
				}
			}
		}
		return sio
	}
	return simpleIO{}
}

// bracketDepth counts the brackets a (possibly partial) expression leaves open.
func bracketDepth(s string) int {
	depth := 0
	scanCode(s, func(c byte) bool {
		switch c {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		}
		return true
	})
	return depth
}

// literalNames reads the element names of a SimpleIO value: string literals, bare or wrapped in a type helper
// (Integer('id'), AsIs('x', default=None)). ok is false when the value names anything else (a variable, a model
// class), since the full list is then unknown.
func literalNames(expr string) (names []string, ok bool) {
	type token struct {
		kind byte // 's' string, 'i' identifier, 'n' number, else the punctuation itself
		text string
	}
	var toks []token
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\\':
			i++
		case c == '\'' || c == '"':
			j := i + 1
			var b strings.Builder
			for j < len(expr) && expr[j] != c {
				if expr[j] == '\\' && j+1 < len(expr) {
					j++
				}
				b.WriteByte(expr[j])
				j++
			}
			toks = append(toks, token{'s', b.String()})
			i = j + 1
		case isIdentStart(c):
			j := i
			for j < len(expr) && (isIdentStart(expr[j]) || expr[j] >= '0' && expr[j] <= '9' || expr[j] == '.') {
				j++
			}
			word := expr[i:j]
			if j < len(expr) && (expr[j] == '\'' || expr[j] == '"') && strings.ContainsAny(strings.ToLower(word), "rub") && len(word) <= 2 {
				i = j // a string prefix: r'x', u"y"
				continue
			}
			toks = append(toks, token{'i', word})
			i = j
		case c >= '0' && c <= '9' || c == '-' && i+1 < len(expr) && expr[i+1] >= '0' && expr[i+1] <= '9':
			j := i + 1
			for j < len(expr) && (expr[j] >= '0' && expr[j] <= '9' || expr[j] == '.') {
				j++
			}
			toks = append(toks, token{'n', expr[i:j]})
			i = j
		default:
			toks = append(toks, token{c, string(c)})
			i++
		}
	}
	ok = true
	for i, t := range toks {
		prev := byte(0)
		if i > 0 {
			prev = toks[i-1].kind
		}
		next := byte(0)
		if i+1 < len(toks) {
			next = toks[i+1].kind
		}
		switch t.kind {
		case 's':
			if prev != '=' { // a keyword argument's value (default='x') is not a name
				names = append(names, t.text)
			}
		case 'i':
			switch {
			case next == '(' || next == '=': // a type helper, or a keyword argument's name
			case t.text == "None" || t.text == "True" || t.text == "False":
			default:
				ok = false
			}
		case '+', '*':
			ok = false // concatenation or unpacking of something named elsewhere
		}
	}
	return names, ok
}

func isIdentStart(c byte) bool { return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// invokeRef is a service name invoked with a literal: self.invoke('name'). Columns are UTF-16, of the name only.
type invokeRef struct {
	name       string
	line       int
	start, end int
}

var (
	invokeRe = regexp.MustCompile(`\bself\.invoke(?:_async)?\(\s*(?:name\s*=\s*)?[rRuU]?(['"])([^'"\\]*)(['"])\s*(?:[,)]|$)`)
	// invokeOpenRe: the cursor inside an invoke's first string literal (the text before the cursor ends with it).
	invokeOpenRe = regexp.MustCompile(`\bself\.invoke(?:_async)?\(\s*(?:name\s*=\s*)?[rRuU]?(['"])([^'"\\]*)$`)
	inputRefRe   = regexp.MustCompile(`\bself\.request\.input\.([A-Za-z_][A-Za-z0-9_]*)\b`)
)

// findInvokes lists the literal service names a module invokes.
func findInvokes(source string) []invokeRef {
	if !strings.Contains(source, "invoke") {
		return nil
	}
	var out []invokeRef
	for i, l := range splitLines(source) {
		if !strings.Contains(l, "self.invoke") || strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		for _, m := range invokeRe.FindAllStringSubmatchIndex(l, -1) {
			if l[m[2]:m[3]] != l[m[6]:m[7]] || m[5] == m[4] {
				continue // mismatched quotes, or an empty name
			}
			out = append(out, invokeRef{name: l[m[4]:m[5]], line: i, start: utf16Len(l[:m[4]]), end: utf16Len(l[:m[5]])})
		}
	}
	return out
}

// invokeAt returns the invoke name under a position (line, UTF-16 column), if any.
func invokeAt(source string, line, col int) (invokeRef, bool) {
	for _, r := range findInvokes(source) {
		if r.line == line && col >= r.start && col <= r.end {
			return r, true
		}
	}
	return invokeRef{}, false
}

// completionSpot is where a service name is being typed: inside the first string literal of self.invoke(. start is
// the literal's first column, end the column of its closing quote (or the cursor's when it has none yet).
type completionSpot struct {
	line, start, end int
	typed            string
}

// invokeCompletionAt reports whether a position (UTF-16) is inside an invoke's name literal.
func invokeCompletionAt(source string, line, col int) (completionSpot, bool) {
	l := lineText(source, line)
	cut := utf16ToByte(l, col)
	m := invokeOpenRe.FindStringSubmatchIndex(l[:cut])
	if m == nil {
		return completionSpot{}, false
	}
	quote := l[m[2]:m[3]]
	end := cut
	if k := strings.Index(l[cut:], quote); k >= 0 {
		end = cut + k
	}
	return completionSpot{line: line, start: utf16Len(l[:m[4]]), end: utf16Len(l[:end]), typed: l[m[4]:cut]}, true
}

// inputRef is a read of self.request.input.<field>.
type inputRef struct {
	field      string
	line       int
	start, end int // UTF-16 columns of the field name
}

// dictAttrs are what self.request.input offers besides its fields (it is a dict).
var dictAttrs = map[string]bool{"get": true, "keys": true, "items": true, "values": true, "update": true, "pop": true,
	"setdefault": true, "copy": true, "clear": true, "popitem": true, "fromkeys": true}

// findInputRefs lists the input fields read in lines from..to.
func findInputRefs(lines []string, from, to int) []inputRef {
	var out []inputRef
	for i := from; i < to && i < len(lines); i++ {
		l := lines[i]
		if !strings.Contains(l, "self.request.input.") {
			continue
		}
		code := stripComment(l)
		for _, m := range inputRefRe.FindAllStringSubmatchIndex(code, -1) {
			f := code[m[2]:m[3]]
			if dictAttrs[f] || strings.HasPrefix(f, "__") {
				continue
			}
			out = append(out, inputRef{field: f, line: i, start: utf16Len(l[:m[2]]), end: utf16Len(l[:m[3]])})
		}
	}
	return out
}

// utf16ToByte converts a UTF-16 column of line into a byte offset (clamped to the line).
func utf16ToByte(line string, col int) int {
	n := 0
	for i, r := range line {
		if n >= col {
			return i
		}
		n += utf16.RuneLen(r)
	}
	return len(line)
}
