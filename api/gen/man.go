package main

// The manual pages: docs/man/nbd_<call>.3 for every call the library
// provides, and docs/man/libnbd.3, the overview.
//
// Markup of Doc.Long (kept plain, so that the same text reads well in Go
// doc comments and C header comments):
//   - paragraphs are separated by a blank line;
//   - a paragraph whose every line starts with two spaces is code, printed
//     as it stands (without the first two spaces);
//   - a paragraph whose lines start with "- " is a list, one item per
//     "- " line (a line starting with two spaces continues the item);
//   - text between backquotes is literal (printed in bold); the doc_*.go
//     files, which are Go raw strings, do without and rely on the next two;
//   - a reference such as nbd_pread(3) or socket(7) is printed in bold;
//   - constants (LIBNBD_*, NBD_*) are printed in bold.
// Every other character is escaped for roff.

import (
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/nbd-cleanroom/libnbd/api"
)

func init() {
	register(generator{name: "man", run: genMan, owned: []string{"docs/man/*.3"}})
}

const (
	manDir    = "docs/man/"
	manSource = "libnbd-cleanroom 1.14.2"
	manManual = "libnbd manual"
	// extNode is the version node of this library's own calls.
	extNode = "NBD_CLEANROOM_1.0"
)

// refRE finds manual page references: nbd_pread(3), socket(7), nbd-server(1).
var refRE = regexp.MustCompile(`\b([A-Za-z_][A-Za-z0-9_.+-]*)\(([1-8])\)`)

// boldRE finds what running text prints in bold: page references
// (submatches 1 and 2) and constants (submatch 3).
var boldRE = regexp.MustCompile(`\b([A-Za-z_][A-Za-z0-9_.+-]*)\(([1-8])\)|\b((?:LIBNBD|NBD)_[A-Z0-9_]+\*?)`)

func genMan(t *table) ([]output, error) {
	if err := checkDocs(t); err != nil {
		return nil, err
	}
	var outs []output
	for _, c := range t.provided() {
		outs = append(outs, output{manDir + "nbd_" + c.Name + ".3", manCallPage(t, c)})
	}
	outs = append(outs, output{manDir + "libnbd.3", manOverview(t)})
	return outs, nil
}

