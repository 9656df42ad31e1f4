package replica_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
	"github.com/sqlreplica/sqlreplica/internal/testcluster"
	"github.com/sqlreplica/sqlreplica/replica"
)

// ph returns the i-th placeholder of the cluster's dialect.
func ph(c *testcluster.Cluster, i int) string {
	if c.Kind == testcluster.Postgres {
		return "$" + strconv.Itoa(i)
	}
	return "?"
}

// rywCluster returns the shared cluster with a fresh replica and one delayed by about
// 1.5 s (MySQL and MariaDB delay in whole seconds: 2 s).
func rywCluster(t *testing.T, k testcluster.Kind) *testcluster.Cluster {
	return rywClusters.Get(t, k)
}

type pairStats struct {
	stale, onReplica, n int
	latencies           []time.Duration
}

func (p pairStats) String() string {
	slices.Sort(p.latencies)
	pct := func(q float64) time.Duration {
		return p.latencies[int(q*float64(len(p.latencies)-1))].Round(10 * time.Microsecond)
	}
	return fmt.Sprintf("%d pairs: %d stale reads; %.1f%% of the reads were fresh and served by replicas; read p50 %v p99 %v",
		p.n, p.stale, 100*float64(p.onReplica)/float64(p.n), pct(0.5), pct(0.99))
}

// insertThenRead runs n insert → immediate read pairs, each through a new
// session when sessions is set, and counts stale reads.
func insertThenRead(t *testing.T, c *testcluster.Cluster, db *replica.DB, id *identity, table string, n int, sessions bool) pairStats {
	st := pairStats{n: n}
	for i := 0; i < n; i++ {
		ctx := context.Background()
		if sessions {
			ctx = consistency.WithSession(ctx)
		}
		key := fmt.Sprintf("%s-%d-%v", table, i, sessions)
		_, err := db.ExecContext(ctx, "INSERT INTO "+table+" (k, v) VALUES ("+ph(c, 1)+", "+ph(c, 2)+")", key, i)
		require.NoError(t, err)
		start := time.Now()
		var who int
		err = db.QueryRowContext(ctx, "SELECT "+id.whoExpr()+" FROM "+table+" WHERE k = "+ph(c, 1), key).Scan(&who)
		st.latencies = append(st.latencies, time.Since(start))
		switch {
		case errors.Is(err, sql.ErrNoRows):
			st.stale++
			if sessions {
				t.Errorf("stale read of %s in a session", key)
			}
		case err != nil:
			t.Fatal(err)
		case id.name(who) != "primary":
			st.onReplica++
		}
	}
	return st
}

// TestReadYourWrites runs 1,000 insert → immediate read pairs through
// sessions next to a replica delayed by 1.5–2 s: no read is stale. The same
// loop without sessions shows stale reads, so the test can fail.
func TestReadYourWrites(t *testing.T) {
	t.Parallel() // it only adds tables to the clusters it shares
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := rywCluster(t, k)
			db := openCluster(t, c)
			id := newIdentity(c)
			table := fmt.Sprintf("ryw_%d", time.Now().UnixNano())
			_, err := db.Exec("CREATE TABLE " + table + " (k varchar(100) PRIMARY KEY, v int)")
			require.NoError(t, err)
			waitReplicated(t, c, "SELECT count(*) FROM "+table, 0)

			without := insertThenRead(t, c, db, id, table, 200, false)
			require.NotZero(t, without.stale, "no stale read without sessions: the test could not fail")
			with := insertThenRead(t, c, db, id, table, 1000, true)
			require.Zero(t, with.stale)
			require.NotZero(t, with.onReplica, "no read through a session reached a replica")
			t.Logf("%s: without sessions: %s", k, without)
			t.Logf("%s: with sessions:    %s", k, with)
		})
	}
}

