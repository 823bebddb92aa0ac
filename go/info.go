package nbd

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"runtime"
	"unsafe"
)

func (h *Handle) getInt(op string, which C.int) (int64, error) {
	var r int64
	err := h.s.withC(op, func(c *C.struct_nbd_handle) error {
		var e C.struct_gonbd_err
		v := C.gonbd_get_int(c, which, &e)
		if v == -1 {
			return cerr(op, &e)
		}
		r = int64(v)
		return nil
	})
	runtime.KeepAlive(h)
	return r, err
}

func (h *Handle) getBool(op string, which C.int) (bool, error) {
	v, err := h.getInt(op, which)
	return v != 0, err
}

func (h *Handle) getStr(op string, which C.int) (string, error) {
	var r string
	err := h.s.withC(op, func(c *C.struct_nbd_handle) error {
		var e C.struct_gonbd_err
		p := C.gonbd_get_str(c, which, &e)
		if p == nil {
			return cerr(op, &e)
		}
		r = C.GoString(p)
		C.free(unsafe.Pointer(p))
		return nil
	})
	runtime.KeepAlive(h)
	return r, err
}

func (h *Handle) setStr(op string, which C.int, v string) error {
	cv := C.CString(v)
	defer C.free(unsafe.Pointer(cv))
	err := h.s.withC(op, func(c *C.struct_nbd_handle) error {
		var e C.struct_gonbd_err
		if C.gonbd_set_str(c, which, cv, &e) == -1 {
			return cerr(op, &e)
		}
		return nil
	})
	runtime.KeepAlive(h)
	return err
}

