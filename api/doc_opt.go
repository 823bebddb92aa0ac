package api

// Documentation of option mode and the option calls (nbd_opt_* and
// nbd_aio_opt_*), and of the list of meta contexts the client asks for.
// Facts follow libnbd's manual pages and the "Option haggling" part of
// the NBD protocol document; the wording is this project's own.

// optErrnos is how this library maps the server's option errors.
const optErrnos = `A server error maps to an errno: NBD_REP_ERR_UNKNOWN (no such export) to ENOENT, NBD_REP_ERR_POLICY to EPERM, NBD_REP_ERR_UNSUP and NBD_REP_ERR_TLS_REQD to ENOTSUP, NBD_REP_ERR_INVALID and NBD_REP_ERR_BLOCK_SIZE_REQD to EINVAL, NBD_REP_ERR_PLATFORM to EOPNOTSUPP, NBD_REP_ERR_SHUTDOWN to ESHUTDOWN, NBD_REP_ERR_TOO_BIG to ERANGE; the server's message, if any, is part of nbd_get_error(3).`

// optAsync is what every nbd_aio_opt_* call shares.
const optAsync = `The call sends the option and returns at once; the program then drives the connection with nbd_poll(3) or its own event loop. When the server's answer has arrived, the optional completion callback runs with *error set to 0 or to the errno of the failure, and its return value is ignored: the option is always retired by itself, and nbd_aio_command_completed(3) knows nothing of it. The callback's .free runs after that, or at once if the call fails.

While the option is in flight the handle counts as connecting (nbd_aio_is_connecting(3) is true, and the option calls are refused with EINVAL); when the answer has been processed it is negotiating again, unless the option moved it on (to connected for NBD_OPT_GO, closed for NBD_OPT_ABORT) or the connection failed. So a program without a completion callback can poll until nbd_aio_is_connecting(3) turns false, but only the callback tells whether the server refused the option.`

// optErrs are the errors of a synchronous option call.
var optErrs = []Errno{
	{"ENOENT", "The server does not know the export (NBD_REP_ERR_UNKNOWN)."},
	{"EPERM", "The server's policy refuses the option (NBD_REP_ERR_POLICY)."},
	{"ENOTSUP", "The server does not support the option, or requires TLS first."},
	{"EPROTO", "The server broke the protocol; the handle is dead."},
	{"ECONNRESET", "The server closed the connection; the handle is dead."},
}

