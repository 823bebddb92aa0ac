package main

// The Go package's mechanical boundary: go/api_gen.go (one method per
// call whose Go field names a Method and is not Manual), and the typed
// cgo shims go/api_gen.h and go/api_gen.c that those methods and some
// hand-written ones call.
//
// Every shim calls one libnbd function and, when it fails, copies the
// thread-local message and errno into a struct gonbd_err inside the same
// C call (a goroutine may change OS threads between two cgo calls).  A
// call that cannot fail (NoError) gets a shim without the error struct.
// Calls newer than the system libnbd the package can also link
// (-tags libnbd_system, Debian's 1.14) are compiled only when libnbd.h
// defines LIBNBD_HAVE_NBD_<NAME>; otherwise the shim fails with ENOTSUP
// (or, for a call that cannot fail, returns the zero value).

import (
	"bytes"
	"fmt"
	"go/format"
	"regexp"
	"sort"
	"strings"

	"github.com/nbd-cleanroom/libnbd/api"
)

func init() {
	register(generator{name: "go", run: genGo, owned: []string{"go/api_gen*"}})
}

// systemLibnbd is the libnbd release that -tags libnbd_system must
// build against: shims of newer calls are guarded.
const systemLibnbd = "1.14"

// goShimOnly lists calls without a generated method whose typed shim the
// hand-written methods use (go/connect.go, go/info.go).
var goShimOnly = map[string]bool{
	"aio_connect_unix":                      true,
	"aio_connect_tcp":                       true,
	"aio_connect_vsock":                     true,
	"aio_connect_uri":                       true,
	"aio_connect_socket":                    true,
	"aio_connect_command":                   true,
	"aio_connect_systemd_socket_activation": true,
	"get_block_size":                        true,
	"kill_subprocess":                       true,
}

// goClosedValue is what a method of a call that cannot fail returns on a
// closed (or nil) Handle, when that is not the zero value.
var goClosedValue = map[string]string{
	"aio_is_closed": "true",
}

// goGroup is the Go type of a flag set or enum of api.Groups.
type goGroup struct {
	Type   string // Go type name
	Base   string // underlying type: int (enums) or uint32 (flag sets)
	Prefix string // prefix of the constants' names
	Doc    string // the type's doc comment (after the type name)
}

// goGroups names the Go types of the groups that generated methods take
// or return.  A group used by a generated method but missing here is
// passed as a plain int or uint32.  (CMD_FLAG is the hand-written Flag
// of go/io.go; STATE's extent flags are there too.)
var goGroups = map[string]goGroup{
	"TLS": {Type: "TLSMode", Base: "int", Prefix: "TLS",
		Doc: "says whether a handle uses TLS ([Handle.SetTLS], [Handle.SetURIAllowTLS])."},
	"HANDSHAKE_FLAG": {Type: "HandshakeFlag", Base: "uint32", Prefix: "HandshakeFlag",
		Doc: "is a set of handshake flags ([Handle.SetHandshakeFlags]); combine them with |."},
	"STRICT": {Type: "StrictMode", Base: "uint32", Prefix: "Strict",
		Doc: "is a set of client-side checks ([Handle.SetStrictMode]); combine them with |."},
	"ALLOW_TRANSPORT": {Type: "AllowTransport", Base: "uint32", Prefix: "AllowTransport",
		Doc: "is a set of URI transports ([Handle.SetURIAllowTransports]); combine them with |."},
}

// goConstNames are the Go names of libnbd constants that the hand-written
// part of the package defines (go/io.go).
var goConstNames = map[string]string{
	"CMD_FLAG_FUA":       "[FUA]",
	"CMD_FLAG_NO_HOLE":   "[NoHole]",
	"CMD_FLAG_DF":        "[DF]",
	"CMD_FLAG_REQ_ONE":   "[ReqOne]",
	"CMD_FLAG_FAST_ZERO": "[FastZero]",
	"STATE_HOLE":         "[StateHole]",
	"STATE_ZERO":         "[StateZero]",
	// The string constants.
	"CONTEXT_BASE_ALLOCATION": `"base:allocation"`,
	"NAMESPACE_BASE":          `"base:"`,
}

// goAcronyms are written in capitals in Go names.
var goAcronyms = map[string]bool{
	"TLS": true, "TCP": true, "URI": true, "FUA": true, "DF": true,
	"PSK": true, "PID": true, "NBD": true, "ID": true,
}

