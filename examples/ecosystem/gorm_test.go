package ecosystem_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/gorm/schema"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/replica"
)

type gormParent struct {
	ID       int64
	Name     string `gorm:"size:50;not null"`
	Score    sql.NullInt64
	Children []gormChild `gorm:"foreignKey:ParentID"`
}

type gormChild struct {
	ID       int64
	ParentID int64
	Name     string `gorm:"size:10;not null"`
}

// openGorm opens GORM over sqlDB, its tables named with prefix.
func openGorm(t *testing.T, e *env, sqlDB *sql.DB, prefix string, prepare bool) *gorm.DB {
	t.Helper()
	var d gorm.Dialector
	if e.pg() {
		d = postgres.New(postgres.Config{Conn: sqlDB})
	} else {
		d = mysql.New(mysql.Config{Conn: sqlDB})
	}
	g, err := gorm.Open(d, &gorm.Config{
		PrepareStmt:    prepare,
		NamingStrategy: schema.NamingStrategy{TablePrefix: prefix},
		Logger:         logger.Default.LogMode(logger.Silent),
	})
	require.NoError(t, err)
	return g
}

// gormSetup opens a replica.DB with CausalReads, GORM over its SQLDB, and
// migrates the test's own tables: AutoMigrate's reads of the catalog, and
// the first use after it, see what it did at once.
func gormSetup(t *testing.T, e *env, prepare bool) (*replica.DB, *gorm.DB, string) {
	t.Helper()
	rdb := e.open(replica.CausalReads())
	prefix := e.table("g") + "_"
	g := openGorm(t, e, rdb.SQLDB(), prefix, prepare)
	require.NoError(t, g.AutoMigrate(&gormParent{}, &gormChild{}))
	return rdb, g, prefix
}

func (e *env) gormWho(g *gorm.DB) string {
	e.t.Helper()
	var port int
	require.NoError(e.t, g.Raw(e.whoQuery()).Scan(&port).Error)
	return e.name(port)
}

// TestGORMAutoMigrateThenUse migrates under CausalReads and uses the new
// tables at once, though the replica gets them a second later; GORM's own
// catalog reads see the migration too.
func TestGORMAutoMigrateThenUse(t *testing.T) {
	forEachKind(t, func(t *testing.T, e *env) {
		_, g, prefix := gormSetup(t, e, false)
		e.staleOnReplica("SELECT count(*) FROM "+prefix+"gorm_parents", 0)
		require.True(t, g.Migrator().HasTable(&gormParent{}), "the catalog read sees the new table")
		require.True(t, g.Migrator().HasColumn(&gormParent{}, "Score"))
		// A second AutoMigrate finds the tables and changes nothing.
		require.NoError(t, g.AutoMigrate(&gormParent{}, &gormChild{}))
		p := gormParent{Name: "first"}
		require.NoError(t, g.Create(&p).Error)
		require.NotZero(t, p.ID)
		var got gormParent
		require.NoError(t, g.First(&got, p.ID).Error)
		require.Equal(t, "first", got.Name)
	})
}

