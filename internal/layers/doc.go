// Package layers holds no code: its test checks that the packages depend
// on each other in one direction (README, "How it works"):
//
//	cmd → api, worker → service → workflows → activities → db
//
// with the pure packages under internal/ below them all.
package layers
