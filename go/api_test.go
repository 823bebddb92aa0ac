package nbd_test

import (
	"context"
	"errors"
	"syscall"
	"testing"

	nbd "github.com/nbd-cleanroom/libnbd/go"
)

// Tests of the methods generated from the table (api_gen.go).

// newer reports whether err says the linked libnbd lacks a newer call
// (only possible with -tags libnbd_system).
func newer(t *testing.T, err error) bool {
	t.Helper()
	if !nbd.EmbeddedCore && errors.Is(err, syscall.ENOTSUP) {
		t.Logf("not in the linked libnbd: %v", err)
		return true
	}
	return false
}

func TestGeneratedSettings(t *testing.T) {
	h := create(t)
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("SetExportName", h.SetExportName("exp"))
	if v, err := h.ExportName(); err != nil || v != "exp" {
		t.Errorf("ExportName = %q, %v", v, err)
	}
	must("SetDebug", h.SetDebug(true))
	if !h.Debug() {
		t.Error("Debug = false after SetDebug(true)")
	}
	must("SetDebug", h.SetDebug(false))
	must("SetTLS", h.SetTLS(nbd.TLSAllow))
	if v := h.TLS(); v != nbd.TLSAllow {
		t.Errorf("TLS = %v, want TLSAllow", v)
	}
	must("SetTLSVerifyPeer", h.SetTLSVerifyPeer(false))
	if h.TLSVerifyPeer() {
		t.Error("TLSVerifyPeer = true after SetTLSVerifyPeer(false)")
	}
	must("SetTLSUsername", h.SetTLSUsername("alice"))
	if v, err := h.TLSUsername(); err != nil || v != "alice" {
		t.Errorf("TLSUsername = %q, %v", v, err)
	}
	must("SetRequestStructuredReplies", h.SetRequestStructuredReplies(false))
	if h.RequestStructuredReplies() {
		t.Error("RequestStructuredReplies = true after setting false")
	}
	must("SetHandshakeFlags", h.SetHandshakeFlags(nbd.HandshakeFlagFixedNewstyle))
	if v := h.HandshakeFlags(); v != nbd.HandshakeFlagFixedNewstyle {
		t.Errorf("HandshakeFlags = %#x", v)
	}
	must("SetPreadInitialize", h.SetPreadInitialize(false))
	if h.PreadInitialize() {
		t.Error("PreadInitialize = true after setting false")
	}
	strict := nbd.StrictCommands | nbd.StrictBounds
	must("SetStrictMode", h.SetStrictMode(strict))
	if v := h.StrictMode(); v != strict {
		t.Errorf("StrictMode = %#x, want %#x", v, strict)
	}
	must("SetOptMode", h.SetOptMode(true))
	if !h.OptMode() {
		t.Error("OptMode = false after SetOptMode(true)")
	}
	must("SetURIAllowTransports", h.SetURIAllowTransports(nbd.AllowTransportUnix|nbd.AllowTransportTCP))
	must("SetURIAllowTLS", h.SetURIAllowTLS(nbd.TLSDisable))

	must("AddMetaContext", h.AddMetaContext("base:allocation"))
	must("AddMetaContext", h.AddMetaContext("qemu:dirty-bitmap:b"))
	if n, err := h.NumMetaContexts(); err != nil || n != 2 {
		t.Errorf("NumMetaContexts = %d, %v", n, err)
	}
	if v, err := h.MetaContext(1); err != nil || v != "qemu:dirty-bitmap:b" {
		t.Errorf("MetaContext(1) = %q, %v", v, err)
	}
	if _, err := h.MetaContext(-1); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("MetaContext(-1) = %v, want EINVAL", err)
	}
	if _, err := h.MetaContext(2); err == nil {
		t.Error("MetaContext(2) of 2 succeeded")
	}
	must("ClearMetaContexts", h.ClearMetaContexts())
	if n, err := h.NumMetaContexts(); err != nil || n != 0 {
		t.Errorf("NumMetaContexts after ClearMetaContexts = %d, %v", n, err)
	}

	if err := h.SetSocketActivationName("nbd"); !newer(t, err) {
		must("SetSocketActivationName", err)
		if v, err := h.SocketActivationName(); err != nil || v != "nbd" {
			t.Errorf("SocketActivationName = %q, %v", v, err)
		}
	}
	if err := h.SetRequestMetaContext(false); !newer(t, err) {
		must("SetRequestMetaContext", err)
		if v, err := h.RequestMetaContext(); err != nil || v {
			t.Errorf("RequestMetaContext = %v, %v", v, err)
		}
	}

	if h.PackageName() == "" || h.PackageVersion() == "" {
		t.Errorf("PackageName %q, PackageVersion %q", h.PackageName(), h.PackageVersion())
	}
	if !h.SupportsURI() {
		t.Error("SupportsURI = false")
	}
	if s, err := h.ConnectionState(); err != nil || s == "" {
		t.Errorf("ConnectionState = %q, %v", s, err)
	}
	// Facts about the export need a connection.
	if _, err := h.CanFlush(); err == nil {
		t.Error("CanFlush before connecting succeeded")
	}
}

