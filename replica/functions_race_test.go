//go:build race

package replica

const raceOn = true
