package pebble

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"

	"github.com/mastmq/mast/store"
)

// What a file in the data directory is, judged by its name.
const (
	fileForeign        = iota // not written by Pebble: the directory is not a mast store
	fileManifestMarker        // names the live MANIFEST: a store exists here
	fileData                  // MANIFEST, tables, logs, OPTIONS
	fileOther                 // LOCK, other markers, temporary files, lost+found
)

// ClusterDir is the subdirectory of a data directory where a cluster
// node keeps its replicas (package cluster's JetStream files); the
// store leaves it alone.
const ClusterDir = "cluster"

func fileKind(name string) int {
	switch {
	case name == "LOCK" || name == "lost+found":
		return fileOther
	case name == ClusterDir:
		return fileOther
	case name == "CURRENT" || strings.HasPrefix(name, "marker.manifest."):
		return fileManifestMarker
	case strings.HasPrefix(name, "marker."):
		return fileOther
	case strings.HasSuffix(name, ".dbtmp") && (strings.HasPrefix(name, "temporary.") || strings.HasPrefix(name, "CURRENT.")):
		return fileOther
	case numbered(name, "MANIFEST-", ""), numbered(name, "OPTIONS-", ""),
		numbered(name, "", ".sst"), numbered(name, "", ".blob"), numbered(name, "", ".log"):
		return fileData
	}
	return fileForeign
}

// numbered reports whether name is prefix, a file number (digits, maybe
// with a "-NNN" log index), then suffix.
func numbered(name, prefix, suffix string) bool {
	if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, suffix) || len(name) <= len(prefix)+len(suffix) {
		return false
	}
	num := name[len(prefix) : len(name)-len(suffix)]
	for i, c := range num {
		if (c < '0' || c > '9') && (c != '-' || i == 0) {
			return false
		}
	}
	return true
}

func joinNames(names []string) string {
	return strings.Join(names, ", ")
}

// lockError maps the failure to lock the directory. A lock held by this
// process or another is store.ErrLocked; failing to create the lock file
// is not.
func (s *Store) lockError(err error) error {
	var pe *fs.PathError // creating LOCK failed
	if !errors.As(err, &pe) && (errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) ||
		strings.Contains(err.Error(), "held by current process")) {
		who := "another process"
		if strings.Contains(err.Error(), "held by current process") {
			who = "this process (opened twice)"
		} else if pid := lockHolder(s.dir + "/LOCK"); pid > 0 {
			who = fmt.Sprintf("process %d", pid)
		}
		return fmt.Errorf("store/pebble: %s is in use by %s, probably a running mast broker; "+
			"stop it first or use another data directory: %w", s.dir, who, store.ErrLocked)
	}
	return fmt.Errorf("store/pebble: lock %s: %w", s.dir, err)
}
