//go:build !libnbd_system

package nbd

// The default build compiles the C core into the program: the package
// ../c/lib holds the core's C sources and cgo compiles them there, so a
// fresh checkout (or a vendor tree) needs only a C compiler.

/*
#cgo CFLAGS: -I${SRCDIR}/../c/include -D_GNU_SOURCE -pthread -DGONBD_EMBEDDED_CORE
#cgo LDFLAGS: -pthread
*/
import "C"

import (
	_ "github.com/nbd-cleanroom/libnbd/c/include" // libnbd.h, for vendoring
	_ "github.com/nbd-cleanroom/libnbd/c/lib"     // the C core
)

// embeddedCore reports whether the C core is compiled into the package.
const embeddedCore = true
