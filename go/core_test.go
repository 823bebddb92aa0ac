package nbd_test

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	nbd "github.com/nbd-cleanroom/libnbd/go"
)

// TestCoreStubsInSync fails when the core_*.c include stubs do not match
// ../c/lib/*.c one to one; run "go generate ./go" to fix it.
func TestCoreStubsInSync(t *testing.T) {
	srcs, err := filepath.Glob("../c/lib/*.c")
	if err != nil {
		t.Fatal(err)
	}
	stubs, err := filepath.Glob("core_*.c")
	if err != nil {
		t.Fatal(err)
	}
	var want, have []string
	for _, s := range srcs {
		want = append(want, filepath.Base(s))
	}
	for _, s := range stubs {
		name := strings.TrimPrefix(filepath.Base(s), "core_")
		have = append(have, name)
		b, err := os.ReadFile(s)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		if !strings.Contains(text, "//go:build !libnbd_system\n") {
			t.Errorf("%s: missing the !libnbd_system build constraint", s)
		}
		if !strings.Contains(text, `#include "../c/lib/`+name+`"`) {
			t.Errorf("%s does not include ../c/lib/%s", s, name)
		}
	}
	sort.Strings(want)
	sort.Strings(have)
	if strings.Join(want, " ") != strings.Join(have, " ") {
		t.Errorf("core stubs out of sync with c/lib (run: cd go && go generate)\n c/lib: %v\n stubs: %v", want, have)
	}
}

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
