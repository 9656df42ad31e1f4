package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// wantRecorded is what testprogress prints for testdata/stream.json, the
// `go test -json ./...` stream of a module with a package that does not
// build, one with a failing subtest, one without tests, one whose test
// panics while another runs in parallel, and one that passes (with a
// skipped test). It is what a plain `go test ./...` printed for the same
// module, but for a passing test's stdout in a failing package.
const wantRecorded = `# example.com/tp/buildfail [example.com/tp/buildfail.test]
buildfail/b_test.go:3:39: cannot use "s" (untyped string constant) as int value in variable declaration
FAIL	example.com/tp/buildfail [build failed]
    f_test.go:4: boom
    --- FAIL: TestBad/sub (0.00s)
--- FAIL: TestBad (0.00s)
FAIL
FAIL	example.com/tp/fail	0.185s
?   	example.com/tp/notests	[no test files]
--- FAIL: TestPanic (0.01s)
panic: oops [recovered, repanicked]

goroutine 7 [running]:
testing.tRunner.func1.2({0x550fc0, 0x5946a0})
	/usr/local/go/src/testing/testing.go:1974 +0x232
testing.tRunner.func1()
	/usr/local/go/src/testing/testing.go:1977 +0x349
panic({0x550fc0?, 0x5946a0?})
	/usr/local/go/src/runtime/panic.go:860 +0x13a
example.com/tp/panicpkg.TestPanic(0x2fc81171e488?)
	/tmp/tpnew/panicpkg/p_test.go:4 +0x30
testing.tRunner(0x2fc81171e488, 0x592f08)
	/usr/local/go/src/testing/testing.go:2036 +0xea
created by testing.(*T).Run in goroutine 1
	/usr/local/go/src/testing/testing.go:2101 +0x4c5
FAIL	example.com/tp/panicpkg	0.034s
ok  	example.com/tp/pass	0.006s
FAIL
`

func TestRunPrintsGoTestOutputOfARecordedStream(t *testing.T) {
	f, err := os.Open("testdata/stream.json")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	var out, notes strings.Builder
	failed := run(f, &out, &notes, 20*time.Second, "", "")
	if !failed {
		t.Error("run reported success for a stream with failures")
	}
	if out.String() != wantRecorded {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), wantRecorded)
	}
	if notes.String() != "" {
		t.Errorf("notes for a run of under a second: %q", notes.String())
	}
}

// step is one input line (or, with tick set, a progress tick) at a time
// after the start.
type step struct {
	at   time.Duration
	line string
	tick bool
}

