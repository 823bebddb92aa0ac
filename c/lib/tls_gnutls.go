//go:build cgo && gnutls

package lib

// With the gnutls build tag the C core is compiled for Go with its TLS
// transport (tls.c with HAVE_GNUTLS) and linked with GnuTLS (Debian:
// libgnutls28-dev), as the C library always is. Without the tag the core
// has no TLS: nbd_supports_tls is false and TLS connections fail with
// ENOTSUP, so that a plain "go build" needs no GnuTLS headers.

/*
#cgo pkg-config: gnutls
#cgo CFLAGS: -DHAVE_GNUTLS
*/
import "C"
