package errrow_test

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/sqlreplica/sqlreplica/internal/errrow"
)

func TestRowCarriesTheError(t *testing.T) {
	mine := errors.New("mine")
	row := errrow.Row(mine)
	require.ErrorIs(t, row.Err(), mine)
	var x int
	require.ErrorIs(t, row.Scan(&x), mine)
}
