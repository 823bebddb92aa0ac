package nbd_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	nbd "github.com/nbd-cleanroom/libnbd/go"
)

// Benchmarks run against nbdkit's memory plugin on a private Unix socket.
// BenchmarkCBaseline runs the same workloads in C (synchronous nbd_pread,
// and 64 requests kept in flight with nbd_aio_pread + nbd_poll) so the
// Go figures can be compared with the C core's.

const benchSize = 64 << 20

func benchHandle(b *testing.B) *nbd.Handle {
	srv := startNbdkit(b, "--threads=16", "memory", strconv.Itoa(benchSize))
	h, err := nbd.Create()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	if err := h.ConnectUnix(context.Background(), srv.sock); err != nil {
		b.Fatal(err)
	}
	return h
}

func BenchmarkReadAt4K(b *testing.B) {
	h := benchHandle(b)
	buf := make([]byte, 4096)
	for i := 0; i < 100; i++ { // warm the command pool
		h.ReadAt(buf, 0)
	}
	b.SetBytes(4096)
	b.ReportAllocs()
	cpu := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := h.ReadAt(buf, int64(i%(benchSize/4096))*4096); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportCPU(b, cpu)
}

// cpuTime returns this process's user+system CPU time (not nbdkit's).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the client's CPU time per operation since start.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(b.N)/1e3, "cpu-us/op")
}

func BenchmarkReadAt4KParallel64(b *testing.B) {
	h := benchHandle(b)
	const G = 64
	bufs := make([][]byte, G)
	for i := range bufs {
		bufs[i] = make([]byte, 4096)
	}
	var wg sync.WaitGroup
	warm := func(n int64) {
		var next int64
		for g := 0; g < G; g++ {
			wg.Add(1)
			go func(buf []byte) {
				defer wg.Done()
				for {
					i := atomic.AddInt64(&next, 1)
					if i > n {
						return
					}
					if _, err := h.ReadAt(buf, (i%(benchSize/4096))*4096); err != nil {
						b.Error(err)
						return
					}
				}
			}(bufs[g])
		}
		wg.Wait()
	}
	warm(10 * G)
	b.SetBytes(4096)
	b.ReportAllocs()
	cpu := cpuTime()
	b.ResetTimer()
	warm(int64(b.N))
	b.StopTimer()
	reportCPU(b, cpu)
}

// xbenchC: argv: sock mode(sync|qd64) count; prints ns and CPU ns (the
// C client's own user+system time) per operation.
const xbenchC = `
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <libnbd.h>

static double cpu_ns (void)
{
  struct rusage ru;
  getrusage (RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e9 +
    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1e3;
}

static long done;
static int cb (void *ud, int *error) { done++; if (*error) { fprintf (stderr, "read error %d\n", *error); exit (1); } return 1; }

int main (int argc, char **argv)
{
  struct nbd_handle *h = nbd_create ();
  long n = atol (argv[3]), i, issued = 0;
  static char buf[64][4096];
  struct timespec a, b;
  double ca;
  if (!h || nbd_connect_unix (h, argv[1]) == -1) { fprintf (stderr, "%s\n", nbd_get_error ()); return 1; }
  for (i = 0; i < 1000; i++) nbd_pread (h, buf[0], 4096, 0, 0);
  clock_gettime (CLOCK_MONOTONIC, &a);
  ca = cpu_ns ();
  if (strcmp (argv[2], "sync") == 0) {
    for (i = 0; i < n; i++)
      if (nbd_pread (h, buf[0], 4096, (i % 16384) * 4096, 0) == -1) { fprintf (stderr, "%s\n", nbd_get_error ()); return 1; }
  } else {
    while (done < n) {
      while (issued < n && issued - done < 64) {
        nbd_completion_callback c = { .callback = cb };
        if (nbd_aio_pread (h, buf[issued % 64], 4096, (issued % 16384) * 4096, c, 0) == -1) { fprintf (stderr, "%s\n", nbd_get_error ()); return 1; }
        issued++;
      }
      if (nbd_poll (h, -1) == -1) { fprintf (stderr, "%s\n", nbd_get_error ()); return 1; }
    }
  }
  clock_gettime (CLOCK_MONOTONIC, &b);
  printf ("%.1f %.1f\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n,
          (cpu_ns () - ca) / n);
  nbd_close (h);
  return 0;
}
`

