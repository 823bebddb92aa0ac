package api

// Documentation of the transmission-phase commands, synchronous and
// asynchronous (read, write, flush, trim, cache, zero, block status) and
// of ending the connection.  Facts follow libnbd's manual pages and the
// "Transmission phase" part of the NBD protocol document; the wording is
// this project's own.

// ioChecks says what the library checks before it sends a command.
const ioChecks = `Before anything is sent, the library checks the request against nbd_set_strict_mode(3) (by default every check is on): the server must support the command and any flag given, the range must lie within the export (nbd_get_size(3)), must not be empty, and must be aligned to the server's minimum block size (nbd_get_block_size(3)). A refused request leaves the connection as it was.`

// ioSync is what every synchronous command shares.
const ioSync = `The call sends the request and waits for the server's reply. Several threads may issue commands on the same handle at once: their requests share the connection and the replies are matched to them, in whatever order the server sends them. If the server reports an error, the call returns -1 with the errno the server gave; if the connection fails while the call waits, it returns -1 and the handle is dead.`

// ioAsync is what every asynchronous command shares.
const ioAsync = `The call queues the request and returns its cookie at once, without waiting for the reply. The program then drives the connection with nbd_poll(3), or with its own event loop (nbd_aio_get_fd(3), nbd_aio_get_direction(3), nbd_aio_notify_read(3), nbd_aio_notify_write(3)). This library sends a request at once when nothing else is in flight; otherwise requests are gathered and sent together the next time the event loop runs (nbd_poll(3), nbd_aio_get_direction(3) or a notify call), so that a burst of requests costs one system call. No request waits for another request's reply: nbd_poll(3) sends what is queued before it sleeps, a request issued while another thread polls goes at once, and a synchronous call or a disconnect sends everything at once.

When the reply has arrived (or the connection has failed), the command completes: the completion callback, if given, runs with *error set to 0 or to the command's errno. If the callback returns 1, the command is retired at once; otherwise it waits to be retired by nbd_aio_command_completed(3), which also reports its result. The .free functions of the callbacks run when the command retires, or in nbd_close(3). nbd_aio_in_flight(3) counts the commands not yet completed.`

// ioErrs are the errors every command may report.
var ioErrs = []Errno{
	{"EINVAL", "The request was refused by nbd_set_strict_mode(3): the server does not support the command or a flag given, the range goes past the end of the export or is not aligned to the minimum block size, or its length is 0. Also: the server replied with EINVAL, or nbd_aio_disconnect(3) was already called."},
	{"EIO", "The server reported an I/O error."},
	{"ENOTCONN", "The connection ended before the reply came: the server closed it (the handle is then dead), or nbd_shutdown(3) with LIBNBD_SHUTDOWN_ABANDON_PENDING dropped the request."},
	{"EPROTO", "The server broke the protocol; the handle is dead."},
}

// ioErrsWith adds errors before the common ones.
func ioErrsWith(more ...Errno) []Errno { return append(more, ioErrs...) }

var (
	errRange   = Errno{"ERANGE", "count is larger than 64 MiB, or than the server's maximum block size (nbd_get_block_size(3)) when that is smaller."}
	errWriteRO = Errno{"EPERM", "The export is read-only (nbd_is_read_only(3)); or the server refused the write."}
	errNoSpace = Errno{"ENOSPC", "The write reaches past the end of the export; or the server is out of space."}
	errLen32   = Errno{"EINVAL", "count does not fit in 32 bits and extended headers were not negotiated (nbd_get_extended_headers_negotiated(3))."}
	errBSNone  = Errno{"ENOTSUP", "Structured replies were not negotiated, or no meta context was agreed (nbd_can_meta_context(3)), so the server cannot report block status."}
	errFast    = Errno{"ENOTSUP", "With LIBNBD_CMD_FLAG_FAST_ZERO: the server cannot zero the range faster than by writing zeroes."}
)

const chunkText = `The callback runs once for each piece of the reply, in the order the server sends them, with: subbuf, a pointer into buf where that piece lies; count, its length in bytes; offset, its offset in the export; and status, LIBNBD_READ_DATA for data (already in buf) or LIBNBD_READ_HOLE for a hole (buf holds zeroes there). When structured replies were not negotiated, it runs once, for the whole buffer, as data. This library never passes LIBNBD_READ_ERROR: an error from the server for part of the range fails the whole command. *error holds the command's error so far (0 if none); the callback returns 0 to go on, or -1 to fail the command, with the errno it stores in *error (EPROTO if it leaves 0). The rest of the reply is still received. subbuf is only valid during the callback.`

