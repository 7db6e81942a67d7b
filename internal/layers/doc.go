// Package layers holds no code: its test checks that the packages depend
// on each other in one direction (docs/how-it-works.md, "The layers"):
//
//	cmd → api, worker → service → workflows → activities → db
//
// with the pure packages under internal/ below them all: nothing under
// internal/ imports api, service, workflows, activities, worker or cmd.
package layers
