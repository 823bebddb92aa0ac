package nbd_test

import (
	"os"
	"strings"
	"testing"

	nbd "github.com/nbd-cleanroom/libnbd/go"
)

// TestLinkage checks what the test binary really loaded: with the
// embedded core no shared libnbd may be mapped; with -tags
// libnbd_system one must be.
func TestLinkage(t *testing.T) {
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Skipf("no /proc/self/maps: %v", err)
	}
	loaded := strings.Contains(string(maps), "libnbd.so")
	if nbd.EmbeddedCore && loaded {
		t.Errorf("embedded build maps a shared libnbd:\n%s", grepLines(string(maps), "libnbd.so"))
	}
	if !nbd.EmbeddedCore && !loaded {
		t.Error("libnbd_system build does not map libnbd.so")
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