// goCamel turns FIXED_NEWSTYLE or export_name into FixedNewstyle
// (exported) or exportName.
func goCamel(s string, exported bool) string {
	var b strings.Builder
	for i, w := range strings.Split(strings.ToLower(s), "_") {
		if w == "" {
			continue
		}
		switch {
		case i == 0 && !exported:
			b.WriteString(w)
		case goAcronyms[strings.ToUpper(w)]:
			b.WriteString(strings.ToUpper(w))
		default:
			b.WriteString(strings.ToUpper(w[:1]) + w[1:])
		}
	}
	return b.String()
}

// goGen is the state of one run.
type goGen struct {
	t       *table
	methods []api.Call // calls with a generated method
	shims   []api.Call // calls with a typed shim
	groups  map[string]api.Group
	used    map[string]bool // groups with a Go type in the output
}

func genGo(t *table) ([]output, error) {
	g := &goGen{t: t, groups: map[string]api.Group{}, used: map[string]bool{}}
	for _, gr := range t.groups {
		g.groups[gr.Name] = gr
	}
	for name := range goShimOnly {
		if _, ok := t.call(name); !ok {
			return nil, fmt.Errorf("goShimOnly names an unknown call %q", name)
		}
	}
	for _, c := range t.provided() {
		gen := c.Go.Method != "" && !c.Go.Manual
		if !gen && !goShimOnly[c.Name] {
			continue
		}
		if c.Custom {
			return nil, fmt.Errorf("%s: a Custom call cannot have a generated Go method or shim", c.Name)
		}
		for _, a := range c.Args {
			if !goPlainKind(a.Kind) {
				return nil, fmt.Errorf("%s: argument %s (%v) has no mechanical Go form: make the call Manual or None in api/calls.go", c.Name, a.Name, a.Kind)
			}
		}
		if c.NoError && len(c.Args) > 0 {
			// Its method has no error result to report a refused argument.
			return nil, fmt.Errorf("%s: a call that cannot fail but takes arguments has no mechanical Go form: make it Manual or None", c.Name)
		}
		if c.Ret == api.RCookie {
			return nil, fmt.Errorf("%s: a command call has no mechanical Go form: make it Manual or None", c.Name)
		}
		g.shims = append(g.shims, c)
		if gen {
			g.methods = append(g.methods, c)
			for _, a := range c.Args {
				if _, ok := goGroups[a.Type]; ok && (a.Kind == api.Flags || a.Kind == api.Enum) {
					g.used[a.Type] = true
				}
			}
			if gr := g.retGroup(c); gr != "" {
				g.used[gr] = true
			}
		}
	}
	src := g.goFile()
	fsrc, err := format.Source(src)
	if err != nil {
		return nil, fmt.Errorf("go/api_gen.go does not parse: %v\n%s", err, src)
	}
	return []output{
		{"go/api_gen.go", fsrc},
		{"go/api_gen.h", g.header()},
		{"go/api_gen.c", g.cFile()},
	}, nil
}

// goPlainKind reports whether an argument kind passes by value (or as a
// copied string) so that a shim and a method can be generated.
func goPlainKind(k api.Kind) bool {
	switch k {
	case api.Closure, api.BytesIn, api.BytesOut, api.BytesPersistIn, api.BytesPersistOut, api.SockAddr:
		return false
	}
	return true
}

// retGroup is the group of a flag or enum result: a getter returns what
// its setter (set_<rest> for get_<rest>) takes.
func (g *goGen) retGroup(c api.Call) string {
	if c.Ret != api.RFlags && c.Ret != api.REnum {
		return ""
	}
	set, ok := g.t.call("set_" + strings.TrimPrefix(c.Name, "get_"))
	if !ok || !strings.HasPrefix(c.Name, "get_") || len(set.Args) != 1 {
		return ""
	}
	a := set.Args[0]
	if (c.Ret == api.RFlags) != (a.Kind == api.Flags) {
		return ""
	}
	if _, ok := goGroups[a.Type]; !ok {
		return ""
	}
	return a.Type
}

// guarded reports whether the call may be missing from the system libnbd.
func guarded(c api.Call) bool {
	return c.Extension || versionLess(systemLibnbd, c.Version)
}

func haveMacro(c api.Call) string { return "LIBNBD_HAVE_NBD_" + strings.ToUpper(c.Name) }

// ---- C ----------------------------------------------------------------------