func TestGeneratedArgumentErrors(t *testing.T) {
	h := create(t)
	if err := h.SetExportName("a"); err != nil {
		t.Fatal(err)
	}
	// A NUL byte is refused, never cut short.
	err := h.SetExportName("b\x00c")
	var ne *nbd.Error
	if !errors.Is(err, syscall.EINVAL) || !errors.As(err, &ne) || ne.Op != "SetExportName" {
		t.Errorf("SetExportName with NUL = %v, want EINVAL", err)
	}
	if v, _ := h.ExportName(); v != "a" {
		t.Errorf("ExportName after the refused call = %q", v)
	}
	if _, err := h.CanMetaContext("base:\x00"); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("CanMetaContext with NUL = %v, want EINVAL", err)
	}
	if err := h.ConnectUnix(context.Background(), "/tmp/x\x00y"); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("ConnectUnix with NUL = %v, want EINVAL", err)
	}
	if err := h.ConnectCommand(context.Background(), "nbdkit", "-s\x00"); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("ConnectCommand with NUL = %v, want EINVAL", err)
	}
	if !h.AioIsCreated() {
		t.Error("a refused connect call changed the handle's state")
	}
	// Values the C library refuses.
	if err := h.SetTLS(nbd.TLSMode(7)); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("SetTLS(7) = %v, want EINVAL", err)
	}
	if err := h.SetStrictMode(1 << 20); !errors.Is(err, syscall.EINVAL) {
		t.Errorf("SetStrictMode(1<<20) = %v, want EINVAL", err)
	}
}

func TestGeneratedClosedAndNil(t *testing.T) {
	h := create(t)
	h.Close()
	var nilh *nbd.Handle
	for name, h := range map[string]*nbd.Handle{"closed": h, "nil": nilh} {
		if err := h.SetExportName("x"); !errors.Is(err, nbd.ErrClosed) || !errors.Is(err, syscall.ENOTCONN) {
			t.Errorf("%s: SetExportName = %v, want ErrClosed", name, err)
		}
		if _, err := h.Size(); !errors.Is(err, nbd.ErrClosed) {
			t.Errorf("%s: Size = %v, want ErrClosed", name, err)
		}
		if _, err := h.ExportName(); !errors.Is(err, nbd.ErrClosed) {
			t.Errorf("%s: ExportName = %v, want ErrClosed", name, err)
		}
		if _, err := h.BlockSize(); !errors.Is(err, nbd.ErrClosed) {
			t.Errorf("%s: BlockSize = %v, want ErrClosed", name, err)
		}
		if h.Debug() || h.AioIsReady() || h.AioIsCreated() || h.StatsBytesSent() != 0 || h.PackageName() != "" {
			t.Errorf("%s: a call that cannot fail did not return the zero value", name)
		}
		if !h.AioIsClosed() {
			t.Errorf("%s: AioIsClosed = false", name)
		}
	}
}

func TestGeneratedConnected(t *testing.T) {
	srv := startNbdkit(t, "memory", "1M")
	h := connectUnix(t, srv.sock)
	if _, err := h.WriteAt(make([]byte, 4096), 0); err != nil {
		t.Fatal(err)
	}
	if v, err := h.StructuredRepliesNegotiated(); err != nil || !v {
		t.Errorf("StructuredRepliesNegotiated = %v, %v", v, err)
	}
	if v, err := h.TLSNegotiated(); err != nil || v {
		t.Errorf("TLSNegotiated = %v, %v", v, err)
	}
	if uri, err := h.URI(); err != nil || uri == "" {
		t.Errorf("URI = %q, %v", uri, err)
	}
	if s, err := h.ConnectionState(); err != nil || s == "" {
		t.Errorf("ConnectionState = %q, %v", s, err)
	}
	if nbd.EmbeddedCore {
		if h.StatsBytesSent() < 4096 || h.StatsChunksSent() == 0 ||
			h.StatsBytesReceived() == 0 || h.StatsChunksReceived() == 0 {
			t.Errorf("stats: sent %d bytes in %d chunks, received %d bytes in %d chunks",
				h.StatsBytesSent(), h.StatsChunksSent(), h.StatsBytesReceived(), h.StatsChunksReceived())
		}
	}
	if ok, err := h.IsURI("nbd+unix:///?socket=/tmp/s"); !newer(t, err) && (err != nil || !ok) {
		t.Errorf("IsURI = %v, %v", ok, err)
	}
	if n, err := h.AioInFlight(); err != nil || n != 0 {
		t.Errorf("AioInFlight = %d, %v", n, err)
	}
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}
