//go:build gnutls && !libnbd_system

package nbd

// With the gnutls build tag the embedded C core is compiled with its TLS
// transport and linked with GnuTLS (Debian: libgnutls28-dev), as the C
// library always is. Without the tag the core has no TLS: SupportsTLS
// reports false and TLS connections fail with ENOTSUP, so that a plain
// "go build" needs no GnuTLS headers.

/*
#cgo pkg-config: gnutls
#cgo CFLAGS: -DHAVE_GNUTLS
*/
import "C"
