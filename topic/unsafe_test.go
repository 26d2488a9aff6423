package topic_test

import "unsafe"

// unsafeString aliases b, as a zero-copy packet decoder might, to check
// that the indexes copy what they keep.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
