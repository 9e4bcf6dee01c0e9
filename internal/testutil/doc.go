// Package testutil holds the helpers that tests of several packages share:
// the first line where two texts differ, and the heap in use after a
// collection. It implements no protocol and no specification; only tests
// import it.
package testutil
