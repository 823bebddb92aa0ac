// Package api is the one table of the library's public calls: for every
// libnbd call up to 1.22 its name, symbol-version node, arguments with
// their kinds, return kind, permitted states, documentation, where it is
// implemented and how the Go package exposes it.  The generator in
// api/gen writes every boundary file from it (C wrappers, libnbd.h,
// libnbd.syms, Go shims, man pages, the call × state test).
package api

// Kind is the kind of one argument.  Kinds decide the C type, the checks
// the generated wrapper makes, and how documentation describes it.
type Kind int

const (
	Bool            Kind = iota + 1 // bool
	Int                             // int
	UInt                            // unsigned
	UInt32                          // uint32_t
	Int64                           // int64_t
	UInt64                          // uint64_t (offsets and counts in bytes)
	SizeT                           // size_t
	UIntPtr                         // uintptr_t
	String                          // const char *, copied; NULL is EFAULT
	Path                            // const char * naming a local file or socket; NULL is EFAULT
	StringList                      // char **, NULL-terminated, copied; NULL is EFAULT
	BytesIn                         // const void *buf + size_t Len; buf only read during the call
	BytesOut                        // void *buf + size_t Len; written during the call; zeroed first (pread_initialize)
	BytesPersistIn                  // like BytesIn, but read until the command retires (aio)
	BytesPersistOut                 // like BytesOut, but written until the command retires (aio)
	Fd                              // int file descriptor (ownership in the call's doc)
	Flags                           // uint32_t bitmask of the flag set Type
	Enum                            // int, one of the enum Type's values
	Closure                         // nbd_<Type>_callback, passed by value
	SockAddr                        // const struct sockaddr * + socklen_t Len; copied
)

// Arg is one argument of a call (the handle is implicit).
type Arg struct {
	Name string
	Kind Kind
	// Len names the second C parameter of BytesIn/BytesOut/BytesPersist*
	// (a size_t count) and of SockAddr (a socklen_t).
	Len string
	// Type names the flag set (Flags), the enum (Enum) or the callback
	// struct (Closure: "completion" means nbd_completion_callback).
	Type string
	// Optional marks libnbd's optional arguments: a closure that may be
	// absent (both .callback and .free NULL), or flags that default to 0.
	Optional bool
	// Allowed lists, for command flags, the flags this call accepts
	// (documentation; the library checks them under LIBNBD_STRICT_FLAGS).
	Allowed []string
	// Doc says what the argument is, in units (bytes, offsets) and with
	// its ownership, for the man page.
	Doc string
}

// Ret is the return kind of a call.
type Ret int

const (
	RErr          Ret = iota + 1 // int: 0 on success, -1 on error
	RBool                        // int: 1 true, 0 false, -1 on error
	RInt                         // int: >= 0, -1 on error
	RInt64                       // int64_t: >= 0, -1 on error
	RCookie                      // int64_t: a command cookie >= 1, -1 on error
	RFd                          // int: a file descriptor owned by the library, -1 on error
	RSizeT                       // ssize_t: >= 0, -1 on error
	RString                      // char *: malloc'd, the caller frees it; NULL on error
	RStaticString                // const char *: owned by the library; NULL on error
	RUInt                        // unsigned: cannot fail
	RUInt64                      // uint64_t: cannot fail
	RUIntPtr                     // uintptr_t: cannot fail
	RFlags                       // uint32_t bitmask: cannot fail
	REnum                        // int enum value: cannot fail
)

// State is a set of the public handle states (libnbd's names).
type State uint

const (
	Created     State = 1 << iota // nbd_create returned it, no connect call yet
	Connecting                    // connecting or handshaking (also while an option runs)
	Negotiating                   // option mode, waiting for an nbd_opt_* call
	Connected                     // transmission phase: ready or processing
	Closed                        // shut down cleanly
	Dead                          // failed
	Any         = Created | Connecting | Negotiating | Connected | Closed | Dead
)

