package nbd_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	nbd "github.com/nbd-cleanroom/libnbd/go"
)

// exampleServer starts nbdkit on a private Unix socket and returns its
// NBD URI and a function that stops it.
func exampleServer(args ...string) (uri string, stop func()) {
	dir, err := os.MkdirTemp("", "nbd-example")
	if err != nil {
		log.Fatal(err)
	}
	sock := filepath.Join(dir, "sock")
	pid := filepath.Join(dir, "pid")
	srv := exec.Command("nbdkit", append([]string{"-f", "--exit-with-parent", "-U", sock, "-P", pid}, args...)...)
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	for i := 0; i < 500; i++ { // the pid file appears once nbdkit listens
		if _, err := os.Stat(pid); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "nbd+unix:///?socket=" + sock, func() {
		srv.Process.Kill()
		srv.Wait()
		os.RemoveAll(dir)
	}
}

// Dial is the usual way in: one call from a URI to a ready handle.
func ExampleDial() {
	uri, stop := exampleServer("memory", "1M")
	defer stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	h, err := nbd.Dial(ctx, uri, nbd.WithMetaContext(nbd.MetaContextBaseAllocation))
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	if err := h.Write(ctx, []byte("hello"), 0, nbd.FUA); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 5)
	if err := h.Read(ctx, buf, 0); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", buf)
	// Shutdown tells the server goodbye (NBD_CMD_DISC) after the requests
	// in flight; Close alone just drops the connection.
	if err := h.Shutdown(ctx); err != nil {
		log.Fatal(err)
	}
	// Output: hello
}

// A Pool spreads many goroutines' requests over several connections
// when the server supports multi-conn, behind the same calls.
func ExampleDialPool() {
	uri, stop := exampleServer("memory", "1M")
	defer stop()

	ctx := context.Background()
	p, err := nbd.DialPool(ctx, uri, 4, nbd.WithReconnect(5*time.Second))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
	fmt.Println("connections:", p.Conns())
	if _, err := p.WriteAt([]byte("pooled"), 512); err != nil {
		log.Fatal(err)
	}
	// A flush on a multi-conn server covers writes done on any connection.
	if err := p.Flush(ctx); err != nil {
		log.Fatal(err)
	}
	b := make([]byte, 6)
	if _, err := p.ReadAt(b, 512); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", b)
	// Output:
	// connections: 4
	// pooled
}

// ConnectSocket takes over a connected socket given as an *os.File, here
// one end of a socket pair whose other end is nbdkit's stdin and stdout.
func ExampleHandle_ConnectSocket() {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		log.Fatal(err)
	}
	ours, theirs := os.NewFile(uintptr(fds[0]), "client"), os.NewFile(uintptr(fds[1]), "server")
	srv := exec.Command("nbdkit", "-s", "--exit-with-parent", "memory", "1M")
	srv.Stdin, srv.Stdout = theirs, theirs
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer srv.Wait()
	theirs.Close()

	h, err := nbd.Create()
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close() // runs before srv.Wait: nbdkit exits when the socket closes
	if err := h.ConnectSocket(context.Background(), ours); err != nil {
		log.Fatal(err)
	}
	ours.Close() // the handle has its own duplicate
	size, _ := h.Size()
	fmt.Println("size:", size)
	// Output: size: 1048576
}

// ConnectVsock reaches a server in a virtual machine or on the host
// (AF_VSOCK). Not run here: it needs a vsock peer.
func ExampleHandle_ConnectVsock() {
	h, err := nbd.Create()
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	const hostCID, port = 2, 10809
	if err := h.ConnectVsock(context.Background(), hostCID, port); err != nil {
		log.Fatal(err)
	}
	// Or: nbd.Dial(ctx, "nbd+vsock://2:10809/")
}

// CopyTo copies an export into a file and leaves its holes as holes.
func ExampleHandle_CopyTo() {
	uri, stop := exampleServer("memory", "64M")
	defer stop()

	ctx := context.Background()
	h, err := nbd.Dial(ctx, uri, nbd.WithMetaContext(nbd.MetaContextBaseAllocation))
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	h.WriteAt([]byte("data at 32 MiB"), 32<<20)

	f, err := os.CreateTemp("", "nbd-copy")
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	size, _ := h.Size()
	f.Truncate(size) // a sparse file of the export's size
	written, err := h.CopyTo(ctx, f)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("wrote less than 1 MiB of 64:", written < 1<<20)
	b := make([]byte, 14)
	f.ReadAt(b, 32<<20)
	fmt.Printf("%s\n", b)
	// Output:
	// wrote less than 1 MiB of 64: true
	// data at 32 MiB
}

// An HTTP server that serves an export with range requests: a Handle is
// an io.ReaderAt, so http.ServeContent does the work, and one handle
// serves any number of concurrent clients.
func Example_httpRangeServer() {
	uri, stop := exampleServer("data", `data="Hello over NBD and HTTP"`, "size=1M")
	defer stop()

	h, err := nbd.Dial(context.Background(), uri)
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	size, _ := h.Size()
	web := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "disk.img", time.Time{}, io.NewSectionReader(h, 0, size))
	}))
	defer web.Close()

	req, _ := http.NewRequest("GET", web.URL, nil)
	req.Header.Set("Range", "bytes=6-8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 206 ove
}
