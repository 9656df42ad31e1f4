package replica

import (
	"context"
	"database/sql"
	"database/sql/driver"
)

// SQLDB returns a *sql.DB whose every statement this DB routes, by the same
// decision as its own methods, sessions and tokens honoured. It is the same
// value at every call; [DB.Close] closes it.
//
// STUB: the routing implementation lands next; this placeholder returns a
// *sql.DB on the primary's connector.
func (db *DB) SQLDB() *sql.DB {
	db.sqldbMu.Lock()
	defer db.sqldbMu.Unlock()
	if db.sqldb == nil {
		db.sqldb = sql.OpenDB(db.Connector())
	}
	return db.sqldb
}

// Connector returns the driver.Connector behind [DB.SQLDB].
func (db *DB) Connector() driver.Connector { return &connector{db: db} }

type connector struct{ db *DB }

func (c *connector) Connect(ctx context.Context) (driver.Conn, error) {
	var dc driver.Conn
	sc, err := c.db.primary.db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	_ = sc.Raw(func(x any) error { dc = x.(driver.Conn); return nil })
	return dc, nil
}

func (c *connector) Driver() driver.Driver { return c.db.primary.db.Driver() }