// checkDocs refuses to ship a provided call without documentation, and
// catches references to calls that do not exist.
func checkDocs(t *table) error {
	var missing []string
	for _, c := range t.provided() {
		if strings.TrimSpace(c.Doc.Short) == "" || strings.TrimSpace(c.Doc.Long) == "" {
			missing = append(missing, c.Name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("no Doc.Short or Doc.Long (write it in api/doc_*.go): %s", strings.Join(missing, ", "))
	}
	for _, c := range t.calls {
		d := c.Doc
		if d.Short == "" {
			continue
		}
		if strings.HasSuffix(d.Short, ".") || strings.Contains(d.Short, "\n") ||
			strings.ToLower(d.Short[:1]) != d.Short[:1] {
			return fmt.Errorf("%s: Doc.Short must be one lower-case line without a full stop: %q", c.Name, d.Short)
		}
		for _, s := range d.SeeAlso {
			if _, ok := t.call(s); !ok {
				return fmt.Errorf("%s: SeeAlso names an unknown call %q", c.Name, s)
			}
		}
		texts := []string{d.Long, d.Example}
		for _, e := range d.Errors {
			texts = append(texts, e.When)
		}
		for _, txt := range texts {
			for _, m := range refRE.FindAllStringSubmatch(txt, -1) {
				if strings.HasPrefix(m[1], "nbd_") && m[2] == "3" {
					if _, ok := t.call(strings.TrimPrefix(m[1], "nbd_")); !ok {
						return fmt.Errorf("%s: the text refers to an unknown call %s(3)", c.Name, m[1])
					}
				}
			}
		}
	}
	return nil
}

// ---- roff escaping ---------------------------------------------------------

// escText escapes plain running text.  A hyphen that starts a word (an
// option, a negative number) becomes a minus sign; others stay hyphens.
func escText(s string) string {
	var b strings.Builder
	prev := ' '
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-' && (prev == ' ' || prev == '(' || prev == '"' || prev == '-' || prev == '/' || prev == '='):
			b.WriteString(`\-`)
		case r >= utf8.RuneSelf:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
		prev = r
	}
	return b.String()
}

// escCode escapes literal text (code): every hyphen is a minus sign and
// quotes are the ASCII ones, so that the text can be copied.
func escCode(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '\\':
			b.WriteString(`\e`)
		case r == '-':
			b.WriteString(`\-`)
		case r == '\'':
			b.WriteString(`\(aq`)
		case r == '`':
			b.WriteString(`\(ga`)
		case r == '\t':
			b.WriteString("        ")
		case r >= utf8.RuneSelf:
			fmt.Fprintf(&b, `\[u%04X]`, r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// inline renders one paragraph's running text: `literal` spans and
// page references in bold, everything else escaped.
func inline(s string) string {
	var b strings.Builder
	parts := strings.Split(s, "`")
	for i, p := range parts {
		if i%2 == 1 && i < len(parts)-1 {
			b.WriteString(`\fB` + escCode(p) + `\fR`)
			continue
		}
		if i%2 == 1 { // an unpaired backquote: print it
			b.WriteString(`\(ga`)
		}
		last := 0
		for _, m := range boldRE.FindAllStringSubmatchIndex(p, -1) {
			b.WriteString(escText(p[last:m[0]]))
			if m[2] >= 0 {
				b.WriteString(`\fB` + escCode(p[m[2]:m[3]]) + `\fR(` + p[m[4]:m[5]] + ")")
			} else {
				b.WriteString(`\fB` + escCode(p[m[6]:m[7]]) + `\fR`)
			}
			last = m[1]
		}
		b.WriteString(escText(p[last:]))
	}
	return b.String()
}

// textLine protects a line of running text that roff would otherwise read
// as a request.
func textLine(s string) string {
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		return `\&` + s
	}
	return s
}

// ---- page building ------------------------------------------------------------

type page struct{ b bytes.Buffer }

func (p *page) line(s string)             { p.b.WriteString(s + "\n") }
func (p *page) f(format string, a ...any) { fmt.Fprintf(&p.b, format+"\n", a...) }
func (p *page) sh(title string)           { p.line(".SH " + title) }

// text writes one paragraph of running text.
func (p *page) text(s string) {
	s = strings.Join(strings.Fields(s), " ")
	if s != "" {
		p.line(textLine(inline(s)))
	}
}

// code writes lines verbatim, indented.
func (p *page) code(lines []string) {
	p.line(".PP")
	p.line(".RS 4")
	p.line(".nf")
	for _, l := range lines {
		l = strings.TrimRight(l, " ")
		if l == "" {
			p.line(".sp")
			continue
		}
		p.line(textLine(escCode(l)))
	}
	p.line(".fi")
	p.line(".RE")
}

// markup renders Doc.Long-style text.
func (p *page) markup(s string) {
	for _, para := range splitParas(s) {
		lines := strings.Split(para, "\n")
		switch {
		case allPrefixed(lines, "  "):
			for i := range lines {
				lines[i] = strings.TrimPrefix(lines[i], "  ")
			}
			p.code(lines)
		case strings.HasPrefix(lines[0], "- "):
			var items []string
			for _, l := range lines {
				if strings.HasPrefix(l, "- ") {
					items = append(items, strings.TrimPrefix(l, "- "))
				} else if len(items) > 0 {
					items[len(items)-1] += " " + strings.TrimSpace(l)
				} else {
					items = append(items, l)
				}
			}
			for _, it := range items {
				p.line(`.IP \(bu 2`)
				p.text(it)
			}
			p.line(".PP")
		default:
			p.line(".PP")
			p.text(para)
		}
	}
}

func splitParas(s string) []string {
	var out []string
	for _, para := range strings.Split(strings.Trim(s, "\n"), "\n\n") {
		para = strings.Trim(para, "\n")
		if strings.TrimSpace(para) != "" {
			out = append(out, para)
		}
	}
	return out
}

func allPrefixed(lines []string, prefix string) bool {
	for _, l := range lines {
		if l != "" && !strings.HasPrefix(l, prefix) {
			return false
		}
	}
	return true
}

func (p *page) header(name, short string) {
	p.f(`.\" %s`, genNotice)
	p.f(`.TH %s 3 "" "%s" "%s"`, name, manSource, manManual)
	p.line(".nh")
	p.line(".ad l")
	p.sh("NAME")
	p.line(textLine(escCode(name) + ` \- ` + escText(short)))
}

// seeAlso writes the SEE ALSO section: page names such as "nbd_pread".
func (p *page) seeAlso(names []string) {
	p.sh("SEE ALSO")
	for i, n := range names {
		sep := ","
		if i == len(names)-1 {
			sep = ""
		}
		p.f(".BR %s (3)%s", escCode(n), sep)
	}
}

// wrapDecl formats "RET name (a, b, c)" (with or without a trailing ";")
// over lines of at most width columns, continuation lines aligned after
// the opening parenthesis.
func wrapDecl(decl string, width int) []string {
	// The parameter list opens at the first "(", except in a function
	// pointer declaration: "int (*callback) (void *user_data, ...)".
	open := strings.Index(decl, "(")
	if fp := strings.Index(decl, ") ("); fp >= 0 {
		open = fp + 2
	}
	if open < 0 || len(decl) <= width {
		return []string{decl}
	}
	head, rest := decl[:open+1], decl[open+1:]
	params := strings.Split(rest, ", ")
	indent := strings.Repeat(" ", len(head))
	var lines []string
	cur := head
	for i, prm := range params {
		if i < len(params)-1 {
			prm += ","
		}
		switch {
		case i == 0:
			cur += prm
		case len(cur)+1+len(prm) > width:
			lines = append(lines, cur)
			cur = indent + prm
		default:
			cur += " " + prm
		}
	}
	return append(lines, cur)
}

// ---- per-call pages -------------------------------------------------------------

func manCallPage(t *table, c api.Call) []byte {
	var p page
	d := c.Doc
	name := "nbd_" + c.Name
	p.header(name, d.Short)

	p.sh("SYNOPSIS")
	var syn []string
	syn = append(syn, "#include <libnbd.h>", "")
	seen := map[string]bool{}
	for _, a := range c.Args {
		if a.Kind != api.Closure || seen[a.Type] {
			continue
		}
		seen[a.Type] = true
		if cb, ok := callbackByName(t, a.Type); ok {
			syn = append(syn, "typedef struct {")
			syn = append(syn, wrapDecl("  int (*callback) (void *user_data, "+cb.Params+");", 72)...)
			syn = append(syn, "  void *user_data;", "  void (*free) (void *user_data);", "} nbd_"+cb.Name+"_callback;", "")
		}
	}
	syn = append(syn, wrapDecl(prototype(c)+";", 72)...)
	p.line(".nf")
	for _, l := range syn {
		if l == "" {
			p.line(".sp")
			continue
		}
		p.line(textLine(`\fB` + escCode(l) + `\fR`))
	}
	p.line(".fi")
	p.line(".PP")
	p.line(`Compile and link with \fB\-lnbd\fR (or use \fBpkg\-config libnbd \-\-cflags \-\-libs\fR).`)

	p.sh("DESCRIPTION")
	p.markup(d.Long)

	if len(c.Args) > 0 {
		p.sh("ARGUMENTS")
		for _, a := range c.Args {
			p.line(".TP")
			if a.Len != "" {
				p.f(`\fI%s\fR, \fI%s\fR`, escCode(a.Name), escCode(a.Len))
			} else {
				p.f(`\fI%s\fR`, escCode(a.Name))
			}
			switch {
			case a.Doc != "":
				p.text(a.Doc)
			case argHint(c, a) != "":
				p.text(argHint(c, a))
			}
			p.text(argWords(t, a))
		}
	}

	p.sh("RETURN VALUE")
	p.text(retWords(c))

	p.sh("ERRORS")
	manErrors(&p, c)

	p.sh("HANDLE STATE")
	manStates(&p, c)

	p.sh("VERSION")
	if c.Extension {
		p.text(fmt.Sprintf("This call is an extension of this library: libnbd does not have it. Its symbol is in the version node `%s`.", extNode))
	} else {
		p.text(fmt.Sprintf("This call first appeared in libnbd %s. Its symbol is in the version node `%s`.", c.Version, symNode(c)))
	}
	p.line(".PP")
	p.text(fmt.Sprintf("To test at compile time whether the call is available, check that the macro `LIBNBD_HAVE_NBD_%s` is defined.", strings.ToUpper(c.Name)))

	if strings.TrimSpace(d.Example) != "" {
		p.sh("EXAMPLE")
		p.code(strings.Split(strings.Trim(d.Example, "\n"), "\n"))
	}

	var also []string
	for _, s := range d.SeeAlso {
		if o, ok := t.call(s); ok && o.Pending == "" && s != c.Name {
			also = append(also, "nbd_"+s)
		}
	}
	also = append(also, "libnbd")
	p.seeAlso(also)
	return p.b.Bytes()
}

func callbackByName(t *table, name string) (api.Callback, bool) {
	for _, cb := range t.callbacks {
		if cb.Name == name {
			return cb, true
		}
	}
	return api.Callback{}, false
}

func groupByName(t *table, name string) (api.Group, bool) {
	for _, g := range t.groups {
		if g.Name == name {
			return g, true
		}
	}
	return api.Group{}, false
}

// memberList is "LIBNBD_X_A (what it is), LIBNBD_X_B (...)".
func memberList(g api.Group, only []string) string {
	var ms []string
	for _, m := range g.Members {
		if only != nil && !contains(only, m.Name) {
			continue
		}
		ms = append(ms, fmt.Sprintf("`LIBNBD_%s_%s` (%s)", g.Name, m.Name, m.Doc))
	}
	return strings.Join(ms, ", ")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// argWords says what kind of value an argument is, in words.
func argWords(t *table, a api.Arg) string {
	switch a.Kind {
	case api.Bool:
		return "A boolean: true or false."
	case api.Int:
		return "An int."
	case api.UInt:
		return "An unsigned int."
	case api.UInt32:
		return "A 32-bit unsigned integer."
	case api.Int64:
		return "A 64-bit signed integer."
	case api.UInt64:
		switch a.Name {
		case "offset":
			return "A 64-bit unsigned integer: an offset in bytes from the start of the export."
		case "count":
			return "A 64-bit unsigned integer: a length in bytes."
		case "cookie":
			return "A 64-bit unsigned integer: the cookie an nbd_aio_* call returned."
		}
		return "A 64-bit unsigned integer."
	case api.SizeT:
		return "A size_t."
	case api.UIntPtr:
		return "A uintptr_t. The library stores it and never interprets it."
	case api.String:
		return "A NUL-terminated string, which must not be NULL. The library copies what it keeps before the call returns: the caller keeps ownership of the string."
	case api.Path:
		return "A NUL-terminated string naming a local file, directory or socket, which must not be NULL. The library copies it before the call returns."
	case api.StringList:
		return "An array of NUL-terminated strings ending with a NULL pointer; the array must not be NULL. The library copies what it keeps before the call returns."
	case api.BytesIn:
		return fmt.Sprintf("A buffer of %s bytes that the library reads during the call only; %s must not be NULL. %s is a size_t.", a.Len, a.Name, a.Len)
	case api.BytesOut:
		return fmt.Sprintf("A buffer of %s bytes that the call fills; %s must not be NULL. If the call fails, the buffer is set to zeroes when nbd_set_pread_initialize(3) is on (the default), and is otherwise unspecified.", a.Len, a.Name)
	case api.BytesPersistIn:
		return fmt.Sprintf("A buffer of %s bytes that the library reads until the command completes, so it must stay valid and unchanged until then (until the completion callback runs, or nbd_aio_command_completed(3) reports the command); %s must not be NULL.", a.Len, a.Name)
	case api.BytesPersistOut:
		return fmt.Sprintf("A buffer of %s bytes that the library fills while the command is in flight, so it must stay valid, and must not be read, until the command completes (until the completion callback runs, or nbd_aio_command_completed(3) reports the command); %s must not be NULL. If the command fails, the buffer is set to zeroes when nbd_set_pread_initialize(3) is on (the default).", a.Len, a.Name)
	case api.Fd:
		return "A file descriptor (an int)."
	case api.Flags:
		g, _ := groupByName(t, a.Type)
		var s string
		switch {
		case a.Type == "CMD_FLAG" && len(a.Allowed) == 0:
			return "A bitmask (uint32_t) of `LIBNBD_CMD_FLAG_*` flags, but no command flag applies to this call: pass 0."
		case a.Type == "CMD_FLAG":
			s = fmt.Sprintf("A bitmask (uint32_t) of `LIBNBD_CMD_FLAG_*` flags. This call accepts %s.", memberList(g, a.Allowed))
		default:
			s = fmt.Sprintf("A bitmask (uint32_t) of `LIBNBD_%s_*` flags: %s.", a.Type, memberList(g, nil))
		}
		if a.Optional {
			s += " Pass 0 for none."
		}
		return s
	case api.Enum:
		g, _ := groupByName(t, a.Type)
		return fmt.Sprintf("One of the `LIBNBD_%s_*` values: %s.", a.Type, memberList(g, nil))
	case api.Closure:
		s := fmt.Sprintf("A callback, `nbd_%s_callback`, passed by value: the library calls `.callback` with `.user_data`, and calls `.free(user_data)` (if not NULL) exactly once when it no longer needs the callback, even if `.callback` never ran or the call failed.", a.Type)
		if cb, ok := callbackByName(t, a.Type); ok {
			s += " " + strings.ReplaceAll(cb.Doc, "\n", " ")
		}
		if a.Optional {
			if a.Type == "completion" {
				s += " Optional: pass `NBD_NULL_COMPLETION` for none."
			} else {
				s += " Optional: a struct whose `.callback` and `.free` are both NULL means none."
			}
		} else {
			s += " `.callback` must not be NULL."
		}
		return s
	case api.SockAddr:
		return fmt.Sprintf("A socket address of %s bytes (a socklen_t); %s must not be NULL. The library copies it before the call returns.", a.Len, a.Name)
	}
	return ""
}

// retWords describes the return value.
func retWords(c api.Call) string {
	switch c.Name {
	case "create":
		return "A new handle, which the caller closes with nbd_close(3); or NULL if memory ran out (nbd_get_error(3) and nbd_get_errno(3) then say why)."
	case "close":
		return "None."
	case "get_error":
		return "The message of the last failing call in this thread, or NULL if no call has failed in this thread yet. The string belongs to the library and stays valid until the next failing call in the same thread: copy it if you need it longer."
	case "get_errno":
		return "The errno of the last failing call in this thread (never 0 after a failure), or 0 if no call has failed in this thread yet."
	}
	fail := "-1"
	switch c.Ret {
	case api.RErr:
		return "0 on success, -1 on error."
	case api.RBool:
		if c.NoError {
			return "1 for true, 0 for false. This call cannot fail."
		}
		return "1 for true, 0 for false, or -1 on error."
	case api.RInt:
		return "A number >= 0 on success (see DESCRIPTION), or -1 on error."
	case api.RInt64:
		return "A 64-bit number >= 0 on success (see DESCRIPTION), or -1 on error."
	case api.RCookie:
		return "The command's cookie: a 64-bit number >= 1, unique within this handle, which nbd_aio_command_completed(3) takes to retire the command. On error -1, and then no command was queued (the callbacks' `.free` functions have already been called)."
	case api.RFd:
		return "A file descriptor that remains the library's: do not close it, and do not read from or write to it. -1 on error."
	case api.RSizeT:
		return "A count >= 0 (an ssize_t) on success, or -1 on error."
	case api.RString:
		return "A newly allocated string, which the caller must free with free(3); or NULL on error."
	case api.RStaticString:
		if c.NoError {
			return "A string owned by the library, valid for the life of the process; do not free or modify it. This call cannot fail."
		}
		return "A string owned by the library, valid for the life of the process; do not free or modify it. NULL on error."
	case api.RUInt:
		return "An unsigned int (see DESCRIPTION). This call cannot fail."
	case api.RUInt64:
		return "A 64-bit unsigned number (see DESCRIPTION). This call cannot fail."
	case api.RUIntPtr:
		return "A uintptr_t (see DESCRIPTION). This call cannot fail."
	case api.RFlags:
		return "A bitmask (uint32_t; see DESCRIPTION). This call cannot fail."
	case api.REnum:
		return "One of the enum's values (see DESCRIPTION). This call cannot fail."
	}
	return "On error " + fail + "."
}

// manErrors writes the ERRORS section: the errors the generated wrapper
// enforces for every call of this shape, then the call's own.
func manErrors(p *page, c api.Call) {
	switch {
	case c.Name == "create":
		p.text("On error the call returns NULL; nbd_get_error(3) and nbd_get_errno(3) then say why.")
	case (c.Proto != "" || c.NoError) && len(c.Doc.Errors) == 0:
		p.text("This call cannot fail.")
		return
	case c.Proto == "":
		p.text(fmt.Sprintf("On error the call returns %s. nbd_get_error(3) then gives a message that starts with the call's name, and nbd_get_errno(3) a non-zero errno; both are kept per thread. The errno values this library sets are listed below; a failing system call, or the server's reply, can give others.", errValue(c.Ret)))
	}
	var order []string
	whens := map[string][]string{}
	add := func(errno, when string) {
		if _, ok := whens[errno]; !ok {
			order = append(order, errno)
		}
		whens[errno] = append(whens[errno], when)
	}
	if c.Proto == "" && c.States != api.Any && c.States != 0 {
		if c.States&api.Created == 0 {
			add("ENOTCONN", "The handle has not started connecting: nbd_create(3) returned it and no connect call has been made.")
		}
		if c.States|api.Created != api.Any {
			add("EINVAL", "The handle is in a state this call does not permit (see HANDLE STATE).")
		}
	}
	if c.Proto == "" {
		var ptrs []string
		for _, a := range c.Args {
			switch a.Kind {
			case api.String, api.Path, api.StringList, api.BytesIn, api.BytesOut,
				api.BytesPersistIn, api.BytesPersistOut, api.SockAddr:
				ptrs = append(ptrs, "`"+a.Name+"`")
			case api.Closure:
				if !a.Optional {
					ptrs = append(ptrs, "the `.callback` of `"+a.Name+"`")
				}
			}
		}
		if len(ptrs) > 0 {
			w := orList(ptrs) + " is NULL."
			add("EFAULT", strings.ToUpper(w[:1])+w[1:])
		}
		for _, a := range c.Args {
			switch {
			case a.Kind == api.Enum:
				add("EINVAL", fmt.Sprintf("`%s` is not one of the `LIBNBD_%s_*` values.", a.Name, a.Type))
			case a.Kind == api.Flags && a.Type == "CMD_FLAG":
				add("EINVAL", fmt.Sprintf("`%s` has a bit that is not a `LIBNBD_CMD_FLAG_*` flag, while nbd_set_strict_mode(3) includes `LIBNBD_STRICT_FLAGS` (the default), or a bit that does not fit in the protocol's 16 bits.", a.Name))
			case a.Kind == api.Flags:
				add("EINVAL", fmt.Sprintf("`%s` has a bit that is not a `LIBNBD_%s_*` flag.", a.Name, a.Type))
			}
		}
	}
	for _, e := range c.Doc.Errors {
		add(e.Errno, e.When)
	}
	for _, errno := range order {
		p.line(".TP")
		p.f(`.B %s`, errno)
		for i, w := range whens[errno] {
			if i > 0 {
				p.line(".br")
			}
			p.text(w)
		}
	}
}

func orList(items []string) string {
	switch len(items) {
	case 1:
		return items[0]
	case 2:
		return items[0] + " or " + items[1]
	}
	return strings.Join(items[:len(items)-1], ", ") + " or " + items[len(items)-1]
}

// stateRows are the public states in the order the pages list them.
var stateRows = []struct {
	s    api.State
	name string
}{
	{api.Created, "created"},
	{api.Connecting, "connecting"},
	{api.Negotiating, "negotiating"},
	{api.Connected, "connected"},
	{api.Closed, "closed"},
	{api.Dead, "dead"},
}

// takesLockAnyway lists NoLock calls whose implementation still takes the
// lock for a moment (their page says so), so the no-lock note is left out.
var takesLockAnyway = map[string]bool{
	"aio_get_direction": true, // sends the requests gathered for batching
}

func manStates(p *page, c api.Call) {
	switch {
	case c.Proto != "" && c.Name != "close":
		p.text("This call does not take a handle, so it does not depend on any handle's state.")
		return
	case c.Name == "close":
		p.text("nbd_close(3) may be called in any state, and also with a NULL handle (it then does nothing). The handle must not be used, by this or any other thread, once nbd_close(3) has been called.")
		return
	case c.States == api.Any || c.States == 0:
		p.text("This call can be made in any state.")
	default:
		if c.States&api.Created == 0 {
			p.text("This call is permitted when the handle is " + mustBe(c.States) + ". In the other states it fails: with `ENOTCONN` if the handle has not started connecting, else with `EINVAL`.")
		} else {
			p.text("This call is permitted when the handle is " + mustBe(c.States) + ". In the other states it fails with `EINVAL`.")
		}
		p.line(".PP")
		p.line(".RS 4")
		p.line(".nf")
		for _, r := range stateRows {
			verdict := "permitted"
			if c.States&r.s == 0 {
				if r.s == api.Created {
					verdict = "refused (ENOTCONN)"
				} else {
					verdict = "refused (EINVAL)"
				}
			}
			p.line(escCode(fmt.Sprintf("%-13s %s", r.name, verdict)))
		}
		p.line(".fi")
		p.line(".RE")
	}
	if c.NoLock && !takesLockAnyway[c.Name] {
		p.line(".PP")
		p.text("The call does not take the handle's lock: it may be made from any thread at any time, even while another thread is inside a call on the same handle.")
	}
}

// ---- the overview page ----------------------------------------------------------

// area sorts calls into the groups the overview lists (the same split
// as the api/doc_*.go files).
type area struct {
	title string
	match func(name string) bool
}

func hasAny(name string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

var areas = []area{
	{"Connecting", func(n string) bool {
		return n == "connect" || hasAny(n, "connect_", "aio_connect", "set_uri_allow_") ||
			n == "get_uri" || n == "is_uri" || n == "kill_subprocess" || n == "get_subprocess_pid" ||
			strings.HasSuffix(n, "socket_activation_name")
	}},
	{"Option negotiation (option mode)", func(n string) bool {
		return hasAny(n, "opt_", "aio_opt_") || strings.HasSuffix(n, "_opt_mode") ||
			n == "add_meta_context" || n == "get_nr_meta_contexts" || n == "get_meta_context" ||
			n == "clear_meta_contexts"
	}},
	{"What the server offers", func(n string) bool {
		return hasAny(n, "can_", "is_read_only", "is_rotational", "get_size", "get_block_size", "get_protocol",
			"get_canonical_export_name", "get_export_description") || strings.HasSuffix(n, "_negotiated")
	}},
	{"Commands", func(n string) bool {
		return hasAny(n, "pread", "pwrite", "flush", "trim", "cache", "zero", "block_status", "shutdown",
			"aio_pread", "aio_pwrite", "aio_flush", "aio_trim", "aio_cache", "aio_zero", "aio_block_status", "aio_disconnect")
	}},
	{"Event loop and state", func(n string) bool {
		return hasAny(n, "poll", "aio_", "connection_state", "get_package_name", "get_version", "supports_")
	}},
	{"Handles, errors and settings", func(string) bool { return true }},
}

func areaOf(name string) int {
	for i, a := range areas {
		if a.match(name) {
			return i
		}
	}
	return len(areas) - 1
}

func manOverview(t *table) []byte {
	var p page
	p.header("libnbd", "NBD client library (a clean-room implementation of the libnbd API)")

	p.sh("SYNOPSIS")
	p.code(strings.Split(`#include <libnbd.h>

struct nbd_handle *h = nbd_create ();
char buf[512];

if (h == NULL ||
    nbd_connect_uri (h, "nbd+unix:///?socket=/tmp/sock") == -1 ||
    nbd_pread (h, buf, sizeof buf, 0, 0) == -1) {
  fprintf (stderr, "%s (errno %d)\n", nbd_get_error (), nbd_get_errno ());
  exit (EXIT_FAILURE);
}
nbd_shutdown (h, 0);
nbd_close (h);`, "\n"))
	p.line(".PP")
	p.line(`Compile and link with \fB\-lnbd\fR, or with \fBpkg\-config libnbd \-\-cflags \-\-libs\fR.`)

	p.sh("DESCRIPTION")
	p.markup(`The Network Block Device protocol (NBD) lets a client read and write a block device, a disk image or anything that behaves like a disk, that a server exports over a socket. This library is an NBD client. It provides the C interface of libnbd, call for call: programs written and built for libnbd (up to the calls of libnbd 1.14, and the later calls as they are provided) compile and run with it unchanged, because it has the same header, the same soname (libnbd.so.0) and the same symbol versions.

It is a clean-room implementation: it was written from libnbd's manual pages and the NBD protocol document, which were read for facts only. Where it behaves differently on purpose (it checks more of what the server sends, and every error has a non-zero errno), the page of the call concerned says so.

Each call has its own manual page, such as nbd_connect_socket(3) or nbd_pread(3); all of them are listed under CALLS below.`)

	p.sh("HANDLES AND STATES")
	p.markup(`Everything starts with a handle, made by nbd_create(3) and released by nbd_close(3). A handle holds one connection to one server, and the settings for it. Settings (export name, TLS, structured replies, strict mode and so on) are made on a new handle, before one of the connect calls opens the connection.

A handle is always in one of six public states. Each call's page says in which states the call is permitted:

- created: nbd_create(3) returned the handle and no connect call has been made yet. nbd_aio_is_created(3) is true.
- connecting: a connect call has started; the socket is connecting, or the handshake is in progress, including an option that an nbd_opt_* call sent in option mode. nbd_aio_is_connecting(3) is true.
- negotiating: only in option mode (nbd_set_opt_mode(3)): the handshake stopped so that the program can send options with the nbd_opt_* calls. nbd_aio_is_negotiating(3) is true.
- connected: the transmission phase: the handle is ready for commands such as nbd_pread(3) (nbd_aio_is_ready(3)), or is sending or receiving some (nbd_aio_is_processing(3)).
- closed: the connection was shut down cleanly, by nbd_shutdown(3), nbd_aio_disconnect(3) or nbd_opt_abort(3). nbd_aio_is_closed(3) is true.
- dead: the connection failed: an I/O error, the server closed it unexpectedly, or the server broke the protocol. nbd_aio_is_dead(3) is true. Every command still in flight fails.

nbd_connection_state(3) describes the current state in words. Closed and dead are final: to connect again, close the handle and create a new one.

Every call is either synchronous or asynchronous. A synchronous call such as nbd_connect_unix(3) or nbd_pread(3) does its whole job before it returns, blocking the calling thread. An asynchronous call (its name starts with nbd_aio_) only starts the work and returns at once; the program then drives the connection with nbd_poll(3), or with its own event loop through nbd_aio_get_fd(3), nbd_aio_get_direction(3), nbd_aio_notify_read(3) and nbd_aio_notify_write(3), and learns of completion through a completion callback or nbd_aio_command_completed(3). A command started with an nbd_aio_* call is identified by its cookie, a number >= 1 unique within the handle.

A handle may be used from several threads at once: each call takes the handle's lock (the few that do not say so on their page), and synchronous commands from several threads share the connection, their requests and replies pipelined.`)

	p.sh("ERRORS")
	p.markup(`A call that fails returns -1 (or NULL for calls returning a pointer). It leaves a message, which nbd_get_error(3) returns, and an errno value, which nbd_get_errno(3) returns. Both are kept per thread, so read them in the thread that made the failing call, before it makes another call that could fail. The message starts with the name of the call, then ": ". The errno is never 0 after a failure.

Some errors are common to every call and are checked in this order before the call does anything:

- A call made in a state it does not permit fails with ENOTCONN if the handle has not started connecting (it is still in the created state), and with EINVAL in every other state, including closed and dead. The message then starts with "invalid state:".
- A NULL pointer argument (a string, a buffer, a list of strings, a socket address, or the function of a callback that is not optional) fails with EFAULT. The handle itself must never be NULL (except for nbd_close(3)).
- A value that is not one of an enum's values, or a flag that is not in the flag set, fails with EINVAL. Unknown command flags (LIBNBD_CMD_FLAG_*) are refused only while nbd_set_strict_mode(3) includes LIBNBD_STRICT_FLAGS, which is the default.

Errors that the server reports for a command arrive as the errno values the NBD protocol maps them to (EPERM, EIO, ENOMEM, EINVAL, ENOSPC, EOVERFLOW, ENOTSUP, ESHUTDOWN). A server that breaks the protocol makes the handle dead with EPROTO.`)

	p.sh("CALLBACKS")
	p.markup(`Some calls take a callback: a small struct passed by value, holding a function (.callback), a pointer passed to it (.user_data), and a function to release that pointer (.free, which may be NULL). The library calls .free(user_data) exactly once, when it no longer needs the callback: when the command retires, when the call that took the callback fails (even if .callback never ran), or in nbd_close(3). A callback marked optional is absent when both .callback and .free are NULL; for completion callbacks NBD_NULL_COMPLETION says this.

Callbacks run in the thread that drives the connection, with the handle's lock held: a callback must not call any function on the same handle.

A completion callback receives a pointer to the command's errno (0 on success). If it returns 1, the command is retired at once and nbd_aio_command_completed(3) will not know it; if it returns 0, the command waits for nbd_aio_command_completed(3).`)
	for _, cb := range t.callbacks {
		p.code(append(append([]string{"typedef struct {"},
			wrapDecl("  int (*callback) (void *user_data, "+cb.Params+");", 72)...),
			"  void *user_data;", "  void (*free) (void *user_data);", "} nbd_"+cb.Name+"_callback;"))
		p.line(".PP")
		p.text(strings.ReplaceAll(cb.Doc, "\n", " "))
	}

	p.sh("ENVIRONMENT")
	p.line(".TP")
	p.line(`.B LIBNBD_DEBUG`)
	p.text("If this variable is set to 1 when nbd_create(3) makes a handle, debugging is on for that handle from the start, as if nbd_set_debug(3) had been called with true.")
	p.sh("DEBUGGING")
	p.markup(`With debugging on (LIBNBD_DEBUG=1, or nbd_set_debug(3)), the library traces every call on the handle, its entry with the arguments and its exit with the result or the error, and the main events of the connection (connecting, each option sent, the result of the negotiation). The messages go to standard error, prefixed with "libnbd:", the handle's name (nbd_set_handle_name(3)) and the call that produced them, unless nbd_set_debug_callback(3) installed a function to receive them. The contents of data buffers are never printed.`)

	p.sh("CALLS")
	p.text("Each call has its own page. Calls not yet provided by this library (later libnbd releases) are listed at the end of each group.")
	byArea := make([][]api.Call, len(areas))
	for _, c := range t.calls {
		i := areaOf(c.Name)
		byArea[i] = append(byArea[i], c)
	}
	order := []int{len(areas) - 1, 0, 1, 2, 3, 4}
	for _, i := range order {
		p.line(".SS " + areas[i].title)
		var pending []string
		for _, c := range byArea[i] {
			if c.Pending != "" {
				pending = append(pending, "nbd_"+c.Name)
				continue
			}
			p.line(".TP")
			p.f(".BR nbd_%s (3)", escCode(c.Name))
			p.text(sentence(c.Doc.Short))
		}
		if len(pending) > 0 {
			sort.Strings(pending)
			p.line(".PP")
			p.text("Not yet provided: " + strings.Join(pending, ", ") + ".")
		}
	}

	p.sh("CONSTANTS")
	p.text("The header defines these constants; their values are fixed by libnbd's ABI. Each flag set also has a `_MASK` constant holding all of its flags.")
	for _, g := range t.groups {
		p.line(".SS " + escCode("LIBNBD_"+g.Name+"_*"))
		p.text(g.Doc + ".")
		for _, m := range g.Members {
			p.line(".TP")
			p.f(`.B LIBNBD_%s_%s`, escCode(g.Name), escCode(m.Name))
			p.text(fmt.Sprintf("= %s: %s.", m.Value, m.Doc))
		}
	}
	p.line(".SS Strings")
	for _, s := range t.strings {
		p.line(".TP")
		p.f(`.B LIBNBD_%s`, escCode(s.Name))
		p.text(fmt.Sprintf("= %s: %s.", s.Value, s.Doc))
	}

	p.sh("SEE ALSO")
	p.text("The NBD protocol: https://github.com/NetworkBlockDevice/nbd/blob/master/doc/proto.md. The NBD URI format: https://github.com/NetworkBlockDevice/nbd/blob/master/doc/uri.md.")
	return p.b.Bytes()
}

// argHints say what an argument is for, by name, until the table's
// Arg.Doc says it (Arg.Doc wins).  "call.arg" keys are for names whose
// meaning depends on the call.
var argHints = map[string]string{
	"addr":                      "The server's address.",
	"allow":                     "true to allow URIs to name local files.",
	"argv":                      "The command to run and its arguments; argv[0] is looked up in PATH.",
	"cid":                       "The AF_VSOCK context ID of the server's machine (2 is the host, 1 the local machine).",
	"contexts":                  "The names of the meta contexts to report on.",
	"cookie":                    "The cookie of the command to check.",
	"debug":                     "true to turn debugging messages on, false to turn them off.",
	"dir":                       "The directory holding the TLS certificates.",
	"enable":                    "true to turn option mode on.",
	"export_name":               "The name of the export; \"\" is the server's default export.",
	"fd":                        "An extra file descriptor to wait on for POLLIN, or -1 for none; it stays the caller's.",
	"filename":                  "The file holding the pre-shared keys.",
	"handle_name":               "The new name of the handle.",
	"hostname":                  "The server's host name or numeric address.",
	"set_tls_hostname.hostname": "The host name the server's certificate must match.",
	"i":                         "The index in the list of requested meta contexts, from 0.",
	"metacontext":               "The name of the meta context, such as \"base:allocation\".",
	"name":                      "The name of the meta context to request, such as \"base:allocation\".",
	"offset":                    "Where the request starts in the export.",
	"count":                     "The length of the request.",
	"connect_tcp.port":          "The port number or service name, such as \"10809\" or \"nbd\".",
	"aio_connect_tcp.port":      "The port number or service name, such as \"10809\" or \"nbd\".",
	"connect_vsock.port":        "The AF_VSOCK port the server listens on.",
	"aio_connect_vsock.port":    "The AF_VSOCK port the server listens on.",
	"private_data":              "The value to store.",
	"queries":                   "The meta context names (or namespaces, ending in \":\") to ask about.",
	"request":                   "true to turn the setting on, false to turn it off.",
	"signum":                    "The signal to send; 0 means SIGTERM.",
	"sock":                      "A connected stream socket, which the library takes over if the call gets far enough (see DESCRIPTION).",
	"socket_name":               "The name given in LISTEN_FDNAMES, or \"\" for none.",
	"timeout":                   "The longest time to wait, in milliseconds; -1 waits without a limit, 0 does not wait.",
	"unixsocket":                "The path of the server's Unix domain socket.",
	"uri":                       "The NBD URI.",
	"username":                  "The TLS user name.",
	"verify":                    "true to verify the server's certificate.",
}

func argHint(c api.Call, a api.Arg) string {
	if h, ok := argHints[c.Name+"."+a.Name]; ok {
		return h
	}
	return argHints[a.Name]
}

// sentence ends a Short description with a full stop, unless it is a
// question.
func sentence(short string) string {
	if strings.HasSuffix(short, "?") {
		return short
	}
	return short + "."
}
