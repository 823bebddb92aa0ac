package api

// Documentation of the connect calls (synchronous and asynchronous), the
// subprocess calls, socket activation and the URI calls.  Facts follow
// libnbd's manual pages and the NBD protocol and URI documents; the
// wording is this project's own.

// connectSync is the paragraph every synchronous connect call shares.
const connectSync = `The call returns when the handshake has finished: the handle is then connected and ready for commands, or, in option mode (nbd_set_opt_mode(3)), negotiating and waiting for nbd_opt_* calls. If the connection or the handshake fails, the call returns -1 and the handle is dead (nbd_aio_is_dead(3)); close it and create a new one to try again.`

// connectAsync is the paragraph every asynchronous connect call shares.
const connectAsync = `The call only starts the connection: it returns 0 as soon as the connection is under way, without waiting for it. While the socket connects and the library runs the handshake, nbd_aio_is_connecting(3) is true; when the handshake has finished, nbd_aio_is_ready(3) becomes true (or nbd_aio_is_negotiating(3), in option mode), and if it fails, nbd_aio_is_dead(3). The program must drive the connection in the meantime, with nbd_poll(3), or from its own event loop with nbd_aio_get_fd(3), nbd_aio_get_direction(3), nbd_aio_notify_read(3) and nbd_aio_notify_write(3).`

// tlsRefusedSync is the ENOTSUP row of the synchronous connect calls.
const tlsRefusedSync = `TLS is required (nbd_set_tls(3), or an nbds URI) but the server refused NBD_OPT_STARTTLS, or speaks the oldstyle or plain newstyle handshake, which cannot start TLS (the handle is dead; there is never a fallback to plaintext); or the library was built without GnuTLS (nbd_supports_tls(3) is false), in which case the call fails before opening anything and the handle stays created.`

// tlsUnbuiltAsync is the ENOTSUP row of the asynchronous connect calls:
// a server that refuses TLS is reported later, by the call that drives
// the handshake, with the errors of the synchronous form.
const tlsUnbuiltAsync = `nbd_set_tls(3) requires TLS and the library was built without GnuTLS (nbd_supports_tls(3) is false): the call fails before opening anything and the handle stays created. (A server that refuses TLS is reported later, with ENOTSUP, by the call that drives the handshake.)`

// tlsAuthFailed is the EACCES row of the synchronous connect calls.
const tlsAuthFailed = `TLS was used and the TLS handshake failed: the server's certificate was rejected (its chain is not trusted, or it does not carry the expected name; see nbd_set_tls_verify_peer(3)), or the server refused our certificate or pre-shared key with a TLS alert. The error message gives GnuTLS's reason; the handle is dead. (Many servers refuse a client's certificate or key by closing the connection instead, which is ECONNRESET.)`

