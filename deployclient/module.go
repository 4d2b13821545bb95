package deployclient

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/zato-go/zato/wire"
)

// CheckModule is what a client checks of a module before it uploads it: a flat module file name (the servers' rule,
// wire.ValidModuleName) and source text a JSON string carries unaltered (wire.CheckSourceText, in the servers'
// words). The servers check more, what they alone can judge (a name's length, names that shadow what they import, the
// size limit). UploadWith checks every upload with it; a caller with several modules checks them all first.
func CheckModule(name string, source []byte) error {
	if err := CheckModuleName(name); err != nil {
		return err
	}
	return wire.CheckSourceText(source)
}

// CheckModuleName refuses a name that is not a flat module file name such as my_services.py.
func CheckModuleName(name string) error {
	if !wire.ValidModuleName(name) {
		return fmt.Errorf("%q is not a module name: a hot-deployed module is a flat module file like my_services.py (letters, digits and _ only, no paths)", name)
	}
	return nil
}

// ReadModule reads a module file for an upload: the file must be there, a regular file (a directory is a package,
// and packages go to zato_extra_paths), named x.py, and pass CheckModule. name is the file's base name, the module
// it deploys as. The error says why the file cannot be deployed, without its path (the caller names the file).
func ReadModule(path string) (name string, source []byte, err error) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", nil, errors.New("no such file")
	case err != nil:
		return "", nil, err
	case fi.IsDir():
		abs, _ := filepath.Abs(path)
		return "", nil, fmt.Errorf("%s is a directory: hot deployment takes flat modules (x.py); packages go to zato_extra_paths (SERVER_DIR/zato_extra_paths/%s on every server)", abs, filepath.Base(abs))
	case !fi.Mode().IsRegular():
		return "", nil, errors.New("not a regular file")
	}
	name = filepath.Base(path)
	if !strings.HasSuffix(name, ".py") {
		return "", nil, errors.New("not a .py file: hot deployment takes Python modules (x.py)")
	}
	if err := CheckModuleName(name); err != nil {
		return "", nil, err
	}
	if source, err = os.ReadFile(path); err != nil {
		return "", nil, err
	}
	if err := wire.CheckSourceText(source); err != nil {
		return "", nil, err
	}
	return name, source, nil
}
