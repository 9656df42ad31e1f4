package router

import (
	"strings"
	"testing"
)

// TestKeywordFilter checks that the prefilter lets every keyword through, in
// any case.
func TestKeywordFilter(t *testing.T) {
	seen := map[kw]bool{}
	for _, w := range strings.Fields(`analyze analyse create call delete describe desc declare explain
		extended execute for format into insert key lock merge no next previous partitions replace
		select show share table truncate update values value verbose with nextval currval`) {
		for _, v := range []string{w, strings.ToUpper(w), strings.ToUpper(w[:1]) + w[1:]} {
			if matchKeyword(v) == kwNone {
				t.Errorf("matchKeyword(%q) = none", v)
			}
			if lookupKeyword(v) != matchKeyword(v) {
				t.Errorf("lookupKeyword(%q) is filtered out", v)
			}
		}
		seen[matchKeyword(w)] = true
	}
	if len(seen) != int(kwCurrval) {
		t.Errorf("%d keywords listed, %d defined", len(seen), kwCurrval)
	}
}