// TestGORMCRUD creates, reads, updates and deletes through GORM, each read
// seeing the writes before it, and checks where statements ran.
func TestGORMCRUD(t *testing.T) {
	forEachKind(t, func(t *testing.T, e *env) {
		_, g, prefix := gormSetup(t, e, false)
		ctx := consistency.WithSession(context.Background())
		gs := g.WithContext(ctx)

		p := gormParent{Name: "ada", Score: sql.NullInt64{Int64: 7, Valid: true}, Children: []gormChild{{Name: "c1"}, {Name: "c2"}}}
		require.NoError(t, gs.Create(&p).Error)
		require.NotZero(t, p.ID, "the id comes back (RETURNING or LastInsertId)")
		require.NotZero(t, p.Children[1].ID)
		e.staleOnReplica("SELECT count(*) FROM "+prefix+"gorm_parents", 1)

		var got gormParent
		require.NoError(t, gs.Preload("Children").First(&got, p.ID).Error)
		require.Equal(t, "ada", got.Name)
		require.Equal(t, sql.NullInt64{Int64: 7, Valid: true}, got.Score)
		require.Len(t, got.Children, 2)

		res := gs.Model(&gormParent{}).Where("id = ?", p.ID).Updates(map[string]any{"name": "grace", "score": nil})
		require.NoError(t, res.Error)
		require.EqualValues(t, 1, res.RowsAffected)
		got = gormParent{}
		require.NoError(t, gs.First(&got, p.ID).Error)
		require.Equal(t, "grace", got.Name)
		require.False(t, got.Score.Valid)

		require.NoError(t, gs.Select("Children").Delete(&got).Error)
		require.ErrorIs(t, gs.First(&gormParent{}, p.ID).Error, gorm.ErrRecordNotFound)
		var children int64
		require.NoError(t, gs.Model(&gormChild{}).Count(&children).Error)
		require.Zero(t, children)

		// Once the replica has caught up, reads run there; writes always
		// run on the primary.
		// (Under CausalReads, once its last known position covers them.)
		e.waitReplicated("SELECT count(*) FROM "+prefix+"gorm_parents", 0)
		require.Eventually(t, func() bool { return e.gormWho(g) == "replica1" }, 15*time.Second, 50*time.Millisecond,
			"reads never reached the replica")
		var port int
		require.NoError(t, g.Transaction(func(tx *gorm.DB) error {
			return tx.Raw(e.whoQuery()).Scan(&port).Error
		}))
		assert.Equal(t, "primary", e.name(port), "served by")
		// The read-write transaction's commit is a write: a read-only one
		// reaches the replica once the replica has it.
		require.Eventually(t, func() bool {
			require.NoError(t, g.Transaction(func(tx *gorm.DB) error {
				return tx.Raw(e.whoQuery()).Scan(&port).Error
			}, &sql.TxOptions{ReadOnly: true}))
			return e.name(port) == "replica1"
		}, 15*time.Second, 50*time.Millisecond, "a read-only transaction never reached the replica")
	})
}

// TestGORMNestedTransactions runs Transaction with nested ones (savepoints):
// an inner rollback undoes only its own work, an outer rollback undoes
// everything, and the whole runs on the primary.
func TestGORMNestedTransactions(t *testing.T) {
	forEachKind(t, func(t *testing.T, e *env) {
		_, g, _ := gormSetup(t, e, false)
		ctx := consistency.WithSession(context.Background())
		gs := g.WithContext(ctx)
		errInner := errors.New("inner rolls back")

		err := gs.Transaction(func(tx *gorm.DB) error {
			var port int
			if err := tx.Raw(e.whoQuery()).Scan(&port).Error; err != nil {
				return err
			}
			assert.Equal(t, "primary", e.name(port), "served by")
			if err := tx.Create(&gormParent{Name: "outer"}).Error; err != nil {
				return err
			}
			require.ErrorIs(t, tx.Transaction(func(tx2 *gorm.DB) error {
				if err := tx2.Create(&gormParent{Name: "inner-undone"}).Error; err != nil {
					return err
				}
				return errInner
			}), errInner)
			return tx.Transaction(func(tx2 *gorm.DB) error {
				if err := tx2.Create(&gormParent{Name: "inner-kept"}).Error; err != nil {
					return err
				}
				return tx2.Transaction(func(tx3 *gorm.DB) error {
					return tx3.Create(&gormParent{Name: "innermost"}).Error
				})
			})
		})
		require.NoError(t, err)
		var names []string
		require.NoError(t, gs.Model(&gormParent{}).Order("name").Pluck("name", &names).Error)
		require.Equal(t, []string{"inner-kept", "innermost", "outer"}, names)

		// An outer rollback leaves nothing of the transaction, savepoints
		// released or not.
		errOuter := errors.New("outer rolls back")
		err = gs.Transaction(func(tx *gorm.DB) error {
			if err := tx.Create(&gormParent{Name: "gone1"}).Error; err != nil {
				return err
			}
			if err := tx.Transaction(func(tx2 *gorm.DB) error {
				return tx2.Create(&gormParent{Name: "gone2"}).Error
			}); err != nil {
				return err
			}
			return errOuter
		})
		require.ErrorIs(t, err, errOuter)
		var n int64
		require.NoError(t, gs.Model(&gormParent{}).Count(&n).Error)
		require.EqualValues(t, 3, n)
		// Nor on the primary itself.
		require.NoError(t, g.WithContext(replica.WithPrimary(context.Background())).Model(&gormParent{}).Count(&n).Error)
		require.EqualValues(t, 3, n)
	})
}

