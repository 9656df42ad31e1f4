package consistency_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/consistency"
)

func TestSessionRecordsAndResolves(t *testing.T) {
	ctx := consistency.WithSession(context.Background())
	s := consistency.SessionFrom(ctx)
	require.NotNil(t, s)
	require.Nil(t, consistency.SessionFrom(context.Background()))
	require.True(t, s.Token().IsZero())

	s.Record(consistency.PostgresToken(1, 1, 100))
	s.Record(consistency.PostgresToken(1, 1, 50))
	lsn, _, _ := s.Token().LSN()
	require.EqualValues(t, 100, lsn, "merging keeps the maximum")

	calls := 0
	s.RecordLater(func(context.Context) (consistency.Token, error) {
		calls++
		return consistency.PostgresToken(1, 1, 200), nil
	})
	lsn, _, _ = s.Token().LSN()
	require.EqualValues(t, 200, lsn)
	s.Token()
	require.Equal(t, 1, calls, "a pending write is resolved once")

	s.RecordLater(func(context.Context) (consistency.Token, error) {
		return consistency.Token{}, errors.New("primary gone")
	})
	require.Error(t, s.Resolve(context.Background()))
	require.True(t, s.Unsure())
	require.True(t, s.OnPrimary(time.Now()), "an unsure session reads on the primary")
	s.Record(consistency.PostgresToken(1, 1, 300))
	require.False(t, s.Unsure(), "a later write's position covers the unsure one")
}

func TestWithTokenAndPolicy(t *testing.T) {
	tok := consistency.PostgresToken(1, 1, 7)
	ctx := consistency.WithToken(context.Background(), tok)
	require.Equal(t, tok, consistency.TokenFrom(ctx))
	ctx = consistency.WithToken(ctx, consistency.PostgresToken(1, 1, 9))
	lsn, _, _ := consistency.TokenFrom(ctx).LSN()
	require.EqualValues(t, 9, lsn)
	require.Equal(t, ctx, consistency.WithToken(ctx, consistency.Token{}))

	sctx := consistency.WithToken(consistency.WithSession(context.Background()), tok)
	require.Equal(t, tok, consistency.SessionFrom(sctx).Token(), "a session carries tokens given to it")

	_, ok := consistency.PolicyFrom(ctx)
	require.False(t, ok)
	p, ok := consistency.PolicyFrom(consistency.WithPolicy(ctx, consistency.Policy{Wait: time.Second, ReplicaOnly: true}))
	require.True(t, ok)
	require.True(t, p.ReplicaOnly)
}

func TestPrimaryAfterWrite(t *testing.T) {
	ctx := consistency.WithSession(context.Background(), consistency.PrimaryAfterWrite(50*time.Millisecond))
	s := consistency.SessionFrom(ctx)
	require.False(t, s.OnPrimary(time.Now()))
	s.Record(consistency.PostgresToken(1, 1, 1))
	require.True(t, s.OnPrimary(time.Now()))
	require.False(t, s.OnPrimary(time.Now().Add(100*time.Millisecond)))
}

func TestSessionIsSafeForConcurrentUse(t *testing.T) {
	s := consistency.SessionFrom(consistency.WithSession(context.Background()))
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				s.Record(consistency.PostgresToken(1, 1, uint64(g*1000+i)))
				s.ReadAt("replica1", consistency.PostgresToken(1, 1, uint64(i)))
				_ = s.NeedNow(context.Background(), time.Now())
				_ = s.Token()
			}
		}()
	}
	wg.Wait()
	lsn, _, _ := s.Token().LSN()
	require.EqualValues(t, 7199, lsn)
}

func TestMiddleware(t *testing.T) {
	written := consistency.PostgresToken(42, 1, 0x3000148)
	var seen consistency.Token
	h := consistency.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := consistency.SessionFrom(r.Context())
		seen = s.Token()
		if r.URL.Path == "/write" {
			s.Record(written)
		}
		io.WriteString(w, "ok")
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()

	// A write: the response carries the token as a header and a cookie.
	resp, err := http.Get(srv.URL + "/write")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, written.String(), resp.Header.Get("Replica-Token"))
	var cookie *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "replica_token" {
			cookie = c
		}
	}
	require.NotNil(t, cookie)
	require.True(t, cookie.HttpOnly)

	// The next request brings it back, by header or by cookie.
	for _, send := range []func(*http.Request){
		func(r *http.Request) { r.Header.Set("Replica-Token", written.String()) },
		func(r *http.Request) { r.AddCookie(cookie) },
	} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/read", nil)
		send(req)
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, written.String(), seen.String())
		require.Equal(t, written.String(), resp.Header.Get("Replica-Token"), "the token is sent on")
	}

	// A malformed token is ignored.
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/read", nil)
	req.Header.Set("Replica-Token", "pg:not:a:token")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.True(t, seen.IsZero())
	require.Empty(t, resp.Header.Get("Replica-Token"))
}

func TestMiddlewareNames(t *testing.T) {
	h := consistency.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		consistency.SessionFrom(r.Context()).Record(consistency.PostgresToken(1, 1, 1))
		w.WriteHeader(http.StatusCreated)
	}), consistency.Header("X-Pos"), consistency.Cookie(""), consistency.CookieAttributes("/api", time.Hour, true, http.SameSiteStrictMode))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
	require.Equal(t, http.StatusCreated, rec.Code)
	require.Equal(t, "pg:1:1:0/1", rec.Header().Get("X-Pos"))
	require.Empty(t, rec.Header().Values("Set-Cookie"))
}

// BenchmarkToken measures parsing, merging and comparing tokens.
func BenchmarkToken(b *testing.B) {
	const mysqlSet = "mysql:3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5000:5002-9000_4a11fa47-71ca-11e1-9e33-c80aa9429562:1-300"
	for _, s := range []string{"pg:7312345678901234567:1:16/B374D848", mysqlSet, "mariadb:0-1-77777_1-2-9"} {
		tok, _ := consistency.ParseToken(s)
		later, _ := consistency.ParseToken(s)
		name := s[:3]
		b.Run("Parse/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_, _ = consistency.ParseToken(s)
			}
		})
		b.Run("Merge/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = tok.Merge(later)
			}
		})
		b.Run("Covers/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = tok.Covers(later)
			}
		})
	}
}
