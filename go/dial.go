package nbd

import (
	"context"
	"syscall"
	"time"
)

// Option configures Dial and DialPool.
type Option func(*dialConfig)

type dialConfig struct {
	setup     []func(*Handle) error
	reconnect time.Duration // Pool only: see WithReconnect
}

// WithMetaContext asks for the named metadata contexts (for example
// "base:allocation", MetaContextBaseAllocation) while connecting, so
// that BlockStatus can report them.
func WithMetaContext(names ...string) Option {
	return WithSetup(func(h *Handle) error {
		for _, n := range names {
			if err := h.AddMetaContext(n); err != nil {
				return err
			}
		}
		return nil
	})
}

// WithHandleName names the handle in debug messages.
func WithHandleName(name string) Option {
	return WithSetup(func(h *Handle) error { return h.SetHandleName(name) })
}

// WithSetup runs f on the new handle before it connects: any setting
// (SetRequestStructuredReplies, SetStrictMode, SetOptMode, ...) can be
// made there. An error from f ends Dial with that error.
func WithSetup(f func(*Handle) error) Option {
	return func(c *dialConfig) { c.setup = append(c.setup, f) }
}

// Dial creates a Handle, connects it to the server named by the NBD URI
// (nbd://host[:port]/export, nbd+unix:///export?socket=path,
// nbd+vsock://cid[:port]/export, and the nbds forms, which require TLS:
// see the package doc's TLS section) and returns it ready for I/O. The
// options are applied before connecting. A URI naming local files
// (tls-certificates, tls-psk-file) fails with EPERM unless an option
// calls SetURIAllowLocalFile(true); WithTLSCertificates and WithTLSPSK
// need no such permission.
//
// If ctx ends before the handshake is done, or anything fails, Dial
// closes the handle and returns the error (ctx.Err() for the former).
// The caller owns the returned Handle and must Close it (after
// Shutdown, for a clean disconnect).
func Dial(ctx context.Context, uri string, opts ...Option) (*Handle, error) {
	if ctx == nil {
		return nil, &Error{Op: "Dial", Errno: syscall.EINVAL, Msg: "nil context"}
	}
	var cfg dialConfig
	for _, o := range opts {
		o(&cfg)
	}
	h, err := Create()
	if err != nil {
		return nil, withOp(err, "Dial")
	}
	for _, f := range cfg.setup {
		if err := f(h); err != nil {
			h.Close()
			return nil, err
		}
	}
	if err := h.connectURI("Dial", uri, h.connectWith(ctx)); err != nil {
		h.Close()
		return nil, err
	}
	return h, nil
}

// WithTLS sets how TLS is used (nbd_set_tls): TLSDisable, TLSAllow
// (encrypt if the server agrees, else plaintext) or TLSRequire (fail
// rather than talk in plaintext). An nbds URI requires TLS by itself.
// TLS needs a package built with the gnutls tag (see SupportsTLS).
func WithTLS(mode TLSMode) Option {
	return WithSetup(func(h *Handle) error { return h.SetTLS(mode) })
}

// WithTLSCertificates requires TLS with X.509 credentials from dir
// (nbd_set_tls_certificates: ca-cert.pem, and client-cert.pem with
// client-key.pem when the server checks clients). The server's
// certificate is verified against ca-cert.pem, and its name against the
// host of a TCP URI (or WithTLSHostname). Like every TLS option it needs
// the package built with -tags gnutls (ENOTSUP otherwise).
func WithTLSCertificates(dir string) Option {
	return WithSetup(func(h *Handle) error {
		if err := h.SetTLS(TLSRequire); err != nil {
			return err
		}
		return h.SetTLSCertificates(dir)
	})
}

// WithTLSPSK requires TLS with a pre-shared key: file is in psktool's
// format ("user:hexkey" lines) and user picks the line
// (nbd_set_tls_psk_file, nbd_set_tls_username). Needs -tags gnutls.
func WithTLSPSK(file, user string) Option {
	return WithSetup(func(h *Handle) error {
		if err := h.SetTLS(TLSRequire); err != nil {
			return err
		}
		if err := h.SetTLSPSKFile(file); err != nil {
			return err
		}
		return h.SetTLSUsername(user)
	})
}

// WithTLSHostname sets the name the server's certificate must carry
// (and the SNI sent), for example when connecting over a Unix socket or
// to an address the certificate does not name (nbd_set_tls_hostname).
// Needs -tags gnutls.
func WithTLSHostname(name string) Option {
	return WithSetup(func(h *Handle) error { return h.SetTLSHostname(name) })
}
