package ports

import (
	"net"
	"strconv"
	"testing"
)

func TestFreeIsBelowTheEphemeralRange(t *testing.T) {
	low := ephemeralLow()
	for range 50 {
		base, err := Free(3)
		if err != nil {
			t.Fatal(err)
		}
		if base < lowest || base+3 > low {
			t.Fatalf("ports %d..%d are not between %d and the ephemeral range's start %d", base, base+2, lowest, low)
		}
		for i := range 3 {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+i))
			if err != nil {
				t.Fatalf("port %d is not free: %v", base+i, err)
			}
			l.Close()
		}
	}
}
