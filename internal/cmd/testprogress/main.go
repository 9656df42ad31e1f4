// Command testprogress reads the output of `go test -json` on its standard
// input and prints what a plain `go test` prints (the "ok" line of each
// package that passed; every line of each failed test, panics and the
// "FAIL" lines of a package that failed; build errors), plus, while a
// package runs for long, a short note every 20 seconds on standard error:
//
//	… replica: 63 tests done, 2 running, 2m10s
//
// It exits with status 1 if a package failed, did not build, or never
// finished. scripts/test-modules.sh runs `make test` through it:
//
//	go test -json ./... 2>&1 | testprogress -trim github.com/sqlreplica/sqlreplica/
package main

import (
	"bufio"
	"bytes"
	"flag"
	"io"
	"os"
	"sync"
	"time"
)

func main() {
	every := flag.Duration("every", 20*time.Second, "how often to note a long-running package's progress")
	label := flag.String("label", "", "prefix of progress notes (e.g. the module's name)")
	trim := flag.String("trim", "", "prefix cut from package paths in progress notes")
	flag.Parse()
	if run(os.Stdin, os.Stdout, os.Stderr, *every, *label, *trim) {
		os.Exit(1)
	}
}

// run copies in to out and notes as described above, and reports whether
// the run failed.
func run(in io.Reader, out, notes io.Writer, every time.Duration, label, trim string) (failed bool) {
	var mu sync.Mutex // guards r
	r := newReporter(out, notes, every, label, trim)

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				mu.Lock()
				r.tick(now)
				mu.Unlock()
			}
		}
	}()

	br := bufio.NewReader(in)
	for {
		b, err := br.ReadBytes('\n')
		if len(b) > 0 {
			mu.Lock()
			r.line(bytes.TrimSuffix(b, []byte("\n")), time.Now())
			mu.Unlock()
		}
		if err != nil {
			break
		}
	}
	close(done)
	wg.Wait()
	return r.end()
}