func shimName(c api.Call) string { return "gonbd_" + c.Name }

func shimParams(c api.Call) string {
	ps := append([]string{"struct nbd_handle *h"}, cParams(c, false)...)
	if !c.NoError {
		ps = append(ps, "struct gonbd_err *e")
	}
	return strings.Join(ps, ", ")
}

func shimProto(c api.Call) string {
	return decl(cRet(c.Ret), shimName(c)) + " (" + shimParams(c) + ")"
}

func (g *goGen) header() []byte {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("/* api_gen.h: the typed shims of the Go package, one per call it reaches\n")
	p(" * mechanically.  %s\n", genNotice)
	p(" *\n * Each shim calls nbd_<call> and, if that fails, fills *e with the\n")
	p(" * message and errno in the same C call (see shim.h).  Shims of calls that\n")
	p(" * cannot fail take no *e.  Calls newer than libnbd %s fail with ENOTSUP\n", systemLibnbd)
	p(" * (or return 0) when the linked libnbd.h does not provide them. */\n")
	p("#ifndef GONBD_API_GEN_H\n#define GONBD_API_GEN_H\n\n")
	p("#include <stdbool.h>\n#include <stdint.h>\n#include <sys/types.h>\n#include <libnbd.h>\n\n")
	p("struct gonbd_err;\n\n")
	for _, c := range g.shims {
		p("%s;\n", shimProto(c))
	}
	p("\n#endif /* GONBD_API_GEN_H */\n")
	return b.Bytes()
}

func (g *goGen) cFile() []byte {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("/* api_gen.c: the typed shims declared in api_gen.h.\n * %s */\n", genNotice)
	p("#include <errno.h>\n#include <stdlib.h>\n\n#include \"shim.h\"\n")
	for _, c := range g.shims {
		p("\n%s\n%s (%s)\n{\n", strings.TrimSuffix(cRet(c.Ret), " "), shimName(c), shimParams(c))
		var args []string
		for _, a := range c.Args {
			args = append(args, a.Name)
		}
		call := "nbd_" + c.Name + " (" + strings.Join(append([]string{"h"}, args...), ", ") + ")"
		if guarded(c) {
			p("#ifdef %s\n", haveMacro(c))
		}
		ev := errValue(c.Ret)
		switch {
		case c.NoError:
			p("  return %s;\n", call)
		default:
			p("  %s = %s;\n\n", decl(cRet(c.Ret), "r"), call)
			p("  if (r == %s)\n    gonbd_capture (e);\n  return r;\n", ev)
		}
		if guarded(c) {
			p("#else\n")
			for _, a := range append([]string{"h"}, args...) {
				p("  (void) %s;\n", a)
			}
			if c.NoError {
				p("  return 0;\n")
			} else {
				p("  gonbd_fail (e, ENOTSUP, \"nbd_%s: not provided by the linked libnbd (added in %s)\");\n", c.Name, c.Version)
				p("  return %s;\n", ev)
			}
			p("#endif\n")
		}
		p("}\n")
	}
	return b.Bytes()
}

// ---- Go ---------------------------------------------------------------------

// goArg is one Go parameter and how it reaches C.
type goArg struct {
	name string // Go parameter name
	typ  string // Go type
	pre  []string
	carg string // C argument expression
}

// goReserved are the generated methods' own identifiers.
var goReserved = map[string]bool{
	"h": true, "c": true, "e": true, "r": true, "v": true, "op": true, "err": true,
	"type": true, "func": true, "range": true, "map": true, "len": true, "string": true,
}

