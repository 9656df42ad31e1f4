package consistency_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/router"
)

const (
	uuidA = "3e11fa47-71ca-11e1-9e33-c80aa9429562"
	uuidB = "4a11fa47-71ca-11e1-9e33-c80aa9429562"
)

func mustMySQL(t *testing.T, s string) consistency.Token {
	t.Helper()
	tok, err := consistency.MySQLToken(s)
	require.NoError(t, err)
	return tok
}

func mustMaria(t *testing.T, s string) consistency.Token {
	t.Helper()
	tok, err := consistency.MariaDBToken(s)
	require.NoError(t, err)
	return tok
}

func TestTokenRoundTrip(t *testing.T) {
	tokens := []consistency.Token{
		consistency.PostgresToken(7312345678901234567, 1, 0x3000148),
		consistency.PostgresToken(0, 0, 1),
		mustMySQL(t, strings.ToUpper(uuidA)+":1-5:7,\n"+uuidB+":1-3"),
		mustMySQL(t, uuidA+":1-5:6-9:20"),
		mustMaria(t, "0-1-7,1-2-9"),
		mustMaria(t, "0-1-18446744073709551615"),
		{},
	}
	for _, tok := range tokens {
		s := tok.String()
		for _, c := range s {
			require.True(t, c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(":/-_", c),
				"%q holds %q", s, c)
		}
		back, err := consistency.ParseToken(s)
		require.NoError(t, err, s)
		require.Equal(t, s, back.String())
		require.True(t, back.Covers(tok) && tok.Covers(back), s)
		// It survives a cookie.
		c := &http.Cookie{Name: "tok", Value: s}
		require.NoError(t, c.Valid())
	}
	require.Equal(t, "mysql:"+uuidA+":1-9:20", mustMySQL(t, uuidA+":1-5:6-9:20").String())
	require.Equal(t, uuidA+":1-5:7,"+uuidB+":1-3", mustMySQL(t, uuidB+":1-3,"+uuidA+":1-5:7").GTID())
	require.Equal(t, "0-1-7,1-2-9", mustMaria(t, "1-2-9,0-1-7").GTID())
}

func TestParseTokenRejectsGarbage(t *testing.T) {
	for _, s := range []string{
		"x", "pg", "pg:", "pg:1:1", "pg:1:1:0/", "pg:1:1:/1", "pg:a:1:0/1", "pg:1:1:123456789/1", "pg:1:-1:0/1",
		"mysql:nope:1-5", "mysql:" + uuidA, "mysql:" + uuidA + ":0", "mysql:" + uuidA + ":5-1",
		"mysql:" + uuidA + ":1-5," + uuidB + ":1", "mysql:" + uuidA + ":x",
		"mariadb:0-1", "mariadb:a-b-c", "mariadb:0-1-2,1-1-1", "mariadb:0-1-2 ",
		"other:1", strings.Repeat("a", 70000),
	} {
		_, err := consistency.ParseToken(s)
		require.True(t, errors.Is(err, consistency.ErrBadToken), "%.60q: %v", s, err)
	}
	tok, err := consistency.ParseToken("")
	require.NoError(t, err)
	require.True(t, tok.IsZero())
}

func TestCovers(t *testing.T) {
	pg := func(sys uint64, tli uint32, lsn uint64) consistency.Token {
		return consistency.PostgresToken(sys, tli, lsn)
	}
	tests := []struct {
		name string
		p, t consistency.Token
		want bool
	}{
		{"zero token", pg(1, 1, 5), consistency.Token{}, true},
		{"lsn ahead", pg(1, 1, 10), pg(1, 1, 5), true},
		{"lsn equal", pg(1, 1, 5), pg(1, 1, 5), true},
		{"lsn behind", pg(1, 1, 4), pg(1, 1, 5), false},
		{"other cluster", pg(2, 1, 10), pg(1, 1, 5), false},
		{"other timeline", pg(1, 2, 10), pg(1, 1, 5), false},
		{"unknown timeline", pg(1, 0, 10), pg(1, 1, 5), true},
		{"dialects differ", mustMaria(t, "0-1-9"), pg(1, 1, 5), false},
		{"gtid superset", mustMySQL(t, uuidA+":1-10,"+uuidB+":1-3"), mustMySQL(t, uuidA+":3-5"), true},
		{"gtid gap", mustMySQL(t, uuidA+":1-4:6-10"), mustMySQL(t, uuidA+":3-5"), false},
		{"gtid other server", mustMySQL(t, uuidA+":1-10"), mustMySQL(t, uuidB+":1"), false},
		{"mariadb ahead", mustMaria(t, "0-1-9,1-2-3"), mustMaria(t, "0-2-7"), true},
		{"mariadb behind in one domain", mustMaria(t, "0-1-9,1-2-3"), mustMaria(t, "0-1-7,1-2-4"), false},
		{"mariadb missing domain", mustMaria(t, "0-1-9"), mustMaria(t, "1-2-1"), false},
	}
	for _, tt := range tests {
		require.Equal(t, tt.want, tt.p.Covers(tt.t), tt.name)
	}
}

