package webrepl

// FakeBoard serves a fake WebREPL board with password on 127.0.0.1, so
// that the examples run without hardware. It returns the board's ws:// URL,
// a function listing the files written to it (name: size), and one that
// stops it.
func FakeBoard(password string) (url string, files func() map[string]int, stop func()) {
	b := &fakeBoard{password: password}
	url, stop = b.listen()
	files = func() map[string]int {
		b.mu.Lock()
		defer b.mu.Unlock()
		m := map[string]int{}
		for n, d := range b.files {
			m[n] = len(d)
		}
		return m
	}
	return url, files, stop
}
