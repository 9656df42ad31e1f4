package consistency

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/sqlreplica/sqlreplica/internal/ctxval"
)

// Session follows one user's (or one request's) writes and reads so that
// reads see the session's own writes (read-your-writes) and never go back in
// time (monotonic reads). It travels in a context: see [WithSession]. A
// Session is safe for concurrent use.
//
// A DB that routes statements (replica.DB) records each write's position in
// the session of the statement's context and routes the session's reads to
// replicas that have applied it.
type Session struct {
	primaryFor time.Duration // SessionOption PrimaryAfterWrite

	mu           sync.Mutex // guards the fields below
	written      Token      // the newest position of the session's writes
	pending      []Resolver // writes whose position is still to be read
	unsure       bool       // a write's position could not be read: reads go to the primary
	floor        Token      // what a replica other than pinned must have applied
	pinned       string     // the replica the session last read from
	primaryUntil time.Time  // PrimaryAfterWrite window
}

// Resolver reads the position a write reached, once its effects are
// committed. See [Session.RecordLater].
type Resolver func(ctx context.Context) (Token, error)

// SessionOption configures a session.
type SessionOption func(*Session)

// PrimaryAfterWrite sends every read of the session to the primary for d
// after each write: read-your-writes for callers that cannot use tokens,
// the way Rails does it. Tokens still apply after the window.
func PrimaryAfterWrite(d time.Duration) SessionOption {
	return func(s *Session) { s.primaryFor = d }
}

// WithSession returns a context that carries a new session. Writes run with
// it record their position in the session; reads run with it see them.
func WithSession(ctx context.Context, opts ...SessionOption) context.Context {
	s := &Session{}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	return ctxval.With(ctx, func(v *ctxval.Values) { v.Session = s })
}

// SessionFrom returns the session ctx carries, or nil.
func SessionFrom(ctx context.Context) *Session {
	if v := ctxval.From(ctx); v != nil {
		s, _ := v.Session.(*Session)
		return s
	}
	return nil
}

// WithToken returns a context whose reads honour tok, a position received
// from elsewhere (another request, another service): they see at least
// everything up to it. When ctx carries a session, the token is recorded in
// it too, so that it travels on with the session's own writes.
func WithToken(ctx context.Context, tok Token) context.Context {
	if tok.IsZero() {
		return ctx
	}
	if s := SessionFrom(ctx); s != nil {
		s.merge(tok)
	}
	tok = TokenFrom(ctx).Merge(tok)
	return ctxval.With(ctx, func(v *ctxval.Values) { v.Token = tok })
}

// TokenFrom returns the token [WithToken] put in ctx, or the zero Token.
func TokenFrom(ctx context.Context) Token {
	if v := ctxval.From(ctx); v != nil {
		t, _ := v.Token.(Token)
		return t
	}
	return Token{}
}

// resolveTimeout bounds Token's wait for a pending write's position.
const resolveTimeout = 5 * time.Second

// Token returns the newest position of the session's writes (merged with
// any token given with [WithToken] while the session was in the context).
// If a write's position is still to be read (a write made through
// QueryContext, whose rows may not have been read yet), Token reads it from
// the primary first, waiting at most five seconds; if it cannot, the session
// is marked unsure (see [Session.Unsure]) and the token returned is the last
// known one.
func (s *Session) Token() Token {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	_ = s.Resolve(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written
}

// Record merges the position a write reached into the session. A write's
// position covers every earlier write's on the same primary, so it also
// clears [Session.Unsure].
func (s *Session) Record(t Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.written = s.written.Merge(t)
	s.unsure = false
	s.wroteLocked()
}

// merge adds a token received from elsewhere.
func (s *Session) merge(t Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.written = s.written.Merge(t)
}

// RecordLater records a write whose position can only be read later, once
// its effects are committed (a write through QueryContext commits only when
// its rows have been read). The session reads it, with r, before its next
// read or Token.
func (s *Session) RecordLater(r Resolver) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, r)
	s.wroteLocked()
}

func (s *Session) wroteLocked() {
	if s.primaryFor > 0 {
		s.primaryUntil = time.Now().Add(s.primaryFor)
	}
}

// Resolve reads the positions of the session's pending writes. If one
// cannot be read, the session is marked unsure and the error returned.
func (s *Session) Resolve(ctx context.Context) error {
	s.mu.Lock()
	pending := s.pending
	s.pending = nil
	s.mu.Unlock()
	var errs []error
	for _, r := range pending {
		t, err := r(ctx)
		s.mu.Lock()
		if err != nil {
			s.unsure = true
			errs = append(errs, err)
		} else {
			s.written = s.written.Merge(t)
		}
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Unsure reports whether the position of one of the session's writes could
// not be read. Such a session's reads go to the primary: nothing else is
// known to have its writes. Recording a later write's position clears it.
func (s *Session) Unsure() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unsure
}

// Clear forgets an unsure write: the caller knows its effects are visible
// everywhere, or does not care.
func (s *Session) Clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unsure = false
}

// OnPrimary reports whether the session's reads must go to the primary now:
// within the PrimaryAfterWrite window, or while unsure.
func (s *Session) OnPrimary(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.unsure || now.Before(s.primaryUntil)
}

// Need returns what a read of the session must see: its writes and, for a
// replica other than the pinned one, its monotonic floor.
func (s *Session) Need() (written, floor Token, pinned string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written, s.floor, s.pinned
}

// ReadAt records that a read of the session ran on the named replica.
// Until the session moves to another replica, later reads are monotonic by
// reading from that one. When it moves, floor (what the old replica may have
// shown: the primary's position when the session leaves it) must be covered
// by the new one.
func (s *Session) ReadAt(replica string, floor Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pinned = replica
	s.floor = s.floor.Merge(floor)
}

// ReadOnPrimary records that a read of the session ran on the primary: a
// later read on a replica must see what the primary had then, floor.
func (s *Session) ReadOnPrimary(floor Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pinned = ""
	s.floor = s.floor.Merge(floor)
}

// Policy says what a read with a token does when no replica is known to
// have applied it.
type Policy struct {
	// Wait bounds how long a replica is given to apply the token before the
	// read goes elsewhere. Zero means the DB's default (one second);
	// negative means do not wait.
	Wait time.Duration
	// ReplicaOnly makes such a read fail with [ErrNotReplicated] instead of
	// running on the primary.
	ReplicaOnly bool
}

// ErrNotReplicated is returned for a read that may only run on a replica
// ([Policy] ReplicaOnly) when no replica applied its token in time, and by
// WaitReplicated when too few replicas did.
var ErrNotReplicated = errors.New("consistency: not replicated in time")

// WithPolicy returns a context whose reads follow p instead of the DB's
// policy.
func WithPolicy(ctx context.Context, p Policy) context.Context {
	return ctxval.With(ctx, func(v *ctxval.Values) { v.Policy = p })
}

// PolicyFrom returns the policy [WithPolicy] put in ctx.
func PolicyFrom(ctx context.Context) (Policy, bool) {
	if v := ctxval.From(ctx); v != nil {
		p, ok := v.Policy.(Policy)
		return p, ok
	}
	return Policy{}, false
}
