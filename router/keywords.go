package router

// kw identifies the few keywords the classifier acts on. Every other word is
// kwNone.
type kw uint8

const (
	kwNone kw = iota
	kwSelect
	kwWith
	kwValues
	kwTable
	kwShow
	kwDescribe // DESCRIBE and DESC
	kwExplain
	kwInsert
	kwUpdate
	kwDelete
	kwMerge
	kwReplace
	kwTruncate
	kwInto
	kwLock
	kwFor
	kwShare
	kwNo
	kwKey
	kwNext
	kwPrevious
	kwValue
	kwAnalyze // ANALYZE and ANALYSE
	kwVerbose
	kwExtended
	kwPartitions
	kwFormat
	kwExecute
	kwDeclare
	kwCreate
	kwCall
	kwNextval // MariaDB sql_mode=ORACLE: seq.NEXTVAL
	kwCurrval // MariaDB sql_mode=ORACLE: seq.CURRVAL
)

// eqFold reports whether s equals the lower-case ASCII word lower, ignoring
// ASCII case. It relies on lower holding only letters and underscores.
func eqFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != lower[i] && c|0x20 != lower[i] {
			return false
		}
	}
	return true
}

// keywordFilter has bit z of [n][a] set when some keyword has n letters,
// starts with letter a and ends with letter z (letters counted from 0). It
// rejects nearly every identifier before any comparison.
var keywordFilter = func() (f [11][26]uint32) {
	for _, w := range []string{
		"analyze", "analyse", "create", "call", "delete", "describe", "desc", "declare",
		"explain", "extended", "execute", "for", "format", "into", "insert", "key",
		"lock", "merge", "no", "next", "previous", "partitions", "replace", "select",
		"show", "share", "table", "truncate", "update", "values", "value", "verbose", "with",
		"nextval", "currval",
	} {
		f[len(w)][w[0]-'a'] |= 1 << (w[len(w)-1] - 'a')
	}
	return f
}()

// lookupKeyword returns the keyword s spells, or kwNone.
func lookupKeyword(s string) kw {
	n := len(s)
	if n < 2 || n > 10 {
		return kwNone
	}
	a, z := s[0]|0x20-'a', s[n-1]|0x20-'a'
	if a >= 26 || z >= 26 || keywordFilter[n][a]&(1<<z) == 0 {
		return kwNone
	}
	return matchKeyword(s)
}

// matchKeyword returns the keyword s spells, or kwNone. TestKeywordFilter
// keeps it and keywordFilter in step.
func matchKeyword(s string) kw {
	switch s[0] | 0x20 {
	case 'a':
		if eqFold(s, "analyze") || eqFold(s, "analyse") {
			return kwAnalyze
		}
	case 'c':
		switch {
		case eqFold(s, "create"):
			return kwCreate
		case eqFold(s, "call"):
			return kwCall
		case eqFold(s, "currval"):
			return kwCurrval
		}
	case 'd':
		switch {
		case eqFold(s, "delete"):
			return kwDelete
		case eqFold(s, "describe"), eqFold(s, "desc"):
			return kwDescribe
		case eqFold(s, "declare"):
			return kwDeclare
		}
	case 'e':
		switch {
		case eqFold(s, "explain"):
			return kwExplain
		case eqFold(s, "extended"):
			return kwExtended
		case eqFold(s, "execute"):
			return kwExecute
		}
	case 'f':
		switch {
		case eqFold(s, "for"):
			return kwFor
		case eqFold(s, "format"):
			return kwFormat
		}
	case 'i':
		switch {
		case eqFold(s, "into"):
			return kwInto
		case eqFold(s, "insert"):
			return kwInsert
		}
	case 'k':
		if eqFold(s, "key") {
			return kwKey
		}
	case 'l':
		if eqFold(s, "lock") {
			return kwLock
		}
	case 'm':
		if eqFold(s, "merge") {
			return kwMerge
		}
	case 'n':
		switch {
		case eqFold(s, "no"):
			return kwNo
		case eqFold(s, "next"):
			return kwNext
		case eqFold(s, "nextval"):
			return kwNextval
		}
	case 'p':
		switch {
		case eqFold(s, "previous"):
			return kwPrevious
		case eqFold(s, "partitions"):
			return kwPartitions
		}
	case 'r':
		if eqFold(s, "replace") {
			return kwReplace
		}
	case 's':
		switch {
		case eqFold(s, "select"):
			return kwSelect
		case eqFold(s, "show"):
			return kwShow
		case eqFold(s, "share"):
			return kwShare
		}
	case 't':
		switch {
		case eqFold(s, "table"):
			return kwTable
		case eqFold(s, "truncate"):
			return kwTruncate
		}
	case 'u':
		if eqFold(s, "update") {
			return kwUpdate
		}
	case 'v':
		switch {
		case eqFold(s, "values"):
			return kwValues
		case eqFold(s, "value"):
			return kwValue
		case eqFold(s, "verbose"):
			return kwVerbose
		}
	case 'w':
		if eqFold(s, "with") {
			return kwWith
		}
	}
	return kwNone
}

// maxFuncName bounds each part of the function names the classifier looks
// up (PostgreSQL's limit is 63 bytes, MySQL's 64); a longer name is never
// known to be read-only.
const maxFuncName = 64

