package api

import (
	"strings"
	"testing"
)

// TestDocs checks the documentation against the table: every call has a
// page's worth of text, and every doc belongs to a call.
func TestDocs(t *testing.T) {
	calls := map[string]bool{}
	for _, c := range Calls {
		calls[c.Name] = true
	}
	for name := range docs {
		if !calls[name] {
			t.Errorf("doc for %q, which is not in the table", name)
		}
	}
	for _, c := range Load() {
		d := c.Doc
		switch {
		case strings.TrimSpace(d.Short) == "" || strings.TrimSpace(d.Long) == "":
			t.Errorf("%s: no Short or Long", c.Name)
			continue
		case strings.HasSuffix(d.Short, ".") || strings.Contains(d.Short, "\n"):
			t.Errorf("%s: Short must be one line without a full stop: %q", c.Name, d.Short)
		case strings.ToLower(d.Short[:1]) != d.Short[:1]:
			t.Errorf("%s: Short must start in lower case: %q", c.Name, d.Short)
		}
		for _, s := range d.SeeAlso {
			if !calls[s] {
				t.Errorf("%s: SeeAlso names %q, which is not in the table", c.Name, s)
			}
		}
		for _, e := range d.Errors {
			if !strings.HasPrefix(e.Errno, "E") || e.When == "" {
				t.Errorf("%s: bad Errors entry %+v", c.Name, e)
			}
		}
	}
}