// BenchmarkCBaseline reports the C figures as metrics C-sync-ns/op and
// C-qd64-ns/op (the framework's own ns/op also counts process start-up).
func BenchmarkCBaseline(b *testing.B) {
	needNbdkit(b)
	srv := startNbdkit(b, "--threads=16", "memory", strconv.Itoa(benchSize))
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "cc"
	}
	dir := b.TempDir()
	src, exe := filepath.Join(dir, "xbench.c"), filepath.Join(dir, "xbench")
	os.WriteFile(src, []byte(xbenchC), 0o644)
	args := []string{"-O2", "-o", exe, src}
	if nbd.EmbeddedCore {
		core, _ := filepath.Glob("../c/lib/*.c")
		args = append([]string{"-I../c/include", "-I../c/lib", "-D_GNU_SOURCE", "-pthread"}, args...)
		args = append(append(args, core...), "-pthread")
	} else {
		args = append(args, "-lnbd")
	}
	if out, err := exec.Command(cc, args...).CombinedOutput(); err != nil {
		b.Fatalf("compile: %v\n%s", err, out)
	}
	for _, mode := range []string{"sync", "qd64"} {
		b.Run(mode, func(b *testing.B) {
			// One C process does b.N reads (after its own warm-up); it
			// reports its own timing, which excludes process start.
			out, err := exec.Command(exe, srv.sock, mode, strconv.Itoa(b.N)).CombinedOutput()
			if err != nil {
				b.Fatalf("%v: %s", err, out)
			}
			f := strings.Fields(string(out))
			if len(f) != 2 {
				b.Fatalf("unexpected output %q", out)
			}
			v, err := strconv.ParseFloat(f[0], 64)
			if err != nil {
				b.Fatal(err)
			}
			cpu, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(v, "C-"+mode+"-ns/op")
			b.ReportMetric(cpu/1e3, "C-"+mode+"-cpu-us/op")
		})
	}
}

// BenchmarkLarge100M: one 100 MiB transfer per op, through ReadAt
// (pinned caller buffer) and Read with a cancellable context (handle
// buffers, so the call can return early), and the same for writes.
func BenchmarkLarge100M(b *testing.B) {
	const n = 100 << 20
	srv := startNbdkit(b, "--threads=16", "memory", strconv.Itoa(n+(1<<20)))
	h, err := nbd.Dial(context.Background(), "nbd+unix:///?socket="+srv.sock)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close() })
	buf := make([]byte, n)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, bc := range []struct {
		name string
		f    func() error
	}{
		{"ReadAt", func() error { _, err := h.ReadAt(buf, 0); return err }},
		{"ReadCtx", func() error { return h.Read(ctx, buf, 0) }},
		{"WriteAt", func() error { _, err := h.WriteAt(buf, 0); return err }},
		{"WriteCtx", func() error { return h.Write(ctx, buf, 0) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(n)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if err := bc.f(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPool4KParallel64: 64 goroutines of 4 KiB ReadAt through a
// Pool of 1, 2 and 4 connections (nbdkit memory advertises multi-conn).
func BenchmarkPool4KParallel64(b *testing.B) {
	srv := startNbdkit(b, "--threads=16", "memory", strconv.Itoa(benchSize))
	for _, n := range []int{1, 2, 4} {
		b.Run("conns="+strconv.Itoa(n), func(b *testing.B) {
			p, err := nbd.DialPool(context.Background(), "nbd+unix:///?socket="+srv.sock, n)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			if p.Conns() != n {
				b.Fatalf("pool has %d connections, want %d", p.Conns(), n)
			}
			const G = 64
			run := func(total int64) {
				var next int64
				var wg sync.WaitGroup
				for g := 0; g < G; g++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						buf := make([]byte, 4096)
						for {
							i := atomic.AddInt64(&next, 1)
							if i > total {
								return
							}
							if _, err := p.ReadAt(buf, (i%(benchSize/4096))*4096); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
			}
			run(10 * G)
			b.SetBytes(4096)
			b.ReportAllocs()
			cpu := cpuTime()
			b.ResetTimer()
			run(int64(b.N))
			b.StopTimer()
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkPoolLarge32M: one 32 MiB ReadAt per op through a pool of 1,
// 2 and 4 connections (a pool spreads large transfers over them).
func BenchmarkPoolLarge32M(b *testing.B) {
	srv := startNbdkit(b, "--threads=16", "memory", strconv.Itoa(benchSize))
	buf := make([]byte, 32<<20)
	for _, n := range []int{1, 2, 4} {
		b.Run("conns="+strconv.Itoa(n), func(b *testing.B) {
			p, err := nbd.DialPool(context.Background(), "nbd+unix:///?socket="+srv.sock, n)
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close()
			b.SetBytes(int64(len(buf)))
			for i := 0; i < b.N; i++ {
				if _, err := p.ReadAt(buf, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