// Go says how the Go package exposes a call.
type Go struct {
	// Method is the Go method's name.  With Manual false the method and
	// its cgo shim are generated; with Manual true it is written by hand
	// in File (the Go shape needs more than a mechanical wrapper).
	Method string
	Manual bool
	File   string
	// None, when set, says why Go does not expose the call.
	None string
}

// Errno documents one error a call can report.
type Errno struct {
	Errno string // "EINVAL"
	When  string
}

// StateChange says that libnbd releases up to and including Until
// permitted a call in States instead of the table's States.  Until is
// the last release known to behave so (the test runs against it), not
// necessarily the last release before the change.
type StateChange struct {
	Until  string // "1.14"
	States State
	Why    string // the evidence (e.g. that release's manual page)
}

// Call is one public call.
type Call struct {
	Name    string // without the nbd_ prefix
	Version string // libnbd release that added it = version node LIBNBD_<Version>
	Args    []Arg
	Ret     Ret
	States  State // permitted states; Any means no state check
	// Was records permitted states of older libnbd releases where they
	// differ from States (the table follows libnbd 1.22).  Only the
	// call × state test reads it, and only against the system libnbd:
	// our library always follows States.
	Was []StateChange
	// NoLock: the call does not take the handle lock (it only reads
	// fields that are safe to read racily, as in libnbd).
	NoLock bool
	// NoError: the call cannot fail (libnbd's may_set_error = false).
	NoError bool
	// Proto is the whole C prototype of a call without a handle
	// (nbd_create, nbd_close, nbd_get_error, nbd_get_errno).
	Proto string
	// Custom: the public function is written by hand in Impl (calls
	// without a handle, or whose shape the wrapper cannot express);
	// everything else gets a generated wrapper around nbd_unlocked_<Name>.
	Custom bool
	// Pending, when set, says why the call is listed but not yet
	// provided (it is left out of the header, the symbol map and the
	// tests until then).
	Pending string
	// Limited, when set, says how a provided call falls short of libnbd's
	// (it fails cleanly until a feature lands); shown in the README.
	Limited string
	// Extension marks a call of this library that libnbd does not have.
	Extension bool
	Impl      string // c/lib file that holds nbd_unlocked_<Name>
	Go        Go
	Doc       Doc // filled from the doc_*.go files by Load
}

// Doc is what a call means, for header comments, man pages and Go doc
// comments.  Kept apart from the table's facts (doc_*.go files).
type Doc struct {
	Short   string // one line, lower case, no full stop
	Long    string // paragraphs separated by blank lines; see man.go for markup
	Errors  []Errno
	SeeAlso []string // other calls (without nbd_)
	Example string   // optional C fragment for the man page
}

var docs = map[string]Doc{}

// addDocs is called by each doc_*.go file's init.
func addDocs(m map[string]Doc) {
	for k, v := range m {
		if _, dup := docs[k]; dup {
			panic("api: two docs for " + k)
		}
		docs[k] = v
	}
}

// Load returns the table with each call's Doc filled in.
func Load() []Call {
	out := make([]Call, len(Calls))
	copy(out, Calls)
	for i := range out {
		out[i].Doc = docs[out[i].Name]
	}
	return out
}

// Constant is one #define of libnbd.h.
type Constant struct {
	Name  string // without LIBNBD_
	Value string // C expression
	Doc   string
}

// Group is a set of related constants (a flag set or an enum): the
// generator derives <Prefix>MASK for flag sets from the members.
type Group struct {
	Name    string // "CMD_FLAG": members are LIBNBD_CMD_FLAG_*
	Flags   bool   // a bitmask (a MASK constant is emitted)
	Members []Constant
	Doc     string
	Version string // libnbd release of the member list as a whole
}

// Callback is one callback struct of libnbd.h.
type Callback struct {
	Name   string // "completion" → nbd_completion_callback
	Params string // C parameter list after user_data
	Doc    string
	// Before is C emitted just before the struct (a type its Params use).
	Before string
}