// TestTokensCrossAnHTTPHop writes through one process's DB and reads
// through another's, the token travelling in a cookie between them: no read
// is stale.
func TestTokensCrossAnHTTPHop(t *testing.T) {
	t.Parallel() // it only adds tables to the clusters it shares
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := rywCluster(t, k)
			table := fmt.Sprintf("hop_%d", time.Now().UnixNano())
			writer := openCluster(t, c) // two DBs: two processes
			reader := openCluster(t, c)
			_, err := writer.Exec("CREATE TABLE " + table + " (k varchar(100) PRIMARY KEY)")
			require.NoError(t, err)
			waitReplicated(t, c, "SELECT count(*) FROM "+table, 0)
			put := httptest.NewServer(consistency.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if _, err := writer.ExecContext(r.Context(), "INSERT INTO "+table+" VALUES ("+ph(c, 1)+")", r.URL.Query().Get("k")); err != nil {
					http.Error(w, err.Error(), http.StatusInternalServerError)
					return
				}
				w.WriteHeader(http.StatusCreated)
			})))
			defer put.Close()
			get := httptest.NewServer(consistency.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var k string
				err := reader.QueryRowContext(r.Context(), "SELECT k FROM "+table+" WHERE k = "+ph(c, 1), r.URL.Query().Get("k")).Scan(&k)
				switch {
				case errors.Is(err, sql.ErrNoRows):
					http.NotFound(w, r)
				case err != nil:
					http.Error(w, err.Error(), http.StatusInternalServerError)
				}
			})))
			defer get.Close()
			jar, _ := cookiejar.New(nil) // cookies ignore ports: both servers see them
			client := &http.Client{Jar: jar}
			stale := 0
			for i := 0; i < 200; i++ {
				key := fmt.Sprintf("k%d", i)
				resp, err := client.Post(put.URL+"/?k="+key, "text/plain", nil)
				require.NoError(t, err)
				resp.Body.Close()
				require.Equal(t, http.StatusCreated, resp.StatusCode)
				require.NotEmpty(t, resp.Header.Get("Replica-Token"))
				resp, err = client.Get(get.URL + "/?k=" + key)
				require.NoError(t, err)
				resp.Body.Close()
				if resp.StatusCode == http.StatusNotFound {
					stale++
				} else {
					require.Equal(t, http.StatusOK, resp.StatusCode)
				}
			}
			require.Zero(t, stale, "stale reads after an HTTP hop")
		})
	}
}

// op is one operation in the history checker's record.
type op struct {
	session int
	seq     int // order within the session
	key     int
	write   bool
	value   int // written, or read (-1: no row)
	node    string
	token   string
}

