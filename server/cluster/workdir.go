package cluster

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// writeAtomic replaces path by rename, so readers never see a half-written module. It does not fsync: the ODB is
// the truth and a server reconciles current/ with it at every start (a file lost to a power cut is rewritten from
// the ODB), so a sync here would only add milliseconds to every deployment.
//
// On Linux the new content goes into the module's twin (.NAME.swap, which holds the previous version) and the two
// names are exchanged: no file is created per deployment, where a fresh temporary file costs each server an inode
// allocation, the slowest part of a write on ext4 under churn.
func writeAtomic(path string, data []byte) error {
	twin := twinOf(path)
	if exchangeSupported {
		if _, err := os.Lstat(path); err == nil {
			if err := overwrite(twin, data); err != nil {
				return err
			}
			if err := exchange(twin, path); err == nil {
				return nil
			}
			// The file system cannot exchange: fall through to a plain rename (the twin is consumed).
		}
	}
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	// CreateTemp makes 0600; a module's mode must not depend on which path wrote its version.
	if err := f.Chmod(moduleMode); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("rename %s: %w", path, err)
	}
	return nil
}

// overwrite writes data over path's old bytes and then cuts it to length. Not O_TRUNC: on ext4 a truncation to
// zero makes close() flush the file's blocks (auto_da_alloc), a synchronous write on every deploy.
func overwrite(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, moduleMode)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	_, err = f.WriteAt(data, 0)
	if err == nil {
		err = f.Chmod(moduleMode) // a twin left by an older version may have another mode
	}
	if err == nil {
		err = f.Truncate(int64(len(data)))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// twinOf is where writeAtomic prepares a module's next version; dot files are not modules, so loadWorkDir removes
// twins at start and backups skip them.
func twinOf(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".swap")
}

// moduleMode is every deployed module file's mode.
const moduleMode = 0o644

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