func (g *goGen) goArgs(c api.Call) []goArg {
	var out []goArg
	ret := goZeroReturn(g, c)
	for _, a := range c.Args {
		n := goCamel(a.Name, false)
		if goReserved[n] {
			n += "Arg"
		}
		x := goArg{name: n}
		invalid := func(msg string) string {
			return fmt.Sprintf("return %s&Error{Op: op, Errno: syscall.EINVAL, Msg: %q}", ret, msg)
		}
		switch a.Kind {
		case api.Bool:
			x.typ, x.carg = "bool", "C.bool("+n+")"
		case api.Int, api.Fd:
			x.typ, x.carg = "int", "C.int("+n+")"
			x.pre = []string{fmt.Sprintf("if int(C.int(%s)) != %s {\n%s\n}", n, n, invalid(a.Name+" is out of range"))}
		case api.UInt:
			x.typ, x.carg = "uint32", "C.uint("+n+")"
		case api.UInt32:
			x.typ, x.carg = "uint32", "C.uint32_t("+n+")"
		case api.Int64:
			x.typ, x.carg = "int64", "C.int64_t("+n+")"
		case api.UInt64:
			x.typ, x.carg = "uint64", "C.uint64_t("+n+")"
		case api.SizeT:
			x.typ, x.carg = "int", "C.size_t("+n+")"
			x.pre = []string{fmt.Sprintf("if %s < 0 {\n%s\n}", n, invalid(a.Name+" is negative"))}
		case api.UIntPtr:
			x.typ, x.carg = "uintptr", "C.uintptr_t("+n+")"
		case api.String, api.Path:
			cn := "c" + goCamel(a.Name, true)
			x.typ, x.carg = "string", cn
			x.pre = []string{
				fmt.Sprintf("%s, err := cString(op, %s)\nif err != nil {\nreturn %serr\n}", cn, n, ret),
				fmt.Sprintf("defer C.free(unsafe.Pointer(%s))", cn),
			}
		case api.StringList:
			cn := "c" + goCamel(a.Name, true)
			x.typ, x.carg = "[]string", cn
			x.pre = []string{
				fmt.Sprintf("%s, err := cStringList(op, %s)\nif err != nil {\nreturn %serr\n}", cn, n, ret),
				fmt.Sprintf("defer freeCStringList(%s)", cn),
			}
		case api.Enum:
			x.typ, x.carg = "int", "C.int("+n+")"
			if gg, ok := goGroups[a.Type]; ok {
				x.typ = gg.Type
			}
		case api.Flags:
			x.typ, x.carg = "uint32", "C.uint32_t("+n+")"
			if gg, ok := goGroups[a.Type]; ok {
				x.typ = gg.Type
			}
		default:
			panic("no Go form for " + a.Name)
		}
		out = append(out, x)
	}
	return out
}

// goRet is the Go result type of a call and the conversion of the C
// result v to it.
func (g *goGen) goRet(c api.Call) (typ, conv string) {
	switch c.Ret {
	case api.RErr:
		return "", ""
	case api.RBool:
		return "bool", "v != 0"
	case api.RInt, api.RFd, api.RSizeT:
		return "int", "int(v)"
	case api.RInt64:
		return "int64", "int64(v)"
	case api.RString, api.RStaticString:
		return "string", "C.GoString(v)"
	case api.RUInt:
		return "uint", "uint(v)"
	case api.RUInt64:
		return "uint64", "uint64(v)"
	case api.RUIntPtr:
		return "uintptr", "uintptr(v)"
	case api.RFlags, api.REnum:
		base := "uint32"
		if c.Ret == api.REnum {
			base = "int"
		}
		if gr := g.retGroup(c); gr != "" {
			base = goGroups[gr].Type
		}
		return base, base + "(v)"
	}
	panic(fmt.Sprint("no Go result for ", c.Ret))
}

// goZeroReturn is the "zero, " before err in a failing return.
func goZeroReturn(g *goGen, c api.Call) string {
	typ, _ := g.goRet(c)
	switch typ {
	case "":
		return ""
	case "bool":
		return "false, "
	case "string":
		return `"", `
	}
	return "0, "
}

func (g *goGen) goFile() []byte {
	var b bytes.Buffer
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p("// Code generated by api/gen from the table in api/; DO NOT EDIT.\n\n")
	p("package nbd\n\n")
	p("/*\n#include <stdlib.h>\n#include \"shim.h\"\n*/\nimport \"C\"\n\n")
	imports := []string{}
	src := g.goMethods()
	if strings.Contains(src, "syscall.") {
		imports = append(imports, `"syscall"`)
	}
	if strings.Contains(src, "unsafe.") {
		imports = append(imports, `"unsafe"`)
	}
	if len(imports) > 0 {
		p("import (\n%s\n)\n\n", strings.Join(imports, "\n"))
	}
	p("%s", g.goTypes())
	p("%s", src)
	return b.Bytes()
}

