package nbd

import (
	"context"
	"io"
	"syscall"
)

// Sparse-aware copying between an export and an io.ReaderAt/io.WriterAt.

const (
	copyChunk  = 4 << 20  // bytes per read or write
	copyStatus = 64 << 20 // bytes per block status query
)

// CopyTo copies the whole export to w, at the same offsets, and returns
// the number of bytes written to w. Ranges that read as zeroes are not
// written: w must already read as zeroes there (a new file, or one
// truncated to the export's size, stays sparse). Zero ranges are found
// with block status when the handle negotiated "base:allocation"
// (WithMetaContext(MetaContextBaseAllocation)), so they are not even
// read; otherwise every byte is read and all-zero chunks are skipped.
func (h *Handle) CopyTo(ctx context.Context, w io.WriterAt) (int64, error) {
	size, err := h.Size()
	if err != nil {
		return 0, withOpIf(err, "CopyTo")
	}
	if w == nil {
		return 0, &Error{Op: "CopyTo", Errno: syscall.EINVAL, Msg: "writer is nil"}
	}
	useStatus, _ := h.CanMetaContext(MetaContextBaseAllocation)
	buf := make([]byte, copyChunk)
	var written int64
	for off := int64(0); off < size; {
		end := size
		if end-off > copyStatus {
			end = off + copyStatus
		}
		// [off, dataEnd) holds data; [dataEnd, end) reads as zeroes.
		dataEnd := end
		if useStatus {
			m, err := h.BlockStatus(ctx, uint64(off), uint64(end-off))
			if err != nil {
				return written, err
			}
			d, z := firstRun(m[MetaContextBaseAllocation], off, end)
			if z > off { // else the reply described nothing: copy it all
				dataEnd, end = d, z
			}
		}
		for pos := off; pos < dataEnd; {
			n := dataEnd - pos
			if n > copyChunk {
				n = copyChunk
			}
			b := buf[:n]
			if err := h.Read(ctx, b, uint64(pos)); err != nil {
				return written, err
			}
			if !allZero(b) {
				if _, err := w.WriteAt(b, pos); err != nil {
					return written, err
				}
				written += n
			}
			pos += n
		}
		off = end
	}
	return written, nil
}

// firstRun looks at the extents for [off, end) and returns where the
// first run of data ends and where the run of zeroes after it ends
// (dataEnd == off: the range starts with zeroes; zeroEnd == dataEnd: no
// zeroes follow within what the server described).
func firstRun(ext []Extent, off, end int64) (dataEnd, zeroEnd int64) {
	pos := off
	i := 0
	for ; i < len(ext) && pos < end && ext[i].Flags&StateZero == 0; i++ {
		pos += int64(ext[i].Length)
	}
	dataEnd = pos
	for ; i < len(ext) && pos < end && ext[i].Flags&StateZero != 0; i++ {
		pos += int64(ext[i].Length)
	}
	if pos > end || len(ext) == 0 {
		pos = end
		if len(ext) == 0 {
			dataEnd = end
		}
	}
	if dataEnd > end {
		dataEnd = end
	}
	return dataEnd, pos
}

// CopyFrom copies size bytes of r (from offset 0) into the export at the
// same offsets and returns the number of data bytes written. All-zero
// chunks are not sent as data: they are written with Zero (the server
// may punch a hole) when the export can zero, and as data otherwise.
func (h *Handle) CopyFrom(ctx context.Context, r io.ReaderAt, size int64) (int64, error) {
	if _, err := h.live("CopyFrom"); err != nil {
		return 0, err
	}
	if size < 0 {
		return 0, &Error{Op: "CopyFrom", Errno: syscall.EINVAL, Msg: "negative size"}
	}
	if r == nil {
		return 0, &Error{Op: "CopyFrom", Errno: syscall.EINVAL, Msg: "reader is nil"}
	}
	canZero, err := h.CanZero()
	if err != nil {
		return 0, withOpIf(err, "CopyFrom")
	}
	buf := make([]byte, copyChunk)
	var written int64
	for off := int64(0); off < size; {
		n := size - off
		if n > copyChunk {
			n = copyChunk
		}
		b := buf[:n]
		if k, err := r.ReadAt(b, off); k < len(b) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return written, err
		}
		if canZero && allZero(b) {
			if err := h.Zero(ctx, uint64(off), uint64(n)); err != nil {
				return written, err
			}
		} else {
			if err := h.Write(ctx, b, uint64(off)); err != nil {
				return written, err
			}
			written += n
		}
		off += n
	}
	return written, nil
}

func allZero(b []byte) bool {
	for len(b) >= 8 {
		if b[0]|b[1]|b[2]|b[3]|b[4]|b[5]|b[6]|b[7] != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
