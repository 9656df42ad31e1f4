package ecosystem_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/replica"
)

// TestRecordWrite writes on the primary outside the library (a plain pool,
// as a tool that cannot take SQLDB would), then tells the library with
// RecordWrite: the session's next read through SQLDB sees the write at
// once, and so does every read of a DB with CausalReads.
func TestRecordWrite(t *testing.T) {
	forEachKind(t, func(t *testing.T, e *env) {
		table := e.table("outside")
		e.exec("CREATE TABLE " + table + " (id int PRIMARY KEY)")
		e.waitReplicated("SELECT count(*) FROM "+table, 0)
		count := "SELECT count(*) FROM " + table

		for i, tc := range []struct {
			name string
			opts []replica.Option
			ctx  func() context.Context
		}{
			{"session", nil, func() context.Context { return consistency.WithSession(context.Background()) }},
			{"CausalReads", []replica.Option{replica.CausalReads()}, context.Background},
		} {
			rdb := e.open(tc.opts...)
			ctx := tc.ctx()
			e.exec(fmt.Sprintf("INSERT INTO %s (id) VALUES (%d)", table, i+1))
			require.NoError(t, rdb.RecordWrite(ctx), tc.name)
			e.staleOnReplica(count, i+1)
			var n int
			require.NoError(t, rdb.SQLDB().QueryRowContext(ctx, count).Scan(&n), tc.name)
			require.Equal(t, i+1, n, "%s: the read after RecordWrite sees the write", tc.name)
		}
	})
}
