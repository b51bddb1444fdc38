//go:build race

package thp

const raceEnabled = true
