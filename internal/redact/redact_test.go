package redact

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

const secret = "Zq7Secret"

// pgDSNs are malformed PostgreSQL connection strings holding the secret.
var pgDSNs = []string{
	"postgres://app:" + secret + ":x@127.0.0.1:bad/db",
	`host=127.0.0.1 password='a\' ` + secret + `' sslmode=bogus`,
	"host=127.0.0.1 port=bad password=" + secret,
	"host=127.0.0.1 password='" + secret + "' sslmode=bogus",
	"host=127.0.0.1 password='" + secret + ` \\' port=x`,
	"host=127.0.0.1 password=" + secret + "' unterminated='",
	"postgres://app:" + secret + "@127.0.0.1:5432/db?sslmode=bogus",
	"postgres://app:" + secret + "%zz@127.0.0.1/db",
	"postgres://app:" + secret + "@x@127.0.0.1:99999/db",
	"postgresql://app:pä" + secret + "ß@127.0.0.1:5432/db?connect_timeout=-3",
	"postgres://app:" + secret + "@127.0.0.1/db?statement_cache_capacity=" + secret,
	"postgres://app:\"" + secret + "\"@[::1/db",
	"user=app password=" + secret + " default_query_exec_mode=" + secret,
}

// myDSNs are malformed go-sql-driver/mysql DSNs holding the secret.
var myDSNs = []string{
	"app:" + secret + "@tcp(127.0.0.1:3306/db",
	"app:" + secret + "@tcp(127.0.0.1:3306)db",
	"app:" + secret + "@tcp(127.0.0.1:3306)/db?parseTime=" + secret,
	"app:'" + secret + "'@tcp(127.0.0.1:3306)/db?tls=" + secret,
	`app:a\` + secret + `@tcp(127.0.0.1:3306)/db?readTimeout=%zz` + secret,
	"app:pä'\"" + secret + "@tcp(127.0.0.1:3306)/db?writeTimeout=" + secret,
	"app:" + secret + "@unix(/tmp/x)/db%zz" + secret,
	"app:" + secret + "@bogus/db?timeout=" + secret,
}

func TestErrorHidesEveryMalformedConnectionString(t *testing.T) {
	var errs []error
	for _, dsn := range pgDSNs {
		_, err := pgx.ParseConfig(dsn)
		if err == nil {
			t.Fatalf("pgx parsed %q", dsn)
		}
		t.Logf("pgx: %v", err)
		errs = append(errs, err)
	}
	for _, dsn := range myDSNs {
		_, err := mysql.ParseDSN(dsn)
		if err == nil {
			t.Fatalf("mysql parsed %q", dsn)
		}
		t.Logf("mysql: %v", err)
		errs = append(errs, Config(err))
	}
	leaked := 0
	for i, raw := range errs {
		if strings.Contains(raw.Error(), secret) {
			leaked++
		}
		for _, err := range []error{Error(raw), Error(fmt.Errorf("open: %w", raw)), Error(Error(raw))} {
			if !errors.Is(err, ErrConnString) {
				t.Errorf("%d: %v does not wrap ErrConnString", i, err)
			}
			for e := err; e != nil; e = errors.Unwrap(e) {
				for _, s := range []string{e.Error(), fmt.Sprintf("%v %+v %#v", e, e, e)} {
					if strings.Contains(s, secret) || strings.Contains(s, "127.0.0.1") {
						t.Errorf("%d: redacted error leaks: %s", i, s)
					}
				}
			}
		}
	}
	if leaked == 0 {
		t.Error("no raw error held the secret: the cases test nothing")
	}
	t.Logf("%d of %d raw driver errors held the secret", leaked, len(errs))
}

func TestErrorKeepsOtherErrors(t *testing.T) {
	dial := fmt.Errorf("dial tcp 127.0.0.1:1: %w", syscall.ECONNREFUSED)
	for _, err := range []error{dial, errors.New("server said no")} {
		if got := Error(err); got != err {
			t.Errorf("Error(%v) = %v, want it unchanged", err, got)
		}
	}
	if !errors.Is(Error(dial), syscall.ECONNREFUSED) {
		t.Error("ECONNREFUSED lost")
	}
	if Error(nil) != nil || Config(nil) != nil {
		t.Error("nil not kept")
	}
}

// misparsedDSNs parse without error although their password holds an
// unescaped "/": pgx takes the user name as the host, the digits as the port
// and the rest of the password as the database name, which ConnectError
// prints. The last one is a plain string whose database name is the secret,
// on a port nothing listens at.
var misparsedDSNs = []string{
	"postgres://app:/" + secret + "@127.0.0.1:5432/db?connect_timeout=2",
	"postgres://app:1234/" + secret + "@127.0.0.1:5432/db?connect_timeout=2",
	"postgres://" + secret + ":x@127.0.0.1:1/" + secret + "?connect_timeout=2",
}

func TestErrorHidesConnectErrorsOfMisparsedStrings(t *testing.T) {
	for _, dsn := range misparsedDSNs {
		t.Run(dsn, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			_, raw := pgconn.Connect(ctx, dsn)
			require.Error(t, raw)
			var ce *pgconn.ConnectError
			require.ErrorAs(t, raw, &ce)
			require.Contains(t, raw.Error(), secret, "the raw error tests nothing")
			for _, err := range []error{Error(raw), Error(fmt.Errorf("ping: %w", raw)), Error(Error(raw)),
				Error(fmt.Errorf("wrapped: %w", Error(raw)))} {
				t.Log(err)
				require.ErrorIs(t, err, ErrConnect)
				require.NotErrorIs(t, err, ErrConnString)
				require.False(t, errors.As(err, &ce), "the ConnectError is reachable")
				for e := err; e != nil; e = errors.Unwrap(e) {
					require.NotContains(t, fmt.Sprintf("%v %+v %#v", e, e, e), secret)
				}
				var all []error
				var visit func(error)
				visit = func(e error) {
					if e == nil {
						return
					}
					all = append(all, e)
					switch u := e.(type) {
					case interface{ Unwrap() error }:
						visit(u.Unwrap())
					case interface{ Unwrap() []error }:
						for _, x := range u.Unwrap() {
							visit(x)
						}
					}
				}
				visit(err)
				for _, e := range all {
					require.NotContains(t, fmt.Sprintf("%v %+v", e, e), secret)
				}
			}
		})
	}
}

func TestErrorKeepsWhatAConnectFailureNeeds(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, raw := pgconn.Connect(ctx, "postgres://u:"+secret+"@127.0.0.1:1/"+secret)
	require.Error(t, raw)
	err := Error(raw)
	t.Log(err)
	require.ErrorIs(t, err, ErrConnect)
	require.ErrorIs(t, err, syscall.ECONNREFUSED)
	var op *net.OpError
	require.ErrorAs(t, err, &op)
	require.Contains(t, err.Error(), "127.0.0.1:1")
	require.NotContains(t, err.Error(), secret)
	require.NotContains(t, err.Error(), "user=")
}

func TestSafeHost(t *testing.T) {
	for _, tt := range []struct {
		h  string
		ok bool
	}{
		{"127.0.0.1", true}, {"::1", true}, {"db-1.example.com", true}, {"app", true}, {"app.", true},
		{"/var/run/postgresql", true},
		{"", false}, {"-x", false}, {"x-", false}, {"a..b", false}, {"a b", false}, {"Zq7@Secret", false},
		{"p%41ss", false}, {strings.Repeat("a", 64), false}, {"/tmp/a b", false}, {"/tmp/../x", false},
		{"x:y", false}, {"[::1]", false},
	} {
		require.Equal(t, tt.ok, safeHost(tt.h), tt.h)
	}
}