func TestMergeAndBehind(t *testing.T) {
	a := mustMySQL(t, uuidA+":1-5")
	b := mustMySQL(t, uuidA+":7,"+uuidB+":1-2")
	m := a.Merge(b)
	require.Equal(t, "mysql:"+uuidA+":1-5:7_"+uuidB+":1-2", m.String())
	require.True(t, m.Covers(a) && m.Covers(b))
	n, ok := a.Behind(m)
	require.True(t, ok)
	require.EqualValues(t, 3, n)

	x := mustMaria(t, "0-1-7,1-2-9")
	y := mustMaria(t, "0-3-8,2-1-1")
	require.Equal(t, "mariadb:0-3-8_1-2-9_2-1-1", x.Merge(y).String())
	n, _ = x.Behind(x.Merge(y))
	require.EqualValues(t, 2, n)

	p1 := consistency.PostgresToken(1, 1, 100)
	p2 := consistency.PostgresToken(1, 1, 50)
	require.Equal(t, p1, p1.Merge(p2))
	p3 := consistency.PostgresToken(1, 2, 10)
	require.Equal(t, p3, p1.Merge(p3), "a new timeline wins")
	n, _ = p2.Behind(p1)
	require.EqualValues(t, 50, n)
	_, ok = p3.Behind(p1)
	require.False(t, ok)
	require.Equal(t, p1, p1.Merge(consistency.Token{}))
	require.Equal(t, router.PostgreSQL, p1.Dialect())
}

func TestCoversDoesNotAllocate(t *testing.T) {
	p := mustMySQL(t, uuidA+":1-100:200-300,"+uuidB+":1-50")
	q := mustMySQL(t, uuidA+":50-60:250,"+uuidB+":7")
	m1, m2 := mustMaria(t, "0-1-9,1-2-3"), mustMaria(t, "0-2-7")
	g1, g2 := consistency.PostgresToken(1, 1, 9), consistency.PostgresToken(1, 1, 5)
	allocs := testing.AllocsPerRun(100, func() {
		_ = p.Covers(q)
		_ = m1.Covers(m2)
		_ = g1.Covers(g2)
	})
	require.Zero(t, allocs)
}

func FuzzParseToken(f *testing.F) {
	for _, s := range []string{"", "pg:1:1:0/3000148", "mysql:" + uuidA + ":1-5:7_" + uuidB + ":1-3",
		"mariadb:0-1-7_1-2-9", "mysql:", "pg:::", "mariadb:0-0-0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := consistency.ParseToken(s)
		if err != nil {
			if !errors.Is(err, consistency.ErrBadToken) {
				t.Fatalf("error does not wrap ErrBadToken: %v", err)
			}
			return
		}
		// A parsed token round-trips and covers itself.
		back, err := consistency.ParseToken(tok.String())
		if err != nil || back.String() != tok.String() || !back.Covers(tok) || !tok.Covers(back) {
			t.Fatalf("%q → %q does not round-trip: %v", s, tok.String(), err)
		}
	})
}

func FuzzGTIDSet(f *testing.F) {
	for _, s := range []string{uuidA + ":1-5:7," + uuidB + ":1-3", uuidA + ":1", "", uuidA + ":3-2"} {
		f.Add(s, uuidA+":2-4")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		x, err1 := consistency.MySQLToken(a)
		y, err2 := consistency.MySQLToken(b)
		if err1 != nil || err2 != nil {
			return
		}
		m := x.Merge(y)
		if !m.Covers(x) || !m.Covers(y) {
			t.Fatalf("merge of %q and %q covers neither", a, b)
		}
		if n, _ := x.Behind(m); (n == 0) != x.Covers(m) {
			t.Fatalf("Behind and Covers disagree for %q and %q", a, b)
		}
	})
}
