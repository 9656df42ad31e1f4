package health

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/router"
)

// TestCheckPasswordLimits: MariaDB takes 96 characters, MySQL 32, counted
// in characters, not bytes; PostgreSQL has no limit; the error never quotes
// the password.
func TestCheckPasswordLimits(t *testing.T) {
	for _, tt := range []struct {
		d    router.Dialect
		n    int
		rune string
		ok   bool
	}{
		{router.MariaDB, 96, "Z", true},
		{router.MariaDB, 97, "Z", false},
		{router.MariaDB, 96, "é", true},
		{router.MySQL, 32, "Z", true},
		{router.MySQL, 33, "Z", false},
		{router.MySQL, 32, "ü", true},
		{router.PostgreSQL, 1000, "Z", true},
		{router.MariaDB, 0, "Z", true},
	} {
		t.Run(fmt.Sprintf("%v %d %s", tt.d, tt.n, tt.rune), func(t *testing.T) {
			pw := strings.Repeat(tt.rune, tt.n)
			err := checkPassword(tt.d, pw)
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrPasswordTooLong)
			require.NotContains(t, err.Error(), tt.rune+tt.rune)
		})
	}
}

// TestPasswordStatementErrorDropsServerText: whatever the server's message
// says (the whole password, a cut one), only the number, SQLSTATE and a
// fixed text are kept, and errors.As still finds the driver's error type.
func TestPasswordStatementErrorDropsServerText(t *testing.T) {
	const secret = "Zq7Secret"
	my := &mysql.MySQLError{Number: 1470, SQLState: [5]byte{'H', 'Y', '0', '0', '0'},
		Message: "String '" + secret + "Zq7S...' is too long for MASTER_PASSWORD"}
	pg := &pgconn.PgError{Severity: "ERROR", Code: "22023", Message: "invalid value " + secret, Detail: secret, Hint: secret}
	for _, err := range []error{my, pg, fmt.Errorf("exec: %w", my), fmt.Errorf("dial: %w", syscall.ECONNREFUSED), context.Canceled} {
		got := passwordStatementError("CHANGE MASTER", err)
		for e := got; e != nil; e = errors.Unwrap(e) {
			require.NotContains(t, fmt.Sprintf("%v %+v %#v", e, e, e), secret)
		}
		var gm *mysql.MySQLError
		var gp *pgconn.PgError
		switch {
		case errors.As(err, &gm):
			require.True(t, errors.As(got, &gm))
			require.Equal(t, uint16(1470), gm.Number)
			require.Contains(t, got.Error(), "1470")
		case errors.As(err, &gp):
			require.True(t, errors.As(got, &gp))
			require.Equal(t, "22023", gp.Code)
		default:
			inner := err
			if u := errors.Unwrap(err); u != nil {
				inner = u
			}
			require.ErrorIs(t, got, inner) // kept: no server text
		}
	}
}
