package server

import (
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Errors of a streamed answer: errSent means it was written; errStreamCut
// that it broke after the header went out, so the stream must be reset
// (the handler panics with http.ErrAbortHandler).
var (
	errSent      = errors.New("response sent")
	errStreamCut = errors.New("response stream cut")
)

// streamRaw sends size bytes of rc as an octet-stream, with a 64 KiB
// buffer whatever the size. It returns errSent, or errStreamCut when the
// copy failed after the header was sent.
func streamRaw(w http.ResponseWriter, rc io.Reader, size int64) error {
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Length", fmt.Sprint(size))
	w.WriteHeader(http.StatusOK)
	buf := make([]byte, 64<<10)
	if n, err := io.CopyBuffer(w, io.LimitReader(rc, size), buf); err != nil || n != size {
		return errStreamCut
	}
	return errSent
}

// finishStreamed ends a handler whose answer may have been streamed: it
// reports whether err says so (and resets a cut stream).
func finishStreamed(err error) bool {
	switch {
	case errors.Is(err, errSent):
		return true
	case errors.Is(err, errStreamCut):
		panic(http.ErrAbortHandler)
	}
	return false
}