func init() {
	addDocs(map[string]Doc{
		"set_opt_mode": {
			Short: "control option mode, for pausing during option negotiation",
			Long: `Turn option mode on (true) or off (false, the default). In option mode, the connect calls (nbd_connect_uri(3), nbd_connect_unix(3) and the others) stop in the middle of the handshake, once the server's greeting has been received, TLS started (if nbd_set_tls(3) asks for it) and structured replies negotiated (if nbd_set_request_structured_replies(3) asks for them), and leave the handle in the negotiating state. The program may then send options itself:

- nbd_opt_list(3) lists the server's exports;
- nbd_opt_info(3) asks about an export without selecting it (after nbd_set_export_name(3) names it);
- nbd_opt_list_meta_context(3) lists the meta contexts of an export;
- nbd_opt_go(3) selects the export and enters the transmission phase (the handle becomes connected);
- nbd_opt_abort(3) or nbd_shutdown(3) ends the session without selecting an export.

Option mode needs the fixed newstyle handshake. With a server using the oldstyle or plain newstyle handshake (see nbd_get_protocol(3)), or without LIBNBD_HANDSHAKE_FLAG_FIXED_NEWSTYLE (nbd_set_handshake_flags(3)), the handshake cannot stop, and the handle goes straight to the connected state as usual.

The setting must be made before connecting.`,
			SeeAlso: []string{"get_opt_mode", "aio_is_negotiating", "opt_go", "opt_info", "opt_list", "opt_list_meta_context", "opt_abort", "set_export_name"},
		},
		"get_opt_mode": {
			Short:   "return whether option mode was enabled",
			Long:    `Return whether option mode is on (see nbd_set_opt_mode(3)). The default is false.`,
			SeeAlso: []string{"set_opt_mode"},
		},
		"opt_go": {
			Short: "end negotiation and move on to using an export",
			Long: `In option mode, select the export named by nbd_set_export_name(3) and enter the transmission phase, waiting for the server's answer. First, when structured replies were negotiated, meta contexts were added with nbd_add_meta_context(3) and nbd_set_request_meta_context(3) is on (the default), the library asks for those meta contexts (NBD_OPT_SET_META_CONTEXT; a refusal is not an error). Then it sends NBD_OPT_GO, asking also for block size constraints and the export's name and description as nbd_set_request_block_size(3) and nbd_set_full_info(3) say.

On success the handle is connected, and ready for commands. If the server refuses the export, the call returns -1 and the handle stays negotiating, so the program may try another export name or another option. ` + optErrnos + `

A server that does not know NBD_OPT_GO (it answers NBD_REP_ERR_UNSUP) is asked again with the older NBD_OPT_EXPORT_NAME, which a server answers by closing the connection if it refuses the export: the handle is then dead, with ENOENT.`,
			Errors:  optErrs,
			SeeAlso: []string{"aio_opt_go", "set_opt_mode", "set_export_name", "opt_info", "opt_abort", "aio_is_ready"},
		},
		"aio_opt_go": {
			Short: "end negotiation and move on to using an export",
			Long: `In option mode, start selecting the export named by nbd_set_export_name(3), as nbd_opt_go(3) does, without waiting for the server's answer. On success the handle becomes connected (nbd_aio_is_ready(3)); if the server refuses, it stays negotiating and the completion callback sees the errno.

` + optAsync,
			SeeAlso: []string{"opt_go", "set_opt_mode", "aio_is_ready", "poll"},
		},
		"opt_abort": {
			Short:   "end negotiation and close the connection",
			Long:    `In option mode, end the session without selecting an export: the library sends NBD_OPT_ABORT and waits for the server to acknowledge it or to close the connection. The handle is then closed (nbd_aio_is_closed(3)); whatever the server answers, the call succeeds unless the connection failed first. nbd_shutdown(3) does the same in the negotiating state.`,
			SeeAlso: []string{"aio_opt_abort", "set_opt_mode", "shutdown", "aio_is_closed"},
		},
		"aio_opt_abort": {
			Short:   "end negotiation and close the connection",
			Long:    `In option mode, start ending the session without selecting an export: the library sends NBD_OPT_ABORT and returns at once. The handle becomes closed (nbd_aio_is_closed(3)) when the server has answered or closed the connection, as the program drives the connection with nbd_poll(3) or its own event loop. There is no completion callback.`,
			SeeAlso: []string{"opt_abort", "aio_is_closed", "poll"},
		},
		"opt_starttls": {
			Short: "request the server to initiate TLS",
			Long: `In option mode, ask the server to switch the connection to TLS (NBD_OPT_STARTTLS), and run the TLS handshake if it agrees, with the credentials chosen by nbd_set_tls_certificates(3) or nbd_set_tls_psk_file(3) and the checks of nbd_set_tls_verify_peer(3). The call returns true if the server agreed and the TLS handshake completed (nbd_get_tls_negotiated(3) is then true); false if the server refused, in which case the connection continues in plaintext and the handle stays negotiating; and -1 only when the connection is lost. A failed TLS handshake, for example because the server's certificate is rejected or the server rejects our credentials, loses the connection: the handle is dead.

After a successful switch everything learned in plaintext is forgotten, as the NBD protocol requires: structured replies, export information and meta contexts must be negotiated again over the encrypted connection (for example with nbd_opt_structured_reply(3)).

This call is meant for testing servers. Asking again on a connection that is already encrypted is a protocol error on the server's side if it agrees: the library then fails with EPROTO and the handle is dead. Programs should rather use nbd_set_tls(3), which sends NBD_OPT_STARTTLS before anything else, before option mode hands over.

This call comes from libnbd 1.16.`,
			Errors: []Errno{
				{"EACCES", "The TLS handshake failed because the server's certificate was rejected (untrusted chain, wrong name) or the server refused our credentials with a TLS alert; the handle is dead."},
				{"ECONNRESET", "The server closed the connection, also during or right after the TLS handshake (how most servers refuse our certificate or key); the handle is dead."},
				{"EPROTO", "The server broke the protocol (unencrypted bytes after agreeing, an agreement on a connection already encrypted) or the TLS handshake failed otherwise; the handle is dead."},
				{"ENOENT", "A credential file (client-key.pem beside client-cert.pem, the PSK file or its line for the user, the certificates directory) is missing; the handle is dead."},
				{"EINVAL", "Also: a TLS credential file could not be loaded; the handle is dead."},
				{"ENOTSUP", "This build has no TLS support (built without GnuTLS, see nbd_supports_tls(3)); nothing is sent and the handle stays negotiating."},
			},
			SeeAlso: []string{"aio_opt_starttls", "set_tls", "get_tls_negotiated", "set_tls_certificates", "set_tls_psk_file", "supports_tls", "set_opt_mode"},
		},
		"aio_opt_starttls": {
			Short: "request the server to initiate TLS",
			Long: `In option mode, start asking the server to switch to TLS, as nbd_opt_starttls(3) does, without waiting for the answer. The TLS handshake, if the server agrees, runs as the program drives the connection. The completion callback sees *error 0 when the server agreed and the handshake completed, and the errno of the server's refusal (see below) when it refused; the handle is then negotiating again, in TLS or in plaintext. A failed TLS handshake kills the connection instead (nbd_aio_is_dead(3)), reported by the nbd_poll(3) or notify call that finds it.

` + optAsync + `

` + optErrnos + `

This call comes from libnbd 1.16. In a build without GnuTLS (see nbd_supports_tls(3)) it fails with ENOTSUP at once, the completion callback is not called, and its .free runs.`,
			SeeAlso: []string{"opt_starttls", "poll"},
		},
		"opt_structured_reply": {
			Short: "request the server to enable structured replies",
			Long: `In option mode, ask the server for structured replies (NBD_OPT_STRUCTURED_REPLY). The call returns true if the server agreed, false if it refused, and fails only when the connection is lost. Once a server has agreed, structured replies stay negotiated (nbd_get_structured_replies_negotiated(3)) even if a later request is refused as redundant; a server that agreed to extended headers (which imply structured replies) may refuse this downgrade.

The handshake normally sends this option (or NBD_OPT_EXTENDED_HEADERS) by itself before option mode hands over (nbd_set_request_structured_replies(3)); sending it again is redundant, and the protocol lets a server refuse it (nbdkit accepts it). The call is meant for programs that turned the automatic request off, and for testing servers.

This call comes from libnbd 1.16.`,
			Errors:  optErrs[3:],
			SeeAlso: []string{"aio_opt_structured_reply", "set_request_structured_replies", "get_structured_replies_negotiated", "opt_extended_headers"},
		},
		"aio_opt_structured_reply": {
			Short: "request the server to enable structured replies",
			Long: `In option mode, start asking the server for structured replies, as nbd_opt_structured_reply(3) does, without waiting for the answer.

` + optAsync + `

This call comes from libnbd 1.16. The completion callback sees 0 in *error whether the server agreed or refused; nbd_get_structured_replies_negotiated(3) tells whether structured replies are in use.`,
			SeeAlso: []string{"opt_structured_reply", "poll"},
		},
		"opt_extended_headers": {
			Short: "request the server to enable extended headers",
			Long: `In option mode, ask the server for extended headers (NBD_OPT_EXTENDED_HEADERS), which give requests and replies 64-bit lengths and imply structured replies. The call returns true if the server agreed, false if it refused (a refusal is an answer, not an error), and fails only when the connection is lost. When it returns true, nbd_get_extended_headers_negotiated(3) and nbd_get_structured_replies_negotiated(3) become true and stay true: some servers refuse a second request as redundant, and that false answer does not undo the first. Meta contexts and export details learned earlier are kept; the server's answers to nbd_opt_info(3) or nbd_opt_go(3) after this may differ (for example NBD_FLAG_BLOCK_STAT_PAYLOAD only exists with extended headers).

The handshake normally sends this option by itself (nbd_set_request_extended_headers(3)); the call is meant for programs that turned that off (or structured replies, see nbd_set_request_structured_replies(3)), and for testing servers.

This call comes from libnbd 1.18.`,
			Errors:  optErrs[3:],
			SeeAlso: []string{"aio_opt_extended_headers", "set_request_extended_headers", "get_extended_headers_negotiated", "opt_structured_reply"},
		},
		"aio_opt_extended_headers": {
			Short: "request the server to enable extended headers",
			Long: `In option mode, start asking the server for extended headers, as nbd_opt_extended_headers(3) does, without waiting for the answer.

` + optAsync + `

This call comes from libnbd 1.18. The completion callback sees 0 in *error whether the server agreed or refused; nbd_get_extended_headers_negotiated(3) tells whether extended headers are in use.`,
			SeeAlso: []string{"opt_extended_headers", "poll"},
		},
		"opt_list": {
			Short: "request the server to list all exports during negotiation",
			Long: `In option mode, ask the server for the list of its exports (NBD_OPT_LIST) and wait for it. The callback runs once per export, with the export's name and its description (the empty string if the server gave none); both strings are valid only during the callback, and its return value is ignored. The callback's .free runs once the list is complete, or when the call fails.

The call returns the number of exports listed. Servers may refuse to list (EPERM), or list only some of their exports; the handle stays negotiating either way. ` + optErrnos,
			Errors:  optErrs[1:],
			SeeAlso: []string{"aio_opt_list", "set_opt_mode", "set_export_name", "opt_info", "opt_go"},
		},
		"aio_opt_list": {
			Short: "request the server to list all exports during negotiation",
			Long: `In option mode, start asking the server for its list of exports, as nbd_opt_list(3) does, without waiting. The list callback runs once per export as the answers arrive; then the completion callback runs. The number of exports is the number of list callbacks.

` + optAsync,
			SeeAlso: []string{"opt_list", "poll"},
		},
		"opt_info": {
			Short: "request the server for information about an export",
			Long: `In option mode, ask the server about the export named by nbd_set_export_name(3) without selecting it (NBD_OPT_INFO), and wait for the answer. Meta contexts are requested first, as for nbd_opt_go(3).

On success the handle stays negotiating, and the export's details are available: nbd_get_size(3), nbd_is_read_only(3), the nbd_can_* calls, nbd_get_block_size(3), nbd_can_meta_context(3), and the canonical name and description if nbd_set_full_info(3) asked for them. They describe that export until the next nbd_opt_info(3) or nbd_opt_go(3), which replaces them. If the server refuses, the call returns -1, the details are cleared, and the handle stays negotiating. ` + optErrnos,
			Errors:  optErrs,
			SeeAlso: []string{"aio_opt_info", "set_opt_mode", "set_export_name", "opt_go", "get_size", "set_full_info"},
		},
		"aio_opt_info": {
			Short: "request the server for information about an export",
			Long: `In option mode, start asking the server about the export named by nbd_set_export_name(3), as nbd_opt_info(3) does, without waiting. When the completion callback reports success, the export's details are available through nbd_get_size(3) and the other information calls.

` + optAsync,
			SeeAlso: []string{"opt_info", "poll"},
		},
		"opt_list_meta_context": {
			Short: "list available meta contexts, using implicit query list",
			Long: `In option mode, ask the server which meta contexts the export named by nbd_set_export_name(3) offers (NBD_OPT_LIST_META_CONTEXT), and wait for the answer. The queries sent are the names added with nbd_add_meta_context(3); with none added, the server lists every context it offers. A query ending in ":" (such as "qemu:") asks for a whole namespace.

The callback runs once per meta context, with its name, valid only during the callback; its return value is ignored, and its .free runs once the list is complete or the call fails. The call returns the number of contexts listed. Listing changes nothing: which contexts block status uses is decided when the export is selected (nbd_opt_go(3)).

The server is asked even when structured replies were not negotiated (the protocol allows listing without them, and libnbd 1.16 and later ask); a server that will not list them then refuses, ENOTSUP or the error it gave.`,
			Errors: []Errno{
				{"ENOTSUP", "The server does not support the option (or refuses it without structured replies)."},
				{"EPROTO", "The server broke the protocol; the handle is dead."},
			},
			SeeAlso: []string{"aio_opt_list_meta_context", "opt_list_meta_context_queries", "add_meta_context", "can_meta_context", "set_opt_mode"},
		},
		"aio_opt_list_meta_context": {
			Short: "list available meta contexts, using implicit query list",
			Long: `In option mode, start asking which meta contexts the export offers, as nbd_opt_list_meta_context(3) does, without waiting. The context callback runs once per meta context as the answers arrive; then the completion callback runs. The call returns 0 once the request is on its way; the number of contexts is the number of context callbacks.

` + optAsync,
			Errors:  []Errno{{"ENOTSUP", "The server does not support the option (the refusal reaches the completion callback)."}},
			SeeAlso: []string{"opt_list_meta_context", "poll"},
		},
		"opt_list_meta_context_queries": {
			Short: "list available meta contexts, using explicit query list",
			Long: `Like nbd_opt_list_meta_context(3), but the queries are the strings of queries (a NULL-terminated list, copied during the call) instead of the list kept with nbd_add_meta_context(3), which is left as it is. An empty list asks for every context the server offers. The call returns the number of contexts listed.

This call comes from libnbd 1.16.`,
			Errors:  []Errno{{"ENOTSUP", "The server does not support the option (or refuses it without structured replies)."}},
			SeeAlso: []string{"opt_list_meta_context", "aio_opt_list_meta_context_queries", "opt_set_meta_context_queries"},
		},
		"aio_opt_list_meta_context_queries": {
			Short: "list available meta contexts, using explicit query list",
			Long: `Like nbd_aio_opt_list_meta_context(3), but with the queries given in queries instead of the handle's list.

` + optAsync + `

This call comes from libnbd 1.16.`,
			SeeAlso: []string{"opt_list_meta_context_queries", "poll"},
		},
		"opt_set_meta_context": {
			Short: "select specific meta contexts, using implicit query list",
			Long: `In option mode, ask the server to use the meta contexts added with nbd_add_meta_context(3) for the export named by nbd_set_export_name(3) (NBD_OPT_SET_META_CONTEXT), and wait for the answer. The callback runs once per context the server agrees to, with its name; the call returns how many there were. The agreed contexts are the ones block status reports on once nbd_opt_go(3) selects the same export, provided nbd_set_request_meta_context(3) was turned off: with it on (the default), nbd_opt_go(3) negotiates again from the nbd_add_meta_context(3) list, and with an empty list no context is kept. nbd_can_meta_context(3) tells them apart.

nbd_opt_go(3) and nbd_opt_info(3) do this by themselves unless nbd_set_request_meta_context(3) was turned off; calling it explicitly is for programs that want to see the answer first. Changing the export name afterwards (nbd_set_export_name(3)) makes the answer void: the agreed contexts are forgotten, as in libnbd 1.16 and later.

This call comes from libnbd 1.16.`,
			Errors:  []Errno{{"ENOTSUP", "Structured replies were not negotiated, or the server does not support the option."}},
			SeeAlso: []string{"aio_opt_set_meta_context", "opt_set_meta_context_queries", "add_meta_context", "set_request_meta_context", "can_meta_context", "opt_go"},
		},
		"aio_opt_set_meta_context": {
			Short: "select specific meta contexts, using implicit query list",
			Long: `In option mode, start asking the server to use the handle's meta contexts, as nbd_opt_set_meta_context(3) does, without waiting. The context callback runs once per context agreed, then the completion callback runs.

` + optAsync + `

This call comes from libnbd 1.16.`,
			SeeAlso: []string{"opt_set_meta_context", "poll"},
		},
		"opt_set_meta_context_queries": {
			Short: "select specific meta contexts, using explicit query list",
			Long: `Like nbd_opt_set_meta_context(3), but the contexts asked for are the strings of queries (a NULL-terminated list, copied during the call) instead of the handle's list, which is left as it is. It returns how many contexts the server agreed to (the callback runs once for each).

This call comes from libnbd 1.16.`,
			Errors:  []Errno{{"ENOTSUP", "Structured replies were not negotiated, or the server does not support the option."}},
			SeeAlso: []string{"opt_set_meta_context", "aio_opt_set_meta_context_queries"},
		},
		"aio_opt_set_meta_context_queries": {
			Short: "select specific meta contexts, using explicit query list",
			Long: `Like nbd_aio_opt_set_meta_context(3), but with the contexts given in queries instead of the handle's list.

` + optAsync + `

This call comes from libnbd 1.16.`,
			SeeAlso: []string{"opt_set_meta_context_queries", "poll"},
		},
		"add_meta_context": {
			Short: "ask server to negotiate metadata context",
			Long: `Add name to the list of meta contexts the client asks the server for. Meta contexts are the kinds of block status information (see nbd_block_status(3)) a server can report: LIBNBD_CONTEXT_BASE_ALLOCATION ("base:allocation", which parts of the export are holes or read as zeroes) is the one every server with block status offers; others come from extensions, such as "qemu:dirty-bitmap:NAME". A name ending in ":" asks for every context of a namespace.

The list is sent when the export is selected (NBD_OPT_SET_META_CONTEXT, before NBD_OPT_GO; see nbd_set_request_meta_context(3)) and serves as the queries of nbd_opt_list_meta_context(3). The server agrees to the contexts it knows and ignores the others; nbd_can_meta_context(3) says which it agreed to. Nothing is sent unless structured replies were negotiated.

The call is permitted before connecting, and in option mode while negotiating. The string is copied. Names are added in order and duplicates are kept. This library refuses an empty name (libnbd accepts it, though no server has such a context).`,
			Errors: []Errno{
				{"EINVAL", "name is the empty string."},
				{"ENAMETOOLONG", "name is longer than 4096 bytes."},
				{"ENOMEM", "Memory ran out."},
			},
			SeeAlso: []string{"can_meta_context", "block_status", "get_nr_meta_contexts", "get_meta_context", "clear_meta_contexts", "opt_list_meta_context", "set_request_meta_context"},
		},
		"get_nr_meta_contexts": {
			Short:   "return the current number of requested meta contexts",
			Long:    `Return how many names the list of requested meta contexts holds (see nbd_add_meta_context(3)). This is what the client asks for, not what the server agreed to: nbd_can_meta_context(3) tells that. Together with nbd_get_meta_context(3), it lets a program read the list back.`,
			SeeAlso: []string{"get_meta_context", "add_meta_context", "clear_meta_contexts"},
		},
		"get_meta_context": {
			Short: "return the i'th meta context request",
			Long:  `Return a copy of the name at index i (counting from 0) in the list of requested meta contexts (see nbd_add_meta_context(3)). The caller must free the string. i must be less than nbd_get_nr_meta_contexts(3).`,
			Errors: []Errno{
				{"EINVAL", "i is not less than the number of names in the list."},
				{"ENOMEM", "Memory ran out while copying the name."},
			},
			SeeAlso: []string{"get_nr_meta_contexts", "add_meta_context"},
		},
		"clear_meta_contexts": {
			Short:   "reset the list of requested meta contexts",
			Long:    `Empty the list of requested meta contexts (see nbd_add_meta_context(3)). In option mode this lets a program ask about different contexts for different exports. It does not change what the server has already agreed to for a selected export.`,
			SeeAlso: []string{"add_meta_context", "get_nr_meta_contexts"},
		},
	})
}
