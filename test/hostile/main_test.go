package hostile_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// mastBin is the real binary, built once by TestMain for the password test.
var mastBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mast-hostile-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "hostile:", err)
		os.Exit(1)
	}
	mastBin = filepath.Join(dir, "mast")
	// "go test" puts its own GOROOT/bin first on PATH, so this is the same
	// toolchain that built the tests. The binary is built without -race:
	// test/interop runs it with the race detector; here only its console
	// matters.
	if out, err := exec.Command("go", "build", "-o", mastBin, "github.com/mastmq/mast/cmd/mast").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "hostile: building mast: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
