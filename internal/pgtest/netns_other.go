//go:build !linux

package pgtest

import "errors"

// enterNetNS: network namespaces are Linux's.
func enterNetNS(string) error { return errors.New("network namespaces need Linux") }