// lowerASCII writes the ASCII lower case of s into buf and returns the
// result, or false if s does not fit.
func lowerASCII(buf *[maxFuncName]byte, s string) ([]byte, bool) {
	if len(s) > len(buf) {
		return nil, false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	return buf[:len(s)], true
}

// isBuiltinWriteFunc reports whether name (lower case) is a built-in or
// well-known extension function that writes, takes a lock, assigns a
// transaction id, changes session or server state, runs SQL text, or reads
// state that only the session that wrote it has (currval, lastval,
// LAST_INSERT_ID): such a call runs on the primary with ReasonFunction. It
// only sharpens the reason: a function missing from it and from the
// read-only lists runs on the primary all the same.
func isBuiltinWriteFunc(name []byte) bool {
	switch string(name) {
	case
		// PostgreSQL sequences and session-bound sequence reads.
		"nextval", "setval", "currval", "lastval",
		// Transaction ids.
		"txid_current", "pg_current_xact_id",
		// Notifications and messages.
		"pg_notify", "pg_logical_emit_message",
		// Large objects.
		"lo_create", "lo_creat", "lo_import", "lo_export", "lo_unlink", "lo_open",
		"lo_put", "lo_from_bytea", "lowrite", "lo_write", "lo_truncate", "lo_truncate64",
		// Session and server state.
		"set_config", "pg_reload_conf", "pg_rotate_logfile", "pg_promote",
		"pg_switch_wal", "pg_create_restore_point", "pg_terminate_backend", "pg_cancel_backend",
		"pg_drop_replication_slot", "pg_replication_slot_advance", "pg_stat_reset",
		"pg_stat_reset_shared", "pg_stat_reset_single_table_counters",
		"pg_stat_reset_single_function_counters", "pg_stat_reset_slru",
		"pg_stat_reset_replication_slot", "pg_stat_reset_subscription_stats",
		"pg_backup_start", "pg_backup_stop", "pg_import_system_collations",
		"pg_wal_replay_pause", "pg_wal_replay_resume", "pg_log_backend_memory_contexts",
		"pg_export_snapshot", "pg_stat_clear_snapshot", "pg_stat_statements_reset",
		"txid_current_if_assigned", "pg_current_xact_id_if_assigned", "setseed",
		// Functions that run the query text they are given.
		"query_to_xml", "query_to_xml_and_xmlschema", "query_to_xmlschema",
		"cursor_to_xml", "cursor_to_xmlschema", "ts_stat", "ts_rewrite",
		// MySQL and MariaDB locks, sequences and session state.
		"get_lock", "release_lock", "release_all_locks", "last_insert_id",
		"found_rows", "row_count":
		return true
	}
	if len(name) >= 6 && string(name[:6]) == "dblink" {
		return true // dblink, dblink_exec, dblink_connect, …: SQL on another server
	}
	if len(name) > 3 && string(name[:3]) == "pg_" {
		// pg_advisory_lock, pg_try_advisory_xact_lock_shared, pg_advisory_unlock_all, …,
		// pg_create_physical_replication_slot, pg_logical_slot_get_changes, …,
		// pg_replication_origin_create, pg_replication_origin_session_setup, …
		return containsASCII(name, "advisory") || containsASCII(name, "replication_slot") ||
			containsASCII(name, "logical_slot") || containsASCII(name, "replication_origin")
	}
	return false
}

func containsASCII(s []byte, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if string(s[i:i+len(sub)]) == sub {
			return true
		}
	}
	return false
}

// isSequencePseudoColumn reports whether the token t, which follows a ".",
// is MariaDB's seq.NEXTVAL or seq.CURRVAL (sql_mode=ORACLE: NEXT VALUE FOR
// seq, PREVIOUS VALUE FOR seq), quoted or not. LASTVAL and SETVAL are no
// such names: MariaDB reads seq.lastval as a column.
func isSequencePseudoColumn(query string, t token, k kw) bool {
	switch t.kind {
	case tWord:
		return k == kwNextval || k == kwCurrval
	case tQuotedIdent, tString:
		name := query[t.start:t.end]
		if len(name) != len("`nextval`") || name[0] == '\'' {
			return false
		}
		name = name[1 : len(name)-1]
		return eqFold(name, "nextval") || eqFold(name, "currval")
	}
	return false
}

// showsSessionState reports whether the word w, which follows SHOW (and
// SESSION or LOCAL when session is set), makes a MySQL SHOW statement read
// state that only the session that ran the statements before has: SHOW
// WARNINGS, SHOW ERRORS, SHOW COUNT(*) WARNINGS or ERRORS, SHOW PROFILE,
// SHOW PROFILES, and SHOW [SESSION | LOCAL] STATUS (SHOW STATUS without
// GLOBAL reads the session's counters). next reports a SESSION or LOCAL
// that may be followed by STATUS.
func showsSessionState(w string, session bool) (state, next bool) {
	if eqFold(w, "status") {
		return true, false
	}
	if session {
		return false, false
	}
	switch {
	case eqFold(w, "warnings"), eqFold(w, "errors"), eqFold(w, "count"),
		eqFold(w, "profile"), eqFold(w, "profiles"):
		return true, false
	case eqFold(w, "session"), eqFold(w, "local"):
		return false, true
	}
	return false, false
}

// isSessionVariable reports whether the system variable name holds a value
// that only the session that wrote has.
func isSessionVariable(name string) bool {
	return eqFold(name, "last_insert_id") || eqFold(name, "insert_id") ||
		eqFold(name, "identity") || eqFold(name, "last_gtid") ||
		eqFold(name, "warning_count") || eqFold(name, "error_count")
}
