//go:build libnbd_system

package nbd

// With -tags libnbd_system the package links an installed
// libnbd-compatible shared library instead of compiling ../c/lib.

/*
#cgo CFLAGS: -D_GNU_SOURCE -pthread
#cgo LDFLAGS: -lnbd -pthread
*/
import "C"

const embeddedCore = false
