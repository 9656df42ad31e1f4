package sqlreplica_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeSnippetsAreExamples keeps the README true: every Go code block
// in it must appear, line for line, in a compiled Example function (in a
// package of this module or of a module under examples/) or in a program
// under examples/ (examples/*/main.go).
func TestReadmeSnippetsAreExamples(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob("*/example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	// examples/ecosystem is a module of its own (it needs the ORMs'
	// modules): its examples count too.
	more, err := filepath.Glob("examples/*/example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, more...)
	// Whole programs under examples/ (examples/quickstart is the quick
	// start) are compiled too.
	programs, err := filepath.Glob("examples/*/main.go")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, programs...)
	var examples strings.Builder
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		examples.WriteString(normalize(string(b)))
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(readme), -1)
	if len(blocks) == 0 {
		t.Fatal("README has no Go code block")
	}
	for _, b := range blocks {
		if !strings.Contains(examples.String(), normalize(b[1])) {
			t.Errorf("README snippet is not in any example_test.go:\n%s", b[1])
		}
	}
}

// normalize drops indentation and blank lines.
func normalize(s string) string {
	var out strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out.WriteString(line)
			out.WriteByte('\n')
		}
	}
	return out.String()
}
