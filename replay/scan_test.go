package replay

import (
	"bytes"
	"strings"
	"testing"
)

// A notebook saved with Windows line ends keeps them where --update
// rewrites its outputs.
func TestUpdateKeepsCRLF(t *testing.T) {
	for _, outputs := range []string{`"outputs": [],` + "\n   ", ""} {
		src := strings.ReplaceAll(`{
 "cells": [
  {
   "cell_type": "code",
   "execution_count": 1,
   "metadata": {},
   `+outputs+`"source": ["print(1)"]
  }
 ],
 "metadata": {},
 "nbformat": 4,
 "nbformat_minor": 5
}
`, "\n", "\r\n")
		nb, err := Parse("w.ipynb", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		b, err := nb.Update(map[int][]Output{0: {{OutputType: "stream", Name: "stdout", Text: "1\n"}}})
		if err != nil {
			t.Fatal(err)
		}
		if lf := bytes.Count(b, []byte("\n")) - bytes.Count(b, []byte("\r\n")); lf > 0 {
			t.Errorf("a CRLF notebook got %d bare LF line ends:\n%q", lf, b)
		}
		if again, err := Parse("w.ipynb", b); err != nil || len(again.Cells[0].Outputs) != 1 || again.Cells[0].Outputs[0].Text != "1\n" {
			t.Errorf("the updated notebook reads back as %+v, %v", again, err)
		}
	}
}
