package replica

import (
	"context"
	"time"
)

// hint is a per-query routing override carried in a context.
type hint uint8

const (
	hintNone hint = iota
	hintPrimary
	hintReplica
)

// queryOpts are the per-query settings a context carries, under one key so
// that a statement looks them up once.
type queryOpts struct {
	hint      hint
	maxLag    time.Duration
	hasMaxLag bool
}

type optsKey struct{}

func withOpts(ctx context.Context, f func(*queryOpts)) context.Context {
	var o queryOpts
	if prev, ok := ctx.Value(optsKey{}).(*queryOpts); ok {
		o = *prev
	}
	f(&o)
	return context.WithValue(ctx, optsKey{}, &o)
}

func optsFrom(ctx context.Context) *queryOpts {
	o, _ := ctx.Value(optsKey{}).(*queryOpts)
	return o
}

// WithPrimary returns a context that sends every statement and transaction
// run with it to the primary, whatever the statement's class.
func WithPrimary(ctx context.Context) context.Context {
	return withOpts(ctx, func(o *queryOpts) { o.hint = hintPrimary })
}

// WithReplica returns a context that sends statements run with it to a
// replica even when the classifier would keep them on the primary, and runs
// transactions begun with it on a replica even when they are not read-only.
// The caller takes responsibility: such a statement is treated exactly as a
// read, including falling back to the primary when no replica can serve it.
// A write sent to a replica fails there with the server's read-only error.
func WithReplica(ctx context.Context) context.Context {
	return withOpts(ctx, func(o *queryOpts) { o.hint = hintReplica })
}

// WithMaxLag returns a context whose reads go only to replicas lagging the
// primary by at most d (zero: fully caught up at the last check), overriding
// the [MaxLag] option.
func WithMaxLag(ctx context.Context, d time.Duration) context.Context {
	return withOpts(ctx, func(o *queryOpts) { o.maxLag, o.hasMaxLag = max(d, 0), true })
}

func hintFrom(ctx context.Context) hint {
	if o := optsFrom(ctx); o != nil {
		return o.hint
	}
	return hintNone
}
