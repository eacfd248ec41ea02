// Package golden compares test output with golden files and rewrites them
// when the test binary runs with -update, as zoekt's index/read_test.go
// does: one flag, one failure message and one readable diff for every
// package whose tests keep golden files under testdata/.
//
// It is test plumbing: import it from _test.go files only. It registers
// the -update flag, so a test package that imports it must not define its
// own. It imports only the standard library.
package golden
