package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/nbd-cleanroom/libnbd/api"
)

var versionRE = regexp.MustCompile(`^1\.[0-9]+$`)

// validate checks what the generators rely on.
func validate(t *table) error {
	seen := map[string]bool{}
	groups := map[string]api.Group{}
	for _, g := range t.groups {
		groups[g.Name] = g
	}
	cbs := map[string]bool{}
	for _, cb := range t.callbacks {
		cbs[cb.Name] = true
	}
	for _, c := range t.calls {
		if seen[c.Name] {
			return fmt.Errorf("%s listed twice", c.Name)
		}
		seen[c.Name] = true
		if !versionRE.MatchString(c.Version) && !(c.Extension && c.Version == "ext") {
			return fmt.Errorf("%s: bad version %q", c.Name, c.Version)
		}
		if c.Pending == "" && c.Impl == "" {
			return fmt.Errorf("%s: no Impl file", c.Name)
		}
		if (c.Go.Method == "") == (c.Go.None == "") {
			return fmt.Errorf("%s: Go needs exactly one of Method and None", c.Name)
		}
		if c.Proto != "" && !c.Custom {
			return fmt.Errorf("%s: Proto is only for Custom calls", c.Name)
		}
		if c.Proto == "" && c.Ret == 0 {
			return fmt.Errorf("%s: no return kind", c.Name)
		}
		for _, a := range c.Args {
			switch a.Kind {
			case api.BytesIn, api.BytesOut, api.BytesPersistIn, api.BytesPersistOut, api.SockAddr:
				if a.Len == "" {
					return fmt.Errorf("%s: %s needs Len", c.Name, a.Name)
				}
			case api.Flags, api.Enum:
				g, ok := groups[a.Type]
				if !ok || g.Flags != (a.Kind == api.Flags) {
					return fmt.Errorf("%s: %s: unknown %s set %q", c.Name, a.Name, kindName(a.Kind), a.Type)
				}
			case api.Closure:
				if !cbs[a.Type] {
					if c.Pending == "" {
						return fmt.Errorf("%s: %s: unknown callback %q", c.Name, a.Name, a.Type)
					}
				}
			case 0:
				return fmt.Errorf("%s: %s: no kind", c.Name, a.Name)
			}
		}
	}
	return nil
}

func kindName(k api.Kind) string {
	if k == api.Flags {
		return "flag"
	}
	return "enum"
}

// cParams returns the C parameter list after the handle.  With byPtr,
// closures are passed by pointer (the nbd_unlocked_* convention: the
// implementation clears a closure it keeps, and the wrapper frees the
// rest).
func cParams(c api.Call, byPtr bool) []string {
	var ps []string
	for _, a := range c.Args {
		switch a.Kind {
		case api.Bool:
			ps = append(ps, "bool "+a.Name)
		case api.Int, api.Enum, api.Fd:
			ps = append(ps, "int "+a.Name)
		case api.UInt:
			ps = append(ps, "unsigned "+a.Name)
		case api.UInt32, api.Flags:
			ps = append(ps, "uint32_t "+a.Name)
		case api.Int64:
			ps = append(ps, "int64_t "+a.Name)
		case api.UInt64:
			ps = append(ps, "uint64_t "+a.Name)
		case api.SizeT:
			ps = append(ps, "size_t "+a.Name)
		case api.UIntPtr:
			ps = append(ps, "uintptr_t "+a.Name)
		case api.String, api.Path:
			ps = append(ps, "const char *"+a.Name)
		case api.StringList:
			ps = append(ps, "char **"+a.Name)
		case api.BytesIn, api.BytesPersistIn:
			ps = append(ps, "const void *"+a.Name, "size_t "+a.Len)
		case api.BytesOut, api.BytesPersistOut:
			ps = append(ps, "void *"+a.Name, "size_t "+a.Len)
		case api.Closure:
			if byPtr {
				ps = append(ps, "nbd_"+a.Type+"_callback *"+a.Name)
			} else {
				ps = append(ps, "nbd_"+a.Type+"_callback "+a.Name)
			}
		case api.SockAddr:
			ps = append(ps, "const struct sockaddr *"+a.Name, "socklen_t "+a.Len)
		}
	}
	return ps
}

