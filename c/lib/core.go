//go:build cgo

// Package lib compiles the C core (the .c files in this directory) into
// Go programs. It has no Go API: the Go package
// github.com/nbd-cleanroom/libnbd/go imports it for that side effect.
// Being a Go package is also what makes "go mod vendor" copy these
// sources, and the header in ../include, into a vendor tree.
//
// The C library's own build (the Makefile) ignores this file.
package lib

/*
#cgo CFLAGS: -I${SRCDIR}/../include -I${SRCDIR} -D_GNU_SOURCE -pthread -fvisibility=hidden
#cgo LDFLAGS: -pthread
*/
import "C"

import _ "github.com/nbd-cleanroom/libnbd/c/include" // libnbd.h, for vendoring
