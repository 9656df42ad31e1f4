package dberr_test

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/internal/dberr"
	"github.com/sqlreplica/sqlreplica/internal/redact"
)

// TestJudge: whose fault a failure is, by type and code, and never the
// node's once the caller's context has ended.
func TestJudge(t *testing.T) {
	live := context.Background()
	ended, cancel := context.WithCancel(live)
	cancel()
	expired, cancel2 := context.WithDeadline(live, time.Now().Add(-time.Second))
	defer cancel2()
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		name string
		ctx  context.Context
		err  error
		want dberr.Fault
	}{
		{"a statement's own error", live, &pgconn.PgError{Code: "23505"}, dberr.Final},
		{"MySQL duplicate key", live, &mysql.MySQLError{Number: 1062}, dberr.Final},
		{"refused connection", live, fmt.Errorf("dial: %w", syscall.ECONNREFUSED), dberr.Down},
		{"broken connection", live, driver.ErrBadConn, dberr.Down},
		{"EOF", live, io.ErrUnexpectedEOF, dberr.Down},
		{"a network timeout that is not the caller's", live, timeout, dberr.Down},
		{"server shutting down", live, &pgconn.PgError{Code: "57P01"}, dberr.Down},
		{"MySQL server gone", live, &mysql.MySQLError{Number: 1053}, dberr.Down},
		{"read-only PostgreSQL", live, &pgconn.PgError{Code: "25006"}, dberr.Refused},
		{"read-only MariaDB", live, &mysql.MySQLError{Number: 1290}, dberr.Refused},
		{"read-only MySQL transaction", live, &mysql.MySQLError{Number: 1792}, dberr.Refused},
		{"recovery conflict", live, &pgconn.PgError{Code: "40001"}, dberr.Retry},
		{"too many connections", live, &pgconn.PgError{Code: "53300"}, dberr.Retry},
		{"MySQL too many connections", live, &mysql.MySQLError{Number: 1040}, dberr.Retry},
		{"a primary-only function on a standby", live, &pgconn.PgError{Code: "55000"}, dberr.PrimaryOnly},
		{"the caller's deadline, as a net.Error", live, context.DeadlineExceeded, dberr.Final},
		{"the caller cancelled", live, fmt.Errorf("wrapped: %w", context.Canceled), dberr.Final},
		{"a refused connection after the caller's context ended", ended, syscall.ECONNREFUSED, dberr.Final},
		{"a network timeout after the caller's deadline", expired, timeout, dberr.Final},
		{"waiting for a busy pool until the deadline", expired, context.DeadlineExceeded, dberr.Final},
		{"an unknown error", live, errors.New("odd"), dberr.Final},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, dberr.Judge(tt.ctx, tt.err))
		})
	}
}

func TestIsStatementError(t *testing.T) {
	require.True(t, dberr.IsStatementError(&pgconn.PgError{Code: "23505"}))
	require.True(t, dberr.IsStatementError(&mysql.MySQLError{Number: 1062}))
	require.False(t, dberr.IsStatementError(&pgconn.PgError{Code: "57P01"}), "a shutdown is no verdict on the statement")
	require.False(t, dberr.IsStatementError(context.Canceled), "a cancelled write may have been applied")
	require.False(t, dberr.IsStatementError(io.EOF))
}

// TestJudgeSeesARedactedConnectFailureAsDown: the replica package redacts
// a driver's error before it judges it (route.go), the health probe judges
// first: either order must see a failed connection attempt as Down, and a
// caller's own deadline as Final.
func TestJudgeSeesARedactedConnectFailureAsDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	_, raw := pgconn.Connect(ctx, "postgres://u:Zq7Secret@127.0.0.1:1/Zq7Secret")
	require.Error(t, raw)
	red := redact.Error(raw)
	require.NotContains(t, red.Error(), "Zq7Secret")
	for _, err := range []error{raw, red, fmt.Errorf("replica: primary: %w", red), redact.Error(red)} {
		require.True(t, dberr.IsConn(err), "%v", err)
		require.Equal(t, dberr.Down, dberr.Judge(context.Background(), err), "%v", err)
		require.False(t, dberr.IsStatementError(err))
	}

	done, stop := context.WithCancel(context.Background())
	stop()
	_, raw = pgconn.Connect(done, "postgres://u:x@127.0.0.1:1/db")
	require.Error(t, raw)
	red = redact.Error(raw)
	require.ErrorIs(t, red, context.Canceled)
	require.Equal(t, dberr.Final, dberr.Judge(context.Background(), red), "%v", red)
}
