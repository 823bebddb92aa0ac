// Package nbd is a Go client for the Network Block Device protocol,
// built over the project's libnbd-compatible C core.
//
// # Connecting
//
// Dial is the entry point: it creates a Handle, applies options
// (WithMetaContext, WithHandleName, WithSetup for any setting) and
// connects to an NBD URI (nbd://host/export, nbd+unix:///export?socket=
// path, nbd+vsock://cid/export). For other transports create a Handle
// with Create and use a Connect method: ConnectUnix, ConnectTCP,
// ConnectVsock, ConnectAddr (a net.Addr), ConnectCommand (a server
// subprocess on a socket pair), ConnectSystemdSocketActivation, and the
// socket hand-over calls ConnectSocket (*os.File) and ConnectConn
// (net.Conn or any syscall.Conn), which duplicate the descriptor so the
// caller's copy stays the caller's. Every blocking call takes a context;
// the Aio forms return at once and WaitConnected waits.
//
// # TLS
//
// Build with -tags gnutls (GnuTLS's headers needed: Debian
// libgnutls28-dev) and TLS works as in the C library: an nbds URI
// (nbds://host/export, nbds+unix:///export?socket=path) requires it, and
// WithTLSCertificates (X.509: ca-cert.pem, and a client certificate if
// the server checks clients), WithTLSPSK (pre-shared keys, psktool's
// format), WithTLSHostname and WithTLS set it up for any URI; with
// Create, use SetTLS and the other SetTLS* methods before connecting.
// TLSNegotiated reports the result and OptStartTLS starts TLS by hand in
// option mode. A URI's tls-certificates and tls-psk-file parameters name
// local files, which a URI may only do after SetURIAllowLocalFile(true)
// (EPERM otherwise). Without the tag SupportsTLS is false and every TLS
// connection fails with ENOTSUP (a message naming the tag), so that a
// plain build needs no GnuTLS.
//
// # I/O
//
// A Handle is an io.ReaderAt and io.WriterAt (ReadAt, WriteAt: any
// offset and length, split and aligned to the server's block sizes), and
// has context-taking Read, Write, Flush, Trim, Zero, Cache and
// BlockStatus calls with typed flags (FUA, NoHole, DF, ReqOne, FastZero).
// CopyTo and CopyFrom copy a whole export to or from an io.WriterAt /
// io.ReaderAt, skipping zero ranges.
//
// A Handle is safe for concurrent use: requests from many goroutines are
// pipelined on its one connection. Each is issued with the C library's
// non-blocking calls; one waiting goroutine at a time (the holder of a
// leadership token) waits for the socket in the Go runtime poller,
// advances the C state machine and wakes the owners of completed
// requests. No goroutine holds an OS thread while it waits.
//
// A Pool (DialPool) spreads requests over several connections when the
// server advertises multi-conn, behind the same calls; with WithReconnect
// it dials lost connections again and retries the requests they did not
// answer.
//
// # Cancellation and the lifetime of requests
//
// When the context of Read, Write or another request ends first, the
// call returns ctx.Err() at once, but the request is already on its way
// and cannot be taken back: it stays in flight, owned by the handle,
// which receives and discards its reply later. The data go through
// buffers the handle owns, so the caller's slice is never read or
// written after the call returned (a cancelled Write may or may not
// have reached the disk). ReadAt and WriteAt take no context and use the
// caller's slice directly; only Close ends them early.
//
// # Ending a connection
//
// Shutdown sends NBD_CMD_DISC after the requests in flight and waits for
// the server to close; Close releases everything at once and sends no
// disconnect request (the server sees the connection drop). Call
// Shutdown, then Close, for a clean end; Close is always needed.
//
// # Errors
//
// Every error is an *Error carrying the errno (errors.Is(err,
// syscall.ECONNREFUSED) works). errors.Is(err, ErrClosed) reports use
// after Close; errors.Is(err, ErrDisconnected) reports that the
// connection had ended (the server went away, or after Shutdown), with
// the cause in Error.Err.
//
// # Building
//
// By default the C core (the Go package ../c/lib, whose C files cgo
// compiles) is built into the program: only a C compiler is needed, and
// "go mod vendor" copies it. Build with -tags libnbd_system to link an
// installed libnbd instead (-lnbd). -tags gnutls adds TLS to the
// embedded core (see TLS above). Without cgo the package does not build.
package nbd
