package nbd_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	nbd "github.com/nbd-cleanroom/libnbd/go"
)

// The examples run nbdkit as a subprocess serving a 1 MiB RAM disk.

func Example() {
	h, err := nbd.Create()
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	if err := h.ConnectCommand(context.Background(), "nbdkit", "-s", "--exit-with-parent", "memory", "1M"); err != nil {
		log.Fatal(err)
	}
	size, _ := h.Size()
	fmt.Println("size:", size)

	if _, err := h.WriteAt([]byte("hello, NBD"), 4096); err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := h.ReadAt(buf, 4096); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", buf)
	// Output:
	// size: 1048576
	// hello, NBD
}

// A Handle is an io.ReaderAt, so the io helpers work with it.
func ExampleHandle_ReadAt() {
	h, err := nbd.Create()
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	if err := h.ConnectCommand(context.Background(), "nbdkit", "-s", "--exit-with-parent", "data", "data=@512 \"boot\"", "size=1024"); err != nil {
		log.Fatal(err)
	}
	r := io.NewSectionReader(h, 512, 4)
	b, err := io.ReadAll(r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%q\n", b)
	// Output: "boot"
}

// Context-taking calls can be cancelled; the handle stays usable.
func ExampleHandle_Read() {
	h, err := nbd.Create()
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	if err := h.ConnectCommand(context.Background(), "nbdkit", "-s", "--exit-with-parent",
		"--filter=delay", "memory", "1M", "delay-read=10"); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err = h.Read(ctx, make([]byte, 512), 0)
	fmt.Println(errors.Is(err, context.DeadlineExceeded))
	// Writes are not delayed by this server:
	fmt.Println(h.Write(context.Background(), []byte{1, 2, 3}, 0, nbd.FUA))
	// Output:
	// true
	// <nil>
}

// Errors carry the errno from the C library.
func ExampleError() {
	h, err := nbd.Create()
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	err = h.ConnectCommand(context.Background(), "nbdkit", "-s", "--exit-with-parent",
		"--filter=error", "memory", "1M", "error-pread-rate=100%", "error-pread=EIO")
	if err != nil {
		log.Fatal(err)
	}
	_, err = h.ReadAt(make([]byte, 512), 0)
	var e *nbd.Error
	fmt.Println(errors.Is(err, syscall.EIO), errors.As(err, &e) && e.Op == "ReadAt")
	// Output: true true
}

// ConnectConn hands the handle a duplicate of a net.Conn's socket; the
// caller's copy may be closed straight away.
func ExampleHandle_ConnectConn() {
	dir, err := os.MkdirTemp("", "nbd-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "sock")
	pid := filepath.Join(dir, "pid")
	srv := exec.Command("nbdkit", "-f", "--exit-with-parent", "-U", sock, "-P", pid, "memory", "1M")
	if err := srv.Start(); err != nil {
		log.Fatal(err)
	}
	defer func() { srv.Process.Kill(); srv.Wait() }()
	for i := 0; i < 500; i++ { // wait for the pid file: nbdkit is listening
		if _, err := os.Stat(pid); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}

	conn, err := net.Dial("unix", sock)
	if err != nil {
		log.Fatal(err)
	}
	h, err := nbd.Create()
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	if err := h.ConnectConn(context.Background(), conn.(*net.UnixConn)); err != nil {
		log.Fatal(err)
	}
	conn.Close() // ours to close; the handle has its own descriptor
	fmt.Println(h.AioIsReady())
	// Output: true
}

// BlockStatus reports allocation extents per metadata context.
func ExampleHandle_BlockStatus() {
	h, err := nbd.Create()
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	h.AddMetaContext("base:allocation")
	if err := h.ConnectCommand(context.Background(), "nbdkit", "-s", "--exit-with-parent", "memory", "1M"); err != nil {
		log.Fatal(err)
	}
	h.WriteAt([]byte{1}, 0) // allocates the start; the rest stays a hole
	ext, err := h.BlockStatus(context.Background(), 0, 1<<20)
	if err != nil {
		log.Fatal(err)
	}
	last := ext["base:allocation"][len(ext["base:allocation"])-1]
	fmt.Println(last.Flags&nbd.StateHole != 0)
	// Output: true
}

// In option mode the client can ask the server which exports it has
// before choosing one.
func ExampleHandle_OptList() {
	h, err := nbd.Create()
	if err != nil {
		log.Fatal(err)
	}
	defer h.Close()
	if err := h.SetOptMode(true); err != nil {
		log.Fatal(err)
	}
	if err := h.ConnectCommand(context.Background(), "nbdkit", "-s", "--exit-with-parent",
		"--filter=exportname", "memory", "1M",
		"exportname-list=explicit", "exportname=disk1", "exportname=disk2",
		"exportdesc=fixed:scratch space"); err != nil {
		log.Fatal(err)
	}
	exports, err := h.OptList(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	for _, e := range exports {
		fmt.Printf("%s (%s)\n", e.Name, e.Description)
	}
	// Pick one and enter transmission.
	if err := h.SetExportName(exports[1].Name); err != nil {
		log.Fatal(err)
	}
	if err := h.OptGo(context.Background()); err != nil {
		log.Fatal(err)
	}
	size, _ := h.Size()
	fmt.Println("connected, size:", size)
	// Output:
	// disk1 (scratch space)
	// disk2 (scratch space)
	// connected, size: 1048576
}

// Connecting with TLS. The package must be built with -tags gnutls (see
// SupportsTLS); the server here would be, for example,
// "nbdkit --tls=require --tls-certificates=/etc/pki/nbdkit memory 1G".
func ExampleWithTLSCertificates() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// X.509: ca-cert.pem (and a client certificate if the server checks
	// clients) in one directory; the certificate must name "nbd.example".
	h, err := nbd.Dial(ctx, "nbd://nbd.example/disk",
		nbd.WithTLSCertificates("/etc/pki/libnbd"))
	if err != nil {
		log.Fatal(err) // errors.Is(err, syscall.EACCES): certificate rejected
	}
	defer h.Close()
	// Or a pre-shared key from psktool, with an nbds URI.
	p, err := nbd.Dial(ctx, "nbds+unix:///disk?socket=/run/nbd.sock",
		nbd.WithTLSPSK("/etc/nbd/keys.psk", "alice"))
	if err != nil {
		log.Fatal(err)
	}
	defer p.Close()
}
