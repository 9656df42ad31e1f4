package ecosystem_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestReadmeSectionSnippetsAreExamples keeps README-section.md, the
// README's "Use it with sqlx, GORM, bun, ent, goose" section, true: each Go
// block in it appears line for line in example_test.go, as the
// repository's readme_test.go requires of the README.
func TestReadmeSectionSnippetsAreExamples(t *testing.T) {
	section, err := os.ReadFile("README-section.md")
	if err != nil {
		t.Fatal(err)
	}
	examples, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	blocks := regexp.MustCompile("(?s)```go\n(.*?)```").FindAllStringSubmatch(string(section), -1)
	if len(blocks) == 0 {
		t.Fatal("no Go block")
	}
	for _, b := range blocks {
		if !strings.Contains(normalize(string(examples)), normalize(b[1])) {
			t.Errorf("snippet is not in example_test.go:\n%s", b[1])
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