// TestHistoryChecker runs concurrent sessions against replicas whose lag
// changes at random, records every operation, and checks read-your-writes
// (a session reads at least the last value it wrote to a key) and monotonic
// reads (a session never reads an older value of a key than it read before)
// over at least 10,000 operations.
func TestHistoryChecker(t *testing.T) {
	t.Parallel() // its clusters are its own
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := testcluster.Start(t, k, testcluster.Options{Replicas: 2})
			db := openCluster(t, c)
			id := newIdentity(c)
			table := fmt.Sprintf("hist_%d", time.Now().UnixNano())
			_, err := db.Exec("CREATE TABLE " + table + " (k int PRIMARY KEY, v int)")
			require.NoError(t, err)
			const sessions, keysPerSession, opsPerSession = 8, 4, 1300
			for key := 0; key < sessions*keysPerSession; key++ {
				_, err := db.Exec(fmt.Sprintf("INSERT INTO %s VALUES (%d, 0)", table, key))
				require.NoError(t, err)
			}
			waitReplicated(t, c, "SELECT count(*) FROM "+table, sessions*keysPerSession)

			// Randomly lagging replicas: one replica's delay changes all the time.
			stopLag := make(chan struct{})
			var lagWG sync.WaitGroup
			lagWG.Add(1)
			go func() {
				defer lagWG.Done()
				for {
					select {
					case <-stopLag:
						setDelay(t, c, c.Replicas[1], 0)
						return
					case <-time.After(time.Duration(300+rand.IntN(700)) * time.Millisecond):
					}
					setDelay(t, c, c.Replicas[1], time.Duration(rand.IntN(3))*time.Second/2)
				}
			}()

			histories := make([][]op, sessions)
			var wg sync.WaitGroup
			for sid := 0; sid < sessions; sid++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					ctx := consistency.WithSession(context.Background())
					s := consistency.SessionFrom(ctx)
					rng := rand.New(rand.NewPCG(uint64(sid), 7))
					next := map[int]int{}
					for seq := 0; seq < opsPerSession; seq++ {
						o := op{session: sid, seq: seq}
						if rng.IntN(3) == 0 { // write one of the session's own keys
							o.write, o.key = true, sid*keysPerSession+rng.IntN(keysPerSession)
							next[o.key]++
							o.value = next[o.key]
							_, err := db.ExecContext(ctx, fmt.Sprintf("UPDATE %s SET v = %d WHERE k = %d", table, o.value, o.key))
							if err != nil {
								t.Error(err)
								return
							}
							o.node = "primary"
						} else { // read any key
							o.key = rng.IntN(sessions * keysPerSession)
							var v, who int
							err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT v, %s FROM %s WHERE k = %d", id.whoExpr(), table, o.key)).Scan(&v, &who)
							if err != nil {
								t.Error(err)
								return
							}
							o.value, o.node = v, id.name(who)
						}
						o.token = s.Token().String()
						histories[sid] = append(histories[sid], o)
					}
				}()
			}
			wg.Wait()
			close(stopLag)
			lagWG.Wait()

			total, reads, onReplica, violations := 0, 0, 0, 0
			for _, h := range histories {
				wrote := map[int]int{} // key → last value the session wrote
				read := map[int]op{}   // key → last read
				for i, o := range h {
					total++
					if o.write {
						wrote[o.key] = o.value
						continue
					}
					reads++
					if o.node != "primary" {
						onReplica++
					}
					if w, ok := wrote[o.key]; ok && o.value < w {
						violations++
						t.Errorf("read-your-writes violated: session %d read %d of key %d after writing %d\n%s", o.session, o.value, o.key, w, history(h, i))
					}
					if prev, ok := read[o.key]; ok && o.value < prev.value {
						violations++
						t.Errorf("monotonic reads violated: session %d read %d of key %d after reading %d\n%s", o.session, o.value, o.key, prev.value, history(h, i))
					}
					read[o.key] = o
				}
			}
			require.GreaterOrEqual(t, total, 10000)
			t.Logf("%s: %d operations by %d concurrent sessions against a replica whose lag changed at random: %d violations; %.1f%% of reads served by replicas",
				k, total, sessions, violations, 100*float64(onReplica)/float64(reads))
		})
	}
}

// history prints the operations of a session up to i.
func history(h []op, i int) string {
	var b strings.Builder
	for _, o := range h[max(0, i-12) : i+1] {
		kind := "read "
		if o.write {
			kind = "write"
		}
		fmt.Fprintf(&b, "  #%d %s key %d value %d on %s token %s\n", o.seq, kind, o.key, o.value, o.node, o.token)
	}
	return b.String()
}

// TestWaitReplicated returns only once the delayed replica has the row.
func TestWaitReplicated(t *testing.T) {
	t.Parallel() // it only adds tables to the clusters it shares
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := rywCluster(t, k)
			db := openCluster(t, c)
			table := fmt.Sprintf("wr_%d", time.Now().UnixNano())
			_, err := db.Exec("CREATE TABLE " + table + " (id int)")
			require.NoError(t, err)
			waitReplicated(t, c, "SELECT count(*) FROM "+table, 0)
			ctx := consistency.WithSession(context.Background())
			_, err = db.ExecContext(ctx, "INSERT INTO "+table+" VALUES (1)")
			require.NoError(t, err)
			tok := consistency.SessionFrom(ctx).Token()
			require.False(t, tok.IsZero())

			short, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			err = db.WaitReplicated(short, tok, 2)
			cancel()
			require.ErrorIs(t, err, consistency.ErrNotReplicated, "the delayed replica cannot have it yet")

			start := time.Now()
			require.NoError(t, db.WaitReplicated(context.Background(), tok, 1), "semi-synchronous: one replica")
			one := time.Since(start)
			wctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			require.NoError(t, db.WaitReplicated(wctx, tok, 2), "synchronous: every replica")
			all := time.Since(start)
			delayed, err := c.Open(c.Replicas[1])
			require.NoError(t, err)
			defer delayed.Close()
			var n int
			require.NoError(t, delayed.QueryRow("SELECT count(*) FROM "+table).Scan(&n))
			require.Equal(t, 1, n, "WaitReplicated returned before the delayed replica had the row")
			require.Error(t, db.WaitReplicated(wctx, tok, 3), "two replicas cannot apply a token three times")
			t.Logf("%s: WaitReplicated n=1 after %v, n=2 (the delayed replica) after %v", k, one.Round(time.Millisecond), all.Round(time.Millisecond))
		})
	}
}

