// Package nbd is a Go client for the Network Block Device protocol,
// built over the project's libnbd-compatible C core.
//
// A Handle is one connection to one NBD export. Create one with Create,
// connect it with one of the Connect methods, then use ReadAt/WriteAt
// (io.ReaderAt/io.WriterAt) or the context-taking Read, Write, Flush,
// Trim, Zero, Cache and BlockStatus calls. Close releases it.
//
// A Handle is safe for concurrent use: requests issued by many goroutines
// are pipelined on the handle's single connection. Each request is issued
// with the C library's non-blocking aio calls; one of the goroutines that
// wait for replies at a time (the holder of a leadership token) waits for
// the socket with the Go runtime poller, advances the C state machine and
// wakes the owners of completed requests. No goroutine holds an OS thread
// while it waits.
//
// Every method returns error values of type *Error, whose Unwrap gives
// the syscall.Errno, so errors.Is(err, syscall.ECONNREFUSED) works.
//
// Building: by default the C core in ../c/lib is compiled into the
// package by cgo (only a C compiler is needed). Build with
// -tags libnbd_system to link an installed libnbd instead (-lnbd).
package nbd
