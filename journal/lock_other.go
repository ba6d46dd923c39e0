//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package journal

import "os"

// lockDir does nothing on this system: the journal directory is not locked
// (see Open), and two processes on one directory corrupt each other.
func lockDir(string) (*os.File, error) { return nil, nil }

func unlock(*os.File) {}
