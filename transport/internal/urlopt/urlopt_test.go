package urlopt

import (
	"net/url"
	"testing"
)

func TestBaud(t *testing.T) {
	for _, tt := range []struct {
		query string
		want  int
		bad   bool
	}{
		{"", 0, false},
		{"baud=9600", 9600, false},
		{"baud=0", 0, true},
		{"baud=-5", 0, true},
		{"baud=fast", 0, true},
	} {
		q, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Baud(q)
		if got != tt.want || (err != nil) != tt.bad {
			t.Errorf("Baud(%q) = %d, %v; want %d, error %v", tt.query, got, err, tt.want, tt.bad)
		}
	}
}

// The URL's rate beats the options', which beats the default.
func TestPickBaud(t *testing.T) {
	for _, tt := range []struct{ url, opt, want int }{
		{9600, 57600, 9600},
		{0, 57600, 57600},
		{0, 0, 115200},
	} {
		if got := PickBaud(tt.url, tt.opt, 115200); got != tt.want {
			t.Errorf("PickBaud(%d, %d, 115200) = %d, want %d", tt.url, tt.opt, got, tt.want)
		}
	}
}
