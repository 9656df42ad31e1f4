// Package ctxval keeps every per-query value the library reads from a
// context (routing hints, lag limit, session, token, policy) under one key,
// so that a statement finds them all with a single lookup.
package ctxval

import (
	"context"
	"time"
)

type key struct{}

// Values are the per-query settings a context carries. A Values in a
// context is never modified: With copies it.
type Values struct {
	Hint      uint8 // replica's hint: 0 none, 1 primary, 2 replica
	MaxLag    time.Duration
	HasMaxLag bool
	Session   any // *consistency.Session
	Token     any // consistency.Token
	Policy    any // consistency.Policy
}

// From returns the values ctx carries, or nil.
func From(ctx context.Context) *Values {
	v, _ := ctx.Value(key{}).(*Values)
	return v
}

// With returns a context carrying ctx's values changed by f.
func With(ctx context.Context, f func(*Values)) context.Context {
	var v Values
	if prev := From(ctx); prev != nil {
		v = *prev
	}
	f(&v)
	return context.WithValue(ctx, key{}, &v)
}
