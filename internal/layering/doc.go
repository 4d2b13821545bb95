// Package layering holds the test that keeps docs/architecture.md's package table true: every package of the
// module is in it, and imports only what its row allows.
package layering
