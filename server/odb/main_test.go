package odb_test

import (
	"os"
	"testing"

	"github.com/zato-go/zato/internal/pgtest"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(sqliteHelper())
	}
	os.Exit(pgtest.Run(m))
}
