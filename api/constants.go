package api

// Groups are the constants of libnbd.h (values fixed by libnbd's ABI),
// in the order the header lists them.  A flag set gets a generated
// LIBNBD_<Name>_MASK; pending members (later libnbd releases not yet
// provided) are listed with Pending set and left out until they are.
var Groups = []Group{
	{Name: "TLS", Doc: "TLS modes: nbd_set_tls, nbd_set_uri_allow_tls", Members: []Constant{
		{Name: "DISABLE", Value: "0", Doc: "never use TLS"},
		{Name: "ALLOW", Value: "1", Doc: "use TLS if the server offers it"},
		{Name: "REQUIRE", Value: "2", Doc: "fail unless TLS is negotiated"},
	}},
	{Name: "SIZE", Doc: "block size kinds: nbd_get_block_size", Members: []Constant{
		{Name: "MINIMUM", Value: "0", Doc: "smallest request alignment, in bytes"},
		{Name: "PREFERRED", Value: "1", Doc: "preferred request size and alignment, in bytes"},
		{Name: "MAXIMUM", Value: "2", Doc: "largest request payload, in bytes"},
		{Name: "PAYLOAD", Value: "3", Doc: "largest read or write payload the library sends on this connection, in bytes (libnbd 1.22)"},
	}},
	{Name: "CMD_FLAG", Flags: true, Doc: "command flags (NBD_CMD_FLAG_* of the protocol)", Members: []Constant{
		{Name: "FUA", Value: "0x01", Doc: "force unit access: the data is on stable storage before the reply"},
		{Name: "NO_HOLE", Value: "0x02", Doc: "zero: allocate the range instead of punching a hole"},
		{Name: "DF", Value: "0x04", Doc: "read: the server must reply with one data chunk"},
		{Name: "REQ_ONE", Value: "0x08", Doc: "block status: one extent is enough"},
		{Name: "FAST_ZERO", Value: "0x10", Doc: "zero: fail at once unless zeroing is fast"},
		{Name: "PAYLOAD_LEN", Value: "0x20", Doc: "extended headers: the length is a payload length (set by the library on writes and filtered block status; refused elsewhere)"},
	}},
	{Name: "HANDSHAKE_FLAG", Flags: true, Doc: "handshake flags: nbd_set_handshake_flags", Members: []Constant{
		{Name: "FIXED_NEWSTYLE", Value: "0x01", Doc: "use the fixed newstyle handshake"},
		{Name: "NO_ZEROES", Value: "0x02", Doc: "omit the 124 zero bytes after export information"},
	}},
	{Name: "STRICT", Flags: true, Doc: "client-side checks: nbd_set_strict_mode", Members: []Constant{
		{Name: "COMMANDS", Value: "0x01", Doc: "refuse commands the server did not advertise"},
		{Name: "FLAGS", Value: "0x02", Doc: "refuse flags unknown or not valid for the command"},
		{Name: "BOUNDS", Value: "0x04", Doc: "refuse requests past the end of the export"},
		{Name: "ZERO_SIZE", Value: "0x08", Doc: "refuse requests of length 0"},
		{Name: "ALIGN", Value: "0x10", Doc: "refuse requests not aligned to the minimum block size"},
	}},
	{Name: "ALLOW_TRANSPORT", Flags: true, Doc: "URI transports: nbd_set_uri_allow_transports", Members: []Constant{
		{Name: "TCP", Value: "0x01", Doc: "nbd:// and nbds://"},
		{Name: "UNIX", Value: "0x02", Doc: "nbd+unix:// and nbds+unix://"},
		{Name: "VSOCK", Value: "0x04", Doc: "nbd+vsock:// and nbds+vsock://"},
	}},
	{Name: "SHUTDOWN", Flags: true, Doc: "flags of nbd_shutdown and nbd_aio_disconnect", Members: []Constant{
		{Name: "ABANDON_PENDING", Value: "0x10000", Doc: "drop requests not yet sent"},
	}},
	{Name: "AIO_DIRECTION", Doc: "nbd_aio_get_direction results", Members: []Constant{
		{Name: "READ", Value: "1", Doc: "wait until the socket is readable"},
		{Name: "WRITE", Value: "2", Doc: "wait until the socket is writable"},
		{Name: "BOTH", Value: "3", Doc: "either"},
	}},
	{Name: "READ", Doc: "chunk kinds passed to an nbd_chunk_callback", Members: []Constant{
		{Name: "DATA", Value: "1", Doc: "data"},
		{Name: "HOLE", Value: "2", Doc: "a hole: reads as zeroes"},
		{Name: "ERROR", Value: "3", Doc: "an error for part of the range"},
	}},
	{Name: "STATE", Doc: "base:allocation extent flags", Members: []Constant{
		{Name: "HOLE", Value: "1", Doc: "the extent is not allocated"},
		{Name: "ZERO", Value: "2", Doc: "the extent reads as zeroes"},
	}},
}

// Strings are the string constants of libnbd.h.
var Strings = []Constant{
	{Name: "NAMESPACE_BASE", Value: `"base:"`, Doc: "namespace of the base meta contexts"},
	{Name: "CONTEXT_BASE_ALLOCATION", Value: `"base:allocation"`, Doc: "the allocation meta context"},
}

// Callbacks are the callback structs.  Every struct is
// { int (*callback) (void *user_data, <Params>); void *user_data;
//
//	void (*free) (void *user_data); }.
var Callbacks = []Callback{
	{Name: "chunk", Params: "const void *subbuf, size_t count, uint64_t offset, unsigned status, int *error",
		Doc: "Read chunk: subbuf points inside the caller's read buffer (count bytes at offset);\n" +
			"status is one of LIBNBD_READ_*.  Returning -1 fails the command with *error."},
	{Name: "completion", Params: "int *error",
		Doc: "Command completion: *error holds the command's errno (0 on success).\n" +
			"Returning 1 retires the command automatically (nbd_aio_command_completed\n" +
			"then no longer sees it)."},
	{Name: "debug", Params: "const char *context, const char *msg",
		Doc: "Debug message: context is the call that produced it."},
	{Name: "extent", Params: "const char *metacontext, uint64_t offset, uint32_t *entries, size_t nr_entries, int *error",
		Doc: "Block status: entries holds nr_entries/2 (length, flags) pairs starting at\n" +
			"offset; the array is only valid during the call."},
	{Name: "extent64", Params: "const char *metacontext, uint64_t offset, nbd_extent *entries, size_t nr_entries, int *error",
		Doc: "Block status with 64-bit extents (libnbd 1.18): entries holds nr_entries\n" +
			"extents starting at offset; the array is only valid during the call.",
		Before: "/* One extent of nbd_block_status_64: length in bytes and its flags. */\n" +
			"typedef struct {\n  uint64_t length;\n  uint64_t flags;\n} nbd_extent;\n"},
	{Name: "list", Params: "const char *name, const char *description",
		Doc: "One export of nbd_opt_list; both strings are valid only during the call."},
	{Name: "context", Params: "const char *name",
		Doc: "One meta context name; valid only during the call."},
}
