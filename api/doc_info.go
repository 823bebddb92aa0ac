package api

// Documentation of what the server told the client: the export's size,
// flags and block sizes, names, and what was negotiated.  Facts follow
// libnbd's manual pages and the "Transmission flags" and "Option types"
// parts of the NBD protocol document; the wording is this project's own.

// infoWhen is the paragraph every export information call shares.
const infoWhen = `The information comes from the server during the handshake: with the export's size and transmission flags (NBD_OPT_GO, NBD_OPT_INFO, NBD_OPT_EXPORT_NAME, or the oldstyle greeting). It is available once the handle is connected, and stays available after the connection is shut down. In option mode (nbd_set_opt_mode(3)) it is available while negotiating only after a successful nbd_opt_info(3), and then describes the export that call asked about.`

// infoNone is the error when the server has not sent the information yet.
var infoNone = Errno{"EINVAL", "The handle is negotiating and the server has not described an export yet (call nbd_opt_info(3) first)."}

// flagDoc builds the page of a can_*/is_* call from what the flag means.
func flagDoc(meaning string, also ...string) Doc {
	return Doc{
		Long:    meaning + "\n\n" + infoWhen,
		Errors:  []Errno{infoNone},
		SeeAlso: append(also, "get_size", "set_strict_mode"),
	}
}

func withShort(d Doc, short string) Doc { d.Short = short; return d }

