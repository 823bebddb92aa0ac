package nbd_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strings"
	"syscall"
	"testing"

	nbd "github.com/nbd-cleanroom/libnbd/go"
)

// Every exported method of a nil *Handle and of a zero-value Handle (one
// not made by Create), and the same for Pool, fails (with ErrClosed, or an argument error for the
// zero arguments given here) or returns a zero value, and never panics.
func TestMisuseNeverPanics(t *testing.T) {
	errType := reflect.TypeOf((*error)(nil)).Elem()
	ctxType := reflect.TypeOf((*context.Context)(nil)).Elem()
	for _, tc := range []struct {
		name string
		h    any
	}{{"nil", (*nbd.Handle)(nil)}, {"zero", &nbd.Handle{}}, {"nil Pool", (*nbd.Pool)(nil)}, {"zero Pool", &nbd.Pool{}}} {
		v := reflect.ValueOf(tc.h)
		ty := v.Type()
		for i := 0; i < ty.NumMethod(); i++ {
			m := ty.Method(i)
			fn := v.Method(i)
			ft := fn.Type()
			n := ft.NumIn()
			if ft.IsVariadic() {
				n-- // call with no variadic arguments
			}
			args := make([]reflect.Value, n)
			for j := 0; j < n; j++ {
				in := ft.In(j)
				switch {
				case in == ctxType:
					args[j] = reflect.ValueOf(context.Background())
				case in.Kind() == reflect.Slice && in.Elem().Kind() == reflect.Uint8:
					args[j] = reflect.ValueOf(make([]byte, 16)).Convert(in)
				default:
					args[j] = reflect.Zero(in)
				}
			}
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Errorf("%s: %s panicked: %v", tc.name, m.Name, r)
					}
				}()
				out := fn.Call(args)
				if m.Name == "Close" {
					return // Close of a nil or zero Handle is a no-op
				}
				if k := ft.NumOut(); k > 0 && ft.Out(k-1) == errType {
					err, _ := out[k-1].Interface().(error)
					if err == nil {
						t.Errorf("%s: %s succeeded", tc.name, m.Name)
					} else if !errors.Is(err, nbd.ErrClosed) && !errors.As(err, new(*nbd.Error)) {
						t.Errorf("%s: %s returned %v, want *Error", tc.name, m.Name, err)
					}
				}
			}()
		}
	}
}

// ConnectConn(nil) is an error, not a panic; zero-length Read and Write
// are no-ops that send nothing.
func TestMisuseArguments(t *testing.T) {
	h := create(t)
	if err := h.ConnectConn(context.Background(), nil); err == nil {
		t.Fatal("ConnectConn(nil) succeeded")
	}
	srv := startNbdkit(t, "memory", "1M")
	if err := h.ConnectUnix(context.Background(), srv.sock); err != nil {
		t.Fatalf("ConnectUnix: %v", err)
	}
	ctx := context.Background()
	if err := h.Read(ctx, nil, 0); err != nil {
		t.Errorf("zero-length Read: %v", err)
	}
	if err := h.Write(ctx, []byte{}, 0); err != nil {
		t.Errorf("zero-length Write: %v", err)
	}
	if n, err := h.ReadAt(nil, 0); n != 0 || err != nil {
		t.Errorf("zero-length ReadAt: %d, %v", n, err)
	}
	// A second Shutdown is not an error.
	if err := h.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := h.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

// A server program that does not exist is ENOENT, not a connection error.
func TestConnectCommandMissingProgram(t *testing.T) {
	if !nbd.EmbeddedCore {
		t.Skip("libnbd 1.14 only sees the handshake fail")
	}
	h := create(t)
	err := h.ConnectCommand(context.Background(), "/nonexistent/nbd-server-program")
	if !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("ConnectCommand: %v, want ENOENT", err)
	}
}

// io.ReaderAt and io.WriterAt take any offset and length: on a server with
// a 4 KiB minimum and a 1 MiB maximum block size (which refuses anything
// else), a 4 MiB transfer is split and misaligned edges go through whole
// blocks, and the data round-trips.
func TestBlockSizeLimits(t *testing.T) {
	srv := startNbdkit(t, "--filter=blocksize-policy", "memory", "8M",
		"blocksize-minimum=4096", "blocksize-preferred=65536",
		"blocksize-maximum=1048576", "blocksize-error-policy=error")
	h := create(t)
	if err := h.ConnectUnix(context.Background(), srv.sock); err != nil {
		t.Fatalf("ConnectUnix: %v", err)
	}
	big := pattern(4<<20, 7)
	if n, err := h.WriteAt(big, 0); err != nil || n != len(big) {
		t.Fatalf("WriteAt 4 MiB: %d, %v", n, err)
	}
	got := make([]byte, len(big))
	if n, err := h.ReadAt(got, 0); err != nil || n != len(got) {
		t.Fatalf("ReadAt 4 MiB: %d, %v", n, err)
	}
	if !bytes.Equal(got, big) {
		t.Fatal("4 MiB round trip differs")
	}
	// Misaligned: 10000 bytes at 1234, in the middle of the data above.
	small := pattern(10000, 9)
	if n, err := h.WriteAt(small, 1234); err != nil || n != len(small) {
		t.Fatalf("misaligned WriteAt: %d, %v", n, err)
	}
	copy(big[1234:], small)
	back := make([]byte, 3*4096)
	if n, err := h.ReadAt(back, 1000); err != nil || n != len(back) {
		t.Fatalf("misaligned ReadAt: %d, %v", n, err)
	}
	if !bytes.Equal(back, big[1000:1000+len(back)]) {
		t.Fatal("misaligned read-modify-write lost data around the edges")
	}
	one := make([]byte, 1)
	if _, err := h.ReadAt(one, 4097); err != nil || one[0] != big[4097] {
		t.Fatalf("one-byte ReadAt: %v", err)
	}
}

// Error texts name the Go method, not the C call behind it, and do not
// repeat the errno's text.
func TestErrorText(t *testing.T) {
	h := create(t)
	err := h.ConnectUnix(context.Background(), "/nonexistent/dir/sock")
	var e *nbd.Error
	if !errors.As(err, &e) {
		t.Fatalf("ConnectUnix: %v", err)
	}
	if e.Call == "" || strings.Contains(e.Error(), "nbd_") {
		t.Errorf("error text %q (Call %q): the C call name belongs in Call only", e.Error(), e.Call)
	}
	if n := strings.Count(strings.ToLower(e.Error()), strings.ToLower(e.Errno.Error())); n != 1 {
		t.Errorf("error text %q says the errno text %d times", e.Error(), n)
	}
}