// TestGORMPrepareStmt runs GORM with PrepareStmt: its cached *sql.Stmt
// values are routed per execution, reads to the replica and writes to the
// primary, and a session still reads its writes.
func TestGORMPrepareStmt(t *testing.T) {
	forEachKind(t, func(t *testing.T, e *env) {
		rdb, _, prefix := gormSetup(t, e, false)
		g := openGorm(t, e, rdb.SQLDB(), prefix, true)
		e.waitReplicated("SELECT count(*) FROM "+prefix+"gorm_parents", 0)
		// Under CausalReads, reads go to the replica once its last known
		// position covers the migration.
		require.Eventually(t, func() bool { return e.gormWho(g) == "replica1" }, 15*time.Second, 50*time.Millisecond,
			"reads never reached the replica")
		for range 3 { // the same cached statement, executed again
			assert.Equal(t, "replica1", e.gormWho(g), "served by")
		}
		ctx := consistency.WithSession(context.Background())
		for i, name := range []string{"p1", "p2", "p3"} {
			p := gormParent{Name: name}
			require.NoError(t, g.WithContext(ctx).Create(&p).Error)
			var got gormParent
			require.NoError(t, g.WithContext(ctx).First(&got, p.ID).Error, "read %d after its write", i)
			require.Equal(t, name, got.Name)
		}
		// A prepared read in a read-only transaction runs on the replica,
		// once the replica is known to have the writes (CausalReads).
		require.Eventually(t, func() bool {
			var port int
			require.NoError(t, g.Transaction(func(tx *gorm.DB) error {
				return tx.Raw(e.whoQuery()).Scan(&port).Error
			}, &sql.TxOptions{ReadOnly: true}))
			return e.name(port) == "replica1"
		}, 15*time.Second, 50*time.Millisecond, "a read-only transaction never reached the replica")
	})
}

// TestGORMCreateWithFailingChild creates a parent whose child the server
// refuses: GORM's own transaction around Create leaves nothing behind.
func TestGORMCreateWithFailingChild(t *testing.T) {
	forEachKind(t, func(t *testing.T, e *env) {
		_, g, _ := gormSetup(t, e, false)
		ctx := consistency.WithSession(context.Background())
		p := gormParent{Name: "parent", Children: []gormChild{{Name: "ok"}, {Name: "a name far too long for the column"}}}
		require.Error(t, g.WithContext(ctx).Create(&p).Error)
		for _, db := range []*gorm.DB{g.WithContext(ctx), g.WithContext(replica.WithPrimary(context.Background()))} {
			var parents, children int64
			require.NoError(t, db.Model(&gormParent{}).Count(&parents).Error)
			require.NoError(t, db.Model(&gormChild{}).Count(&children).Error)
			require.Zero(t, parents)
			require.Zero(t, children)
		}
		// The same Create with a valid child then works.
		p = gormParent{Name: "parent", Children: []gormChild{{Name: "ok"}}}
		require.NoError(t, g.WithContext(ctx).Create(&p).Error)
		var n int64
		require.NoError(t, g.WithContext(ctx).Model(&gormChild{}).Where("parent_id = ?", p.ID).Count(&n).Error)
		require.EqualValues(t, 1, n)
	})
}