func (g *goGen) goTypes() string {
	var b strings.Builder
	var names []string
	for n := range g.used {
		names = append(names, n)
	}
	// In the order of api.Groups.
	order := map[string]int{}
	for i, gr := range g.t.groups {
		order[gr.Name] = i
	}
	sort.Slice(names, func(i, j int) bool { return order[names[i]] < order[names[j]] })
	for _, n := range names {
		gg, gr := goGroups[n], g.groups[n]
		for _, l := range wrapComment(gg.Type+" "+gg.Doc, 74) {
			fmt.Fprintf(&b, "// %s\n", l)
		}
		fmt.Fprintf(&b, "type %s %s\n\n", gg.Type, gg.Base)
		fmt.Fprintf(&b, "const (\n")
		for _, m := range gr.Members {
			fmt.Fprintf(&b, "%s %s = %s // %s\n", gg.Prefix+goCamel(m.Name, true), gg.Type, m.Value, m.Doc)
		}
		fmt.Fprintf(&b, ")\n\n")
	}
	return b.String()
}

func (g *goGen) goMethods() string {
	var b strings.Builder
	for _, c := range g.methods {
		g.goMethod(&b, c)
	}
	return b.String()
}

func (g *goGen) goMethod(b *strings.Builder, c api.Call) {
	p := func(format string, a ...any) { fmt.Fprintf(b, format, a...) }
	m := c.Go.Method
	for _, l := range g.goDoc(c) {
		if l == "" {
			p("//\n")
		} else {
			p("// %s\n", l)
		}
	}
	args := g.goArgs(c)
	var params, cargs []string
	for _, a := range args {
		params = append(params, a.name+" "+a.typ)
		cargs = append(cargs, a.carg)
	}
	cargs = append([]string{"c"}, cargs...)
	typ, conv := g.goRet(c)
	var results string
	switch {
	case c.NoError:
		results = typ
	case typ == "":
		results = "error"
	default:
		results = "(" + typ + ", error)"
	}
	p("func (h *Handle) %s(%s) %s {\n", m, strings.Join(params, ", "), results)
	p("const op = %q\n", m)
	for _, a := range args {
		for _, pre := range a.pre {
			p("%s\n", pre)
		}
	}
	call := "C." + shimName(c) + "(" + strings.Join(cargs, ", ")
	if c.NoError {
		call += ")"
		p("var r %s\n", typ)
		closed := goClosedValue[c.Name]
		if closed == "" {
			p("_ = h.withC(op, func(c *C.struct_nbd_handle) error {\n")
		} else {
			p("if err := h.withC(op, func(c *C.struct_nbd_handle) error {\n")
		}
		p("v := %s\n", call)
		p("r = %s\n", conv)
		p("return nil\n")
		if closed == "" {
			p("})\n")
		} else {
			p("}); err != nil {\nreturn %s\n}\n", closed)
		}
		p("return r\n}\n\n")
		return
	}
	call += ", &e)"
	ev := "-1"
	if c.Ret == api.RString || c.Ret == api.RStaticString {
		ev = "nil"
	}
	if typ == "" {
		p("return h.withC(op, func(c *C.struct_nbd_handle) error {\n")
		p("var e C.struct_gonbd_err\n")
		p("if %s == %s {\nreturn cerr(op, &e)\n}\n", call, ev)
		p("return nil\n})\n}\n\n")
		return
	}
	p("var r %s\n", typ)
	assign := ":="
	for _, a := range c.Args {
		if a.Kind == api.String || a.Kind == api.Path || a.Kind == api.StringList {
			assign = "=" // err is declared by the argument conversion
		}
	}
	p("err %s h.withC(op, func(c *C.struct_nbd_handle) error {\n", assign)
	p("var e C.struct_gonbd_err\n")
	p("v := %s\n", call)
	p("if v == %s {\nreturn cerr(op, &e)\n}\n", ev)
	p("r = %s\n", conv)
	if c.Ret == api.RString {
		p("C.free(unsafe.Pointer(v))\n")
	}
	p("return nil\n})\n")
	p("return r, err\n}\n\n")
}

// ---- doc comments -------------------------------------------------------------

var (
	goRefRE   = regexp.MustCompile(`\bnbd_([a-z0-9_]+)\(3\)`)
	goConstRE = regexp.MustCompile(`\bLIBNBD_([A-Z0-9_]*[A-Z0-9])(_\*)?`)
	// goCOnlyRE finds sentences that only concern C callers: freeing a
	// returned string (Go returns a string value), or a handle argument
	// that is not used (a Go method needs an open Handle).
	goCOnlyRE = regexp.MustCompile(`\s*[^.]*\b(caller must free|caller frees|must be freed|free\(3\)|h is not used)[^.]*\.`)
)

