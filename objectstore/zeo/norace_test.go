//go:build !race

package zeo_test

const raceEnabled = false
