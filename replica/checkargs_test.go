package replica

import (
	"database/sql/driver"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
)

// checkingConn is a driver connection whose CheckNamedValue removes the
// arguments named "drop", leaves the ones named "skip" to the default
// converter, doubles ints, and counts its calls.
type checkingConn struct {
	driver.Conn
	calls int
}

func (c *checkingConn) CheckNamedValue(nv *driver.NamedValue) error {
	c.calls++
	switch nv.Name {
	case "drop":
		return driver.ErrRemoveArgument
	case "skip":
		return driver.ErrSkip
	}
	if n, ok := nv.Value.(int64); ok {
		nv.Value = 2 * n
	}
	return nil
}

// TestCheckArgsConvertsAsDatabaseSQLDoes: each argument goes through the
// real connection's checker once; a removed one is left out, the others
// keep their order and their conversion; ErrSkip falls back to the default
// converter.
func TestCheckArgsConvertsAsDatabaseSQLDoes(t *testing.T) {
	tests := []struct {
		name string
		in   []driver.NamedValue
		want []driver.NamedValue
	}{
		{"nothing removed",
			[]driver.NamedValue{{Ordinal: 1, Value: int64(1)}, {Ordinal: 2, Value: "a"}},
			[]driver.NamedValue{{Ordinal: 1, Value: int64(2)}, {Ordinal: 2, Value: "a"}}},
		{"the first removed",
			[]driver.NamedValue{{Name: "drop", Ordinal: 1, Value: 1}, {Ordinal: 2, Value: int64(3)}},
			[]driver.NamedValue{{Ordinal: 2, Value: int64(6)}}},
		{"one in the middle removed",
			[]driver.NamedValue{{Ordinal: 1, Value: int64(1)}, {Name: "drop", Ordinal: 2}, {Name: "skip", Ordinal: 3, Value: int32(4)}},
			[]driver.NamedValue{{Ordinal: 1, Value: int64(2)}, {Name: "skip", Ordinal: 3, Value: int64(4)}}},
		{"all removed",
			[]driver.NamedValue{{Name: "drop", Ordinal: 1}, {Name: "drop", Ordinal: 2}},
			[]driver.NamedValue{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &checkingConn{}
			got, err := checkArgs(c, tt.in)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
			require.Equal(t, len(tt.in), c.calls, "each argument is checked once")
		})
	}
	_, err := checkArgs(&checkingConn{}, []driver.NamedValue{{Name: "skip", Ordinal: 1, Value: struct{}{}}})
	require.Error(t, err)
	require.Contains(t, err.Error(), "converting argument skip type")
	require.False(t, errors.Is(err, driver.ErrSkip))
}
