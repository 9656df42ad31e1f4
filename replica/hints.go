package replica

import (
	"context"
	"time"

	"github.com/sqlreplica/sqlreplica/internal/ctxval"
)

// Hints, as ctxval.Values.Hint holds them.
const (
	hintNone    uint8 = iota
	hintPrimary       // WithPrimary
	hintReplica       // WithReplica
)

// queryOpts are the per-query values a context carries (hints, lag limit,
// session, token, policy), found with one lookup.
type queryOpts = ctxval.Values

func optsFrom(ctx context.Context) *queryOpts { return ctxval.From(ctx) }

// WithPrimary returns a context that sends every statement and transaction
// run with it to the primary, whatever the statement's class.
func WithPrimary(ctx context.Context) context.Context {
	return ctxval.With(ctx, func(o *queryOpts) { o.Hint = hintPrimary })
}

// WithReplica returns a context that sends statements run with it to a
// replica even when the classifier would keep them on the primary, and runs
// transactions begun with it on a replica even when they are not read-only.
// The caller takes responsibility: such a statement is treated exactly as a
// read, including falling back to the primary when no replica can serve it.
// A write sent to a replica fails there with the server's read-only error.
func WithReplica(ctx context.Context) context.Context {
	return ctxval.With(ctx, func(o *queryOpts) { o.Hint = hintReplica })
}

// WithMaxLag returns a context whose reads go only to replicas lagging the
// primary by at most d (zero: fully caught up at the last check), overriding
// the [MaxLag] option.
func WithMaxLag(ctx context.Context, d time.Duration) context.Context {
	return ctxval.With(ctx, func(o *queryOpts) { o.MaxLag, o.HasMaxLag = max(d, 0), true })
}

func hintFrom(ctx context.Context) uint8 {
	if o := optsFrom(ctx); o != nil {
		return o.Hint
	}
	return hintNone
}