func init() {
	addDocs(map[string]Doc{
		"get_size": {
			Short: "return the export size",
			Long: `Return the size of the export in bytes. Reads and writes must stay within it (nbd_set_strict_mode(3) refuses those that do not, with LIBNBD_STRICT_BOUNDS). The size is what the server announced; this library refuses, as a protocol violation (EPROTO, the handle dies), a size that does not fit in a signed 64-bit number.

` + infoWhen,
			Errors:  []Errno{infoNone},
			SeeAlso: []string{"get_block_size", "is_read_only", "opt_info", "pread"},
		},
		"get_block_size": {
			Short: "return a specific server block size constraint",
			Long: `Return one of the block size constraints the server announced, in bytes, chosen by size_type:

- LIBNBD_SIZE_MINIMUM: the smallest unit the server can handle without a read-modify-write cycle; requests should be aligned to it (LIBNBD_STRICT_ALIGN of nbd_set_strict_mode(3) refuses those that are not). A power of two between 1 and 65536.
- LIBNBD_SIZE_PREFERRED: the size and alignment that give the best performance; a power of two of at least 512, and at least the minimum.
- LIBNBD_SIZE_MAXIMUM: the largest payload of a read or write the server accepts; 0xffffffff means no limit other than the protocol's.
- LIBNBD_SIZE_PAYLOAD (libnbd 1.22): not the server's figure but this library's: the largest read or write payload it sends on this connection, beyond which nbd_pread(3) and nbd_pwrite(3) fail with ERANGE before sending. It is the server's maximum when that is below 64 MiB, else 64 MiB, so it is never 0.

The call returns 0 when the server did not announce constraints. Servers only announce them in reply to NBD_OPT_GO or NBD_OPT_INFO, and many only when asked (nbd_set_request_block_size(3), on by default). This library checks the announced values against the protocol's rules (a power-of-two minimum of at most 64 KiB, a preferred size of at least 512, a maximum that is a multiple of the minimum); values that break them are a protocol violation (EPROTO, the handle dies).

` + infoWhen,
			Errors:  []Errno{infoNone},
			SeeAlso: []string{"set_request_block_size", "get_size", "set_strict_mode", "opt_info"},
		},
		"get_protocol": {
			Short: "return the NBD protocol variant",
			Long: `Return which handshake the server used: "oldstyle" (the original handshake, with a single export and no options), "newstyle" (options, but only the export name) or "newstyle-fixed" (the current handshake, with the full set of options: structured replies, NBD_OPT_GO, listing, option mode). The string is a constant of the library.

The protocol is known once the server's greeting has been read, so it is available while negotiating as well as when connected or shut down.`,
			Errors:  []Errno{{"ENOTCONN", "The handshake has not yet determined the protocol."}},
			SeeAlso: []string{"set_handshake_flags", "get_structured_replies_negotiated", "set_opt_mode"},
		},
		"get_canonical_export_name": {
			Short: "return the canonical export name, if the server has one",
			Long: `Return the export's canonical name as the server reported it (NBD_INFO_NAME). It may differ from the name the client asked for (nbd_get_export_name(3)), especially when the client asked for the default export "". Servers often report it only when asked, which nbd_set_full_info(3) does. The caller must free the string.

In this library, when the server did not report a name, the call fails with ENOTSUP; the requested name is then the only name known.

` + infoWhen,
			Errors: []Errno{
				{"ENOTSUP", "The server did not report a canonical name (see nbd_set_full_info(3))."},
				infoNone,
				{"ENOMEM", "Memory ran out while copying the name."},
			},
			SeeAlso: []string{"set_full_info", "get_export_name", "get_export_description", "opt_info"},
		},
		"get_export_description": {
			Short: "return the export description",
			Long: `Return the description of the export that the server reported (NBD_INFO_DESCRIPTION), a free-form text meant for people. Servers often send it only when asked, which nbd_set_full_info(3) does. The caller must free the string.

When the server did not report a description, the call fails with ENOTSUP.

` + infoWhen,
			Errors: []Errno{
				{"ENOTSUP", "The server did not report a description (see nbd_set_full_info(3))."},
				infoNone,
				{"ENOMEM", "Memory ran out while copying the description."},
			},
			SeeAlso: []string{"set_full_info", "get_canonical_export_name", "opt_list"},
		},
		"get_tls_negotiated": {
			Short: "find out if TLS was negotiated on a connection",
			Long: `Return whether the connection uses TLS: true once the server has accepted NBD_OPT_STARTTLS and the TLS handshake has completed, false before that and on a connection that never switched to TLS. This matters with LIBNBD_TLS_ALLOW (nbd_set_tls(3)), where the connection goes on in plaintext when the server refuses TLS; with LIBNBD_TLS_REQUIRE, a connection without TLS fails instead, so a connected handle always answers true. In option mode, nbd_opt_starttls(3) can turn it true.

In a build without GnuTLS (nbd_supports_tls(3) false) the answer is always false.`,
			SeeAlso: []string{"set_tls", "get_tls", "opt_starttls", "supports_tls"},
		},
		"get_structured_replies_negotiated": {
			Short: "see if structured replies are in use",
			Long: `Return whether the server agreed to structured replies (see nbd_set_request_structured_replies(3)). Structured replies are needed for block status (nbd_block_status(3)), the LIBNBD_CMD_FLAG_DF flag and listing meta contexts; with them, a read may be answered in several chunks and holes are sent without data.

The answer is known once the option has been negotiated, so it is available while negotiating as well as when connected or shut down. It is false with servers using the oldstyle or plain newstyle handshake.`,
			SeeAlso: []string{"set_request_structured_replies", "get_request_structured_replies", "can_df", "block_status"},
		},
		"get_extended_headers_negotiated": {
			Short: "see if extended headers are in use",
			Long: `Return whether the server agreed to extended headers (see nbd_set_request_extended_headers(3)), with which requests and replies carry 64-bit lengths, so that block status can report extents of 4 GiB and more, and zero, trim, cache and block status requests can cover more than 4 GiB at once. Reads and writes keep their limits (nbd_get_block_size(3)). The answer is sticky: once the server agreed it stays true, even if a repeated nbd_opt_extended_headers(3) is refused.

When it is true, prefer nbd_block_status_64(3) to nbd_block_status(3): the 32-bit call cuts an extent of 4 GiB or more below 4 GiB and drops the extents after it, and fails a status value beyond 32 bits with EOVERFLOW (base:allocation never has one).

This call comes from libnbd 1.18.`,
			SeeAlso: []string{"set_request_extended_headers", "opt_extended_headers", "block_status_64"},
		},
		"is_read_only": withShort(flagDoc(`Return whether the server says the export is read-only (NBD_FLAG_READ_ONLY). Writes, trims and zeroing are then refused by the library with EPERM, unless LIBNBD_STRICT_COMMANDS is off (nbd_set_strict_mode(3)), in which case the server refuses them.`,
			"pwrite", "trim", "zero"), "is the NBD export read-only?"),
		"can_flush": withShort(flagDoc(`Return whether the server supports the flush command (NBD_FLAG_SEND_FLUSH), nbd_flush(3) and nbd_aio_flush(3). Without it, the library refuses flushes with EINVAL (while LIBNBD_STRICT_COMMANDS is on); a server without it is taken to write data to stable storage at once, or not to care.`,
			"flush", "aio_flush", "can_fua"), "does the server support the flush command?"),
		"can_fua": withShort(flagDoc(`Return whether the server supports the force unit access flag (NBD_FLAG_SEND_FUA), LIBNBD_CMD_FLAG_FUA, which makes a write, trim or zero reach stable storage before the server replies. Without it, the library refuses the flag with EINVAL (while LIBNBD_STRICT_COMMANDS is on).`,
			"pwrite", "zero", "trim", "can_flush"), "does the server support the FUA flag?"),
		"is_rotational": withShort(flagDoc(`Return whether the server says the export behaves like a rotating disk (NBD_FLAG_ROTATIONAL), where seeking is slow, so that sequential access is better than random access. It is only a hint, for scheduling requests.`), "is the NBD disk rotational (like a disk)?"),
		"can_trim": withShort(flagDoc(`Return whether the server supports the trim command (NBD_FLAG_SEND_TRIM), nbd_trim(3) and nbd_aio_trim(3), which tell it that a range is no longer needed. Without it, the library refuses trims with EINVAL (while LIBNBD_STRICT_COMMANDS is on).`,
			"trim", "aio_trim"), "does the server support the trim command?"),
		"can_zero": withShort(flagDoc(`Return whether the server supports the write zeroes command (NBD_FLAG_SEND_WRITE_ZEROES), nbd_zero(3) and nbd_aio_zero(3), which zero a range without sending the zeroes. Without it, the library refuses them with EINVAL (while LIBNBD_STRICT_COMMANDS is on); write a buffer of zeroes with nbd_pwrite(3) instead.`,
			"zero", "aio_zero", "can_fast_zero"), "does the server support the zero command?"),
		"can_fast_zero": withShort(flagDoc(`Return whether the server supports the LIBNBD_CMD_FLAG_FAST_ZERO flag of the zero command (NBD_FLAG_SEND_FAST_ZERO): with it, a zero request fails at once (ENOTSUP) instead of being slow, when zeroing would take as long as writing zeroes. Without it, the library refuses the flag with EINVAL (while LIBNBD_STRICT_COMMANDS is on).`,
			"zero", "can_zero"), "does the server support the fast zero flag?"),
		"can_df": withShort(flagDoc(`Return whether the server supports the "don't fragment" flag of reads (NBD_FLAG_SEND_DF), LIBNBD_CMD_FLAG_DF, which asks it to answer a structured read with a single data chunk. The flag needs structured replies, so this is false unless they were negotiated (nbd_get_structured_replies_negotiated(3)). Without it, the library refuses the flag with EINVAL (while LIBNBD_STRICT_COMMANDS is on).`,
			"pread_structured", "get_structured_replies_negotiated"), "does the server support the don't fragment flag to pread?"),
		"can_multi_conn": withShort(flagDoc(`Return whether the server says the export may be used over several connections at once with consistent results (NBD_FLAG_CAN_MULTI_CONN): a flush on any connection makes the writes completed on every connection stable and visible to all. Only then is it safe to spread one client's requests over several handles, as nbdcopy(1) does.`,
			"can_flush"), "does the server support multi-conn?"),
		"can_cache": withShort(flagDoc(`Return whether the server supports the cache command (NBD_FLAG_SEND_CACHE), nbd_cache(3) and nbd_aio_cache(3), which ask it to prefetch a range. Without it, the library refuses them with EINVAL (while LIBNBD_STRICT_COMMANDS is on).`,
			"cache", "aio_cache"), "does the server support the cache command?"),
		"can_block_status_payload": withShort(flagDoc(`Return whether the server accepts block status requests that name the meta contexts to report (NBD_FLAG_BLOCK_STAT_PAYLOAD), which nbd_block_status_filter(3) sends. It needs extended headers (nbd_get_extended_headers_negotiated(3)): without them the answer is false whatever the server said.

This call comes from libnbd 1.18.`,
			"block_status_filter", "get_extended_headers_negotiated"), "does the server support the block status payload flag?"),
		"can_meta_context": {
			Short: "does the server support a specific meta context?",
			Long: `Return whether the server agreed, when the export was selected (or described by nbd_opt_info(3)), to report the meta context named metacontext, for example LIBNBD_CONTEXT_BASE_ALLOCATION ("base:allocation"). Only contexts the client asked for (nbd_add_meta_context(3)) can be agreed, and only when structured replies were negotiated; block status (nbd_block_status(3)) reports on the agreed ones. The name must match exactly.

` + infoWhen,
			Errors:  []Errno{infoNone},
			SeeAlso: []string{"add_meta_context", "block_status", "opt_info", "set_request_meta_context"},
		},
	})
}