func init() {
	addDocs(map[string]Doc{
		"connect_uri": {
			Short: "connect to NBD URI",
			Long: `Connect to the server and export that an NBD URI names, and run the handshake. The URI forms follow the NBD URI specification:

  nbd://HOST[:PORT]/EXPORT              TCP (PORT defaults to 10809)
  nbd+unix:///EXPORT?socket=PATH        Unix domain socket
  nbd+vsock://CID[:PORT]/EXPORT         AF_VSOCK (CID defaults to 2)
  nbds://, nbds+unix://, nbds+vsock://  the same with TLS required

The export name is the path after the first "/", percent-decoded; it is empty (the server's default export) when the URI has no path. A host in square brackets is an IPv6 address. A user name before "@" sets the TLS user name (nbd_set_tls_username(3)); a password is ignored. These query parameters are understood: "socket" (the Unix socket's path, required by nbd+unix), "tls-certificates" (as nbd_set_tls_certificates(3)), "tls-psk-file" (as nbd_set_tls_psk_file(3)), "tls-verify-peer" (a boolean, as nbd_set_tls_verify_peer(3)), and, as in libnbd 1.22, "tls-username" (as nbd_set_tls_username(3); it wins over a user name before "@") and "tls-hostname" (as nbd_set_tls_hostname(3)); other parameters are ignored, and for a parameter given twice the last one counts. The scheme must be written in lower case.

The URI may be refused by the policy set on the handle: a transport not allowed by nbd_set_uri_allow_transports(3), a TLS choice not allowed by nbd_set_uri_allow_tls(3), or a local file (tls-psk-file, tls-certificates) when nbd_set_uri_allow_local_file(3) did not allow it, fails with EPERM.

An nbds scheme sets LIBNBD_TLS_REQUIRE (nbd_set_tls(3)): the connection fails rather than go on in plaintext if the server refuses TLS. A plain nbd scheme leaves the handle's TLS setting as it was. The TLS parameters, with either scheme, are applied as if set with the corresponding nbd_set_tls_* call, and nbd_get_uri(3) reports them. In a build without GnuTLS (nbd_supports_tls(3) false) the nbds schemes fail with ENOTSUP before anything is opened. Where the parser is stricter than libnbd 1.14: a port above 65535, a "%00" escape, a malformed escape and an unknown tls-verify-peer value are errors (EINVAL).

` + connectSync + ` A TCP URI whose host resolves to several addresses tries each in turn, as nbd_connect_tcp(3) does.`,
			Errors: []Errno{
				{"EINVAL", "uri is not a valid NBD URI (unknown scheme, bad port or CID, bad percent escape, missing socket parameter for nbd+unix); or a TLS credential file could not be loaded (the handle is dead)."},
				{"EPERM", "The URI's transport or TLS choice is not allowed by nbd_set_uri_allow_transports(3) or nbd_set_uri_allow_tls(3), or it names a local file that nbd_set_uri_allow_local_file(3) did not allow."},
				{"ENOTSUP", tlsRefusedSync},
				{"EACCES", tlsAuthFailed},
				{"ENAMETOOLONG", "The export name is longer than 4096 bytes, or the Unix socket path does not fit in a socket address."},
				{"ENOENT", "The host name could not be resolved; or a TLS credential file is missing (the certificates directory, the client key beside client-cert.pem, the PSK file or its line for the user; the handle is dead)."},
				{"ECONNREFUSED", "No server listens at the address (other errors of connect(2) are possible)."},
				{"EPROTO", "The server broke the protocol during the handshake, or the TLS handshake failed for a reason other than those above (including unencrypted bytes after the server agreed to NBD_OPT_STARTTLS)."},
				{"ECONNRESET", "The server closed the connection during the handshake, the TLS handshake included: this is how most servers refuse our TLS certificate or pre-shared key (the handle is dead)."},
			},
			SeeAlso: []string{"aio_connect_uri", "get_uri", "is_uri", "supports_uri", "set_uri_allow_transports", "set_uri_allow_tls", "set_uri_allow_local_file", "connect_tcp", "connect_unix", "connect_vsock", "set_opt_mode"},
		},
		"connect_unix": {
			Short: "connect to NBD server over a Unix domain socket",
			Long: `Connect to a server listening on the Unix domain socket unixsocket, a path in the file system, and run the handshake. The path must be at least 1 byte and fit in a socket address (107 bytes on Linux).

` + connectSync,
			Errors: []Errno{
				{"ENAMETOOLONG", "unixsocket is empty or too long for a socket address."},
				{"ENOTSUP", tlsRefusedSync},
				{"EACCES", tlsAuthFailed},
				{"ENOENT", "No socket exists at that path (the handle is dead)."},
				{"ECONNREFUSED", "Nothing listens on the socket (the handle is dead)."},
				{"EPROTO", "The server broke the protocol during the handshake, or the TLS handshake failed for a reason other than those above (including unencrypted bytes after the server agreed to NBD_OPT_STARTTLS)."},
				{"ECONNRESET", "The server closed the connection during the handshake, the TLS handshake included: this is how most servers refuse our TLS certificate or pre-shared key (the handle is dead)."},
			},
			SeeAlso: []string{"aio_connect_unix", "connect_uri", "connect_socket"},
		},
		"connect_vsock": {
			Short: "connect to NBD server over AF_VSOCK protocol",
			Long: `Connect to a server listening on the AF_VSOCK address cid:port, and run the handshake. AF_VSOCK (vsock(7)) carries stream connections between virtual machines and their host without a network: cid names the machine (2, VMADDR_CID_HOST, is the host as seen from a guest; 1, VMADDR_CID_LOCAL, is the local machine when the kernel's loopback transport is loaded) and port the service on it. Both are 32-bit numbers.

` + connectSync + `

The kernel must support AF_VSOCK (nbd_supports_vsock(3) reports whether the library was built with it; the running kernel may still lack it, which fails with EAFNOSUPPORT).`,
			Errors: []Errno{
				{"ENOTSUP", tlsRefusedSync},
				{"EACCES", tlsAuthFailed},
				{"EAFNOSUPPORT", "The kernel has no AF_VSOCK support (the handle is dead)."},
				{"ECONNREFUSED", "Nothing listens on that port of that CID, or the CID is unknown (other errors of connect(2), such as ENODEV or ETIMEDOUT, are possible; the handle is dead)."},
				{"EPROTO", "The server broke the protocol during the handshake, or the TLS handshake failed for a reason other than those above (including unencrypted bytes after the server agreed to NBD_OPT_STARTTLS)."},
				{"ECONNRESET", "The server closed the connection during the handshake, the TLS handshake included: this is how most servers refuse our TLS certificate or pre-shared key (the handle is dead)."},
			},
			SeeAlso: []string{"aio_connect_vsock", "supports_vsock", "connect_uri"},
		},
		"connect_tcp": {
			Short: "connect to NBD server over a TCP port",
			Long: `Connect to a server over TCP and run the handshake. hostname is a host name or a numeric IPv4 or IPv6 address; port is a port number or a service name from services(5) (such as "nbd"), both passed as strings, and resolved with getaddrinfo(3). The socket gets TCP_NODELAY.

When the name resolves to several addresses, they are tried in order until one accepts the connection. If every address fails, the call returns -1 with the errno of the last failure, and the handle goes back to the created state, so the same handle may try again (with the same or other settings). A failure during the handshake, after a connection was made, makes the handle dead.

` + connectSync,
			Errors: []Errno{
				{"ENOENT", "hostname or port could not be resolved (the handle stays created)."},
				{"EINVAL", "getaddrinfo(3) rejected the name for another reason."},
				{"ENOTSUP", tlsRefusedSync},
				{"EACCES", tlsAuthFailed},
				{"ECONNREFUSED", "No address accepted the connection (other errors of connect(2) are possible; the handle is created again)."},
				{"EPROTO", "The server broke the protocol during the handshake, or the TLS handshake failed for a reason other than those above (including unencrypted bytes after the server agreed to NBD_OPT_STARTTLS)."},
				{"ECONNRESET", "The server closed the connection during the handshake, the TLS handshake included: this is how most servers refuse our TLS certificate or pre-shared key (the handle is dead)."},
			},
			SeeAlso: []string{"aio_connect_tcp", "connect_uri", "connect"},
		},
		"connect_socket": {
			Short: "connect directly to a connected socket",
			Long: `Run the NBD handshake over sock, a stream socket that the program has already connected to a server in its own way: for example a TCP socket with special options, one end of a socketpair(2), or a socket received from another process. The handle must be newly created.

Ownership of the socket passes to the library when the call takes it. From then on the library reads and writes it, makes it non-blocking and close-on-exec, and closes it: when the connection dies or is shut down, or at the latest in nbd_close(3). The program must not use, or close, that file descriptor again. Note that O_NONBLOCK belongs to the open file description, so copies of the descriptor made with dup(2) see the change too.

If the call fails before it takes the socket (the handle was not newly created, sock is negative, not a file descriptor or not a socket, or TLS is required), the caller still owns sock and must close it. If it fails later, during the handshake, the library owns the socket all the same. On a newly created handle the two cases are easy to tell apart: after a failure, nbd_aio_is_created(3) is still true if the socket was not taken, and false if it was (the handle is then dead).

` + connectSync,
			Errors: []Errno{
				{"EBADF", "sock is negative, or is not an open file descriptor (the caller keeps it)."},
				{"ENOTSOCK", "sock is open but is not a socket (the caller keeps it). This library checks it before taking the descriptor; libnbd takes it and fails in the handshake."},
				{"ENOTSUP", tlsRefusedSync + " In the first case the library owns the socket; in the second the caller keeps it."},
				{"EACCES", tlsAuthFailed},
				{"EPROTO", "The server broke the protocol during the handshake, or the TLS handshake failed for a reason other than those above (including unencrypted bytes after the server agreed to NBD_OPT_STARTTLS) (the library owns the socket)."},
				{"ECONNRESET", "The peer closed or reset the connection during the handshake (the TLS handshake included) (the library owns the socket)."},
			},
			Example: `struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
struct nbd_handle *h;
int sock;

/* Connect the socket ourselves, for example to set options first. */
if (getaddrinfo ("server.example.com", "10809", &hints, &ai) != 0)
  exit (EXIT_FAILURE);
sock = socket (ai->ai_family, ai->ai_socktype, ai->ai_protocol);
if (sock == -1 || connect (sock, ai->ai_addr, ai->ai_addrlen) == -1) {
  perror ("connect");
  exit (EXIT_FAILURE);
}
freeaddrinfo (ai);

h = nbd_create ();
if (h == NULL || nbd_connect_socket (h, sock) == -1) {
  fprintf (stderr, "%s\n", nbd_get_error ());
  /* Still created: the library did not take the socket. */
  if (h == NULL || nbd_aio_is_created (h))
    close (sock);
  nbd_close (h);
  exit (EXIT_FAILURE);
}
/* From here on the socket belongs to h. */
printf ("export size: %" PRIi64 "\n", nbd_get_size (h));
nbd_shutdown (h, 0);
nbd_close (h);                  /* closes sock */`,
			SeeAlso: []string{"aio_connect_socket", "connect_command", "create", "close", "aio_is_created", "connect"},
		},
		"connect_command": {
			Short: "connect to NBD server command",
			Long: `Start a server as a subprocess and talk NBD with it over its standard input and output. argv is the command and its arguments, ending with a NULL pointer; argv[0] is looked up in PATH (execvp(3)). The strings are used before the call returns, so the caller keeps ownership of them.

The subprocess gets one end of a socket pair as both its standard input and its standard output; its standard error is the program's. Its signal dispositions are reset to the defaults and no signal is blocked. The server must be told to serve a single client on standard input and output, for example "nbdkit -s ..." or "qemu-nbd" given the right options; the subprocess starts with the environment of the program.

The handle remembers the subprocess: nbd_get_subprocess_pid(3) returns its process ID and nbd_kill_subprocess(3) sends it a signal. nbd_close(3) closes the socket, which ends most servers, and waits for the subprocess to exit.

If argv[0] cannot be found (along PATH when it has no slash) or is not executable, the call fails with ENOENT before starting anything, and the handle stays newly created; libnbd instead starts the subprocess, which fails, and the handshake then fails. If the program starts but is not an NBD server, the handshake fails and the handle is dead.

` + connectSync,
			Errors: []Errno{
				{"ENOENT", "argv[0] was not found, or is not executable (checked before forking)."},
				{"EINVAL", "argv is empty (argv[0] is NULL)."},
				{"ENOTSUP", tlsRefusedSync},
				{"EACCES", tlsAuthFailed},
				{"EAGAIN", "fork(2) failed for lack of resources (other errors of socketpair(2) and fork(2) are possible)."},
				{"ECONNRESET", "The subprocess exited, or closed its end, during the handshake (the TLS handshake included) (the handle is dead)."},
				{"EPROTO", "The subprocess broke the protocol during the handshake, or the TLS handshake failed for a reason other than those above (including unencrypted bytes after the server agreed to NBD_OPT_STARTTLS)."},
			},
			SeeAlso: []string{"aio_connect_command", "connect_systemd_socket_activation", "kill_subprocess", "get_subprocess_pid", "connect_socket"},
		},
		"connect_systemd_socket_activation": {
			Short: "connect using systemd socket activation",
			Long: `Start a server as a subprocess using the systemd socket activation protocol, then connect to it and run the handshake. argv is the command and its arguments, ending with a NULL pointer; argv[0] is looked up in PATH.

The library creates a listening Unix domain socket in a new private directory under /tmp, and starts the subprocess with that socket as file descriptor 3 and the environment variables LISTEN_PID (the subprocess's own process ID) and LISTEN_FDS=1, plus LISTEN_FDNAMES if nbd_set_socket_activation_name(3) gave the socket a name. Servers that understand socket activation, such as nbdkit(1) and qemu-nbd(8), then accept the library's connection on it. The directory and the socket are removed by nbd_close(3).

As with nbd_connect_command(3), the handle remembers the subprocess (nbd_get_subprocess_pid(3), nbd_kill_subprocess(3)) and nbd_close(3) waits for it; standard input, output and error are the program's.

` + connectSync,
			Errors: []Errno{
				{"EINVAL", "argv is empty (argv[0] is NULL)."},
				{"ENOTSUP", tlsRefusedSync},
				{"EACCES", tlsAuthFailed},
				{"ENOMEM", "Memory ran out (other errors of mkdtemp(3), socket(2), bind(2), listen(2) and fork(2) are possible)."},
				{"ECONNRESET", "The subprocess exited, or closed the connection, during the handshake (the TLS handshake included) (the handle is dead)."},
				{"EPROTO", "The subprocess broke the protocol during the handshake, or the TLS handshake failed for a reason other than those above (including unencrypted bytes after the server agreed to NBD_OPT_STARTTLS)."},
			},
			SeeAlso: []string{"aio_connect_systemd_socket_activation", "set_socket_activation_name", "connect_command", "kill_subprocess", "get_subprocess_pid"},
		},
		"set_socket_activation_name": {
			Short: "set the socket activation name",
			Long: `Name the socket that nbd_connect_systemd_socket_activation(3) passes to the subprocess: the name is given to it in the LISTEN_FDNAMES environment variable, which some servers use to tell their sockets apart. By default the name is empty and LISTEN_FDNAMES is not set.

The string is copied. Following systemd's rules, this library accepts a name of at most 255 printable ASCII characters without spaces or colons; the empty string removes the name.`,
			Errors: []Errno{
				{"EINVAL", "socket_name is longer than 255 characters, or has a space, a colon or a character outside printable ASCII."},
				{"ENOMEM", "Memory ran out while copying the name."},
			},
			SeeAlso: []string{"get_socket_activation_name", "connect_systemd_socket_activation"},
		},
		"get_socket_activation_name": {
			Short:   "get the socket activation name",
			Long:    `Return a copy of the name set by nbd_set_socket_activation_name(3), or the empty string if none was set. The caller must free the string.`,
			Errors:  []Errno{{"ENOMEM", "Memory ran out while copying the name."}},
			SeeAlso: []string{"set_socket_activation_name"},
		},
		"aio_connect": {
			Short: "connect to the NBD server",
			Long: `Start connecting to a server at the socket address addr, addrlen bytes long, of any family the kernel supports for stream sockets: AF_INET, AF_INET6, AF_UNIX or AF_VSOCK. The address is copied before the call returns. A socket of the address's family is created, non-blocking and close-on-exec, and connected without waiting.

` + connectAsync + `

If the connect fails at once (for example ECONNREFUSED on a Unix socket), the call returns -1 and the handle is dead. nbd_connect(3), an extension of this library, is the synchronous form of this call.`,
			Errors: []Errno{
				{"EINVAL", "addrlen is shorter than the address family field or longer than struct sockaddr_storage."},
				{"ENOTSUP", tlsUnbuiltAsync},
				{"ECONNREFUSED", "The connect failed at once (other errors of socket(2) and connect(2) are possible; the handle is dead)."},
			},
			SeeAlso: []string{"connect", "aio_connect_tcp", "aio_connect_unix", "aio_is_connecting", "aio_is_ready", "poll"},
		},
		"connect": {
			Short: "connect to the NBD server at a socket address",
			Long: `Connect to a server at the socket address addr, addrlen bytes long (AF_INET, AF_INET6, AF_UNIX or AF_VSOCK), and run the handshake. This is the synchronous form of nbd_aio_connect(3), which libnbd lacks: it saves resolving names or building a URI when the program already holds an address. The address is copied before the call returns.

` + connectSync + ` Unlike nbd_connect_tcp(3), there is a single address, so a failed connect makes the handle dead too.`,
			Errors: []Errno{
				{"EINVAL", "addrlen is shorter than the address family field or longer than struct sockaddr_storage."},
				{"ENOTSUP", tlsRefusedSync},
				{"EACCES", tlsAuthFailed},
				{"ECONNREFUSED", "Nothing listens at the address (other errors of socket(2) and connect(2) are possible; the handle is dead)."},
				{"EPROTO", "The server broke the protocol during the handshake, or the TLS handshake failed for a reason other than those above (including unencrypted bytes after the server agreed to NBD_OPT_STARTTLS)."},
				{"ECONNRESET", "The server closed the connection during the handshake, the TLS handshake included: this is how most servers refuse our TLS certificate or pre-shared key (the handle is dead)."},
			},
			SeeAlso: []string{"aio_connect", "connect_tcp", "connect_socket"},
		},
		"aio_connect_uri": {
			Short: "connect to an NBD URI",
			Long: `Start connecting to the server and export that an NBD URI names. The URI is parsed, checked against the handle's policy and applied exactly as by nbd_connect_uri(3), which describes the forms and the parameters.

` + connectAsync + `

For a TCP URI the host name is resolved (getaddrinfo(3)) during this call, which may block.`,
			Errors: []Errno{
				{"EINVAL", "uri is not a valid NBD URI."},
				{"EPERM", "The URI's transport or TLS choice is not allowed by nbd_set_uri_allow_transports(3) or nbd_set_uri_allow_tls(3), or it names a local file that nbd_set_uri_allow_local_file(3) did not allow."},
				{"ENOTSUP", tlsUnbuiltAsync},
				{"ENOENT", "The host name could not be resolved."},
			},
			SeeAlso: []string{"connect_uri", "aio_is_connecting", "aio_is_ready", "poll"},
		},
		"aio_connect_unix": {
			Short: "connect to the NBD server over a Unix domain socket",
			Long: `Start connecting to a server listening on the Unix domain socket unixsocket. The argument is the same as for nbd_connect_unix(3).

` + connectAsync,
			Errors: []Errno{
				{"ENAMETOOLONG", "unixsocket is empty or too long for a socket address."},
				{"ENOTSUP", tlsUnbuiltAsync},
				{"ENOENT", "No socket exists at that path (the handle is dead)."},
				{"ECONNREFUSED", "Nothing listens on the socket (the handle is dead)."},
			},
			SeeAlso: []string{"connect_unix", "aio_is_connecting", "aio_is_ready", "poll"},
		},
		"aio_connect_vsock": {
			Short: "connect to the NBD server over AF_VSOCK protocol",
			Long: `Start connecting to a server listening on the AF_VSOCK address cid:port, without blocking. cid names the machine: 2 (VMADDR_CID_HOST) is the host as seen from a virtual machine, 1 (VMADDR_CID_LOCAL) the local machine when the kernel's vsock loopback transport is loaded, and other numbers are guests. port is the server's port on it. Both are 32-bit numbers, passed as they are in a struct sockaddr_vm (see vsock(7)).

The call creates a non-blocking, close-on-exec AF_VSOCK stream socket, which the handle owns, and starts connect(2) on it. It returns 0 as soon as the connection is under way (or already made), without waiting for the server. From then on:

- nbd_aio_is_connecting(3) is true while the socket connects and while the library runs the handshake by itself;
- nbd_aio_is_ready(3) becomes true when the handshake has finished and the handle is ready for commands (in option mode, nbd_set_opt_mode(3), nbd_aio_is_negotiating(3) becomes true instead);
- nbd_aio_is_dead(3) becomes true if the connect or the handshake fails; nbd_get_error(3) and nbd_get_errno(3), after the call that drove the connection failed, say why.

Nothing happens on the connection unless the program drives it. The simplest way is to call nbd_poll(3) until nbd_aio_is_connecting(3) turns false. A program with its own event loop instead waits on the descriptor from nbd_aio_get_fd(3) for the events nbd_aio_get_direction(3) asks for, and reports them with nbd_aio_notify_read(3) and nbd_aio_notify_write(3):

  while (nbd_aio_is_connecting (h)) {
    struct pollfd pfd = { .fd = nbd_aio_get_fd (h) };
    unsigned dir = nbd_aio_get_direction (h);
    if (dir & LIBNBD_AIO_DIRECTION_READ) pfd.events |= POLLIN;
    if (dir & LIBNBD_AIO_DIRECTION_WRITE) pfd.events |= POLLOUT;
    if (poll (&pfd, 1, -1) == -1) { perror ("poll"); break; }
    if ((pfd.revents & (POLLIN | POLLHUP | POLLERR)) &&
        nbd_aio_notify_read (h) == -1) break;
    else if ((pfd.revents & POLLOUT) &&
             nbd_aio_notify_write (h) == -1) break;
  }

The connect itself never blocks the caller. If it fails at once (the kernel has no AF_VSOCK support, or refuses the address), this call returns -1 and the handle is dead; a failure found later is reported by the nbd_poll(3) or notify call that finds it.

nbd_connect_vsock(3) is the synchronous form of this call. The kernel must support AF_VSOCK: nbd_supports_vsock(3) tells whether the library was built with it, and a kernel without it fails the call with EAFNOSUPPORT.`,
			Errors: []Errno{
				{"ENOTSUP", tlsUnbuiltAsync},
				{"EAFNOSUPPORT", "The kernel has no AF_VSOCK support (the handle is dead)."},
				{"ECONNREFUSED", "The connect failed at once (other errors of socket(2) and connect(2), such as ENODEV or ENETUNREACH, are possible; the handle is dead)."},
			},
			Example: `struct nbd_handle *h = nbd_create ();
uint32_t cid = 2;               /* VMADDR_CID_HOST: the host, from a guest */
uint32_t port = 10809;

if (h == NULL) {
  fprintf (stderr, "%s\n", nbd_get_error ());
  exit (EXIT_FAILURE);
}
if (nbd_aio_connect_vsock (h, cid, port) == -1) {
  fprintf (stderr, "%s\n", nbd_get_error ());
  nbd_close (h);
  exit (EXIT_FAILURE);
}
/* The call returned at once: drive the connection and the
 * handshake until they are over. */
while (nbd_aio_is_connecting (h)) {
  if (nbd_poll (h, -1) == -1) {
    fprintf (stderr, "%s (errno %d)\n", nbd_get_error (), nbd_get_errno ());
    nbd_close (h);
    exit (EXIT_FAILURE);
  }
}
if (!nbd_aio_is_ready (h)) {
  fprintf (stderr, "not connected: %s\n", nbd_connection_state (h));
  nbd_close (h);
  exit (EXIT_FAILURE);
}
printf ("export size: %" PRIi64 "\n", nbd_get_size (h));
nbd_shutdown (h, 0);
nbd_close (h);`,
			SeeAlso: []string{"connect_vsock", "aio_is_connecting", "aio_is_ready", "aio_is_dead", "poll", "aio_get_fd", "aio_get_direction", "aio_notify_read", "aio_notify_write", "supports_vsock", "aio_connect"},
		},
		"aio_connect_tcp": {
			Short: "connect to the NBD server over a TCP port",
			Long: `Start connecting to a server over TCP. The arguments are the same as for nbd_connect_tcp(3). The name is resolved (getaddrinfo(3)) during this call, which may block; the connect itself does not.

` + connectAsync + `

When the name resolves to several addresses and a connect fails, the next address is tried, as the event loop runs. If every address fails, the nbd_poll(3) or notify call that finds the last failure returns -1 with its errno, and the handle goes back to the created state.`,
			Errors: []Errno{
				{"ENOENT", "hostname or port could not be resolved (the handle stays created)."},
				{"EINVAL", "getaddrinfo(3) rejected the name for another reason."},
				{"ENOTSUP", tlsUnbuiltAsync},
				{"ECONNREFUSED", "Every address failed at once (the handle is created again)."},
			},
			SeeAlso: []string{"connect_tcp", "aio_is_connecting", "aio_is_ready", "poll"},
		},
		"aio_connect_socket": {
			Short: "connect directly to a connected socket",
			Long: `Start the NBD handshake over sock, a stream socket the program has already connected to a server. Ownership works as for nbd_connect_socket(3): if the call fails (the handle was not newly created, sock is negative or not a file descriptor, or TLS is required), the caller still owns the socket, and a newly created handle stays created; once the call succeeds, the library owns the socket, makes it non-blocking and close-on-exec, and closes it, whatever happens to the connection afterwards.

The handshake starts at once, so nbd_aio_is_connecting(3) is true when the call returns; it then proceeds as the program drives the connection with nbd_poll(3) or its own event loop, until nbd_aio_is_ready(3) (nbd_aio_is_negotiating(3) in option mode) or nbd_aio_is_dead(3) becomes true.`,
			Errors: []Errno{
				{"EBADF", "sock is negative, or is not an open file descriptor (the caller keeps it)."},
				{"ENOTSOCK", "sock is open but is not a socket (the caller keeps it). This library checks it before taking the descriptor; libnbd takes it and fails in the handshake."},
				{"ENOTSUP", tlsUnbuiltAsync + " The caller keeps the socket."},
			},
			SeeAlso: []string{"connect_socket", "aio_is_connecting", "aio_is_ready", "poll"},
		},
		"aio_connect_command": {
			Short: "connect to the NBD server",
			Long:  `Start a server as a subprocess talking NBD over its standard input and output, as nbd_connect_command(3) describes, and start the handshake with it. The subprocess is started during this call; the handshake proceeds as the program drives the connection with nbd_poll(3) or its own event loop, until nbd_aio_is_ready(3) (nbd_aio_is_negotiating(3) in option mode) or nbd_aio_is_dead(3) becomes true.`,
			Errors: []Errno{
				{"EINVAL", "argv is empty (argv[0] is NULL)."},
				{"ENOTSUP", tlsUnbuiltAsync},
				{"EAGAIN", "fork(2) failed for lack of resources (other errors of socketpair(2) and fork(2) are possible)."},
			},
			SeeAlso: []string{"connect_command", "kill_subprocess", "get_subprocess_pid", "poll"},
		},
		"aio_connect_systemd_socket_activation": {
			Short: "connect using systemd socket activation",
			Long:  `Start a server as a subprocess with systemd socket activation, as nbd_connect_systemd_socket_activation(3) describes, and start connecting to it. The listening socket and the subprocess are set up during this call; the connection and the handshake proceed as the program drives them with nbd_poll(3) or its own event loop, until nbd_aio_is_ready(3) (nbd_aio_is_negotiating(3) in option mode) or nbd_aio_is_dead(3) becomes true.`,
			Errors: []Errno{
				{"EINVAL", "argv is empty (argv[0] is NULL)."},
				{"ENOTSUP", tlsUnbuiltAsync},
				{"ENOMEM", "Memory ran out (other errors of mkdtemp(3), socket(2), bind(2), listen(2) and fork(2) are possible)."},
			},
			SeeAlso: []string{"connect_systemd_socket_activation", "set_socket_activation_name", "poll"},
		},
		"kill_subprocess": {
			Short: "kill server running as a subprocess",
			Long: `Send the signal signum to the server subprocess that nbd_connect_command(3) or nbd_connect_systemd_socket_activation(3) started (and their asynchronous forms). signum 0 means SIGTERM. The call does not wait for the subprocess to exit; nbd_close(3) does.

Killing the server makes the connection fail the next time the library reads from or writes to it, unless it was already shut down.`,
			Errors: []Errno{
				{"ESRCH", "The handle has no subprocess."},
				{"EINVAL", "signum is not a valid signal number."},
			},
			SeeAlso: []string{"get_subprocess_pid", "connect_command", "connect_systemd_socket_activation", "close"},
		},
		"get_subprocess_pid": {
			Short:   "get the process ID of the subprocess",
			Long:    `Return the process ID of the server subprocess that nbd_connect_command(3) or nbd_connect_systemd_socket_activation(3) (or their asynchronous forms) started. The subprocess stays the handle's: the program may send it signals, but must not wait for it (waitpid(2)), since nbd_close(3) does. The process ID stays valid until nbd_close(3).`,
			Errors:  []Errno{{"ESRCH", "The handle has no subprocess."}},
			SeeAlso: []string{"kill_subprocess", "connect_command", "connect_systemd_socket_activation"},
		},
		"set_uri_allow_transports": {
			Short:   "set the allowed transports in NBD URIs",
			Long:    `Limit the transports that nbd_connect_uri(3) and nbd_aio_connect_uri(3) accept, for programs that take URIs from untrusted sources. mask is a bitmask of LIBNBD_ALLOW_TRANSPORT_TCP (nbd:// and nbds://), LIBNBD_ALLOW_TRANSPORT_UNIX (nbd+unix:// and nbds+unix://) and LIBNBD_ALLOW_TRANSPORT_VSOCK (nbd+vsock:// and nbds+vsock://). A URI with another transport fails with EPERM. The default allows all (LIBNBD_ALLOW_TRANSPORT_MASK).`,
			SeeAlso: []string{"connect_uri", "set_uri_allow_tls", "set_uri_allow_local_file"},
		},
		"set_uri_allow_tls": {
			Short: "set the allowed TLS settings in NBD URIs",
			Long: `Limit the TLS choices that nbd_connect_uri(3) and nbd_aio_connect_uri(3) accept: with LIBNBD_TLS_DISABLE, a URI that asks for TLS (an nbds scheme) fails with EPERM; with LIBNBD_TLS_REQUIRE, a URI without TLS fails with EPERM; LIBNBD_TLS_ALLOW, the default, accepts both. This only judges the URI; an allowed nbds URI then sets the handle's own TLS setting (nbd_set_tls(3)) to LIBNBD_TLS_REQUIRE.

In a build without GnuTLS (nbd_supports_tls(3) false), an nbds URI that the policy allows still fails, with ENOTSUP.`,
			SeeAlso: []string{"connect_uri", "set_uri_allow_transports", "set_tls"},
		},
		"set_uri_allow_local_file": {
			Short: "allow NBD URIs to name local files",
			Long: `Choose whether an NBD URI given to nbd_connect_uri(3) may make the library read a local file, through the tls-psk-file (and tls-certificates) query parameters. In libnbd such a URI fails with EPERM unless this is true; the default is false, so that a URI from an untrusted source cannot make the program read files.

This library checks it the same way: nbd_connect_uri(3) and nbd_aio_connect_uri(3) fail with EPERM for a URI with tls-psk-file or tls-certificates unless this is true.`,
			SeeAlso: []string{"connect_uri", "set_uri_allow_transports", "set_tls_psk_file"},
		},
		"get_uri": {
			Short: "construct an NBD URI for a connection",
			Long: `Build an NBD URI that names the connection of the handle, so that it could be reached again with nbd_connect_uri(3): the transport and address given to the connect call (TCP host and port, Unix socket path, or vsock CID and port), the export name, and the TLS settings (an nbds scheme when nbd_set_tls(3) is LIBNBD_TLS_REQUIRE, the user name if a URI gave it, tls-certificates and tls-psk-file, and tls-verify-peer=false when verification is off; tls-hostname is not included). This is best effort: the URI is not guaranteed to work, and it carries nothing the URI format cannot express.

Connections made with nbd_connect_socket(3) or nbd_connect_command(3), and nbd_aio_connect(3) to an abstract Unix socket, have no URI: the call fails with EINVAL (libnbd's errno). nbd_aio_connect(3) to an IP, Unix or vsock address, and nbd_connect_systemd_socket_activation(3) (a Unix socket), have one. Characters that the URI syntax reserves are percent-encoded, in the export name and in the query values alike (libnbd writes a socket path in the query as it stands). The caller must free the string.`,
			Errors: []Errno{
				{"EINVAL", "The connection was made over an adopted socket or a command's socketpair (or an abstract Unix socket), so no URI describes it."},
				{"ENOMEM", "Memory ran out."},
			},
			SeeAlso: []string{"connect_uri", "is_uri", "supports_uri"},
		},
		"is_uri": {
			Short: "detect if a string could be an NBD URI",
			Long: `Tell whether the string uri looks like an NBD URI: true if it does, false if not. This lets a program take either a URI or something else, such as a file name, in the same argument, as nbdcopy(1) does.

In libnbd the test is a heuristic. In this library it is the parser that nbd_connect_uri(3) uses: true means the string is a well-formed NBD URI (known scheme, valid authority, escapes and parameters). It does not mean that connecting will work: the handle's policy (nbd_set_uri_allow_transports(3), nbd_set_uri_allow_tls(3)), whether this build supports TLS, and the server's reachability are not considered. The handle is not changed, and the call is permitted in any state.`,
			SeeAlso: []string{"connect_uri", "get_uri", "supports_uri"},
		},
	})
}