// goDoc returns the doc comment lines of a generated method: a sentence
// from Doc.Short, then the first paragraph of Doc.Long.
func (g *goGen) goDoc(c api.Call) []string {
	m := c.Go.Method
	var lines []string
	if c.Doc.Short != "" {
		lines = append(lines, wrapComment(g.goText(goSentence(m, c.Doc.Short)), 74)...)
	} else {
		lines = append(lines, wrapComment(goFallback(c), 74)...)
	}
	for _, para := range leadParas(c.Doc.Long) {
		lines = append(lines, "")
		lines = append(lines, g.goPara(para)...)
	}
	var notes []string
	if c.NoError {
		switch v := goClosedValue[c.Name]; v {
		case "":
			notes = append(notes, "On a closed Handle it returns the zero value.")
		default:
			notes = append(notes, "On a closed Handle it returns "+v+".")
		}
	}
	if guarded(c) {
		what := "fails with ENOTSUP"
		if c.NoError {
			what = "returns the zero value"
		}
		notes = append(notes, fmt.Sprintf("Built with -tags libnbd_system against a libnbd older than %s, it %s.", c.Version, what))
	}
	notes = append(notes, "See nbd_"+c.Name+"(3).")
	lines = append(lines, "")
	lines = append(lines, wrapComment(strings.Join(notes, " "), 74)...)
	return lines
}

// leadParas returns the first paragraph of Doc.Long, with the paragraphs
// that follow it while it (or the last one taken) ends with a colon (a
// list or code it introduces).
func leadParas(long string) []string {
	long = strings.Trim(long, "\n")
	if strings.TrimSpace(long) == "" {
		return nil
	}
	var out []string
	for _, para := range strings.Split(long, "\n\n") {
		para = strings.TrimRight(para, " \n")
		if para == "" {
			continue
		}
		out = append(out, para)
		if !strings.HasSuffix(para, ":") {
			break
		}
	}
	return out
}

// goPara renders one paragraph of Doc.Long markup as Go doc lines.
func (g *goGen) goPara(para string) []string {
	ls := strings.Split(para, "\n")
	code, list := true, strings.HasPrefix(ls[0], "- ")
	for _, l := range ls {
		if !strings.HasPrefix(l, "  ") {
			code = false
		}
	}
	switch {
	case code:
		var out []string
		for _, l := range ls {
			out = append(out, "\t"+strings.TrimPrefix(l, "  "))
		}
		return out
	case list:
		var items []string
		for _, l := range ls {
			if strings.HasPrefix(l, "- ") {
				items = append(items, strings.TrimPrefix(l, "- "))
			} else if len(items) > 0 {
				items[len(items)-1] += " " + strings.TrimSpace(l)
			}
		}
		var out []string
		for _, it := range items {
			w := wrapComment(g.goText(it), 68)
			for i, l := range w {
				if i == 0 {
					out = append(out, "  - "+l)
				} else {
					out = append(out, "    "+l)
				}
			}
		}
		return out
	}
	return wrapComment(g.goText(para), 74)
}

// goText turns running text into Go doc text: backquotes dropped,
// references to calls the Go package exposes become doc links, and
// libnbd constants with a Go name become that name.
func (g *goGen) goText(s string) string {
	s = strings.TrimSpace(goCOnlyRE.ReplaceAllString(s, ""))
	s = strings.ReplaceAll(s, "`", "")
	s = goRefRE.ReplaceAllStringFunc(s, func(ref string) string {
		name := goRefRE.FindStringSubmatch(ref)[1]
		c, ok := g.t.call(name)
		if !ok || c.Pending != "" || c.Go.Method == "" {
			return ref
		}
		if c.Proto != "" && strings.HasPrefix(c.Proto, "struct nbd_handle *") {
			return "[" + c.Go.Method + "]"
		}
		return "[Handle." + c.Go.Method + "]"
	})
	s = goConstRE.ReplaceAllStringFunc(s, func(k string) string {
		m := goConstRE.FindStringSubmatch(k)
		name, wild := m[1], m[2] != ""
		if n, ok := goConstNames[name]; ok && !wild {
			return n
		}
		for gn, gg := range goGroups {
			if !g.used[gn] {
				continue
			}
			if wild && name == gn {
				return "[" + gg.Type + "] values"
			}
			for _, mem := range g.groups[gn].Members {
				if gn+"_"+mem.Name == name && !wild {
					return gg.Prefix + goCamel(mem.Name, true)
				}
			}
		}
		return k
	})
	return s
}