// len64 is the count rule of the commands without a payload.
const len64 = `count must fit in 32 bits, unless extended headers were negotiated (nbd_get_extended_headers_negotiated(3)): then it is a 64-bit effect length, and one request may cover more than 4 GiB (the server may still refuse a length it finds too large, with an error for that command).`

const extentText = `The callback runs once for each meta context the server reports on (see nbd_can_meta_context(3)), with: metacontext, the context's name; offset, the offset of the request; entries, an array of nr_entries 32-bit numbers forming nr_entries/2 pairs, each the length in bytes of an extent and its flags, the extents following each other from offset; and *error, the command's error so far. For LIBNBD_CONTEXT_BASE_ALLOCATION the flags are LIBNBD_STATE_HOLE (not allocated) and LIBNBD_STATE_ZERO (reads as zeroes). The extents may cover less than count bytes (ask again from where they end), and the last may reach beyond the request. The strings and the array are only valid during the callback. The callback returns 0, or -1 to fail the command with the errno it stores in *error.

With extended headers the server's extents are 64-bit (BLOCK_STATUS_EXT). This callback gets them as libnbd documents for it: an extent of 4 GiB or more is cut to 4 GiB minus the minimum block size (at least 512 bytes, so the cut keeps alignment) and the extents after it are dropped, and a status value beyond 32 bits is passed truncated with *error set to EOVERFLOW, which also fails the command. nbd_block_status_64(3) gets them whole.

This library checks what the server sends: extents of length 0, extents starting past the request, more than one extent (or one longer than count) for LIBNBD_CMD_FLAG_REQ_ONE, a context that was not agreed, or the same context twice, are protocol violations (EPROTO, the handle dies); so is a 32-bit status chunk once extended headers are in use.`

