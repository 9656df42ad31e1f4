package router

import "testing"

// TestBuiltinListsAgree checks that no read-only built-in is also a known
// writer, that every list holds lower-case names only, and that the
// common read built-ins the issue names are on every list they belong to.
func TestBuiltinListsAgree(t *testing.T) {
	for name, bits := range builtinFuncs {
		var buf [maxFuncName]byte
		lower, ok := lowerASCII(&buf, name)
		if !ok || string(lower) != name {
			t.Errorf("%q is not a short lower-case name", name)
		}
		if bits&(bPGFunc|bMySQLFunc|bMariaFunc) != 0 && isBuiltinWriteFunc(lower) {
			t.Errorf("%q is both read-only and a writer", name)
		}
	}
	for _, tt := range []struct {
		bits  uint8
		names []string
	}{
		{bPGFunc, []string{"count", "now", "lower", "json_build_object", "date_trunc", "random", "clock_timestamp", "gen_random_uuid", "current_setting", "pg_is_in_recovery"}},
		{bPGSyntax, []string{"coalesce", "in", "exists", "values", "as", "nullif", "greatest", "cast"}},
		{bMySQLFunc | bMariaFunc, []string{"count", "coalesce", "now", "lower", "json_object", "json_extract", "date_format", "ifnull", "uuid"}},
	} {
		for _, n := range tt.names {
			if builtinFuncs[n]&tt.bits != tt.bits {
				t.Errorf("%q lacks bits %b", n, tt.bits)
			}
		}
	}
	for _, n := range []string{"nextval", "setval", "currval", "lastval", "setseed", "pg_advisory_lock", "set_config",
		"txid_current", "query_to_xml", "ts_stat", "ts_rewrite", "get_lock", "last_insert_id", "found_rows", "row_count",
		"release_lock", "pg_cancel_backend", "pg_terminate_backend", "pg_reload_conf", "pg_current_wal_lsn"} {
		if builtinFuncs[n]&(bPGFunc|bMySQLFunc|bMariaFunc) != 0 {
			t.Errorf("%q is on a read-only list", n)
		}
	}
}
