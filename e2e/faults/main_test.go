package faults

import (
	"os"
	"testing"

	"github.com/zato-go/zato/internal/testenv"
)

// TestMain removes the zato binary the tests built once they end.
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
