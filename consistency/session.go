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

	mu           sync.Mutex  // guards the fields below
	written      Token       // the newest position of the session's writes
	pending      []*laterPos // positions still to be read, oldest first
	unsure       bool        // a write's position could not be read: reads go to the primary
	floor        Token       // what a replica other than pinned must have applied
	pinned       string      // the replica the session last read from
	primaryUntil time.Time   // PrimaryAfterWrite window
}

// laterPos is a position the session reads later: a write's, once the write
// has completed, or the monotonic floor left by a read on the primary.
type laterPos struct {
	ready <-chan struct{} // closed once r may run; nil: at once
	r     Resolver
	floor bool          // a read's floor, not a write's position
	busy  chan struct{} // non-nil while a caller runs r; closed when it ends
}

// Resolver reads the position a write reached, once its effects are
// committed. See [Session.RecordLater].
type Resolver func(ctx context.Context) (Token, error)

// ErrInProgress is returned by [Session.Resolve] while a write recorded with
// [Session.RecordAfter] has not completed (its rows are still being read):
// only the primary can show its effects until then.
var ErrInProgress = errors.New("consistency: a write of the session is still in progress")

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
// If a write's position is still to be read, Token reads it first; a write
// still in progress (a write through QueryContext whose rows are still
// open) is waited for. Token waits at most five seconds in all; if a
// position cannot be read by then, the session is marked unsure (see
// [Session.Unsure]) and the token returned is the last known one.
func (s *Session) Token() Token {
	ctx, cancel := context.WithTimeout(context.Background(), resolveTimeout)
	defer cancel()
	for {
		err := s.Resolve(ctx)
		if !errors.Is(err, ErrInProgress) {
			break
		}
		if !s.awaitReady(ctx) {
			s.mu.Lock()
			s.unsure = true
			s.mu.Unlock()
			break
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.written
}

// awaitReady waits until the oldest write in progress has completed, or ctx
// ends. It reports whether the write completed.
func (s *Session) awaitReady(ctx context.Context) bool {
	s.mu.Lock()
	var ready <-chan struct{}
	for _, p := range s.pending {
		if p.ready != nil && !closed(p.ready) {
			ready = p.ready
			break
		}
	}
	s.mu.Unlock()
	if ready == nil {
		return true
	}
	select {
	case <-ready:
		return true
	case <-ctx.Done():
		return false
	}
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
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

// RecordLater records a write whose position is read later, with r, before
// the session's next read or Token.
func (s *Session) RecordLater(r Resolver) { s.RecordAfter(nil, r) }

// RecordAfter records a write that completes when done is closed (a write
// through QueryContext commits only once its rows have been read and
// closed). Until then the write is in progress: [Session.Resolve] reports
// [ErrInProgress] and reads that must see it go to the primary. Once done is
// closed, the session reads the write's position with r before its next read
// or Token. A nil done means the write has completed.
func (s *Session) RecordAfter(done <-chan struct{}, r Resolver) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, &laterPos{ready: done, r: r})
	s.wroteLocked()
}

func (s *Session) wroteLocked() {
	if s.primaryFor > 0 {
		s.primaryUntil = time.Now().Add(s.primaryFor)
	}
}

// Resolve reads the positions still to be read: those of the session's
// completed writes, and the floors of its reads on the primary. Callers that
// find another caller reading a position wait for it (bounded by ctx), so
// that concurrent reads of one session all see what it wrote. If a position
// cannot be read, the session is marked unsure and the error returned. While
// a write is still in progress, Resolve returns an error wrapping
// [ErrInProgress] and the session stays as sure as it was.
func (s *Session) Resolve(ctx context.Context) error {
	s.mu.Lock()
	if len(s.pending) == 0 {
		s.mu.Unlock()
		return nil
	}
	todo := append([]*laterPos(nil), s.pending...)
	s.mu.Unlock()
	var errs []error
	for _, p := range todo {
		if err := s.resolveOne(ctx, p); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// resolveOne reads p's position, or waits for the caller that is reading it.
func (s *Session) resolveOne(ctx context.Context, p *laterPos) error {
	for {
		s.mu.Lock()
		if !s.pendingLocked(p) {
			s.mu.Unlock()
			return nil // resolved by another caller
		}
		if busy := p.busy; busy != nil {
			s.mu.Unlock()
			select {
			case <-busy:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if p.ready != nil && !closed(p.ready) {
			s.mu.Unlock()
			return ErrInProgress
		}
		busy := make(chan struct{})
		p.busy = busy
		s.mu.Unlock()

		t, err := p.r(ctx)

		s.mu.Lock()
		p.busy = nil
		close(busy)
		if err != nil && ctx.Err() != nil {
			// The caller's context ended: no verdict on the position,
			// which stays to be read by the next caller.
			s.mu.Unlock()
			return err
		}
		s.removeLocked(p)
		switch {
		case err != nil:
			s.unsure = true
		case p.floor:
			s.floor = s.floor.Merge(t)
		default:
			s.written = s.written.Merge(t)
		}
		s.mu.Unlock()
		return err
	}
}

func (s *Session) pendingLocked(p *laterPos) bool {
	for _, q := range s.pending {
		if q == p {
			return true
		}
	}
	return false
}

func (s *Session) removeLocked(p *laterPos) {
	for i, q := range s.pending {
		if q == p {
			s.pending = append(s.pending[:i], s.pending[i+1:]...)
			return
		}
	}
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

// Need is what a read of a session must honour, as of one moment.
type Need struct {
	// Written is the newest position of the session's writes.
	Written Token
	// Floor is what a replica other than Pinned must have applied
	// (monotonic reads).
	Floor Token
	// Pinned names the replica the session last read from, if any.
	Pinned string
	// AfterWrite is true within the PrimaryAfterWrite window.
	AfterWrite bool
	// Unsure is true when a write's position could not be read.
	Unsure bool
	// InProgress is true while a write of the session has not completed:
	// only the primary can show its effects.
	InProgress bool
}

// NeedNow resolves the session's pending positions (see [Session.Resolve])
// and returns what a read starting at now must honour.
func (s *Session) NeedNow(ctx context.Context, now time.Time) Need {
	err := s.Resolve(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	return Need{
		Written: s.written, Floor: s.floor, Pinned: s.pinned,
		AfterWrite: now.Before(s.primaryUntil),
		Unsure:     s.unsure || err != nil && !errors.Is(err, ErrInProgress),
		InProgress: errors.Is(err, ErrInProgress),
	}
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

// ReadOnPrimaryLater is [Session.ReadOnPrimary] for a floor read later,
// with r, before the session's next read: r must return a position the
// primary reached after the read began to return results, so that it covers
// everything the read saw. It lets the caller release the read's connection
// before the position is read.
func (s *Session) ReadOnPrimaryLater(r Resolver) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pinned = ""
	s.pending = append(s.pending, &laterPos{r: r, floor: true})
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
