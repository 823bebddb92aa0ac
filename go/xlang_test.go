package nbd_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	nbd "github.com/nbd-cleanroom/libnbd/go"
)

// xlangC is a small C client of the same C API: it writes or verifies
// the pattern() bytes at an offset.
const xlangC = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <libnbd.h>

int main (int argc, char **argv)
{
  if (argc != 6) { fprintf (stderr, "usage: sock write|read off len seed\n"); return 2; }
  const char *sock = argv[1];
  int writing = strcmp (argv[2], "write") == 0;
  unsigned long long off = strtoull (argv[3], NULL, 0);
  size_t len = strtoul (argv[4], NULL, 0);
  unsigned seed = strtoul (argv[5], NULL, 0);
  unsigned char *want = malloc (len), *got = malloc (len);
  size_t i;
  for (i = 0; i < len; i++)
    want[i] = (unsigned char) ((i * 7) ^ seed ^ (i >> 9));
  struct nbd_handle *h = nbd_create ();
  if (!h || nbd_connect_unix (h, sock) == -1) { fprintf (stderr, "%s\n", nbd_get_error ()); return 1; }
  if (writing) {
    if (nbd_pwrite (h, want, len, off, 0) == -1) { fprintf (stderr, "%s\n", nbd_get_error ()); return 1; }
  } else {
    if (nbd_pread (h, got, len, off, 0) == -1) { fprintf (stderr, "%s\n", nbd_get_error ()); return 1; }
    if (memcmp (got, want, len) != 0) { fprintf (stderr, "data mismatch\n"); return 1; }
  }
  if (nbd_shutdown (h, 0) == -1) { fprintf (stderr, "%s\n", nbd_get_error ()); return 1; }
  nbd_close (h);
  free (want); free (got);
  return 0;
}
`

// buildXlang compiles xlangC against the same C core the package uses.
func buildXlang(t *testing.T) string {
	t.Helper()
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "xlang.c")
	exe := filepath.Join(dir, "xlang")
	if err := os.WriteFile(src, []byte(xlangC), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-O1", "-o", exe, src}
	if nbd.EmbeddedCore {
		core, _ := filepath.Glob("../c/lib/*.c")
		args = append([]string{"-I../c/include", "-I../c/lib", "-D_GNU_SOURCE", "-pthread"}, args...)
		args = append(args, core...)
		args = append(args, "-pthread")
	} else {
		args = append(args, "-lnbd")
	}
	if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		t.Fatalf("compiling the C client: %v\n%s", err, out)
	}
	return exe
}

func runXlang(t *testing.T, exe string, args ...string) {
	t.Helper()
	var out []byte
	var err error
	withTimeout(t, 30*time.Second, "C client", func() { out, err = exec.Command(exe, args...).CombinedOutput() })
	if err != nil {
		t.Fatalf("C client %v: %v\n%s", args, err, out)
	}
}

func TestCrossLanguage(t *testing.T) {
	srv := startNbdkit(t, "memory", "4M")
	exe := buildXlang(t)
	const n = 256 << 10
	itoa := strconv.Itoa

	// C writes, Go reads.
	runXlang(t, exe, srv.sock, "write", itoa(1<<20), itoa(n), "17")
	h := connectUnix(t, srv.sock)
	got := make([]byte, n)
	if _, err := h.ReadAt(got, 1<<20); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, pattern(n, 17)) {
		t.Fatal("Go read different bytes than the C client wrote")
	}

	// Go writes, C reads (and fails on mismatch).
	if _, err := h.WriteAt(pattern(n, 99), 2<<20); err != nil {
		t.Fatal(err)
	}
	runXlang(t, exe, srv.sock, "read", itoa(2<<20), itoa(n), "99")
	// And the C client really checks: a wrong seed must fail.
	if err := exec.Command(exe, srv.sock, "read", itoa(2<<20), itoa(n), "98").Run(); err == nil {
		t.Fatal("C client accepted wrong data")
	}
}