// cRet returns the C return type.
func cRet(r api.Ret) string {
	switch r {
	case api.RErr, api.RBool, api.RInt, api.RFd, api.REnum:
		return "int"
	case api.RInt64, api.RCookie:
		return "int64_t"
	case api.RSizeT:
		return "ssize_t"
	case api.RString:
		return "char *"
	case api.RStaticString:
		return "const char *"
	case api.RUInt:
		return "unsigned"
	case api.RUInt64:
		return "uint64_t"
	case api.RUIntPtr:
		return "uintptr_t"
	case api.RFlags:
		return "uint32_t"
	}
	panic(fmt.Sprint("unknown return kind ", r))
}

// errValue is what the call returns on error ("" if it cannot fail).
func errValue(r api.Ret) string {
	switch r {
	case api.RString, api.RStaticString:
		return "NULL"
	case api.RUInt, api.RUInt64, api.RUIntPtr, api.RFlags, api.REnum:
		return ""
	}
	return "-1"
}

// decl joins a return type and a name the way C declarations read.
func decl(ret, name string) string {
	if strings.HasSuffix(ret, "*") {
		return ret + name
	}
	return ret + " " + name
}

// prototype returns "RET nbd_NAME (struct nbd_handle *h, ...)".
func prototype(c api.Call) string {
	if c.Proto != "" {
		return c.Proto
	}
	ps := append([]string{"struct nbd_handle *h"}, cParams(c, false)...)
	return decl(cRet(c.Ret), "nbd_"+c.Name) + " (" + strings.Join(ps, ", ") + ")"
}

// nonNull lists the 1-based positions of pointer parameters that must not
// be NULL (the handle and every pointer argument).
func nonNull(c api.Call) []int {
	pos := []int{1}
	i := 2
	for _, a := range c.Args {
		if isPointer(a.Kind) {
			pos = append(pos, i)
		}
		i++
		if a.Len != "" { // the buffer's or the address's length parameter
			i++
		}
	}
	return pos
}

// isPointer reports whether an argument of kind k is a C pointer that must
// not be NULL (EFAULT).
func isPointer(k api.Kind) bool {
	switch k {
	case api.String, api.Path, api.StringList, api.BytesIn, api.BytesOut,
		api.BytesPersistIn, api.BytesPersistOut, api.SockAddr:
		return true
	}
	return false
}

// stateWords are libnbd's words for each state in "the handle must be ...".
var stateWords = []struct {
	s    api.State
	word string
	mac  string
}{
	{api.Created, "newly created", "NBD_STATE_CREATED"},
	{api.Connecting, "connecting", "NBD_STATE_CONNECTING"},
	{api.Negotiating, "negotiating", "NBD_STATE_NEGOTIATING"},
	{api.Connected, "connected with the server", "NBD_STATE_CONNECTED"},
	{api.Closed, "shut down", "NBD_STATE_CLOSED"},
	{api.Dead, "dead", "NBD_STATE_DEAD"},
}

func mustBe(s api.State) string {
	var w []string
	for _, sw := range stateWords {
		if s&sw.s != 0 {
			w = append(w, sw.word)
		}
	}
	return strings.Join(w, ", or ")
}

func stateMask(s api.State) string {
	var w []string
	for _, sw := range stateWords {
		if s&sw.s != 0 {
			w = append(w, sw.mac)
		}
	}
	return strings.Join(w, " | ")
}

// symNode is the symbol-version node of a call.
func symNode(c api.Call) string {
	if c.Extension {
		return "NBD_CLEANROOM_1.0"
	}
	return "LIBNBD_" + c.Version
}

// versionLess orders "1.2" before "1.10".
func versionLess(a, b string) bool {
	var am, an, bm, bn int
	fmt.Sscanf(a, "%d.%d", &am, &an)
	fmt.Sscanf(b, "%d.%d", &bm, &bn)
	if am != bm {
		return am < bm
	}
	return an < bn
}

// wrapComment formats text as a C block comment at the given indent.
func wrapComment(text string, width int) []string {
	var lines []string
	for _, para := range strings.Split(strings.TrimSpace(text), "\n\n") {
		if len(lines) > 0 {
			lines = append(lines, "")
		}
		words := strings.Fields(para)
		cur := ""
		for _, w := range words {
			if cur != "" && len(cur)+1+len(w) > width {
				lines = append(lines, cur)
				cur = w
			} else if cur == "" {
				cur = w
			} else {
				cur += " " + w
			}
		}
		if cur != "" {
			lines = append(lines, cur)
		}
	}
	return lines
}
