//go:build race

package interop_test

// raceEnabled says the tests run with -race, so the mast binary they start
// is built with it too.
const raceEnabled = true
