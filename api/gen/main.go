// Command gen writes every file generated from the table in package api
// (run from the repository root: go run ./api/gen).  With -check it
// writes nothing and fails if any generated file differs from what it
// would write now, or if a file in a generated directory is stale.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/nbd-cleanroom/libnbd/api"
)

// output is one generated file, by path from the repository root.
type output struct {
	path string
	data []byte
}

// generator produces some outputs from the table.  owned lists globs
// (from the root) whose every match must be one of its outputs, so that
// files of removed calls do not linger.
type generator struct {
	name  string
	run   func(t *table) ([]output, error)
	owned []string
}

var generators []generator

func register(g generator) { generators = append(generators, g) }

// table is everything the generators read.
type table struct {
	calls     []api.Call // every call, Pending included
	groups    []api.Group
	strings   []api.Constant
	callbacks []api.Callback
}

// provided returns the calls the library provides now (not Pending).
func (t *table) provided() []api.Call {
	var out []api.Call
	for _, c := range t.calls {
		if c.Pending == "" {
			out = append(out, c)
		}
	}
	return out
}

func (t *table) call(name string) (api.Call, bool) {
	for _, c := range t.calls {
		if c.Name == name {
			return c, true
		}
	}
	return api.Call{}, false
}

func main() {
	root := flag.String("root", ".", "repository root")
	check := flag.Bool("check", false, "compare instead of writing; exit 1 on drift")
	only := flag.String("only", "", "run only the named generator (c, man, go, statetest)")
	flag.Parse()
	readmeRoot = *root

	t := &table{calls: api.Load(), groups: api.Groups, strings: api.Strings, callbacks: api.Callbacks}
	if err := validate(t); err != nil {
		fmt.Fprintln(os.Stderr, "gen: table:", err)
		os.Exit(1)
	}
	drift := 0
	for _, g := range generators {
		if *only != "" && g.name != *only {
			continue
		}
		outs, err := g.run(t)
		if err != nil {
			fmt.Fprintf(os.Stderr, "gen: %s: %v\n", g.name, err)
			os.Exit(1)
		}
		want := map[string]bool{}
		for _, o := range outs {
			want[filepath.Clean(o.path)] = true
			p := filepath.Join(*root, o.path)
			old, err := os.ReadFile(p)
			if err == nil && bytes.Equal(old, o.data) {
				continue
			}
			if *check {
				fmt.Fprintf(os.Stderr, "gen: %s is not what the table generates (run make generate)\n", o.path)
				drift++
				continue
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				fatal(err)
			}
			if err := os.WriteFile(p, o.data, 0o644); err != nil {
				fatal(err)
			}
		}
		for _, glob := range g.owned {
			matches, err := filepath.Glob(filepath.Join(*root, glob))
			if err != nil {
				fatal(err)
			}
			sort.Strings(matches)
			for _, m := range matches {
				rel, _ := filepath.Rel(*root, m)
				if want[filepath.Clean(rel)] {
					continue
				}
				if *check {
					fmt.Fprintf(os.Stderr, "gen: %s is stale (no longer generated)\n", rel)
					drift++
				} else if err := os.Remove(m); err != nil {
					fatal(err)
				}
			}
		}
	}
	if drift > 0 {
		os.Exit(1)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "gen:", err)
	os.Exit(1)
}
