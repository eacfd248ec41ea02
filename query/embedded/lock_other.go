//go:build !unix

package embedded

// CheckUnlocked cannot probe Bleve's lock on this platform; if another
// process holds the index, Open waits for it.
func CheckUnlocked(dir string) error {
	_, err := ActiveDir(dir)
	return err
}