func init() {
	addDocs(map[string]Doc{
		"pread": {
			Short: "read from the NBD server",
			Long: `Read count bytes at offset of the export into buf, and wait until they are there. buf is only used during the call.

When structured replies were negotiated, the server may answer in several pieces, and send holes without data: the library puts every piece in its place and fills holes with zeroes, so the whole buffer holds the data when the call succeeds. If the call fails, buf is set to zeroes (unless nbd_set_pread_initialize(3) was turned off). To see the pieces as they arrive, use nbd_pread_structured(3).

No command flag applies to this call (LIBNBD_CMD_FLAG_DF only makes sense with nbd_pread_structured(3)). A read of more than 64 MiB, or more than the server's maximum block size, fails with ERANGE; split larger reads.

` + ioChecks + `

` + ioSync,
			Errors:  ioErrsWith(errRange),
			SeeAlso: []string{"aio_pread", "pread_structured", "pwrite", "get_size", "set_pread_initialize", "set_strict_mode"},
		},
		"pread_structured": {
			Short: "read from the NBD server",
			Long: `Read count bytes at offset of the export into buf, as nbd_pread(3) does, and in addition call chunk_callback for each piece of the server's reply as it arrives, so that the program can tell data from holes.

` + chunkText + `

LIBNBD_CMD_FLAG_DF asks the server to send the data in a single piece (nbd_can_df(3) says whether it supports that); this library treats a reply split despite the flag as a protocol violation.

` + ioChecks + `

` + ioSync,
			Errors:  ioErrsWith(errRange),
			SeeAlso: []string{"aio_pread_structured", "pread", "can_df", "get_structured_replies_negotiated", "block_status"},
		},
		"pwrite": {
			Short: "write to the NBD server",
			Long: `Write the count bytes of buf to the export at offset, and wait for the server to confirm. buf is only read during the call.

With LIBNBD_CMD_FLAG_FUA (if nbd_can_fua(3)), the server has the data on stable storage before it replies; otherwise it may keep it in a cache until a flush (nbd_flush(3)). A write of more than 64 MiB, or more than the server's maximum block size, fails with ERANGE.

` + ioChecks + ` A write to a read-only export fails with EPERM, and one reaching past the end with ENOSPC.

` + ioSync,
			Errors:  ioErrsWith(errRange, errWriteRO, errNoSpace),
			SeeAlso: []string{"aio_pwrite", "pread", "flush", "can_fua", "is_read_only", "zero"},
		},
		"flush": {
			Short: "send flush command to the NBD server",
			Long: `Ask the server to commit every write it has completed so far to stable storage (NBD_CMD_FLUSH), and wait until it has. The server must support it (nbd_can_flush(3)). No command flag applies.

` + ioSync,
			Errors:  ioErrs,
			SeeAlso: []string{"aio_flush", "can_flush", "pwrite", "can_multi_conn"},
		},
		"trim": {
			Short: "send trim command to the NBD server",
			Long: `Tell the server that the count bytes at offset are no longer needed (NBD_CMD_TRIM, often called discard), so that it may free the storage. What the range reads afterwards is up to the server: it may be zeroes, or the old data. Use nbd_zero(3) to get zeroes. The server must support it (nbd_can_trim(3)). LIBNBD_CMD_FLAG_FUA makes the result stable before the reply.

` + len64 + ` ` + ioChecks + ` A trim of a read-only export fails with EPERM.

` + ioSync,
			Errors:  ioErrsWith(errLen32, errWriteRO),
			SeeAlso: []string{"aio_trim", "can_trim", "zero"},
		},
		"cache": {
			Short: "send cache (prefetch) command to the NBD server",
			Long: `Ask the server to load the count bytes at offset into its cache (NBD_CMD_CACHE), so that later reads of them are fast. No data is returned. The server must support it (nbd_can_cache(3)). No command flag applies.

` + len64 + ` ` + ioChecks + `

` + ioSync,
			Errors:  ioErrsWith(errLen32),
			SeeAlso: []string{"aio_cache", "can_cache", "pread"},
		},
		"zero": {
			Short: "send write zeroes command to the NBD server",
			Long: `Make the count bytes at offset read as zeroes (NBD_CMD_WRITE_ZEROES), without sending them, and wait for the server to confirm. The server must support it (nbd_can_zero(3)). The flags:

- LIBNBD_CMD_FLAG_FUA: the zeroes are on stable storage before the reply.
- LIBNBD_CMD_FLAG_NO_HOLE: keep the range allocated instead of punching a hole.
- LIBNBD_CMD_FLAG_FAST_ZERO (if nbd_can_fast_zero(3)): fail with ENOTSUP, without changing anything, unless the server can zero faster than by writing zeroes; useful to decide whether to skip zeroing a destination before copying to it.

` + len64 + ` ` + ioChecks + ` Zeroing a read-only export fails with EPERM.

` + ioSync,
			Errors:  ioErrsWith(errLen32, errWriteRO, errFast),
			SeeAlso: []string{"aio_zero", "can_zero", "can_fast_zero", "trim", "pwrite"},
		},
		"block_status": {
			Short: "send block status command to the NBD server",
			Long: `Ask the server for the status of the blocks from offset on, for about count bytes (NBD_CMD_BLOCK_STATUS), and wait for the answer, which extent_callback receives. What the status means depends on the meta contexts agreed during the handshake: ask for them with nbd_add_meta_context(3) before connecting, usually LIBNBD_CONTEXT_BASE_ALLOCATION, and check with nbd_can_meta_context(3). Structured replies are required.

` + extentText + `

With LIBNBD_CMD_FLAG_REQ_ONE, the server reports a single extent for each context. ` + len64 + ` ` + ioChecks + `

` + ioSync,
			Errors:  ioErrsWith(errBSNone, errLen32),
			SeeAlso: []string{"aio_block_status", "add_meta_context", "can_meta_context", "pread_structured", "block_status_64"},
		},
		"block_status_64": {
			Short: "send block status command, with 64-bit callback",
			Long: `Like nbd_block_status(3), but the callback receives an array of nr_entries nbd_extent structs, each with a 64-bit length and 64-bit flags, so that extents of 4 GiB and more, which servers with extended headers may report, arrive whole. The array is only valid during the callback.

count is a 64-bit effect length when extended headers were negotiated (nbd_get_extended_headers_negotiated(3)); otherwise it must fit in 32 bits.

This call comes from libnbd 1.18. Without extended headers the server's extents are 32-bit; they reach the callback widened to nbd_extent, so a program written for 64-bit extents works with any server.`,
			Errors:  ioErrsWith(errBSNone),
			SeeAlso: []string{"block_status", "aio_block_status_64", "block_status_filter", "get_extended_headers_negotiated"},
		},
		"block_status_filter": {
			Short: "send filtered block status command, with 64-bit callback",
			Long: `Like nbd_block_status_64(3), but the server reports only on the meta contexts named in contexts (a NULL-terminated list of names, copied during the call), which must all have been agreed (nbd_can_meta_context(3)); a name given twice is sent once. The request carries the list as a payload (the context ids, after the 64-bit effect length), which needs extended headers and a server that accepts it (nbd_can_block_status_payload(3)). A reply for a context that was not asked for is a protocol violation (EPROTO, the handle dies).

LIBNBD_CMD_FLAG_PAYLOAD_LEN may be given or not: the library sets it on the wire either way.

This call comes from libnbd 1.18. Refused calls send nothing, and the callback's .free runs.`,
			Errors: ioErrsWith(
				Errno{"ENOTSUP", "Extended headers were not negotiated, or (with LIBNBD_STRICT_COMMANDS) the server does not accept block status payloads."},
				Errno{"EINVAL", "contexts is empty, or names a context that was not agreed."},
				errBSNone),
			SeeAlso: []string{"block_status_64", "aio_block_status_filter", "can_block_status_payload", "can_meta_context"},
		},
		"aio_pread": {
			Short: "read from the NBD server",
			Long: `Start reading count bytes at offset of the export into buf, as nbd_pread(3) describes, without waiting. buf must stay valid, and must not be read, until the command has completed; then it holds the data, or zeroes if the command failed (unless nbd_set_pread_initialize(3) was turned off).

` + ioChecks + `

` + ioAsync,
			Errors:  ioErrsWith(errRange),
			SeeAlso: []string{"pread", "aio_pread_structured", "aio_command_completed", "poll", "aio_in_flight"},
		},
		"aio_pread_structured": {
			Short: "read from the NBD server",
			Long: `Start reading count bytes at offset of the export into buf, with chunk_callback called for each piece of the reply, as nbd_pread_structured(3) describes, without waiting. buf must stay valid, and must not be read, until the command has completed.

` + chunkText + `

` + ioChecks + `

` + ioAsync,
			Errors:  ioErrsWith(errRange),
			SeeAlso: []string{"pread_structured", "aio_pread", "aio_command_completed", "poll"},
		},
		"aio_pwrite": {
			Short: "write to the NBD server",
			Long: `Start writing the count bytes of buf to the export at offset, as nbd_pwrite(3) describes, without waiting. buf must stay valid and unchanged until the command has completed, since the library may still be sending it.

` + ioChecks + `

` + ioAsync,
			Errors:  ioErrsWith(errRange, errWriteRO, errNoSpace),
			SeeAlso: []string{"pwrite", "aio_flush", "aio_command_completed", "poll"},
		},
		"aio_flush": {
			Short: "send flush command to the NBD server",
			Long: `Start a flush, as nbd_flush(3) describes, without waiting. The server commits the writes it completed before it received the flush; to cover particular writes, issue the flush after they have completed.

` + ioAsync,
			Errors:  ioErrs,
			SeeAlso: []string{"flush", "aio_pwrite", "aio_command_completed", "poll"},
		},
		"aio_trim": {
			Short: "send trim command to the NBD server",
			Long: `Start a trim of the count bytes at offset, as nbd_trim(3) describes, without waiting.

` + ioChecks + `

` + ioAsync,
			Errors:  ioErrsWith(errLen32, errWriteRO),
			SeeAlso: []string{"trim", "aio_zero", "aio_command_completed", "poll"},
		},
		"aio_cache": {
			Short: "send cache (prefetch) command to the NBD server",
			Long: `Start a cache (prefetch) request for the count bytes at offset, as nbd_cache(3) describes, without waiting.

` + ioChecks + `

` + ioAsync,
			Errors:  ioErrsWith(errLen32),
			SeeAlso: []string{"cache", "aio_command_completed", "poll"},
		},
		"aio_zero": {
			Short: "send write zeroes command to the NBD server",
			Long: `Start zeroing the count bytes at offset, as nbd_zero(3) describes (with the same flags), without waiting.

` + ioChecks + `

` + ioAsync,
			Errors:  ioErrsWith(errLen32, errWriteRO, errFast),
			SeeAlso: []string{"zero", "aio_trim", "aio_command_completed", "poll"},
		},
		"aio_block_status": {
			Short: "send block status command to the NBD server",
			Long: `Start a block status request for about count bytes from offset, as nbd_block_status(3) describes, without waiting. extent_callback runs as the answers arrive, before the command completes.

` + extentText + `

` + ioChecks + `

` + ioAsync,
			Errors:  ioErrsWith(errBSNone, errLen32),
			SeeAlso: []string{"block_status", "can_meta_context", "aio_command_completed", "poll"},
		},
		"aio_block_status_64": {
			Short: "send block status command, with 64-bit callback",
			Long: `Start a block status request as nbd_block_status_64(3) describes, without waiting: the callback receives 64-bit extents.

` + ioAsync + `

This call comes from libnbd 1.18; see nbd_block_status_64(3) for how extents arrive without extended headers.`,
			Errors:  ioErrsWith(errBSNone),
			SeeAlso: []string{"block_status_64", "aio_block_status", "aio_command_completed"},
		},
		"aio_block_status_filter": {
			Short: "send filtered block status command to the NBD server",
			Long: `Start a filtered block status request as nbd_block_status_filter(3) describes, without waiting: the server reports only on the meta contexts named in contexts.

` + ioAsync + `

This call comes from libnbd 1.18; it is refused as nbd_block_status_filter(3) describes, before anything is sent.`,
			Errors: ioErrsWith(
				Errno{"ENOTSUP", "Extended headers were not negotiated, or (with LIBNBD_STRICT_COMMANDS) the server does not accept block status payloads."},
				Errno{"EINVAL", "contexts is empty, or names a context that was not agreed."},
				errBSNone),
			SeeAlso: []string{"block_status_filter", "aio_block_status_64", "can_block_status_payload"},
		},
		"shutdown": {
			Short: "disconnect from the NBD server",
			Long: `End the connection cleanly, and wait until it has ended. When connected, the library sends the disconnect request (NBD_CMD_DISC) after the requests already queued, waits for the replies to the requests in flight, then waits for the server to close the connection; a server that has not closed it two seconds after the last reply is not waited for any longer, and the library closes the socket itself. While negotiating, in option mode, it ends the session with NBD_OPT_ABORT instead, as nbd_opt_abort(3) does. Either way the handle is then closed (nbd_aio_is_closed(3)); it must still be released with nbd_close(3).

With LIBNBD_SHUTDOWN_ABANDON_PENDING in flags, requests that were queued but not yet sent are dropped and complete with ENOTCONN; requests already sent still get their replies. Without it (flags 0), every request issued before the call is sent and answered first.

If nbd_aio_disconnect(3) was already called, the call only waits for the end of the connection. The flags are ignored while negotiating.`,
			Errors: []Errno{
				{"EPROTO", "The server broke the protocol while the library waited (other errors of the connection are possible); the handle is dead."},
				{"ECONNRESET", "The server closed the connection in the middle of a reply; the handle is dead."},
			},
			SeeAlso: []string{"aio_disconnect", "close", "opt_abort", "aio_is_closed"},
		},
		"aio_disconnect": {
			Short: "disconnect from the NBD server",
			Long: `Queue the disconnect request (NBD_CMD_DISC) and return at once. It is sent after the requests already queued; requests in flight still get their replies as the program drives the connection, and the handle becomes closed (nbd_aio_is_closed(3)) when the server then closes the connection. From this call on, no new command may be issued: they fail with EINVAL, and so does a second call of nbd_aio_disconnect.

With LIBNBD_SHUTDOWN_ABANDON_PENDING in flags, requests that were queued but not yet sent are dropped and complete with ENOTCONN (their completion callbacks run). nbd_shutdown(3) is the synchronous form; it may still be called afterwards to wait for the end of the connection.`,
			Errors:  []Errno{{"EINVAL", "nbd_aio_disconnect(3) or nbd_shutdown(3) was already called on this connection."}},
			SeeAlso: []string{"shutdown", "aio_is_closed", "aio_in_flight", "poll"},
		},
	})
}
