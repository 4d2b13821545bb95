package sources

import (
	"bytes"
	"os"
	"strings"

	"github.com/zato-go/zato/wire"
)

// Parse reads the entries of a service-sources.txt. The whole file is read, whatever its lines' lengths: an over-long
// line is an entry like any other, which Load refuses on its own (a line-length limit would lose every entry).
func Parse(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, line := range strings.Split(string(bytes.TrimPrefix(data, []byte(wire.BOM))), "\n") {
		line = strings.TrimSpace(line) // "\r" of Windows line ends too
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		out = append(out, line)
	}
	return out, nil
}
