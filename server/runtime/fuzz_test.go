package runtime

import (
	"bytes"
	"testing"
)

// FuzzReplyLines: whatever the worker writes, the reader never panics, never keeps more than its limit of one line,
// and reads an id only from the start of a line.
func FuzzReplyLines(f *testing.F) {
	f.Add([]byte("{\"id\": 1, \"ok\": true}\n{\"id\": 2, \"ok\": false, \"error\": {\"type\": \"X\"}}\n"), 16)
	f.Add([]byte("{\"id\": 99999999999999999999}\n\n\nno newline at the end"), 4)
	f.Fuzz(func(t *testing.T, b []byte, max int) {
		if max <= 0 || max > 1<<16 {
			max = 64
		}
		r := newLineReader(bytes.NewReader(b), max)
		var total int64
		for {
			line, size, err := r.next()
			if err != nil {
				break
			}
			if len(line) > max || int64(len(line)) > size {
				t.Fatalf("kept %d bytes of a %d-byte line (limit %d)", len(line), size, max)
			}
			if id, ok := idOf(line); ok && (id <= 0 || !bytes.HasPrefix(line, []byte(`{"id":`))) {
				t.Fatalf("id %d from %q", id, line)
			}
			total += size
		}
		if total > int64(len(b)) {
			t.Fatalf("read %d bytes of lines from %d bytes", total, len(b))
		}
	})
}
