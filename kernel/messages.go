package kernel

// Message content is built from the types of package wire.

// orEmpty returns m, or an empty map so that JSON says {} and not null.
func orEmpty[M ~map[string]any](m M) M {
	if m == nil {
		return M{}
	}
	return m
}