// TestForgedAndForeignTokens: a token ahead of anything the primary wrote,
// or from another cluster, never waits; it goes to the primary, or fails
// with ErrNotReplicated when the caller asked for replicas only.
func TestForgedAndForeignTokens(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.String(), func(t *testing.T) {
			t.Parallel() // each kind has its own servers
			c := clusters.Get(t, k)
			db := openCluster(t, c, replica.ReadYourWrites(consistency.Policy{Wait: 3 * time.Second}))
			id := newIdentity(c)
			ctx := consistency.WithSession(context.Background())
			_, err := db.ExecContext(ctx, "CREATE TABLE "+fmt.Sprintf("forge_%d", time.Now().UnixNano())+" (id int)")
			require.NoError(t, err)
			real := consistency.SessionFrom(ctx).Token()
			var forged, foreign consistency.Token
			switch k {
			case testcluster.Postgres:
				lsn, sys, tli := real.LSN()
				forged = consistency.PostgresToken(sys, tli, lsn+1<<40)
				foreign = consistency.PostgresToken(sys+1, tli, 1)
			case testcluster.MariaDB:
				forged, _ = consistency.MariaDBToken("0-1-999999999")
				foreign, _ = consistency.MariaDBToken("77-9-1")
			default:
				forged, _ = consistency.MySQLToken(strings.Split(real.GTID(), ":")[0] + ":1-999999999")
				foreign, _ = consistency.MySQLToken("00000000-0000-0000-0000-000000000001:1")
			}
			for name, tok := range map[string]consistency.Token{"forged": forged, "foreign": foreign} {
				tctx := consistency.WithToken(context.Background(), tok)
				start := time.Now()
				require.Equal(t, "primary", id.who(t, tctx, db, ""), name)
				require.Less(t, time.Since(start), time.Second, "%s: the read waited", name)
				err := db.QueryRowContext(consistency.WithPolicy(tctx, consistency.Policy{ReplicaOnly: true}), "SELECT 1").Scan(new(int))
				require.ErrorIs(t, err, consistency.ErrNotReplicated, name)
			}
			// A token parsed from garbage is an error, never a position.
			_, err = consistency.ParseToken("pg:1:1:nonsense")
			require.ErrorIs(t, err, consistency.ErrBadToken)
		})
	}
}

// TestTokenRoutingDoesNotAllocate: a read with a token that the snapshot
// shows a replica has applied costs no allocation beyond a plain read.
func TestTokenRoutingDoesNotAllocate(t *testing.T) {
	if raceEnabled || testing.Short() {
		t.Skip("allocation counts differ under -race")
	}
	c := clusters.Get(t, testcluster.Postgres)
	db := openCluster(t, c, replica.CheckInterval(time.Hour))
	ctx := consistency.WithSession(context.Background())
	_, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS alloc_check (id int)")
	require.NoError(t, err)
	tok := consistency.SessionFrom(ctx).Token()
	require.Eventually(t, func() bool {
		s := db.CheckNow(context.Background())
		return s.Nodes[1].Position.Covers(tok) && s.Nodes[2].Position.Covers(tok)
	}, 20*time.Second, 50*time.Millisecond)
	withToken := consistency.WithToken(context.Background(), tok)
	plain := context.Background()
	measure := func(ctx context.Context) float64 {
		return testing.AllocsPerRun(200, func() {
			var one int
			if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
				t.Fatal(err)
			}
		})
	}
	base, routed := measure(plain), measure(withToken)
	t.Logf("allocations per read: %.1f plain, %.1f with a token", base, routed)
	require.LessOrEqual(t, routed, base, "routing with a token allocates")
}
