package nbd

/*
#include "shim.h"
*/
import "C"

// The setters and getters of handle settings and export information are
// generated from the table in api/ (api_gen.go); BlockSize gathers three
// of them into one value.

// BlockSizes are the server's block size constraints (0 if unknown).
type BlockSizes struct {
	Minimum, Preferred, Maximum int64
}

// BlockSize returns the server's block size constraints.
func (h *Handle) BlockSize() (BlockSizes, error) {
	const op = "BlockSize"
	var b BlockSizes
	err := h.withC(op, func(c *C.struct_nbd_handle) error {
		for _, x := range []struct {
			kind C.int
			v    *int64
		}{
			{C.LIBNBD_SIZE_MINIMUM, &b.Minimum},
			{C.LIBNBD_SIZE_PREFERRED, &b.Preferred},
			{C.LIBNBD_SIZE_MAXIMUM, &b.Maximum},
		} {
			var e C.struct_gonbd_err
			v := C.gonbd_get_block_size(c, x.kind, &e)
			if v == -1 {
				return cerr(op, &e)
			}
			*x.v = int64(v)
		}
		return nil
	})
	if err != nil {
		return BlockSizes{}, err
	}
	return b, nil
}
