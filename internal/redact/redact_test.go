package redact

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
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
