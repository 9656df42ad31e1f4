package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// event is one line of `go test -json` (cmd/test2json's TestEvent, plus the
// build events of Go 1.24 and later).
type event struct {
	Action     string
	Package    string
	Test       string
	Output     string
	ImportPath string // build-output and build-fail
}

// line is one line of a package's output and the test it belongs to ("" for
// the package itself).
type line struct {
	test, text string
}

// pkgState is what the reporter knows of one package under test.
type pkgState struct {
	start    time.Time
	lastNote time.Time
	lines    []line
	// tests maps each test and subtest to its state: "run", "pause" or
	// its final action ("pass", "fail", "skip").
	tests map[string]string
	done  int // top-level tests finished
	fails int // top-level tests failed
}

// reporter turns the events of `go test -json` into go test's usual output
// and short progress notes. It is not safe for concurrent use: the caller
// serialises calls.
type reporter struct {
	out   io.Writer // go test's usual lines
	notes io.Writer // progress lines
	every time.Duration
	label string // names the module in progress lines, e.g. "examples/ecosystem"
	trim  string // prefix cut from package paths in progress lines

	pkgs   map[string]*pkgState
	failed bool
}

func newReporter(out, notes io.Writer, every time.Duration, label, trim string) *reporter {
	return &reporter{out: out, notes: notes, every: every, label: label, trim: trim, pkgs: map[string]*pkgState{}}
}

// line handles one line of input read at now.
func (r *reporter) line(b []byte, now time.Time) {
	var e event
	if len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &e) != nil || e.Action == "" {
		// Not an event: something go test itself printed (a setup
		// error, "go: downloading ..."). Pass it on as it is.
		fmt.Fprintf(r.out, "%s\n", b)
		return
	}
	r.event(e, now)
}

func (r *reporter) event(e event, now time.Time) {
	switch e.Action {
	case "build-output":
		// Build errors, as go test prints them, at once.
		io.WriteString(r.out, e.Output)
		return
	case "build-fail":
		r.failed = true
		return
	}
	if e.Package == "" {
		return
	}
	p := r.pkgs[e.Package]
	if p == nil {
		p = &pkgState{start: now, lastNote: now, tests: map[string]string{}}
		r.pkgs[e.Package] = p
	}
	if e.Test == "" {
		switch e.Action {
		case "output":
			p.lines = append(p.lines, line{text: e.Output})
		case "pass", "skip", "fail":
			r.finish(e.Package, p, e.Action)
		}
		return
	}
	switch e.Action {
	case "output":
		p.lines = append(p.lines, line{test: e.Test, text: e.Output})
	case "run", "cont":
		p.tests[e.Test] = "run"
	case "pause":
		p.tests[e.Test] = "pause"
	case "pass", "skip", "fail":
		p.tests[e.Test] = e.Action
		if !strings.Contains(e.Test, "/") {
			p.done++
			if e.Action == "fail" {
				p.fails++
			}
		}
	}
}

// finish prints a finished package's lines as go test prints them: for a
// package that passed (or has no tests), its "ok" or "?" line; for one
// that failed, every line of each test that failed or never finished (a
// panic, a timeout) and the package's own lines, in order.
func (r *reporter) finish(pkg string, p *pkgState, action string) {
	delete(r.pkgs, pkg)
	if action == "fail" {
		r.failed = true
	}
	for _, l := range p.lines {
		if framing(l.text) {
			continue
		}
		if action != "fail" {
			// go test prints only the summary line of a package
			// that passed.
			if l.test == "" && (strings.HasPrefix(l.text, "ok  \t") || strings.HasPrefix(l.text, "?   \t")) {
				io.WriteString(r.out, l.text)
			}
			continue
		}
		if l.test != "" {
			if s := p.tests[l.test]; s == "pass" || s == "skip" {
				continue
			}
		}
		if l.test != "" && strings.HasPrefix(l.text, "--- ") {
			// test2json drops the indentation of a subtest's result
			// line; go test prints it.
			io.WriteString(r.out, strings.Repeat("    ", strings.Count(l.test, "/")))
		}
		io.WriteString(r.out, l.text)
	}
}

// framing reports whether s is one of the lines test2json's verbose mode
// adds and a plain go test does not print.
func framing(s string) bool {
	for _, p := range []string{"=== RUN ", "=== PAUSE ", "=== CONT ", "=== NAME "} {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// tick prints a progress note for each package that has been running for
// at least r.every since it started or since its last note.
func (r *reporter) tick(now time.Time) {
	for _, name := range slices.Sorted(maps.Keys(r.pkgs)) {
		p := r.pkgs[name]
		if now.Sub(p.lastNote) < r.every {
			continue
		}
		p.lastNote = now
		running := 0
		for t, s := range p.tests {
			if s == "run" && !strings.Contains(t, "/") {
				running++
			}
		}
		failed := ""
		if p.fails > 0 {
			failed = fmt.Sprintf(" (%d failed)", p.fails)
		}
		tests := "tests"
		if p.done == 1 {
			tests = "test"
		}
		who := r.short(name)
		if r.label != "" && who != "" {
			who = r.label + ": " + who
		} else if who == "" {
			who = r.label
		}
		fmt.Fprintf(r.notes, "… %s: %d %s done%s, %d running, %s\n",
			who, p.done, tests, failed, running, now.Sub(p.start).Truncate(time.Second))
	}
}

// short is a package's path without r.trim and a leading slash: "" for
// the package at r.trim itself when a label names it.
func (r *reporter) short(pkg string) string {
	s, ok := strings.CutPrefix(pkg, r.trim)
	if !ok || r.trim == "" {
		return pkg
	}
	s = strings.TrimPrefix(s, "/")
	if s == "" && r.label == "" {
		return pkg
	}
	return s
}

// end is called at the end of the input. A package that started and never
// finished (the stream was cut) counts as a failure. It reports whether
// the run failed, and prints go test's final "FAIL" line if so.
func (r *reporter) end() (failed bool) {
	for _, name := range slices.Sorted(maps.Keys(r.pkgs)) {
		p := r.pkgs[name]
		r.finish(name, p, "fail")
		fmt.Fprintf(r.out, "FAIL\t%s\t[output ended before the package finished]\n", name)
	}
	if r.failed {
		fmt.Fprintln(r.out, "FAIL")
	}
	return r.failed
}
