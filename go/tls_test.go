package nbd_test

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"

	nbd "github.com/nbd-cleanroom/libnbd/go"
)

// tlsMaterial makes certificates and PSK keys with testdata/tls_certs.sh
// (certtool and psktool from gnutls-bin), or skips.
func tlsMaterial(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"certtool", "psktool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s (gnutls-bin) is not installed", tool)
		}
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "testdata", "tls_certs.sh")
	dir := t.TempDir()
	if out, err := exec.Command("sh", script, dir).CombinedOutput(); err != nil {
		t.Fatalf("tls_certs.sh: %v: %s", err, out)
	}
	return dir
}

// TestTLS connects with nbds URIs and with explicit settings, X.509 and
// PSK, when the package has TLS (the gnutls build tag); without it the
// same URI must fail with ENOTSUP.
func TestTLS(t *testing.T) {
	certs := tlsMaterial(t)
	srv := startNbdkit(t, "--tls=require", "--tls-certificates="+certs, "memory", "4M")
	h := create(t)
	if !h.SupportsTLS() {
		if err := h.SetURIAllowLocalFile(true); err != nil {
			t.Fatal(err)
		}
		err := h.ConnectURI(context.Background(), fmt.Sprintf("nbds+unix:///?socket=%s&tls-certificates=%s/client", srv.sock, certs))
		if !errors.Is(err, syscall.ENOTSUP) {
			t.Fatalf("nbds URI without TLS support: got %v, want ENOTSUP", err)
		}
		t.Skip("TLS: the package was built without the gnutls tag")
	}
	if err := h.SetURIAllowLocalFile(true); err != nil {
		t.Fatal(err)
	}
	if err := h.ConnectURI(context.Background(), fmt.Sprintf("nbds+unix:///?socket=%s&tls-certificates=%s/client", srv.sock, certs)); err != nil {
		t.Fatal(err)
	}
	if ok, err := h.TLSNegotiated(); !ok || err != nil {
		t.Fatalf("TLSNegotiated = %v, %v", ok, err)
	}
	want := pattern(300000, 7)
	if _, err := h.WriteAt(want, 4096); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if _, err := h.ReadAt(got, 4096); err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatal("data read over TLS differs from what was written")
	}

	// An untrusted CA: a clear error, EACCES.
	h2 := create(t)
	if err := h2.SetTLS(nbd.TLSRequire); err != nil {
		t.Fatal(err)
	}
	if err := h2.SetTLSCertificates(filepath.Join(certs, "other-ca")); err != nil {
		t.Fatal(err)
	}
	if err := h2.ConnectUnix(context.Background(), srv.sock); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("untrusted server certificate: got %v, want EACCES", err)
	}

	// PSK.
	psk := startNbdkit(t, "--tls=require", "--tls-psk="+filepath.Join(certs, "keys.psk"), "memory", "1M")
	h3 := create(t)
	for _, err := range []error{
		h3.SetTLS(nbd.TLSRequire),
		h3.SetTLSPSKFile(filepath.Join(certs, "keys.psk")),
		h3.SetTLSUsername("alice"),
		h3.ConnectUnix(context.Background(), psk.sock),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := h3.TLSNegotiated(); !ok {
		t.Fatal("PSK connection is not encrypted")
	}
	// Dial with TLS options over a plain nbd+unix URI.
	ctx := context.Background()
	d1, err := nbd.Dial(ctx, "nbd+unix:///?socket="+srv.sock,
		nbd.WithTLSCertificates(filepath.Join(certs, "client")))
	if err != nil {
		t.Fatal(err)
	}
	defer d1.Close()
	if ok, _ := d1.TLSNegotiated(); !ok {
		t.Fatal("Dial WithTLSCertificates: not encrypted")
	}
	// A name the certificate does not carry.
	if _, err := nbd.Dial(ctx, "nbd+unix:///?socket="+srv.sock,
		nbd.WithTLSCertificates(filepath.Join(certs, "client")),
		nbd.WithTLSHostname("wrong.example")); !errors.Is(err, syscall.EACCES) {
		t.Fatalf("Dial WithTLSHostname(wrong): got %v, want EACCES", err)
	}
	d2, err := nbd.Dial(ctx, "nbd+unix:///?socket="+psk.sock,
		nbd.WithTLSPSK(filepath.Join(certs, "keys.psk"), "bob"))
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if ok, _ := d2.TLSNegotiated(); !ok {
		t.Fatal("Dial WithTLSPSK: not encrypted")
	}
}

// TestOptStartTLS: option mode against a server that offers TLS
// selectively (nbdkit --tls=on) and one that has none.
func TestOptStartTLS(t *testing.T) {
	certs := tlsMaterial(t)
	ctx := context.Background()
	srv := startNbdkit(t, "--tls=on", "--tls-certificates="+certs, "memory", "1M")
	h := create(t)
	if !h.SupportsTLS() {
		t.Skip("TLS: the package was built without the gnutls tag")
	}
	for _, err := range []error{
		h.SetTLSCertificates(filepath.Join(certs, "client")),
		h.SetOptMode(true),
		h.ConnectUnix(ctx, srv.sock),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	if ok, err := h.OptStartTLS(ctx); !ok || err != nil {
		t.Fatalf("OptStartTLS = %v, %v; want true", ok, err)
	}
	if ok, _ := h.TLSNegotiated(); !ok {
		t.Fatal("not encrypted after OptStartTLS")
	}
	if err := h.OptGo(ctx); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if _, err := h.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}

	plain := startNbdkit(t, "memory", "1M")
	p := create(t)
	if err := p.SetOptMode(true); err != nil {
		t.Fatal(err)
	}
	if err := p.ConnectUnix(ctx, plain.sock); err != nil {
		t.Fatal(err)
	}
	if ok, err := p.OptStartTLS(ctx); ok || err != nil {
		t.Fatalf("OptStartTLS without TLS on the server = %v, %v; want false, nil", ok, err)
	}
	if err := p.OptGo(ctx); err != nil {
		t.Fatal(err)
	}
}