func TestReporter(t *testing.T) {
	const pkg = "github.com/sqlreplica/sqlreplica/replica"
	ev := func(action, test string) string {
		s := `{"Action":"` + action + `","Package":"` + pkg + `"`
		if test != "" {
			s += `,"Test":"` + test + `"`
		}
		return s + "}"
	}
	out := func(test, text string) string {
		s := `{"Action":"output","Package":"` + pkg + `"`
		if test != "" {
			s += `,"Test":"` + test + `"`
		}
		return s + `,"Output":"` + text + `"}`
	}
	tests := []struct {
		name       string
		steps      []step
		wantOut    string
		wantNotes  string
		wantFailed bool
	}{
		{
			name: "a long package that passes: a note every 20s while it runs, its ok line, nothing after",
			steps: []step{
				{0, ev("start", ""), false},
				{0, ev("run", "TestA"), false},
				{0, out("TestA", `=== RUN   TestA\n`), false},
				{0, out("TestA", `    a_test.go:1: chatter\n`), false},
				{0, ev("run", "TestB"), false},
				{0, ev("pause", "TestB"), false},
				{0, ev("run", "TestC"), false},
				{0, ev("run", "TestC/sub"), false},
				{time.Second, ev("pass", "TestA"), false},
				{10 * time.Second, "", true},
				{21 * time.Second, "", true},
				{30 * time.Second, "", true},
				{35 * time.Second, ev("cont", "TestB"), false},
				{35 * time.Second, ev("skip", "TestC/sub"), false},
				{35 * time.Second, ev("pass", "TestC"), false},
				{41 * time.Second, "", true},
				{130 * time.Second, ev("pass", "TestB"), false},
				{130 * time.Second, out("", `PASS\n`), false},
				{130 * time.Second, out("", `ok  \t`+pkg+`\t130.0s\n`), false},
				{130 * time.Second, ev("pass", ""), false},
				{200 * time.Second, "", true},
			},
			wantOut: "ok  \t" + pkg + "\t130.0s\n",
			wantNotes: "… eco: replica: 1 test done, 1 running, 21s\n" +
				"… eco: replica: 2 tests done, 1 running, 41s\n",
		},
		{
			name: "a failure shows in the notes at once and in the output when the package ends",
			steps: []step{
				{0, ev("start", ""), false},
				{0, ev("run", "TestA"), false},
				{0, out("TestA", `=== RUN   TestA\n`), false},
				{0, out("TestA", `    a_test.go:1: boom\n`), false},
				{0, out("TestA", `--- FAIL: TestA (0.00s)\n`), false},
				{0, ev("fail", "TestA"), false},
				{0, ev("run", "TestB"), false},
				{20 * time.Second, "", true},
				{25 * time.Second, ev("pass", "TestB"), false},
				{25 * time.Second, out("", `FAIL\n`), false},
				{25 * time.Second, out("", `FAIL\t`+pkg+`\t25.0s\n`), false},
				{25 * time.Second, ev("fail", ""), false},
			},
			wantOut:    "    a_test.go:1: boom\n--- FAIL: TestA (0.00s)\nFAIL\nFAIL\t" + pkg + "\t25.0s\nFAIL\n",
			wantNotes:  "… eco: replica: 1 test done (1 failed), 1 running, 20s\n",
			wantFailed: true,
		},
		{
			name: "a stream cut before its package ends is a failure that prints the running test's output",
			steps: []step{
				{0, ev("start", ""), false},
				{0, ev("run", "TestA"), false},
				{0, out("TestA", `    a_test.go:1: still going\n`), false},
			},
			wantOut:    "    a_test.go:1: still going\nFAIL\t" + pkg + "\t[output ended before the package finished]\nFAIL\n",
			wantFailed: true,
		},
		{
			name: "lines that are not events pass through",
			steps: []step{
				{0, "go: downloading example.com/x v1.0.0", false},
				{0, "{not json", false},
			},
			wantOut: "go: downloading example.com/x v1.0.0\n{not json\n",
		},
		{
			name: "a build failure without a package event fails the run",
			steps: []step{
				{0, `{"ImportPath":"x [x.test]","Action":"build-output","Output":"x.go:1: bad\n"}`, false},
				{0, `{"ImportPath":"x [x.test]","Action":"build-fail"}`, false},
			},
			wantOut:    "x.go:1: bad\nFAIL\n",
			wantFailed: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotOut, gotNotes strings.Builder
			r := newReporter(&gotOut, &gotNotes, 20*time.Second, "eco", "github.com/sqlreplica/sqlreplica/")
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			for _, s := range tt.steps {
				if s.tick {
					r.tick(t0.Add(s.at))
				} else {
					r.line([]byte(s.line), t0.Add(s.at))
				}
			}
			if failed := r.end(); failed != tt.wantFailed {
				t.Errorf("end() = %v, want %v", failed, tt.wantFailed)
			}
			if gotOut.String() != tt.wantOut {
				t.Errorf("output:\n%q\nwant:\n%q", gotOut.String(), tt.wantOut)
			}
			if gotNotes.String() != tt.wantNotes {
				t.Errorf("notes:\n%q\nwant:\n%q", gotNotes.String(), tt.wantNotes)
			}
		})
	}
}

func TestReporterNamesPackagesInNotes(t *testing.T) {
	tests := []struct {
		label, trim, pkg, want string
	}{
		{"", "github.com/sqlreplica/sqlreplica/", "github.com/sqlreplica/sqlreplica/replica", "replica"},
		{"", "github.com/sqlreplica/sqlreplica/", "github.com/sqlreplica/sqlreplica", "github.com/sqlreplica/sqlreplica"},
		{"", "", "github.com/sqlreplica/sqlreplica/replica", "github.com/sqlreplica/sqlreplica/replica"},
		{"examples/ecosystem", "github.com/sqlreplica/sqlreplica/examples/ecosystem", "github.com/sqlreplica/sqlreplica/examples/ecosystem", "examples/ecosystem"},
		{"examples/ecosystem", "github.com/sqlreplica/sqlreplica/examples/ecosystem", "github.com/sqlreplica/sqlreplica/examples/ecosystem/internal/x", "examples/ecosystem: internal/x"},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			var notes strings.Builder
			r := newReporter(&strings.Builder{}, &notes, time.Second, tt.label, tt.trim)
			t0 := time.Now()
			r.line([]byte(`{"Action":"start","Package":"`+tt.pkg+`"}`), t0)
			r.tick(t0.Add(time.Minute))
			want := "… " + tt.want + ": 0 tests done, 0 running, 1m0s\n"
			if notes.String() != want {
				t.Errorf("note %q, want %q", notes.String(), want)
			}
		})
	}
}
