//go:build !race

package thp

const raceEnabled = false
