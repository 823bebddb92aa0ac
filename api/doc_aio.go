package api

// Documentation of the event loop (nbd_poll, nbd_poll2, the descriptor,
// direction and notify calls), the state predicates, command retirement,
// and the calls that describe the library itself.  Facts follow libnbd's
// manual pages; the wording is this project's own.

// predicate builds the page of an nbd_aio_is_* call.
func predicate(short, meaning string, also ...string) Doc {
	return Doc{
		Short: short,
		Long: meaning + `

The call takes no lock and cannot fail, so an event loop may call it at any time; the answer may be out of date by the time it is used if another thread is driving the handle. The handle's states are described in libnbd(3); nbd_connection_state(3) describes the current one in words.`,
		SeeAlso: append(also, "connection_state"),
	}
}

func init() {
	addDocs(map[string]Doc{
		"poll": {
			Short: "poll the handle once",
			Long: `Wait for the handle's socket to become ready for the I/O the handle needs (nbd_aio_get_direction(3)), for at most timeout milliseconds (-1 waits without a time limit, 0 does not wait at all), then do all the I/O that can be done without blocking: send queued requests, receive replies, advance the connection or the handshake, and run the callbacks of the commands that complete. It is the simplest way to drive asynchronous calls:

  while (nbd_aio_in_flight (h) > 0)
    if (nbd_poll (h, -1) == -1)
      break;

The call returns 1 if it handled some event, and 0 if the time ran out or a signal interrupted the wait (EINTR is not an error here). The handle's lock is released during the wait, so other threads can issue commands meanwhile.

It fails with EINVAL when the handle has nothing to wait for: before connecting, while negotiating with no option in flight, and once the connection is closed or dead. If the connection fails during the call, it returns -1 with the errno of the failure, and the handle is dead.`,
			Errors: []Errno{
				{"EINVAL", "The handle has nothing to wait for (created, negotiating with no option in flight, closed or dead)."},
				{"EPROTO", "The server broke the protocol; the handle is dead (other errors of the connection are possible)."},
			},
			SeeAlso: []string{"poll2", "aio_get_fd", "aio_get_direction", "aio_notify_read", "aio_notify_write", "aio_in_flight"},
		},
		"poll2": {
			Short: "poll the handle once, with fd",
			Long: `Like nbd_poll(3), but also wait for the file descriptor fd to become readable (POLLIN), so that a program can be woken by something other than the connection, such as an eventfd(2) or a pipe another thread writes to. fd -1 means no extra descriptor. The descriptor stays the caller's: the library only polls it, and does not read from it, so the caller must drain it, or the next call returns at once.

The call returns 1 when anything happened, the extra descriptor becoming readable included, and 0 if the time ran out. The errors are those of nbd_poll(3).`,
			Errors: []Errno{
				{"EINVAL", "The handle has nothing to wait for (created, negotiating with no option in flight, closed or dead)."},
				{"EPROTO", "The server broke the protocol; the handle is dead (other errors of the connection are possible)."},
			},
			SeeAlso: []string{"poll", "aio_get_fd", "aio_get_direction"},
		},
		"aio_get_fd": {
			Short: "return file descriptor associated with this connection",
			Long: `Return the file descriptor of the handle's socket, for a program that runs its own event loop: wait on it with poll(2), epoll(7) or the like, for the events nbd_aio_get_direction(3) asks for, then call nbd_aio_notify_read(3) or nbd_aio_notify_write(3).

The descriptor belongs to the library: do not close it, and do not read from or write to it. It exists from the moment a connect call has started until the connection is closed or dead, when the library closes it (remove it from the event loop then). While nbd_aio_connect_tcp(3) tries several addresses, each attempt has a new socket, so ask for the descriptor again on each turn of the loop.`,
			Errors:  []Errno{{"EINVAL", "The handle has no socket: it has not started connecting, or the connection is closed or dead."}},
			SeeAlso: []string{"aio_get_direction", "aio_notify_read", "aio_notify_write", "poll"},
		},
		"aio_get_direction": {
			Short: "return the read or write direction",
			Long: `Return what the handle waits for on its socket, a bitmask of LIBNBD_AIO_DIRECTION_READ (wait until it is readable, then call nbd_aio_notify_read(3)) and LIBNBD_AIO_DIRECTION_WRITE (wait until it is writable, then call nbd_aio_notify_write(3)); LIBNBD_AIO_DIRECTION_BOTH is the two together. 0 means there is nothing to wait for: the handle is not connected (created, closed or dead), or it is negotiating with no option in flight.

When connected the handle always waits for READ, for replies and for the server closing the connection, and also for WRITE while requests wait to be sent. The answer changes as the connection progresses: ask again before each wait.

This library gathers asynchronous requests and sends them together (see nbd_aio_pread(3)); this call is one of the points where the gathered requests are sent, since every event loop asks for the direction before it waits. To do that it briefly takes the handle's lock, which libnbd's version of the call does not. It cannot fail.`,
			SeeAlso: []string{"aio_get_fd", "aio_notify_read", "aio_notify_write", "poll"},
		},
		"aio_notify_read": {
			Short: "notify that the connection is readable",
			Long: `Tell the library that the handle's socket (nbd_aio_get_fd(3)) is readable, or reported POLLHUP or POLLERR, so that it reads what it can without blocking: replies, the server's handshake messages, or the end of the connection, running the callbacks of the commands that complete. While a connect is in progress it checks the result of the connect instead.

Call it only when the event loop saw the socket readable; it never blocks. If the connection fails, it returns -1 with the errno of the failure, and the handle is dead.`,
			Errors: []Errno{
				{"EINVAL", "The handle is not waiting for I/O (no socket, or nothing in progress)."},
				{"EPROTO", "The server broke the protocol; the handle is dead (other errors of the connection are possible)."},
			},
			SeeAlso: []string{"aio_notify_write", "aio_get_fd", "aio_get_direction", "poll"},
		},
		"aio_notify_write": {
			Short: "notify that the connection is writable",
			Long: `Tell the library that the handle's socket (nbd_aio_get_fd(3)) is writable, so that it sends what it can without blocking: queued requests, or handshake messages. While a connect is in progress it checks the result of the connect, and starts the handshake if the connect succeeded.

Call it only when the event loop saw the socket writable; it never blocks. If the connection fails, it returns -1 with the errno of the failure, and the handle is dead.`,
			Errors: []Errno{
				{"EINVAL", "The handle is not waiting for I/O (no socket, or nothing in progress)."},
				{"ECONNREFUSED", "The connect in progress failed (other errors of connect(2) are possible; the handle is dead, or for TCP with every address tried, created again)."},
			},
			SeeAlso: []string{"aio_notify_read", "aio_get_fd", "aio_get_direction", "poll"},
		},
		"aio_is_created": predicate("check if the connection has not started",
			`Return true if the handle is in the created state: nbd_create(3) made it and no connect call has started a connection. A TCP connect whose every address failed puts the handle back in this state. After a failed nbd_connect_socket(3), it tells whether the caller still owns the socket.`,
			"aio_is_connecting", "create"),
		"aio_is_connecting": predicate("check if the connection is connecting or handshaking",
			`Return true if a connect call has started a connection that is not yet ready: the socket is connecting, or the library is running the handshake by itself. In option mode it is also true while an option sent by an nbd_opt_* or nbd_aio_opt_* call is in flight. It turns false when the handle becomes ready (nbd_aio_is_ready(3)), negotiating in option mode (nbd_aio_is_negotiating(3)), closed, or dead (nbd_aio_is_dead(3)). After an nbd_aio_connect_* or nbd_aio_opt_* call, drive the connection until this is false.`,
			"aio_is_ready", "aio_is_negotiating", "aio_connect_vsock"),
		"aio_is_negotiating": predicate("check if connection is ready to send handshake option",
			`Return true if the handle is in option mode (nbd_set_opt_mode(3)) and the handshake has stopped to let the program send options with the nbd_opt_* calls. While such an option is in flight the handle counts as connecting instead (nbd_aio_is_connecting(3)); it is negotiating again once the answer has been processed, unless the option ended negotiation.`,
			"set_opt_mode", "opt_go", "aio_is_connecting"),
		"aio_is_ready": predicate("check if the connection is in the ready state",
			`Return true if the handle is connected (the transmission phase) and is not in the middle of sending a request or receiving a reply: commands may be issued, and some may be in flight awaiting their replies. See nbd_aio_is_processing(3) for the other half of the connected state.`,
			"aio_is_processing", "aio_is_connecting", "aio_in_flight"),
		"aio_is_processing": predicate("check if the connection is processing a command",
			`Return true if the handle is connected and in the middle of moving a request or a reply: part of a request has been sent, or part of a reply received. Commands may still be issued in this state. Connected handles are either ready (nbd_aio_is_ready(3)) or processing.`,
			"aio_is_ready", "aio_in_flight"),
		"aio_is_dead": predicate("check if the connection is dead",
			`Return true if the connection has failed: a connect or I/O error, the server closing the connection unexpectedly, or a violation of the protocol. Every command that was in flight has failed, the socket is closed, and no call that needs the connection will succeed: close the handle. The call that noticed the failure returned its errno and message.`,
			"aio_is_closed", "close"),
		"aio_is_closed": predicate("check if the connection is closed",
			`Return true if the connection was shut down cleanly: by nbd_shutdown(3), nbd_aio_disconnect(3) (once the server has closed the connection), or nbd_opt_abort(3). The export information calls still answer; no command can be issued. The handle must still be released with nbd_close(3).`,
			"aio_is_dead", "shutdown", "aio_disconnect"),
		"aio_command_completed": {
			Short: "check if the command completed",
			Long: `Check whether the asynchronous command with the given cookie (returned by an nbd_aio_* command call) has completed, and if so retire it. The call returns:

- 0 if the command is still in flight (or queued);
- 1 if it completed successfully; it is now retired;
- -1 if it completed with an error; it is now retired, and nbd_get_errno(3) and nbd_get_error(3) give the command's error. The same happens if the connection failed before the command completed.

Retiring frees what the library kept for the command and runs its callbacks' .free functions; the cookie is then unknown. A command whose completion callback returned 1 was retired by itself and is unknown too. For a cookie it does not know, this library fails with EINVAL (libnbd 1.14 returns 0).

The call only looks: to make progress, drive the connection with nbd_poll(3) or an event loop. nbd_aio_peek_command_completed(3) finds a completed command without knowing its cookie.`,
			Errors: []Errno{
				{"EINVAL", "The handle knows no command with that cookie (it was never issued here, or is already retired)."},
				{"EIO", "The command failed with this error on the server (any errno a command can fail with is possible)."},
			},
			SeeAlso: []string{"aio_peek_command_completed", "aio_in_flight", "aio_pread", "poll"},
		},
		"aio_peek_command_completed": {
			Short:   "check if any command has completed",
			Long:    `Return the cookie of a command that has completed but is not yet retired, without retiring it: pass it to nbd_aio_command_completed(3) for the result. Completed commands are reported in the order they completed. The call returns 0 if no command has completed yet but some are in flight (or queued).`,
			Errors:  []Errno{{"EINVAL", "No command is in flight, queued or waiting to be retired."}},
			SeeAlso: []string{"aio_command_completed", "aio_in_flight"},
		},
		"aio_in_flight": {
			Short: "check how many aio commands are still in flight",
			Long: `Return the number of commands that have been issued but have not completed: those still queued in the library and those sent to the server and awaiting a reply. Completed commands waiting to be retired (nbd_aio_command_completed(3)) are not counted; nor are synchronous calls made by other threads. A disconnect request issued by nbd_aio_disconnect(3) counts while it is queued.

Once the connection is closed or dead every command has completed, so the count is 0.`,
			SeeAlso: []string{"aio_command_completed", "aio_peek_command_completed", "poll"},
		},
		"connection_state": {
			Short: "return string describing the state of the connection",
			Long: `Return a description of the handle's current state, for people: a short state name, a colon, and a sentence, for example "READY: connected and ready for commands". The names are those of the states used in error messages ("invalid state: READY: ..."): START (created), CONNECT.CONNECTING, the handshake states (MAGIC.*, OLDSTYLE.*, NEWSTYLE.*), NEGOTIATING, READY, PROCESSING, CLOSED and DEAD. The exact text is not an interface; test the state with the nbd_aio_is_* calls.

The string is a constant of the library.`,
			SeeAlso: []string{"aio_is_created", "aio_is_connecting", "aio_is_negotiating", "aio_is_ready", "aio_is_processing", "aio_is_closed", "aio_is_dead"},
		},
		"get_package_name": {
			Short:   "return the name of the library",
			Long:    `Return the name of the package, "libnbd". This library answers like libnbd, whose interface it provides, so that programs that print or test the name keep working. The string is a constant; h is not used.`,
			SeeAlso: []string{"get_version"},
		},
		"get_version": {
			Short:   "return the version of the library",
			Long:    `Return the version of libnbd whose interface the library provides, as a string "MAJOR.MINOR.RELEASE": "1.14.2". Programs that check the version at run time compare it with the libnbd release they need; to check for a call at compile time, test its LIBNBD_HAVE_NBD_* macro instead. The string is a constant; h is not used.`,
			SeeAlso: []string{"get_package_name"},
		},
		"supports_tls": {
			Short:   "true if libnbd was compiled with support for TLS",
			Long:    `Return whether the library can use TLS. This library implements TLS with GnuTLS and returns true. Only a build without GnuTLS returns false (for example the Go package compiled without its gnutls build tag); in such a build the TLS settings (nbd_set_tls(3) and the others) are still accepted and stored, but LIBNBD_TLS_ALLOW connects in plaintext, LIBNBD_TLS_REQUIRE and nbds URIs make the connect calls fail with ENOTSUP, and nbd_opt_starttls(3) fails with ENOTSUP.`,
			SeeAlso: []string{"set_tls", "get_tls_negotiated", "supports_uri", "supports_vsock"},
		},
		"supports_vsock": {
			Short:   "true if libnbd was compiled with support for AF_VSOCK",
			Long:    `Return whether the library was built with AF_VSOCK support, needed by nbd_connect_vsock(3), nbd_aio_connect_vsock(3) and nbd+vsock URIs. This library, built for Linux, returns true. The running kernel may still lack AF_VSOCK, which the connect calls report with EAFNOSUPPORT.`,
			SeeAlso: []string{"connect_vsock", "aio_connect_vsock", "supports_tls", "supports_uri"},
		},
		"supports_uri": {
			Short:   "true if libnbd was compiled with support for NBD URIs",
			Long:    `Return whether the library can parse NBD URIs (nbd_connect_uri(3), nbd_get_uri(3), nbd_is_uri(3)). libnbd needs an external library for that and may lack it; this library has its own parser and always returns true.`,
			SeeAlso: []string{"connect_uri", "get_uri", "is_uri", "supports_tls"},
		},
	})
}
