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

// WithReplica returns a context that asks for a replica. It can never send
// a statement that may write, lock or change session state to one (rule one
// of this library): such a statement still runs on the primary, as a write
// of the session, and is refused in a split brain. What it changes:
//
//   - a transaction begun with it runs read only on a replica even without
//     sql.TxOptions.ReadOnly (for code that cannot pass options), and
//     refuses statements that may write with [ErrWriteOnReplica];
//   - a read run with it goes to a replica, as a read without a hint does.
//
// Reads still honour the context's session and lag limit, and still fall back
// to the primary when no replica can serve them.
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
