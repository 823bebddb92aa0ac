package api

// Documentation of the handle calls: creating and closing handles, errors,
// debugging, statistics, the handle's name and private data, and the
// settings made before connecting (export name, TLS, what to negotiate,
// strictness).  Facts follow libnbd's manual pages and the NBD protocol
// document; the wording is this project's own.

func init() {
	addDocs(map[string]Doc{
		"create": {
			Short: "create a new NBD handle",
			Long: `Allocate a handle for one connection to an NBD server. The handle starts in the created state: it is not connected to anything, and the settings calls (nbd_set_export_name(3), nbd_set_opt_mode(3), nbd_set_strict_mode(3) and the others) may now be made before one of the connect calls, such as nbd_connect_uri(3) or nbd_connect_socket(3), opens the connection.

A new handle has these settings: export name "" (the server's default export); structured replies, block size constraints and meta contexts requested (nbd_set_request_structured_replies(3), nbd_set_request_block_size(3), nbd_set_request_meta_context(3)); no full information (nbd_set_full_info(3)); no meta context in the list (nbd_add_meta_context(3)); TLS disabled (LIBNBD_TLS_DISABLE) with peer verification on; handshake flags LIBNBD_HANDSHAKE_FLAG_FIXED_NEWSTYLE and LIBNBD_HANDSHAKE_FLAG_NO_ZEROES; every strict check on (LIBNBD_STRICT_MASK); read buffers zeroed before use (nbd_set_pread_initialize(3)); option mode off; for URIs, every transport and TLS allowed, local files not; private data 0; and a name of the form "nbdN", where N counts the handles the process has created.

If the environment variable LIBNBD_DEBUG is "1" when the handle is created, debugging starts on (see nbd_set_debug(3)).

Each handle must be released with nbd_close(3), whatever state it ends in. Handles are independent of each other: several may be used at once, from the same or from different threads.`,
			Errors:  []Errno{{"ENOMEM", "Memory ran out."}},
			SeeAlso: []string{"close", "connect_uri", "connect_socket", "set_debug", "get_error"},
		},
		"close": {
			Short: "close an NBD handle and free its resources",
			Long: `Release the handle h and everything it holds. If a connection is open, its socket is closed at once without a disconnect message: to end the connection cleanly, call nbd_shutdown(3) first and close the handle afterwards.

Commands still in flight or not retired are dropped: their completion callbacks are not called, but the .free function of every callback the handle still holds is called, exactly once, before nbd_close returns. This includes the debug callback (nbd_set_debug_callback(3)).

If the handle started a subprocess, nbd_close reaps it. A server started by nbd_connect_command(3) normally exits when its socket closes, so it is given about two seconds to do so and is then sent SIGTERM. A server started by nbd_connect_systemd_socket_activation(3) would go on listening for more clients, so it is sent SIGTERM at once. In both cases a subprocess still running two seconds after SIGTERM is killed with SIGKILL, so nbd_close never waits without bound. The temporary directory and socket that systemd socket activation used are removed.

h may be NULL, in which case nothing happens. After nbd_close returns, h must not be used again, by any thread.`,
			SeeAlso: []string{"create", "shutdown"},
		},
		"get_error": {
			Short: "get the message of the last error in this thread",
			Long: `Return the message that the last failing call made in the calling thread left behind. The message starts with the name of the call that failed, followed by ": ", for example "nbd_pread: invalid state: START: the handle must be connected with the server".

Errors are kept per thread, so the message belongs to the last failure in this thread, whichever handle it concerned. A call that succeeds does not clear it: read it right after the call that returned the error value, before any other call that might fail.

libnbd ends each message with the text of the errno value (": Invalid argument"); this library does not. Use nbd_get_errno(3) with strerror(3) to get that text. The errno itself is always set when a call fails, and is never 0.`,
			SeeAlso: []string{"get_errno", "create"},
		},
		"get_errno": {
			Short: "get the errno of the last error in this thread",
			Long: `Return the errno value of the last failing call made in the calling thread, such as EINVAL, ENOTCONN or ECONNREFUSED. It is 0 only if no call has failed in this thread yet.

Like nbd_get_error(3), the value is kept per thread and is not cleared by a call that succeeds, so read it right after the call that failed. Unlike libnbd, which may leave the value 0 for some failures, this library always gives a non-zero errno when a call fails (EIO when there is no better one).`,
			SeeAlso: []string{"get_error"},
		},
		"set_debug": {
			Short: "set or clear the debug flag",
			Long: `Turn debugging messages on (true) or off (false) for the handle. When on, the library traces the entry of every call on the handle with its arguments, and its exit with the result or the error message, and logs the main events of the connection: connecting, each option of the handshake, the outcome of negotiation, failures. The contents of data buffers are never printed; long or unprintable strings are shortened or escaped.

Messages go to standard error as lines of the form "libnbd: debug: NAME: CALL: MESSAGE", where NAME is the handle's name (nbd_set_handle_name(3)) and CALL the call that was running, unless nbd_set_debug_callback(3) installed a function to receive them.

Debugging is off in a new handle, unless LIBNBD_DEBUG=1 was in the environment when nbd_create(3) made it. It may be turned on or off at any time.`,
			SeeAlso: []string{"get_debug", "set_debug_callback", "set_handle_name"},
		},
		"get_debug": {
			Short:   "return the state of the debug flag",
			Long:    `Return whether debugging messages are on for the handle (see nbd_set_debug(3)).`,
			SeeAlso: []string{"set_debug"},
		},
		"set_debug_callback": {
			Short: "set the debug callback",
			Long: `Send the handle's debugging messages to a function of the program instead of standard error. The callback receives its user_data, the name of the call that produced the message (its "context"), and the message itself; both strings are valid only during the callback. The return value of the callback is ignored.

The callback only receives messages while debugging is on (nbd_set_debug(3)): installing it does not turn debugging on.

A callback installed earlier is replaced, and its .free function is called. The new callback's .free is called when it is replaced in turn, cleared by nbd_clear_debug_callback(3), or when the handle is closed.

The callback runs with the handle's lock held, in whichever thread produced the message: it must not call functions on the same handle.`,
			SeeAlso: []string{"clear_debug_callback", "set_debug"},
		},
		"clear_debug_callback": {
			Short:   "clear the debug callback",
			Long:    `Remove the debug callback installed by nbd_set_debug_callback(3), calling its .free function. Debugging messages, if debugging is on, go to standard error again. If no callback is installed, nothing happens.`,
			SeeAlso: []string{"set_debug_callback", "set_debug"},
		},
		"stats_bytes_sent": {
			Short:   "statistics of bytes sent over the connection so far",
			Long:    `Return the number of bytes the handle has written to its socket since it was created: handshake messages, request headers and write payloads alike. It is 0 before connecting. The counters are kept for the life of the handle, including after the connection is closed or dead, so they can be read at the end.`,
			SeeAlso: []string{"stats_chunks_sent", "stats_bytes_received", "stats_chunks_received"},
		},
		"stats_chunks_sent": {
			Short:   "statistics of chunks sent over the connection so far",
			Long:    `Return the number of messages the handle has sent to the server since it was created: each option during the handshake and each request (command) during transmission counts as one, whatever its size. Comparing it with nbd_stats_bytes_sent(3) gives the average message size.`,
			SeeAlso: []string{"stats_bytes_sent", "stats_chunks_received"},
		},
		"stats_bytes_received": {
			Short:   "statistics of bytes received over the connection so far",
			Long:    `Return the number of bytes the handle has read from its socket since it was created: handshake replies, reply headers and read payloads alike. It is 0 before connecting, and remains readable after the connection is closed or dead.`,
			SeeAlso: []string{"stats_chunks_received", "stats_bytes_sent"},
		},
		"stats_chunks_received": {
			Short:   "statistics of chunks received over the connection so far",
			Long:    `Return the number of messages the handle has received from the server since it was created: each option reply during the handshake, and each simple reply or structured reply chunk during transmission, counts as one. A single read can therefore count several chunks when the server splits its reply.`,
			SeeAlso: []string{"stats_bytes_received", "stats_chunks_sent"},
		},
		"set_handle_name": {
			Short: "set the handle name",
			Long: `Give the handle a name. The name only appears in debugging messages (nbd_set_debug(3)), where it tells apart the lines of several handles. A new handle is named "nbd1", "nbd2" and so on, in the order the process created them.

The string is copied; the caller keeps ownership of handle_name. The name may be changed at any time.`,
			Errors:  []Errno{{"ENOMEM", "Memory ran out while copying the name."}},
			SeeAlso: []string{"get_handle_name", "set_debug"},
		},
		"get_handle_name": {
			Short:   "get the handle name",
			Long:    `Return a copy of the handle's name (see nbd_set_handle_name(3)). The caller must free the string.`,
			Errors:  []Errno{{"ENOMEM", "Memory ran out while copying the name."}},
			SeeAlso: []string{"set_handle_name"},
		},
		"set_private_data": {
			Short: "set the per-handle private data",
			Long: `Store a value of the program's choosing in the handle, and return the value stored before (0 for a new handle). The library never interprets it: it is a place to keep, for example, a pointer to the program's own structure describing the connection, so that code which only has the handle can find it. Freeing whatever the value points to is the program's business; nbd_close(3) does not look at it.

This call takes no lock and cannot fail. Unlike the other calls, it may run at the same time as other calls on the handle; if several threads set the value at once, which one wins is not defined.`,
			SeeAlso: []string{"get_private_data"},
		},
		"get_private_data": {
			Short:   "get the per-handle private data",
			Long:    `Return the value last stored by nbd_set_private_data(3), or 0 if none was stored. This call takes no lock and cannot fail.`,
			SeeAlso: []string{"set_private_data"},
		},
		"set_export_name": {
			Short: "set the export name",
			Long: `Choose which export of the server to use, by name. The name is sent to the server during the handshake (in NBD_OPT_GO, NBD_OPT_INFO or NBD_OPT_EXPORT_NAME, and with meta context requests). The default is the empty string, which the protocol reserves for the server's default export. Servers using the old style handshake have a single export and ignore the name.

The call is permitted before connecting, and in option mode (nbd_set_opt_mode(3)) while negotiating, to choose the export that the next nbd_opt_go(3), nbd_opt_info(3) or nbd_opt_list_meta_context(3) refers to. Changing it while negotiating forgets what the server said about the previous export (its size, flags and agreed meta contexts) until the next nbd_opt_info(3) or nbd_opt_go(3), as libnbd 1.16 and later do (libnbd 1.14 kept them). nbd_connect_uri(3) also sets it, from the path of the URI.

The string is copied; the caller keeps ownership of export_name. The NBD protocol limits names to 4096 bytes.`,
			Errors: []Errno{
				{"ENAMETOOLONG", "export_name is longer than 4096 bytes."},
				{"ENOMEM", "Memory ran out while copying the name."},
			},
			SeeAlso: []string{"get_export_name", "connect_uri", "set_opt_mode", "opt_go", "opt_info", "get_canonical_export_name"},
		},
		"get_export_name": {
			Short:   "get the export name",
			Long:    `Return a copy of the export name the handle asks for (see nbd_set_export_name(3)); the caller must free it. This is the name the client requested, which the server may know under another, canonical name (see nbd_get_canonical_export_name(3)).`,
			Errors:  []Errno{{"ENOMEM", "Memory ran out while copying the name."}},
			SeeAlso: []string{"set_export_name", "get_canonical_export_name"},
		},
		"set_request_block_size": {
			Short: "control whether NBD_OPT_GO requests block size",
			Long: `Choose whether NBD_OPT_GO and NBD_OPT_INFO ask the server for its block size constraints (NBD_INFO_BLOCK_SIZE). Asking also tells the server that the client will respect them, which some servers require before they serve an export with constraints. The default is true.

When the server sends constraints, nbd_get_block_size(3) reports them, and the LIBNBD_STRICT_ALIGN check of nbd_set_strict_mode(3) uses the minimum size.

The setting only matters for servers with the fixed newstyle handshake; it is read when the handshake sends NBD_OPT_GO or NBD_OPT_INFO, so in option mode it may still be changed while negotiating.`,
			SeeAlso: []string{"get_request_block_size", "get_block_size", "set_full_info", "opt_info"},
		},
		"get_request_block_size": {
			Short:   "see if NBD_OPT_GO requests block size",
			Long:    `Return whether NBD_OPT_GO and NBD_OPT_INFO ask the server for its block size constraints (see nbd_set_request_block_size(3)). The default is true.`,
			SeeAlso: []string{"set_request_block_size"},
		},
		"set_full_info": {
			Short: "control whether NBD_OPT_GO requests extra details",
			Long: `Choose whether NBD_OPT_GO and NBD_OPT_INFO also ask the server for the export's canonical name (NBD_INFO_NAME) and description (NBD_INFO_DESCRIPTION). The server may send them or not. When it does, nbd_get_canonical_export_name(3) and nbd_get_export_description(3) return them. The default is false.

Like nbd_set_request_block_size(3), this is read when the handshake sends NBD_OPT_GO or NBD_OPT_INFO; in option mode it may be changed while negotiating, for example before nbd_opt_info(3).`,
			SeeAlso: []string{"get_full_info", "get_canonical_export_name", "get_export_description", "opt_info"},
		},
		"get_full_info": {
			Short:   "see if NBD_OPT_GO requests extra details",
			Long:    `Return whether NBD_OPT_GO and NBD_OPT_INFO ask for the canonical name and description of the export (see nbd_set_full_info(3)). The default is false.`,
			SeeAlso: []string{"set_full_info"},
		},
		"set_tls": {
			Short: "enable or require TLS (authentication and encryption)",
			Long: `Choose whether the connection uses TLS, which authenticates the server (and optionally the client) and encrypts the traffic:

- LIBNBD_TLS_DISABLE (the default): never ask for TLS; the connection is plaintext.
- LIBNBD_TLS_ALLOW: ask for TLS, and go on in plaintext only if the server refuses NBD_OPT_STARTTLS (or cannot be asked: an oldstyle or plain newstyle server). An attacker who can tamper with the connection can force that refusal, so this protects only against passive eavesdropping. nbd_get_tls_negotiated(3) tells which way it went.
- LIBNBD_TLS_REQUIRE: ask for TLS and never fall back: if the server refuses NBD_OPT_STARTTLS, or speaks the oldstyle or plain newstyle handshake (which have no STARTTLS), the connection fails with ENOTSUP.

When TLS is asked for, NBD_OPT_STARTTLS is the first option the library sends after the server's greeting, before structured replies, meta contexts or the export are negotiated, so that none of that travels in plaintext. In option mode (nbd_set_opt_mode(3)) this happens before the handle becomes negotiating; nbd_opt_starttls(3) is the manual alternative.

Once the server agrees, the library runs the TLS handshake with X.509 certificates (nbd_set_tls_certificates(3), nbd_set_tls_verify_peer(3), nbd_set_tls_hostname(3)) or, when nbd_set_tls_psk_file(3) names a key file, with pre-shared keys. A failed handshake kills the connection: the connect call fails with EACCES when the server's certificate is rejected or the server refuses our credentials with a TLS alert, ECONNRESET when the server closes the connection during the handshake or right after it (which is how nbdkit and qemu-nbd refuse a wrong client certificate or pre-shared key: TLS 1.3 gives the client no other sign), and EPROTO for other TLS failures; the message gives GnuTLS's reason. A missing credential file fails the connection with ENOENT, one that cannot be loaded with EINVAL.

The setting must be made before connecting. nbd_connect_uri(3) sets LIBNBD_TLS_REQUIRE for the nbds schemes (subject to nbd_set_uri_allow_tls(3)), and leaves the setting alone for the plain ones.

In a build without GnuTLS (nbd_supports_tls(3) false) the setting is stored and reported by nbd_get_tls(3), but LIBNBD_TLS_ALLOW connects in plaintext, and with LIBNBD_TLS_REQUIRE every connect call fails with ENOTSUP before it opens anything (the handle stays in the created state).`,
			SeeAlso: []string{"get_tls", "get_tls_negotiated", "supports_tls", "set_tls_certificates", "set_tls_psk_file", "set_tls_verify_peer", "set_tls_username", "set_tls_hostname", "opt_starttls", "set_uri_allow_tls"},
		},
		"get_tls": {
			Short:   "get the TLS request setting",
			Long:    `Return the TLS setting of the handle: one of LIBNBD_TLS_DISABLE, LIBNBD_TLS_ALLOW or LIBNBD_TLS_REQUIRE (see nbd_set_tls(3)). This is what was asked for; whether a connection actually uses TLS is what nbd_get_tls_negotiated(3) tells.`,
			SeeAlso: []string{"set_tls", "get_tls_negotiated"},
		},
		"set_tls_certificates": {
			Short: "set the path to the TLS certificates directory",
			Long: `Name the directory that holds the X.509 files for TLS (nbd_set_tls(3)). The library reads these files from it, all in PEM format, when the TLS handshake starts:

- ca-cert.pem: the certificate authorities that the server's certificate must chain to. Without it, the system's trusted authorities are used.
- ca-crl.pem (optional): a certificate revocation list.
- client-cert.pem and client-key.pem (optional): the client's own certificate and its private key, for servers that authenticate clients. A certificate without its key is an error (ENOENT).

Without this setting the library looks for the first existing directory of: /etc/pki/libnbd when running as root; otherwise $HOME/.pki/libnbd, then $HOME/.config/pki/libnbd. If none exists, it trusts the system's authorities and presents no client certificate.

The directory is not used when nbd_set_tls_psk_file(3) is set (pre-shared keys replace certificates). A directory that does not exist, or a file that cannot be loaded, fails the connection (ENOENT, or EINVAL for a file GnuTLS cannot parse) when TLS starts, not in this call.

The string is copied. nbd_get_uri(3) reports it as the tls-certificates parameter. In a build without GnuTLS (see nbd_supports_tls(3)) it is stored but has no effect.

Making a set of certificates with GnuTLS's certtool (Debian: gnutls-bin). A certificate authority: "certtool --generate-privkey --outfile ca-key.pem", then "certtool --generate-self-signed --load-privkey ca-key.pem --template ca.info --outfile ca-cert.pem", where the template ca.info holds the lines "cn = My CA", "ca" and "cert_signing_key". The server's key and certificate, signed by it: "certtool --generate-privkey --outfile server-key.pem", then "certtool --generate-certificate --load-ca-certificate ca-cert.pem --load-ca-privkey ca-key.pem --load-privkey server-key.pem --template server.info --outfile server-cert.pem", where server.info names the server as the client will ("dns_name = nbd.example", "ip_address = 127.0.0.1") and holds "tls_www_server", "encryption_key" and "signing_key". nbdkit (--tls-certificates=DIR) and qemu-nbd (--object tls-creds-x509,dir=DIR,endpoint=server) read ca-cert.pem, server-cert.pem and server-key.pem from one directory. The client's directory needs ca-cert.pem, and, for servers that check clients, a client-cert.pem and client-key.pem made the same way with "tls_www_client" in the template. The project's testdata/tls_certs.sh makes such a set.`,
			Errors:  []Errno{{"ENOMEM", "Memory ran out while copying the path."}},
			SeeAlso: []string{"set_tls", "set_tls_psk_file", "set_tls_verify_peer", "supports_tls"},
		},
		"set_tls_verify_peer": {
			Short: "set whether we verify the identity of the server",
			Long: `Choose whether TLS with X.509 certificates checks the server's certificate. When true (the default), the TLS handshake fails (EACCES) unless the certificate chains to a trusted authority (see nbd_set_tls_certificates(3)) and carries the expected name. The name is the one set by nbd_set_tls_hostname(3), or else the host given to nbd_connect_tcp(3) or in a TCP URI. Connections over a Unix domain socket, vsock, a subprocess or an adopted socket have no host name, so for them only the chain is checked unless nbd_set_tls_hostname(3) names one.

When false, any certificate the server presents is accepted: the traffic is still encrypted, but an attacker who impersonates the server goes unnoticed. This is meant for testing.

The setting does not apply to pre-shared keys (nbd_set_tls_psk_file(3)), where knowing the key is what authenticates the server. In a build without GnuTLS (see nbd_supports_tls(3)) it is stored but has no effect.`,
			SeeAlso: []string{"get_tls_verify_peer", "set_tls", "set_tls_certificates"},
		},
		"get_tls_verify_peer": {
			Short:   "get whether we verify the identity of the server",
			Long:    `Return whether TLS verifies the server's certificate (see nbd_set_tls_verify_peer(3)). The default is true.`,
			SeeAlso: []string{"set_tls_verify_peer"},
		},
		"set_tls_username": {
			Short: "set the TLS username",
			Long: `Set the user name that TLS with pre-shared keys (nbd_set_tls_psk_file(3)) presents to the server; the key of that user is looked up in the PSK file. Without this setting, the USER environment variable is used, or, if it is not set, the login name of the process's effective user. nbd_connect_uri(3) also sets it from the user part of the URI or its tls-username parameter. X.509 certificates do not use it.

The string is copied. In a build without GnuTLS (see nbd_supports_tls(3)) it is stored but has no effect.`,
			Errors:  []Errno{{"ENOMEM", "Memory ran out while copying the name."}},
			SeeAlso: []string{"get_tls_username", "set_tls_psk_file", "set_tls"},
		},
		"get_tls_username": {
			Short:   "get the current TLS username",
			Long:    `Return a copy of the user name set by nbd_set_tls_username(3) or by a URI, otherwise the value of the USER environment variable (the empty string if it is not set; the TLS handshake then falls back to the login name, which this call does not report). The caller must free the string.`,
			Errors:  []Errno{{"ENOMEM", "Memory ran out while copying the name."}},
			SeeAlso: []string{"set_tls_username"},
		},
		"set_tls_hostname": {
			Short: "set the TLS hostname",
			Long: `Set the host name that TLS checks the server's certificate against (when nbd_set_tls_verify_peer(3) is true), instead of the host given to nbd_connect_tcp(3) or in a TCP URI. This is useful when the connection goes through a proxy or a tunnel, or over a transport without a host name (a Unix domain socket, vsock, a subprocess or an adopted socket), where otherwise only the certificate chain would be checked. The name is also sent to the server as the TLS server name indication (SNI), unless it is a numeric IP address; without this setting the TCP host is sent that way.

The string is copied. It only has an effect when TLS is used (nbd_set_tls(3)) with X.509 certificates, and must be set before connecting. nbd_connect_uri(3) also sets it from the tls-hostname parameter.

This call comes from libnbd 1.22.`,
			Errors:  []Errno{{"ENOMEM", "Memory ran out while copying the name."}},
			SeeAlso: []string{"get_tls_hostname", "set_tls", "set_tls_verify_peer"},
		},
		"get_tls_hostname": {
			Short: "get the effective TLS hostname",
			Long: `Return a copy of the host name set by nbd_set_tls_hostname(3), or the empty string if none was set (that is not an error). The caller must free the string.

This call comes from libnbd 1.22.`,
			Errors:  []Errno{{"ENOMEM", "Memory ran out while copying the name."}},
			SeeAlso: []string{"set_tls_hostname"},
		},
		"set_tls_psk_file": {
			Short: "set the TLS Pre-Shared Keys (PSK) filename",
			Long: `Use TLS with pre-shared keys (PSK) instead of X.509 certificates, reading the key from the named file. The file holds lines of the form "username:key", the key in hexadecimal, as written by psktool(1). The line used is that of the user name from nbd_set_tls_username(3), or, without it, of $USER, or else of the login name of the process's effective user. When this is set, the certificate settings (nbd_set_tls_certificates(3), nbd_set_tls_verify_peer(3)) are not used.

The file is read when the TLS handshake starts, not in this call: a file that cannot be opened, or has no line for the user, fails the connection (with open's errno, such as ENOENT, or with ENOENT for a missing user); a key that is not valid hexadecimal fails it with EINVAL.

The string is copied. nbd_get_uri(3) reports it as the tls-psk-file parameter. In a build without GnuTLS (see nbd_supports_tls(3)) it is stored but has no effect.`,
			Errors:  []Errno{{"ENOMEM", "Memory ran out while copying the path."}},
			SeeAlso: []string{"set_tls", "set_tls_username", "set_tls_certificates"},
		},
		"set_request_extended_headers": {
			Short: "control use of extended headers",
			Long: `Choose whether the handshake asks the server for extended headers (NBD_OPT_EXTENDED_HEADERS), the protocol extension with 32-byte request and reply headers carrying 64-bit lengths. The default is true. The option is sent first, before NBD_OPT_STRUCTURED_REPLY; when the server accepts, structured replies are implied (and not asked for separately); when it refuses, the handshake asks for structured replies instead. With extended headers, zero, trim, cache and block status requests may cover more than 4 GiB at once, block status reports 64-bit extents (nbd_block_status_64(3)), and a server may offer nbd_block_status_filter(3).

The setting means nothing when nbd_set_request_structured_replies(3) is false: extended headers imply structured replies, so neither is asked for. Turning it off is mainly useful for testing servers, or to see how a server behaves with compact headers.

This call comes from libnbd 1.18.`,
			SeeAlso: []string{"get_request_extended_headers", "get_extended_headers_negotiated", "opt_extended_headers", "set_request_structured_replies"},
		},
		"get_request_extended_headers": {
			Short: "see if extended headers are attempted",
			Long: `Return whether the handshake asks for extended headers (see nbd_set_request_extended_headers(3)).

This call comes from libnbd 1.18. The default is true, as in libnbd. Whether the server agreed is nbd_get_extended_headers_negotiated(3).`,
			SeeAlso: []string{"set_request_extended_headers"},
		},
		"set_request_structured_replies": {
			Short: "control use of structured replies",
			Long: `Choose whether the handshake asks the server for structured replies (NBD_OPT_STRUCTURED_REPLY). The default is true. Structured replies are needed for block status (nbd_block_status(3)), for the LIBNBD_CMD_FLAG_DF flag, for listing meta contexts, and let a read be answered in several chunks, with holes sent without data (nbd_pread_structured(3)). Turning the request off is mainly useful for testing servers.

The option is sent right after the server's greeting, before option mode (nbd_set_opt_mode(3)) hands over, so the setting must be made before connecting. Whether the server agreed is what nbd_get_structured_replies_negotiated(3) tells.`,
			SeeAlso: []string{"get_request_structured_replies", "get_structured_replies_negotiated", "opt_structured_reply", "block_status"},
		},
		"get_request_structured_replies": {
			Short:   "see if structured replies are attempted",
			Long:    `Return whether the handshake asks for structured replies (see nbd_set_request_structured_replies(3)). This is the request; whether the server agreed is what nbd_get_structured_replies_negotiated(3) tells.`,
			SeeAlso: []string{"set_request_structured_replies", "get_structured_replies_negotiated"},
		},
		"set_request_meta_context": {
			Short: "control whether connect automatically requests meta contexts",
			Long: `Choose whether the handshake sends NBD_OPT_SET_META_CONTEXT, with the meta contexts added by nbd_add_meta_context(3), before it selects the export with NBD_OPT_GO (or NBD_OPT_INFO, for nbd_opt_info(3)). The default is true. The request is only sent when structured replies were negotiated and at least one meta context was added; a server that refuses it is not an error, block status is then simply unavailable (nbd_can_meta_context(3)).

Turning it off is meant for option mode (nbd_set_opt_mode(3)), where the program may negotiate meta contexts itself (nbd_opt_set_meta_context(3)), or not at all; the contexts it agreed then stay in use. Left on, nbd_opt_go(3) negotiates again and replaces them. The setting is read when NBD_OPT_GO or NBD_OPT_INFO is about to be sent, so it may be changed while negotiating.`,
			SeeAlso: []string{"get_request_meta_context", "add_meta_context", "can_meta_context", "opt_set_meta_context", "set_opt_mode"},
		},
		"get_request_meta_context": {
			Short:   "see if connect automatically requests meta contexts",
			Long:    `Return whether the handshake requests the added meta contexts automatically before selecting the export (see nbd_set_request_meta_context(3)). The default is true.`,
			SeeAlso: []string{"set_request_meta_context"},
		},
		"set_handshake_flags": {
			Short: "control use of handshake flags",
			Long: `Choose which of the server's handshake flags the client accepts, a bitmask of:

- LIBNBD_HANDSHAKE_FLAG_FIXED_NEWSTYLE: use the fixed newstyle handshake, which allows options other than the export name (structured replies, NBD_OPT_GO, listing, option mode).
- LIBNBD_HANDSHAKE_FLAG_NO_ZEROES: ask the server to leave out the 124 bytes of padding after the export information.

The default is both flags, and the client only uses a flag the server also offers. Clearing flags is meant for testing how servers deal with older clients: without LIBNBD_HANDSHAKE_FLAG_FIXED_NEWSTYLE the handshake can only send the export name, so nothing else is negotiated and option mode is skipped.

The flags must be set before connecting.`,
			SeeAlso: []string{"get_handshake_flags", "get_protocol", "set_opt_mode"},
		},
		"get_handshake_flags": {
			Short:   "see which handshake flags are supported",
			Long:    `Return the handshake flags the client accepts, a bitmask of LIBNBD_HANDSHAKE_FLAG_* (see nbd_set_handshake_flags(3)). The default is LIBNBD_HANDSHAKE_FLAG_FIXED_NEWSTYLE | LIBNBD_HANDSHAKE_FLAG_NO_ZEROES.`,
			SeeAlso: []string{"set_handshake_flags"},
		},
		"set_pread_initialize": {
			Short: "control whether libnbd pre-initializes read buffers",
			Long: `Choose whether the library guarantees that a read buffer never keeps stale contents. libnbd does this by zeroing the buffer before the read is sent; this library zeroes it when the read fails, which gives the same guarantee without the cost of zeroing on every successful read: after nbd_pread(3), nbd_pread_structured(3), nbd_aio_pread(3) or nbd_aio_pread_structured(3) fails, whatever the reason (a refused argument, a server error, a lost connection), the whole buffer is zeroes. A successful read always fills the whole buffer.

The default is true. Turning it off saves nothing in this library except that buffer after a failure, whose contents are then unspecified.

The setting may be changed at any time; each read uses the value current when it completes.`,
			SeeAlso: []string{"get_pread_initialize", "pread", "aio_pread"},
		},
		"get_pread_initialize": {
			Short:   "see whether libnbd pre-initializes read buffers",
			Long:    `Return whether read buffers are guaranteed to hold no stale data after a failed read (see nbd_set_pread_initialize(3)). The default is true.`,
			SeeAlso: []string{"set_pread_initialize"},
		},
		"set_strict_mode": {
			Short: "control how strictly to follow NBD protocol",
			Long: `Choose which requests the library refuses by itself, before anything is sent, because the server would likely reject them or behave unpredictably. The argument is a bitmask of:

- LIBNBD_STRICT_COMMANDS: refuse a command the server did not advertise (for example nbd_flush(3) without nbd_can_flush(3), writes to a read-only export, block status without a negotiated meta context), and flags the server did not advertise (LIBNBD_CMD_FLAG_FUA, LIBNBD_CMD_FLAG_DF, LIBNBD_CMD_FLAG_FAST_ZERO).
- LIBNBD_STRICT_FLAGS: refuse a command flag the call does not accept, or one unknown to the library.
- LIBNBD_STRICT_BOUNDS: refuse a request that reaches past the end of the export.
- LIBNBD_STRICT_ZERO_SIZE: refuse a request of length 0.
- LIBNBD_STRICT_ALIGN: refuse a request whose offset or length is not a multiple of the server's minimum block size (nbd_get_block_size(3)).

The default is every check (LIBNBD_STRICT_MASK). A refused request fails with EINVAL (writing past the end with ENOSPC, writing to a read-only export with EPERM, block status without support with ENOTSUP), and the connection is not affected. With a check off, the request is sent and the server decides; this is meant for testing servers.

Some limits hold whatever the mode: a read or write may not exceed 64 MiB (or the server's maximum block size, if smaller), other lengths must fit in 32 bits unless extended headers were negotiated (nbd_get_extended_headers_negotiated(3)), command flags must fit in 16 bits, and LIBNBD_CMD_FLAG_PAYLOAD_LEN belongs to the library (ignored on writes and filtered block status, where the library sets it as the wire format needs; refused with EINVAL elsewhere).

The mode may be changed at any time; each request is checked against the mode current when it is made.`,
			SeeAlso: []string{"get_strict_mode", "pread", "pwrite", "zero", "get_block_size"},
		},
		"get_strict_mode": {
			Short:   "see which strictness flags are in effect",
			Long:    `Return the current strictness flags, a bitmask of LIBNBD_STRICT_* (see nbd_set_strict_mode(3)). The default is LIBNBD_STRICT_MASK, every check.`,
			SeeAlso: []string{"set_strict_mode"},
		},
	})
}
