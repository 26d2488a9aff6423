package auth

import "strconv"

// FileError is an error in a password or ACL file, naming the file and
// the line. It never quotes a password or a hash.
type FileError struct {
	File string
	Line int // 1-based; 0 when the error is not about one line
	Err  error
}

func (e *FileError) Error() string {
	if e.Line == 0 {
		return e.File + ": " + e.Err.Error()
	}
	return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Err.Error()
}

func (e *FileError) Unwrap() error { return e.Err }
