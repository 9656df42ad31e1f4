package replica

import (
	"context"

	"github.com/sqlreplica/sqlreplica/internal/dberr"
)

// failed reports a statement's failure on n, as judged by dberr.Judge (the
// one place that says whether a failure is the node's fault): a failed
// connection, or a node that says it does not serve, takes the node out of
// rotation at once and asks for a check.
func (db *DB) failed(ctx context.Context, n *node, err error) dberr.Fault {
	f := dberr.Judge(ctx, err)
	if f == dberr.Down || f == dberr.NotServing {
		db.checker.MarkDown(n.idx, err)
	}
	return f
}