// goNotVerbs are first words of a Doc.Short that is not an imperative.
var goNotVerbs = map[string]string{
	"whether": "reports", "if": "reports",
	"the": "returns", "a": "returns", "an": "returns", "true": "returns",
	"number": "returns", "how": "returns", "which": "returns", "what": "returns",
	"statistics": "returns",
}

// goQuestions are first words of a Doc.Short that asks a question.
var goQuestions = map[string]bool{
	"does": true, "do": true, "is": true, "are": true, "can": true,
	"has": true, "have": true, "will": true, "should": true,
}

// goSentence makes Doc.Short ("set the export name") the first sentence
// of a Go doc comment ("SetExportName sets the export name.").
func goSentence(method, short string) string {
	short = strings.TrimSuffix(strings.TrimSpace(short), ".")
	words := strings.Fields(short)
	if len(words) == 0 {
		return method + "."
	}
	first := strings.ToLower(words[0])
	rest := strings.Join(words[1:], " ")
	end := "."
	if strings.HasSuffix(short, "?") {
		end = ""
	}
	q := strings.TrimSuffix(short, "?")
	switch {
	case goNotVerbs[first] != "":
		return method + " " + goNotVerbs[first] + " " + short + end
	case first == "see" && len(words) > 1 && (words[1] == "if" || words[1] == "whether"):
		return method + " reports whether " + strings.Join(words[2:], " ") + end
	case first == "see" && len(words) > 1:
		return method + " reports " + rest + end
	case (first == "does" || first == "do") && len(words) > 3 && words[1] == "the":
		// "does the server support X?" → "reports whether the server supports X."
		w := strings.Fields(q)
		return method + " reports whether " + strings.Join(w[1:3], " ") + " " + thirdPerson(w[3]) +
			strings.TrimRight(" "+strings.Join(w[4:], " "), " ") + "."
	case first == "is" && len(words) > 3 && words[1] == "the":
		// "is the NBD export read-only?" → "reports whether the NBD export
		// is read-only.": the subject runs to its first lower-case word
		// after "the".
		w := strings.Fields(q)
		j := 2
		for j < len(w)-1 && strings.ToUpper(w[j]) == w[j] {
			j++
		}
		if j < len(w)-1 {
			return method + " reports whether " + strings.Join(w[1:j+1], " ") + " is " + strings.Join(w[j+1:], " ") + "."
		}
		return method + " answers the question: " + q + "?"
	case goQuestions[first]:
		return method + " answers the question: " + q + "?"
	}
	// "set or clear the flag" → "sets or clears the flag".
	if len(words) > 2 && (words[1] == "or" || words[1] == "and") {
		return method + " " + thirdPerson(words[0]) + " " + words[1] + " " + thirdPerson(words[2]) +
			strings.TrimRight(" "+strings.Join(words[3:], " "), " ") + end
	}
	return method + " " + thirdPerson(words[0]) + " " + rest + end
}

// thirdPerson conjugates an imperative verb: set → sets, query → queries.
func thirdPerson(v string) string {
	switch v {
	case "do", "go":
		return v + "es"
	case "be":
		return "is"
	case "have":
		return "has"
	}
	for _, suf := range []string{"s", "sh", "ch", "x", "z"} {
		if strings.HasSuffix(v, suf) {
			return v + "es"
		}
	}
	if n := len(v); n > 1 && v[n-1] == 'y' && !strings.ContainsRune("aeiou", rune(v[n-2])) {
		return v[:n-1] + "ies"
	}
	return v + "s"
}

// goFallback is the first sentence of a call without a Doc yet.
func goFallback(c api.Call) string {
	m := c.Go.Method
	words := strings.Split(c.Name, "_")
	rest := strings.Join(words[1:], " ")
	switch words[0] {
	case "set":
		return m + " sets the " + rest + " setting."
	case "get":
		return m + " returns the " + rest + "."
	case "is", "can", "supports":
		return m + " reports the result of nbd_" + c.Name + "."
	case "aio":
		if len(words) > 2 && words[1] == "is" {
			return m + " reports whether the handle is " + strings.Join(words[2:], " ") + "."
		}
	}
	return m + " calls nbd_" + c.Name + "."
}
