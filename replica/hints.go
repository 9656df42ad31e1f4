package replica

import "context"

// hint is a per-query routing override carried in a context.
type hint uint8

const (
	hintNone hint = iota
	hintPrimary
	hintReplica
)

type hintKey struct{}

// WithPrimary returns a context that sends every statement and transaction
// run with it to the primary, whatever the statement's class.
func WithPrimary(ctx context.Context) context.Context {
	return context.WithValue(ctx, hintKey{}, hintPrimary)
}

// WithReplica returns a context that sends statements run with it to a
// replica even when the classifier would keep them on the primary, and runs
// transactions begun with it on a replica even when they are not read-only.
// The caller takes responsibility: such a statement is treated exactly as a
// read, including falling back to the primary when no replica can serve it.
// A write sent to a replica fails there with the server's read-only error.
func WithReplica(ctx context.Context) context.Context {
	return context.WithValue(ctx, hintKey{}, hintReplica)
}

func hintFrom(ctx context.Context) hint {
	h, _ := ctx.Value(hintKey{}).(hint)
	return h
}
