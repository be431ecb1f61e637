//go:build race

package zeo_test

// raceEnabled: the race detector adds allocations of its own, so
// allocation counts are not checked under it.
const raceEnabled = true