func (h *Handle) setInt(op string, which C.int, v int64) error {
	err := h.s.withC(op, func(c *C.struct_nbd_handle) error {
		var e C.struct_gonbd_err
		if C.gonbd_set_int(c, which, C.int64_t(v), &e) == -1 {
			return cerr(op, &e)
		}
		return nil
	})
	runtime.KeepAlive(h)
	return err
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// SetExportName sets the export to request (before connecting).
func (h *Handle) SetExportName(name string) error {
	return h.setStr("SetExportName", C.GONBD_SET_EXPORT_NAME, name)
}

// ExportName returns the export name the handle requests.
func (h *Handle) ExportName() (string, error) {
	return h.getStr("ExportName", C.GONBD_GET_EXPORT_NAME)
}

// CanonicalExportName returns the export name reported by the server
// (requires SetFullInfo(true) before connecting).
func (h *Handle) CanonicalExportName() (string, error) {
	return h.getStr("CanonicalExportName", C.GONBD_GET_CANONICAL_EXPORT_NAME)
}

// ExportDescription returns the export description sent by the server.
func (h *Handle) ExportDescription() (string, error) {
	return h.getStr("ExportDescription", C.GONBD_GET_EXPORT_DESCRIPTION)
}

// SetHandleName sets the name used in debug messages.
func (h *Handle) SetHandleName(name string) error {
	return h.setStr("SetHandleName", C.GONBD_SET_HANDLE_NAME, name)
}

// HandleName returns the handle's name.
func (h *Handle) HandleName() (string, error) {
	return h.getStr("HandleName", C.GONBD_GET_HANDLE_NAME)
}

// AddMetaContext asks the server for a metadata context during
// negotiation, e.g. "base:allocation" (see BlockStatus).
func (h *Handle) AddMetaContext(name string) error {
	return h.setStr("AddMetaContext", C.GONBD_ADD_META_CONTEXT, name)
}

// SetDebug turns the C library's debug messages (to stderr) on or off.
func (h *Handle) SetDebug(on bool) error {
	return h.setInt("SetDebug", C.GONBD_SET_DEBUG, b2i(on))
}

// Debug reports whether debug messages are on.
func (h *Handle) Debug() (bool, error) { return h.getBool("Debug", C.GONBD_GET_DEBUG) }

// SetRequestStructuredReplies controls whether structured replies are
// requested during negotiation (default true).
func (h *Handle) SetRequestStructuredReplies(on bool) error {
	return h.setInt("SetRequestStructuredReplies", C.GONBD_SET_REQUEST_STRUCTURED_REPLIES, b2i(on))
}

// StructuredRepliesNegotiated reports whether the server agreed to
// structured replies.
func (h *Handle) StructuredRepliesNegotiated() (bool, error) {
	return h.getBool("StructuredRepliesNegotiated", C.GONBD_GET_STRUCTURED_REPLIES_NEGOTIATED)
}

// SetFullInfo asks the server for the canonical name and description.
func (h *Handle) SetFullInfo(on bool) error {
	return h.setInt("SetFullInfo", C.GONBD_SET_FULL_INFO, b2i(on))
}

// SetRequestBlockSize controls whether block size constraints are
// requested from the server.
func (h *Handle) SetRequestBlockSize(on bool) error {
	return h.setInt("SetRequestBlockSize", C.GONBD_SET_REQUEST_BLOCK_SIZE, b2i(on))
}

// SetHandshakeFlags sets the handshake flags (LIBNBD_HANDSHAKE_FLAG_*).
func (h *Handle) SetHandshakeFlags(flags uint32) error {
	return h.setInt("SetHandshakeFlags", C.GONBD_SET_HANDSHAKE_FLAGS, int64(flags))
}

// SetStrictMode sets the strictness flags (LIBNBD_STRICT_*).
func (h *Handle) SetStrictMode(flags uint32) error {
	return h.setInt("SetStrictMode", C.GONBD_SET_STRICT_MODE, int64(flags))
}

// SetPreadInitialize controls whether the C library zeroes read buffers
// before a read (default true).
func (h *Handle) SetPreadInitialize(on bool) error {
	return h.setInt("SetPreadInitialize", C.GONBD_SET_PREAD_INITIALIZE, b2i(on))
}

// SetURIAllowLocalFile allows ?tls-psk-file in URIs.
func (h *Handle) SetURIAllowLocalFile(on bool) error {
	return h.setInt("SetURIAllowLocalFile", C.GONBD_SET_URI_ALLOW_LOCAL_FILE, b2i(on))
}

// TLS modes for SetTLS.
const (
	TLSDisable = 0
	TLSAllow   = 1
	TLSRequire = 2
)

// SetTLS selects the TLS mode (TLSDisable, TLSAllow, TLSRequire).
func (h *Handle) SetTLS(mode int) error {
	return h.setInt("SetTLS", C.GONBD_SET_TLS, int64(mode))
}

// SetTLSCertificates sets the directory holding TLS certificates.
func (h *Handle) SetTLSCertificates(dir string) error {
	return h.setStr("SetTLSCertificates", C.GONBD_SET_TLS_CERTIFICATES, dir)
}

// SetTLSUsername sets the TLS username.
func (h *Handle) SetTLSUsername(user string) error {
	return h.setStr("SetTLSUsername", C.GONBD_SET_TLS_USERNAME, user)
}

// SetTLSPSKFile sets the TLS pre-shared-key file.
func (h *Handle) SetTLSPSKFile(path string) error {
	return h.setStr("SetTLSPSKFile", C.GONBD_SET_TLS_PSK_FILE, path)
}

// TLSNegotiated reports whether the connection uses TLS.
func (h *Handle) TLSNegotiated() (bool, error) {
	return h.getBool("TLSNegotiated", C.GONBD_GET_TLS_NEGOTIATED)
}

// Size returns the export size in bytes.
func (h *Handle) Size() (int64, error) { return h.getInt("Size", C.GONBD_GET_SIZE) }

// IsReadOnly reports whether the export is read-only.
func (h *Handle) IsReadOnly() (bool, error) { return h.getBool("IsReadOnly", C.GONBD_IS_READ_ONLY) }

// CanFlush reports whether the server supports Flush.
func (h *Handle) CanFlush() (bool, error) { return h.getBool("CanFlush", C.GONBD_CAN_FLUSH) }

// CanFUA reports whether the server supports the FUA flag.
func (h *Handle) CanFUA() (bool, error) { return h.getBool("CanFUA", C.GONBD_CAN_FUA) }

// CanTrim reports whether the server supports Trim.
func (h *Handle) CanTrim() (bool, error) { return h.getBool("CanTrim", C.GONBD_CAN_TRIM) }

// CanZero reports whether the server supports Zero.
func (h *Handle) CanZero() (bool, error) { return h.getBool("CanZero", C.GONBD_CAN_ZERO) }

// CanFastZero reports whether the server supports the FastZero flag.
func (h *Handle) CanFastZero() (bool, error) { return h.getBool("CanFastZero", C.GONBD_CAN_FAST_ZERO) }

// CanDF reports whether the server supports the DF flag on reads.
func (h *Handle) CanDF() (bool, error) { return h.getBool("CanDF", C.GONBD_CAN_DF) }

// CanMultiConn reports whether several connections to the export are
// consistent with each other.
func (h *Handle) CanMultiConn() (bool, error) {
	return h.getBool("CanMultiConn", C.GONBD_CAN_MULTI_CONN)
}

// CanCache reports whether the server supports Cache.
func (h *Handle) CanCache() (bool, error) { return h.getBool("CanCache", C.GONBD_CAN_CACHE) }

// IsRotational reports whether the export is backed by rotating media.
func (h *Handle) IsRotational() (bool, error) {
	return h.getBool("IsRotational", C.GONBD_IS_ROTATIONAL)
}

// CanMetaContext reports whether the server agreed to metadata
// context name (see AddMetaContext).
func (h *Handle) CanMetaContext(name string) (bool, error) {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	var r bool
	err := h.s.withC("CanMetaContext", func(c *C.struct_nbd_handle) error {
		var e C.struct_gonbd_err
		v := C.gonbd_can_meta_context(c, cn, &e)
		if v == -1 {
			return cerr("CanMetaContext", &e)
		}
		r = v != 0
		return nil
	})
	runtime.KeepAlive(h)
	return r, err
}

// BlockSizes are the server's block size constraints (0 if unknown).
type BlockSizes struct {
	Minimum, Preferred, Maximum int64
}

// BlockSize returns the server's block size constraints.
func (h *Handle) BlockSize() (BlockSizes, error) {
	var b BlockSizes
	var err error
	if b.Minimum, err = h.getInt("BlockSize", C.GONBD_BLOCK_SIZE_MIN); err != nil {
		return BlockSizes{}, err
	}
	if b.Preferred, err = h.getInt("BlockSize", C.GONBD_BLOCK_SIZE_PREF); err != nil {
		return BlockSizes{}, err
	}
	if b.Maximum, err = h.getInt("BlockSize", C.GONBD_BLOCK_SIZE_MAX); err != nil {
		return BlockSizes{}, err
	}
	return b, nil
}

// Protocol returns the negotiated protocol ("newstyle-fixed", ...).
func (h *Handle) Protocol() (string, error) { return h.getStr("Protocol", C.GONBD_GET_PROTOCOL) }

// PackageVersion returns the C library's version string.
func (h *Handle) PackageVersion() (string, error) {
	return h.getStr("PackageVersion", C.GONBD_GET_PACKAGE_VERSION)
}

// AioIsCreated reports whether the handle has not started connecting.
func (h *Handle) AioIsCreated() bool { return h.state(C.GONBD_AIO_IS_CREATED) }

// AioIsConnecting reports whether the handle is connecting or
// negotiating with the server.
func (h *Handle) AioIsConnecting() bool { return h.state(C.GONBD_AIO_IS_CONNECTING) }

// AioIsReady reports whether the handle is connected and idle.
func (h *Handle) AioIsReady() bool { return h.state(C.GONBD_AIO_IS_READY) }

// AioIsProcessing reports whether commands are in flight.
func (h *Handle) AioIsProcessing() bool { return h.state(C.GONBD_AIO_IS_PROCESSING) }

// AioIsDead reports whether the connection failed.
func (h *Handle) AioIsDead() bool { return h.state(C.GONBD_AIO_IS_DEAD) }

// AioIsClosed reports whether the connection was shut down (or Close
// was called).
func (h *Handle) AioIsClosed() bool { return h.state(C.GONBD_AIO_IS_CLOSED) }

// AioInFlight returns the number of commands in flight.
func (h *Handle) AioInFlight() (int, error) {
	n, err := h.getInt("AioInFlight", C.GONBD_AIO_IN_FLIGHT)
	return int(n), err
}

func (h *Handle) state(which C.int) bool {
	v, err := h.getBool("state", which)
	if err != nil {
		// After Close the handle counts as closed and nothing else.
		return which == C.GONBD_AIO_IS_CLOSED && errors.Is(err, ErrClosed)
	}
	return v
}
