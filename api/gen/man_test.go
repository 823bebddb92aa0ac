package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/nbd-cleanroom/libnbd/api"
)

func manTable(calls ...api.Call) *table {
	return &table{calls: calls, groups: api.Groups, strings: api.Strings, callbacks: api.Callbacks}
}

// A provided call without documentation must stop the generator; a
// pending one may wait.
func TestManRefusesUndocumented(t *testing.T) {
	bare := api.Call{Name: "get_size", Version: "1.0", Ret: api.RInt64, States: api.Any, Impl: "info.c"}
	if _, err := genMan(manTable(bare)); err == nil || !strings.Contains(err.Error(), "get_size") {
		t.Fatalf("genMan without docs: err = %v, want one naming get_size", err)
	}
	bare.Pending = "later"
	if _, err := genMan(manTable(bare)); err != nil {
		t.Fatalf("genMan with only a pending undocumented call: %v", err)
	}
}

func TestManRefusesUnknownReference(t *testing.T) {
	c := api.Call{Name: "get_size", Version: "1.0", Ret: api.RInt64, States: api.Any, Impl: "info.c",
		Doc: api.Doc{Short: "return the size", Long: "See nbd_no_such_call(3)."}}
	if _, err := genMan(manTable(c)); err == nil {
		t.Fatal("genMan accepted a reference to an unknown call")
	}
}

// Text that roff would misread is escaped, and the page renders without
// a warning.
func TestManEscapes(t *testing.T) {
	c := api.Call{Name: "get_size", Version: "1.0", Ret: api.RInt64, States: api.Connected, Impl: "info.c",
		Args: []api.Arg{{Name: "flags", Kind: api.Flags, Type: "CMD_FLAG", Optional: true, Allowed: []string{"FUA"}}},
		Doc: api.Doc{
			Short: "a test",
			Long: ".starts with a dot\n\n'and a quote\n\nback\\slash, -1, -lnbd, non-blocking, \u2264 and LIBNBD_CMD_FLAG_FUA\n\n" +
				"  code -with 'quotes' and \\n\n\n- item one\n- item two",
			Example: ".x = 1;",
		}}
	outs, err := genMan(manTable(c))
	if err != nil {
		t.Fatal(err)
	}
	page := string(outs[0].data)
	for _, want := range []string{`\&.starts`, `\&'and`, `back\eslash`, `\-1`, `\-lnbd`, "non-blocking",
		`\[u2264]`, `\fBLIBNBD_CMD_FLAG_FUA\fR`, `code \-with \(aqquotes\(aq and \en`, `\&.x = 1;`, `.IP \(bu 2`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	if _, err := exec.LookPath("groff"); err != nil {
		t.Skip("no groff")
	}
	cmd := exec.Command("groff", "-man", "-ww", "-z", "-Tutf8")
	cmd.Stdin = strings.NewReader(page)
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("groff: %v: %s", err, out)
	}
}

func TestWrapDecl(t *testing.T) {
	got := wrapDecl("int (*callback) (void *user_data, const char *metacontext, uint64_t offset, uint32_t *entries);", 60)
	if len(got) < 2 || !strings.HasPrefix(got[1], strings.Repeat(" ", len("int (*callback) ("))+"u") {
		t.Errorf("continuation not aligned after the parameter list's parenthesis: %q", got)
	}
}
